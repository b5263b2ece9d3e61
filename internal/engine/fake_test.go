package engine_test

// The fakes the engine tests run against: a Dialer that hands out in-memory hosts, and
// a transport.Conn per host with a file map, a scripted shell and a kube-apiserver
// (a fake kubelet plus a TLS /livez, /readyz endpoint reached through DialTCP), so
// that real resources and the real health gate run unchanged. Every call is recorded
// in one log shared by all hosts, which is what the tests assert on: the order of
// events, never how long anything took.

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log"
	"math/big"
	"net"
	"net/http"
	"path"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hostplan/hostplan/internal/kubeyaml"
	"github.com/hostplan/hostplan/internal/transport"
)

// Operations the log records.
const (
	opDial    = "dial"
	opRun     = "run"
	opStat    = "stat"
	opRead    = "read"
	opWrite   = "write"
	opMkdir   = "mkdir"
	opChmod   = "chmod"
	opChown   = "chown"
	opTouch   = "touch"
	opRemove  = "remove"
	opResolve = "resolve"
	opDialTCP = "dialtcp"
	opClose   = "close"
	opMark    = "mark" // a phase boundary the test itself records
)

// Command texts the log shows for the two scripts hostplan itself runs.
const (
	cmdFacts = "(facts)"
	cmdPS    = "(kube-apiserver processes)"
)

// event is one call. Seq is taken when the call starts and End when it returns, from
// one counter, so "a ended before b started" is End(a) < Seq(b) whatever the clock did.
type event struct {
	Seq, End int
	At       time.Time // for failure messages only
	Host     string
	Op       string
	Arg      string // path, command, address or mark
	Attrs    transport.FileAttrs
	Err      error
}

func (e event) String() string {
	s := fmt.Sprintf("#%d-%d %s %s %s %q", e.Seq, e.End, e.At.Format("15:04:05.000000"), e.Host, e.Op, e.Arg)
	if e.Err != nil {
		s += " err=" + e.Err.Error()
	}
	return s
}

// mutates reports whether the call changes the host. Commands other than hostplan's
// own scripts count: the plans of these tests use no unless/only_if guards.
func (e event) mutates() bool {
	switch e.Op {
	case opWrite, opMkdir, opChmod, opChown, opTouch, opRemove:
		return true
	case opRun:
		return e.Arg != cmdFacts && e.Arg != cmdPS
	}
	return false
}

// recorder is the log, safe for concurrent use.
type recorder struct {
	mu     sync.Mutex
	seq    int
	events []event
}

// begin records the start of a call and returns its index for end.
func (r *recorder) begin(host, op, arg string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seq++
	r.events = append(r.events, event{Seq: r.seq, At: time.Now(), Host: host, Op: op, Arg: arg})
	return len(r.events) - 1
}

func (r *recorder) end(i int, attrs transport.FileAttrs, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seq++
	r.events[i].End = r.seq
	r.events[i].Attrs = attrs
	r.events[i].Err = err
}

// mark records a phase boundary ("apply") and returns its sequence number.
func (r *recorder) mark(name string) int {
	i := r.begin("", opMark, name)
	r.end(i, transport.FileAttrs{}, nil)
	return r.snapshot()[i].Seq
}

func (r *recorder) snapshot() []event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events)
}

// fleet is the set of fake hosts of one test, and the Dialer that reaches them.
type fleet struct {
	log recorder
	api *apiServer

	// Set before the run starts; read-only afterwards.
	seed     map[string]string            // files every host starts with
	seedHost map[string]map[string]string // more files per host
	dialErr  map[string]error             // hosts whose Dial fails
	failRun  map[string]bool              // command texts that exit 1 ("deploy h2")
	crash    map[string]bool              // hosts whose kube-apiserver will not start a changed manifest
	factsErr map[string]bool              // hosts whose facts command exits 1
	// hook, when set, is called at the start of every call on a host; an error fails
	// the call before it has any effect (a write that never happened).
	hook func(host, op, arg string) error
	// answer, when set, answers the commands it knows (ok) with its result instead.
	answer func(host, command string) (res *transport.Result, ok bool)
	rv     *rendezvous

	mu    sync.Mutex
	conns map[string]*fakeConn
	pid   int
}

func newFleet(t *testing.T) *fleet {
	return &fleet{api: newAPIServer(t), conns: map[string]*fakeConn{}, pid: 1000}
}

// Dial implements engine.Dialer.
func (f *fleet) Dial(ctx context.Context, t transport.Target) (transport.Conn, error) {
	i := f.log.begin(t.Name, opDial, t.Address)
	err := ctx.Err()
	if err == nil {
		err = f.dialErr[t.Name]
	}
	f.log.end(i, transport.FileAttrs{}, err)
	if err != nil {
		return nil, err
	}
	return f.host(t.Name), nil
}

// host returns the host's fake, made on first use from the seed: a host keeps its files
// across connections, as a real one does.
func (f *fleet) host(name string) *fakeConn {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c, ok := f.conns[name]; ok {
		return c
	}
	c := &fakeConn{fleet: f, name: name, files: map[string]*node{}}
	for _, d := range []string{"/", "/etc", "/etc/kubernetes", "/etc/kubernetes/manifests", "/etc/kubernetes/pki", "/var", "/var/lib"} {
		c.files[d] = &node{dir: true, mode: fs.ModeDir | 0o755}
	}
	for p, data := range f.seed {
		c.files[p] = &node{data: []byte(data), mode: 0o644}
	}
	for p, data := range f.seedHost[name] {
		c.files[p] = &node{data: []byte(data), mode: 0o644}
	}
	if m := c.files[manifestPath]; m != nil {
		c.seededManifest = bytes.Clone(m.data)
	}
	f.conns[name] = c
	return c
}

// file returns a host's file content, and whether it exists.
func (f *fleet) file(host, p string) (string, bool) {
	c := f.host(host)
	c.mu.Lock()
	defer c.mu.Unlock()
	n, ok := c.files[p]
	if !ok || n.dir {
		return "", false
	}
	return string(n.data), true
}

func (f *fleet) nextPID() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pid++
	return f.pid
}

type node struct {
	dir      bool
	data     []byte
	mode     fs.FileMode
	uid, gid int
}

// fakeConn is one host. It refuses every call once the call's context has ended, as the
// real transports do: that is how the tests see which context a step ran on.
type fakeConn struct {
	fleet *fleet
	name  string

	mu             sync.Mutex
	files          map[string]*node
	seededManifest []byte
	running        []byte // the manifest the kube-apiserver process was started from
	pid            int
}

var _ transport.Conn = (*fakeConn)(nil)

// call records a call and runs fn unless the context ended or the hook refuses it.
func (c *fakeConn) call(ctx context.Context, op, arg string, attrs transport.FileAttrs, fn func() error) error {
	i := c.fleet.log.begin(c.name, op, arg)
	err := ctx.Err()
	if err == nil && c.fleet.hook != nil {
		err = c.fleet.hook(c.name, op, arg)
	}
	if err == nil {
		c.mu.Lock()
		err = fn()
		c.mu.Unlock()
	}
	if err != nil && ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
		err = fmt.Errorf("%w (%w)", err, ctx.Err())
	}
	c.fleet.log.end(i, attrs, err)
	return err
}

func notExist(op, p string) error { return &fs.PathError{Op: op, Path: p, Err: fs.ErrNotExist} }

// parentDir checks that p's parent is a directory (the caller holds c.mu).
func (c *fakeConn) parentDir(op, p string) error {
	if n, ok := c.files[path.Dir(p)]; !ok || !n.dir {
		return notExist(op, path.Dir(p))
	}
	return nil
}

func (c *fakeConn) Shell() transport.Shell { return transport.ShellSh }

func (c *fakeConn) Run(ctx context.Context, command string, stdin io.Reader) (*transport.Result, error) {
	shown := command
	switch {
	case strings.Contains(command, "uname -srm") && strings.Contains(command, "/etc/passwd"):
		shown = cmdFacts
	case strings.Contains(command, "/proc/[0-9]*") && strings.Contains(command, "kube-apiserver"):
		shown = cmdPS
	}
	res := &transport.Result{}
	err := c.call(ctx, opRun, shown, transport.FileAttrs{}, func() error {
		switch {
		case shown == cmdFacts && c.fleet.factsErr[c.name]:
			res.ExitCode, res.Stderr = 1, []byte("uname: Permission denied\n")
		case shown == cmdFacts:
			res.Stdout = c.facts()
		case shown == cmdPS:
			res.Stdout = c.processes()
		case c.fleet.failRun[command]:
			res.ExitCode, res.Stderr = 1, []byte(command+": failed\n")
		case c.fleet.answer != nil:
			if r, ok := c.fleet.answer(c.name, command); ok {
				*res = *r
			}
		}
		return nil
	})
	if err == nil && shown == cmdFacts {
		res = sectionsAnswer(command, res)
	}
	if err == nil && command == "rendezvous" {
		// Outside the host's lock: the other hosts of the batch must get in too.
		err = c.fleet.rv.join(ctx, c.name)
	}
	if err != nil {
		return nil, err
	}
	return res, nil
}

// sectionScript matches one command of a transport.RunSections script, in whichever
// form it runs (a subshell, a program in the shell itself, behind a skip's condition),
// up to the line that ends its output.
var sectionScript = regexp.MustCompile(`(?s)(.*?)echo "(hostplan-section-[0-9a-f]+) \$c"\n`)

// sectionsAnswer answers a RunSections script that gathers the facts with the reads
// guessed for the host's steps: the facts section gets facts, every other section
// fails, so that its reads go to the fake's files. A script of the facts alone gets
// facts.
func sectionsAnswer(command string, facts *transport.Result) *transport.Result {
	found := sectionScript.FindAllStringSubmatch(command, -1)
	if len(found) == 0 {
		return facts
	}
	var out strings.Builder
	for _, m := range found {
		text, code := "", 1
		if strings.Contains(m[1], "uname -srm") {
			text, code = string(facts.Stdout), facts.ExitCode
		}
		fmt.Fprintf(&out, "%s\n%s %d\n", text, m[2], code)
	}
	return &transport.Result{Stdout: []byte(out.String()), Stderr: facts.Stderr}
}

// facts answers the facts script as a Debian 12 control-plane node would.
func (c *fakeConn) facts() []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "os=Linux\nkernel=6.1.0-28-amd64\narch=x86_64\nhostname=%s\n", c.name)
	b.WriteString("id=uid=0(root) gid=0(root) groups=0(root)\nsystemd=1\n")
	if _, ok := c.files[manifestPath]; ok {
		b.WriteString("kube_image=registry.k8s.io/kube-apiserver:v1.32.13\n")
	}
	b.WriteString(`--- os-release
PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
--- passwd
root:x:0:0:root:/root:/bin/bash
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin
--- group
root:x:0:
adm:x:4:
www-data:x:33:
`)
	return []byte(b.String())
}

// processes plays kubelet: the kube-apiserver runs the manifest on disk, restarted (a
// new pid) whenever the manifest changed; on a crashing host any manifest but the one
// it started with makes it crash-loop (no process).
func (c *fakeConn) processes() []byte {
	m, ok := c.files[manifestPath]
	if !ok || (c.fleet.crash[c.name] && !bytes.Equal(m.data, c.seededManifest)) {
		c.running = nil
		return nil
	}
	ctr, err := kubeyaml.ParseContainer(m.data, "kube-apiserver")
	if err != nil {
		c.running = nil
		return nil
	}
	if !bytes.Equal(m.data, c.running) {
		c.running, c.pid = bytes.Clone(m.data), c.fleet.nextPID()
	}
	argv := append(slices.Clone(ctr.Command), ctr.Args...)
	return fmt.Appendf(nil, "%d %d %s\x1f\n", c.pid, 4242+c.pid, strings.Join(argv, "\x1f"))
}

func (c *fakeConn) ReadDir(ctx context.Context, p string) ([]string, error) {
	var names []string
	err := c.call(ctx, opStat, p, transport.FileAttrs{}, func() error {
		if n, ok := c.files[p]; !ok || !n.dir {
			return notExist("list", p)
		}
		for f := range c.files {
			if rest, ok := strings.CutPrefix(f, p+"/"); ok && rest != "" && !strings.Contains(rest, "/") {
				names = append(names, rest)
			}
		}
		return nil
	})
	return names, err
}

func (c *fakeConn) Stat(ctx context.Context, p string) (*transport.FileInfo, error) {
	var fi *transport.FileInfo
	err := c.call(ctx, opStat, p, transport.FileAttrs{}, func() error {
		n, ok := c.files[p]
		if !ok {
			return notExist("stat", p)
		}
		fi = &transport.FileInfo{Mode: n.mode, UID: n.uid, GID: n.gid, Size: int64(len(n.data))}
		return nil
	})
	return fi, err
}

func (c *fakeConn) ReadFile(ctx context.Context, p string) ([]byte, error) {
	var data []byte
	err := c.call(ctx, opRead, p, transport.FileAttrs{}, func() error {
		n, ok := c.files[p]
		switch {
		case !ok:
			return notExist("open", p)
		case n.dir:
			return &transport.NotRegularError{Path: p, Mode: n.mode}
		}
		data = bytes.Clone(n.data)
		return nil
	})
	return data, err
}

func (c *fakeConn) WriteFile(ctx context.Context, p string, data []byte, attrs transport.FileAttrs) error {
	return c.call(ctx, opWrite, p, attrs, func() error {
		if err := c.parentDir("open", p); err != nil {
			return err
		}
		n := &node{data: bytes.Clone(data), mode: 0o644}
		if old, ok := c.files[p]; ok {
			if old.dir {
				return &transport.NotRegularError{Path: p, Mode: old.mode}
			}
			n.mode, n.uid, n.gid = old.mode, old.uid, old.gid
		}
		if attrs.Mode != 0 {
			n.mode = attrs.Mode
		}
		if attrs.UID >= 0 {
			n.uid = attrs.UID
		}
		if attrs.GID >= 0 {
			n.gid = attrs.GID
		}
		c.files[p] = n
		return nil
	})
}

func (c *fakeConn) Mkdir(ctx context.Context, p string, attrs transport.FileAttrs) error {
	return c.call(ctx, opMkdir, p, attrs, func() error {
		if err := c.parentDir("mkdir", p); err != nil {
			return err
		}
		if _, ok := c.files[p]; ok {
			return &fs.PathError{Op: "mkdir", Path: p, Err: fs.ErrExist}
		}
		mode := attrs.Mode
		if mode == 0 {
			mode = 0o755
		}
		c.files[p] = &node{dir: true, mode: fs.ModeDir | mode, uid: max(attrs.UID, 0), gid: max(attrs.GID, 0)}
		return nil
	})
}

func (c *fakeConn) Chmod(ctx context.Context, p string, mode fs.FileMode) error {
	return c.call(ctx, opChmod, p, transport.FileAttrs{Mode: mode}, func() error {
		n, ok := c.files[p]
		if !ok {
			return notExist("chmod", p)
		}
		n.mode = n.mode.Type() | mode
		return nil
	})
}

// WriteKernel writes p's content in place, as a kernel setting file takes it.
func (c *fakeConn) WriteKernel(ctx context.Context, p string, data []byte) error {
	return c.call(ctx, opWrite, p, transport.FileAttrs{}, func() error {
		n, ok := c.files[p]
		if !ok {
			return notExist("write", p)
		}
		n.data = bytes.Clone(data)
		return nil
	})
}

// SetModTime only checks that p exists: the fake keeps no times.
func (c *fakeConn) SetModTime(ctx context.Context, p string, _ time.Time) error {
	return c.call(ctx, opTouch, p, transport.FileAttrs{}, func() error {
		if _, ok := c.files[p]; !ok {
			return notExist("touch", p)
		}
		return nil
	})
}

func (c *fakeConn) Chown(ctx context.Context, p string, uid, gid int) error {
	return c.call(ctx, opChown, p, transport.FileAttrs{UID: uid, GID: gid}, func() error {
		n, ok := c.files[p]
		if !ok {
			return notExist("chown", p)
		}
		if uid >= 0 {
			n.uid = uid
		}
		if gid >= 0 {
			n.gid = gid
		}
		return nil
	})
}

func (c *fakeConn) Remove(ctx context.Context, p string) error {
	return c.call(ctx, opRemove, p, transport.FileAttrs{}, func() error {
		if _, ok := c.files[p]; !ok {
			return notExist("remove", p)
		}
		for q := range c.files {
			if strings.HasPrefix(q, p+"/") {
				return &fs.PathError{Op: "remove", Path: p, Err: errors.New("directory not empty")}
			}
		}
		delete(c.files, p)
		return nil
	})
}

// Resolve follows nothing: the fake hosts have no symlinks.
func (c *fakeConn) Resolve(ctx context.Context, p string) (string, error) {
	return p, c.call(ctx, opResolve, p, transport.FileAttrs{}, func() error { return nil })
}

func (c *fakeConn) DialTCP(ctx context.Context, addr string) (net.Conn, error) {
	var conn net.Conn
	err := c.call(ctx, opDialTCP, addr, transport.FileAttrs{}, func() error {
		if addr != "127.0.0.1:6443" {
			return fmt.Errorf("dial %s: connection refused", addr)
		}
		return nil
	})
	if err == nil {
		conn, err = c.fleet.api.dial(ctx)
	}
	return conn, err
}

// DialUnix: the fake hosts have no sockets (their firewall resources are not planned).
func (c *fakeConn) DialUnix(ctx context.Context, path string) (net.Conn, error) {
	return nil, fmt.Errorf("connect to %s: no such socket", path)
}

func (c *fakeConn) Close() error {
	i := c.fleet.log.begin(c.name, opClose, "")
	c.fleet.log.end(i, transport.FileAttrs{}, nil)
	return nil
}

// apiServer answers /livez and /readyz over TLS on in-memory pipes: no socket is opened.
// Its certificate, for the name "kubernetes", is its own CA (caPEM, the node's ca.crt).
type apiServer struct {
	caPEM []byte
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newAPIServer(t *testing.T) *apiServer {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "kubernetes"},
		DNSNames:              []string{"kubernetes"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	a := &apiServer{
		caPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		conns: make(chan net.Conn),
		done:  make(chan struct{}),
	}
	mux := http.NewServeMux()
	for _, p := range []string{"/livez", "/readyz"} {
		mux.HandleFunc(p, func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") })
	}
	srv := &http.Server{Handler: mux, ErrorLog: log.New(io.Discard, "", 0)}
	ln := tls.NewListener(a, &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}})
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return a
}

// dial hands the server one end of a pipe.
func (a *apiServer) dial(ctx context.Context) (net.Conn, error) {
	client, server := net.Pipe()
	select {
	case a.conns <- server:
		return client, nil
	case <-ctx.Done():
		err := ctx.Err()
		client.Close()
		server.Close()
		return nil, err
	case <-a.done:
		client.Close()
		server.Close()
		return nil, net.ErrClosed
	}
}

// Accept, Close and Addr make apiServer the server's net.Listener.
func (a *apiServer) Accept() (net.Conn, error) {
	select {
	case c := <-a.conns:
		return c, nil
	case <-a.done:
		return nil, net.ErrClosed
	}
}

func (a *apiServer) Close() error {
	a.once.Do(func() { close(a.done) })
	return nil
}

func (a *apiServer) Addr() net.Addr { return pipeAddr{} }

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "kube-apiserver" }

// rendezvous holds the hosts of a batch until all of them are in: only hosts that run
// at the same time can get through, so it proves which hosts share a batch without
// looking at a clock. Waves are the expected batches, in order.
type rendezvous struct {
	mu    sync.Mutex
	sizes []int
	waves [][]string
	done  []chan struct{}
}

func newRendezvous(sizes []int) *rendezvous {
	r := &rendezvous{sizes: sizes}
	for range sizes {
		r.done = append(r.done, make(chan struct{}))
	}
	return r
}

func (r *rendezvous) join(ctx context.Context, host string) error {
	r.mu.Lock()
	if len(r.waves) == 0 || len(r.waves[len(r.waves)-1]) == r.sizes[len(r.waves)-1] {
		if len(r.waves) == len(r.sizes) {
			r.mu.Unlock()
			return fmt.Errorf("rendezvous: %s came after the last expected batch", host)
		}
		r.waves = append(r.waves, nil)
	}
	w := len(r.waves) - 1
	r.waves[w] = append(r.waves[w], host)
	if len(r.waves[w]) == r.sizes[w] {
		close(r.done[w])
	}
	r.mu.Unlock()
	// The wait is bounded only so that an engine that batches wrongly fails the test
	// soon instead of hanging it: the hosts of a right batch meet within milliseconds.
	select {
	case <-r.done[w]:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("rendezvous: %s waited in vain for the rest of batch %d: %w", host, w+1, ctx.Err())
	case <-time.After(rendezvousGuard):
		return fmt.Errorf("rendezvous: %s waited in vain for the rest of batch %d (%d of %d hosts came)", host, w+1, r.count(w), r.sizes[w])
	}
}

const rendezvousGuard = 10 * time.Second

func (r *rendezvous) count(w int) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.waves[w])
}

func (r *rendezvous) joined() [][]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([][]string, len(r.waves))
	for i, w := range r.waves {
		out[i] = slices.Sorted(slices.Values(w))
	}
	return out
}
