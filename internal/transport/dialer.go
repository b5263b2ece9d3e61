package transport

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/user"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// Target is one host's resolved connection settings.
type Target struct {
	Name    string // inventory name, used in messages (defaults to Address)
	Address string // host name or IP to dial
	Port    int    // default 22
	User    string // login user; default: the local user
	// IdentityFiles are private keys to offer, first (see Dialer for the order). Empty
	// means the agent plus whichever of ~/.ssh/id_ed25519, id_ecdsa, id_rsa exist.
	IdentityFiles []string
	KnownHosts    string // known_hosts file; default ~/.ssh/known_hosts
	// SSHOptions: more known_hosts files, StrictHostKeyChecking, certificates, the agent
	// socket and IdentitiesOnly (options.go).
	SSHOptions
	// Bastion is a jump host "[user@]host[:port]", or a chain "a,b" (a is dialled first,
	// b through a, the target through b). Without Jumps, each hop's user defaults to
	// User, its port to 22, and the target's identity files and known_hosts file are
	// used for it. With Jumps, Bastion only names the chain in messages.
	Bastion string
	// Jumps are the jump hosts resolved one by one (ssh_config's ProxyJump), in
	// dialling order: Jumps[0] directly (or through its ProxyCommand), each next one
	// through the one before, the target through the last. Each has its own user, port,
	// keys and known_hosts; their own Bastion and Jumps are ignored. At most MaxJumps,
	// and none twice (a loop).
	Jumps []Target
	// ProxyCommand is a command whose standard input and output carry the connection
	// instead of TCP (ssh_config's ProxyCommand, tokens already expanded). It runs as
	// OpenSSH runs it: `exec COMMAND` in $SHELL -c, or /bin/sh -c. Not with a Bastion,
	// except on Jumps[0].
	ProxyCommand string
	Become       bool   // run commands and file operations through sudo
	BecomeUser   string // default root
	Local        bool   // this machine, without SSH (Ansible's connection=local)
	// Shell is the host's command shell; empty means ShellCmd for a server that says it
	// is OpenSSH for Windows, else ShellSh.
	Shell Shell
}

// DialerOptions configure a Dialer. Zero values mean the defaults.
type DialerOptions struct {
	// AcceptNewHostKeys adds the key of a host that known_hosts does not know (like ssh's
	// StrictHostKeyChecking=accept-new). A changed key is refused regardless.
	AcceptNewHostKeys bool
	// ConnectTimeout bounds TCP connect plus the SSH handshake and authentication of
	// each connection (default 10s).
	ConnectTimeout time.Duration
	// KeepaliveInterval is how often a keepalive@openssh.com request is sent on an idle
	// or busy connection (default 15s; negative disables). A connection whose peer has not
	// answered for KeepaliveInterval*KeepaliveCountMax is closed, which makes every
	// operation on it fail instead of hanging.
	KeepaliveInterval time.Duration
	KeepaliveCountMax int // default 3
	// MaxSessions bounds concurrent command sessions per connection (default 4). The SFTP
	// session comes on top: keep the sum well under sshd's MaxSessions (10).
	MaxSessions int
	// Passphrase is asked for an encrypted identity file the agent does not hold, once per
	// file per run. nil (not on a terminal) makes such a key an error.
	Passphrase func(keyFile string) ([]byte, error)
	// Warn reports what OpenSSH would print as a warning and go on (a host key added
	// under StrictHostKeyChecking no, a missing identity file); nil discards them.
	Warn func(msg string)
	// BecomePassword is the sudo password. It is called at most once per run, and only
	// when sudo asks; the answer (or error) is cached. nil: become uses `sudo -n` and a
	// sudo that wants a password fails with ErrBecomePasswordRequired.
	BecomePassword func() ([]byte, error)
}

// Dialer opens connections for one run. It shares bastion connections, the ssh-agent
// connection, unlocked keys and the become password among all its connections. It is
// safe for concurrent use.
//
// Authentication offers public keys (and certificates right before the key each
// certifies): Target.IdentityFiles first (in order; a .pub file picks that agent key),
// then the agent's other keys unless IdentitiesOnly; the agent is SSHOptions'
// IdentityAgent, else SSH_AUTH_SOCK. The configured key is so tried before sshd's
// MaxAuthTries (6) runs out on a crowded agent (auth.go, auth_options.go).
//
// Host keys are checked against the user and global known_hosts files, @cert-authority
// lines included (hostkeys.go): unknown hosts fail with an *UnknownHostKeyError (or are
// added under StrictHostKeyChecking accept-new or no), changed keys always fail with a
// *HostKeyChangedError. Every jump host is checked the same way, against its own files.
//
// Become wraps every command as
//
//	sudo -n -u USER -- /bin/sh -c 'printf %s MARKER >&2 && exec /bin/sh -c "$1"' hostplan 'COMMAND'
//
// or, when DialerOptions.BecomePassword is set, `sudo -S -p RANDOM-PROMPT -u USER -- ...`:
// the password is written only once that prompt shows on stderr, the command's stdin
// only once the marker shows, and "Sorry, try again." aborts with
// ErrBecomePasswordRejected. Prompt, marker and whatever sudo said before the marker are
// not part of Result.Stderr. File operations with become go over an sftp-server started
// the same way, so they run as USER.
type Dialer struct {
	opts DialerOptions

	mu       sync.Mutex
	closed   bool
	bastions map[string]*bastionEntry
	conns    map[*conn]struct{}

	khMu    sync.Mutex                  // known_hosts reads and appends
	khCache map[string]*knownHostsCache // by the files' paths; under khMu

	keyMu sync.Mutex
	keys  map[string]*keyEntry

	agentOnce sync.Once
	agent     agent.ExtendedAgent
	agentConn net.Conn
	auth      authState // IdentityAgent sockets and warnings given (auth.go)

	becomeMu   sync.Mutex
	becomeDone bool
	becomePW   []byte
	becomeErr  error
}

// NewDialer returns a Dialer for one run.
func NewDialer(opts DialerOptions) *Dialer {
	if opts.ConnectTimeout <= 0 {
		opts.ConnectTimeout = 10 * time.Second
	}
	if opts.KeepaliveInterval == 0 {
		opts.KeepaliveInterval = 15 * time.Second
	}
	if opts.KeepaliveCountMax <= 0 {
		opts.KeepaliveCountMax = 3
	}
	if opts.MaxSessions <= 0 {
		opts.MaxSessions = 4
	}
	return &Dialer{
		opts:     opts,
		bastions: map[string]*bastionEntry{},
		conns:    map[*conn]struct{}{},
		keys:     map[string]*keyEntry{},
	}
}

// becomePassword asks DialerOptions.BecomePassword once per run.
func (d *Dialer) becomePassword() ([]byte, error) {
	d.becomeMu.Lock()
	defer d.becomeMu.Unlock()
	if !d.becomeDone {
		d.becomeDone = true
		if d.opts.BecomePassword == nil {
			d.becomeErr = ErrBecomePasswordRequired
		} else {
			d.becomePW, d.becomeErr = d.opts.BecomePassword()
		}
	}
	return d.becomePW, d.becomeErr
}

// Close closes every connection this Dialer opened and still open, the bastions and the
// agent connection.
func (d *Dialer) Close() error {
	d.mu.Lock()
	d.closed = true
	conns := make([]*conn, 0, len(d.conns))
	for c := range d.conns {
		conns = append(conns, c)
	}
	var bastions []*bastionEntry
	for _, b := range d.bastions {
		bastions = append(bastions, b)
	}
	d.bastions = map[string]*bastionEntry{}
	d.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
	for _, b := range bastions {
		<-b.ready
		if b.client != nil {
			b.client.Close()
		}
	}
	d.agentOnce.Do(func() {}) // waits for a dial in flight; none can start later
	if d.agentConn != nil {
		d.agentConn.Close()
	}
	d.auth.close()
	d.becomeMu.Lock()
	clear(d.becomePW)
	d.becomeMu.Unlock()
	return nil
}

func (d *Dialer) track(c *conn) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return errors.New("dialer closed")
	}
	d.conns[c] = struct{}{}
	return nil
}

func (d *Dialer) untrack(c *conn) {
	d.mu.Lock()
	delete(d.conns, c)
	d.mu.Unlock()
}

// normalize fills in a Target's defaults.
func normalize(t Target) (Target, error) {
	if t.Name == "" {
		t.Name = t.Address
	}
	if t.Name == "" && t.Local {
		t.Name = "localhost"
	}
	if t.BecomeUser == "" {
		t.BecomeUser = "root"
	}
	switch t.Shell {
	case "", ShellSh:
	case ShellCmd:
		if t.Local {
			return t, fmt.Errorf("host %s: connection local runs commands with /bin/sh, not cmd.exe", t.Name)
		}
		if t.Become {
			return t, fmt.Errorf("host %s: become (sudo) is not available with cmd.exe; log in as an administrator instead", t.Name)
		}
	default:
		return t, fmt.Errorf("host %s: shell %q is not supported (use %q or %q)", t.Name, t.Shell, ShellSh, ShellCmd)
	}
	if t.Local {
		t.Shell = ShellSh
		return t, nil
	}
	if t.Address == "" {
		return t, fmt.Errorf("host %s: no address", t.Name)
	}
	if t.Port == 0 {
		t.Port = 22
	}
	if t.User == "" {
		t.User = localUser()
	}
	if t.KnownHosts == "" {
		t.KnownHosts = "~/.ssh/known_hosts"
	}
	t.KnownHosts = expandHome(t.KnownHosts)
	return t, nil
}

func localUser() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return os.Getenv("USER")
}

// bastionOf returns the client of t's last jump host (dialled, or shared with other
// targets), nil without one, and the jump hosts.
func (d *Dialer) bastionOf(ctx context.Context, t Target) (*ssh.Client, []Target, error) {
	hops, err := jumpHops(t)
	if err != nil {
		return nil, nil, fmt.Errorf("host %s: %w", t.Name, err)
	}
	if len(hops) == 0 {
		return nil, nil, nil
	}
	via, err := d.bastionChain(ctx, hops)
	if err != nil {
		return nil, nil, fmt.Errorf("connect to %s through bastion %s: %w", t.Name, chainText(hops), err)
	}
	return via, hops, nil
}

// Dial opens the connection to t: SSH (through t.Bastion if set) or, for t.Local, this
// machine. The returned Conn holds exactly one SSH connection for its whole life.
func (d *Dialer) Dial(ctx context.Context, t Target) (Conn, error) {
	t, err := normalize(t)
	if err != nil {
		return nil, err
	}
	if t.Local {
		c, err := newLocalConn(d, t)
		if err != nil {
			return nil, err
		}
		return c, nil
	}
	via, hops, err := d.bastionOf(ctx, t)
	if err != nil {
		return nil, err
	}
	addr := net.JoinHostPort(t.Address, strconv.Itoa(t.Port))
	client, lv, err := d.dialSSH(ctx, t.Name, addr, t.User, t, via)
	var unknown *UnknownHostKeyError
	if errors.As(err, &unknown) && len(hops) > 0 {
		unknown.Via = viaText(hops)
	}
	if err != nil {
		return nil, err
	}
	if t.Shell == "" {
		// The version string costs no round trip, and OpenSSH for Windows names itself
		// in it; sshd on Windows under Cygwin or MSYS says plain OpenSSH and runs sh.
		t.Shell = ShellSh
		if isWindowsServer(string(client.ServerVersion())) {
			t.Shell = ShellCmd
		}
		if t.Shell == ShellCmd && t.Become {
			client.Close()
			return nil, fmt.Errorf("host %s runs OpenSSH for Windows: become (sudo) is not available there; log in as an administrator instead", t.Name)
		}
	}
	c := newSSHConn(d, t, client, lv)
	if err := d.track(c); err != nil {
		client.Close()
		return nil, err
	}
	return c, nil
}

// isWindowsServer reports whether an SSH server version string ("SSH-2.0-OpenSSH_for_Windows_9.5")
// is OpenSSH for Windows, whose exec requests run in cmd.exe unless its DefaultShell was changed.
func isWindowsServer(version string) bool {
	return strings.Contains(version, "OpenSSH_for_Windows")
}

// dialSSH opens one SSH client connection to addr, directly or through via. A server
// that closes the connection before it said a word is busy (sshd's MaxStartups drops
// connections beyond its limit of unauthenticated ones, at random from its start value
// on): that is retried with growing, jittered pauses, since nothing was exchanged yet.
func (d *Dialer) dialSSH(ctx context.Context, name, addr, login string, t Target, via *ssh.Client) (*ssh.Client, *liveness, error) {
	for attempt := 1; ; attempt++ {
		client, lv, err := d.dialOnce(ctx, name, addr, login, t, via)
		var dropped *droppedError
		if !errors.As(err, &dropped) {
			return client, lv, err
		}
		if attempt > len(dropPauses) {
			return nil, nil, fmt.Errorf("%w; gave up after %d attempts (is sshd's MaxStartups too low for this many parallel connections?)", err, attempt)
		}
		pause := dropPauses[attempt-1]
		pause = pause/2 + rand.N(pause) // jitter: throttled clients should not come back in step
		select {
		case <-time.After(pause):
		case <-ctx.Done():
			return nil, nil, fmt.Errorf("%w; %w", err, ctx.Err())
		}
	}
}

// droppedError is a connection the server closed before sending its SSH version. It
// may have said why first: OpenSSH's sshd writes "Exceeded MaxStartups".
type droppedError struct {
	said string
	err  error
}

func (e *droppedError) Error() string {
	msg := "the server closed the connection before the SSH greeting"
	if e.said != "" {
		msg += fmt.Sprintf(" (it said %q)", e.said)
	}
	return msg + ": " + e.err.Error()
}
func (e *droppedError) Unwrap() error { return e.err }

// dropPauses are the mean pauses before each retry of a dropped connection: 20 s in
// all. The slots sshd counts free up as other clients authenticate, or after its
// LoginGraceTime for a client that never does.
var dropPauses = []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second, 4 * time.Second, 4 * time.Second, 4 * time.Second}

// greetingConn keeps the first bytes the server sends, to tell a connection dropped
// before the SSH version from a failed handshake.
type greetingConn struct {
	net.Conn
	mu   sync.Mutex
	head []byte
}

const greetingMax = 1024

func (c *greetingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.mu.Lock()
	if len(c.head) < greetingMax {
		c.head = append(c.head, p[:min(n, greetingMax-len(c.head))]...)
	}
	c.mu.Unlock()
	return n, err
}

// dropped returns the error for a connection that ended (err) before the server sent
// its version line, or nil. RFC 4253 lets a server send other lines before it.
func (c *greetingConn) dropped(err error) error {
	if !errors.Is(err, io.EOF) && !errors.Is(err, syscall.ECONNRESET) {
		return nil
	}
	c.mu.Lock()
	head := string(c.head)
	c.mu.Unlock()
	if strings.HasPrefix(head, "SSH-") || strings.Contains(head, "\nSSH-") || len(head) == greetingMax {
		return nil
	}
	return &droppedError{said: strings.Join(strings.Fields(head), " "), err: err}
}

// dialOnce makes one SSH connection to addr (through via when set), as login, with
// t's keys and known_hosts. Errors say what failed: the keys, the TCP connect, the host
// key (returned as the *UnknownHostKeyError or *HostKeyChangedError it is), the
// handshake or the authentication. dialSSH decides whether to try again.
func (d *Dialer) dialOnce(ctx context.Context, name, addr, login string, t Target, via *ssh.Client) (*ssh.Client, *liveness, error) {
	fail := func(err error) error {
		return fmt.Errorf("connect to %s (%s@%s): %w", name, login, addr, err)
	}
	a, err := d.clientConfig(name, addr, login, t)
	if err != nil {
		return nil, nil, fail(err)
	}
	ctx, cancel := context.WithTimeout(ctx, d.opts.ConnectTimeout)
	defer cancel()
	tcp, err := d.dialTCP(ctx, addr, via, t.ProxyCommand)
	if err != nil {
		return nil, nil, fail(err)
	}
	raw := &greetingConn{Conn: tcp}
	// x/crypto's Timeout covers only the TCP connect: a server that accepts and then says
	// nothing would hang NewClientConn forever. Bound the handshake with a deadline and
	// by closing the connection when ctx ends.
	deadline, _ := ctx.Deadline()
	raw.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { raw.Close() })
	sc, chans, reqs, err := ssh.NewClientConn(raw, addr, a.cfg)
	stopped := stop()
	if err != nil {
		raw.Close()
		return nil, nil, proxyKeyNote(t, via, d.handshakeError(ctx, a, raw, err, stopped, login, fail))
	}
	raw.SetDeadline(time.Time{})
	client := ssh.NewClient(sc, chans, reqs)
	lv := d.startKeepalive(client)
	if pc, ok := tcp.(*proxyConn); ok {
		pc.lv.Store(lv) // so that a dying ProxyCommand is named as the cause
	}
	return client, lv, nil
}

// proxyKeyNote adds to an unknown host key of a host reached through its ProxyCommand
// that the ssh-keyscan line the error suggests would not go through the command.
func proxyKeyNote(t Target, via *ssh.Client, err error) error {
	var unknown *UnknownHostKeyError
	if via != nil || t.ProxyCommand == "" || !errors.As(err, &unknown) {
		return err
	}
	return fmt.Errorf("%w (but %s is reached through its ProxyCommand, which ssh-keyscan does not use: "+
		"compare the fingerprint with `ssh-keygen -lf` of the host's key on the host, then use --accept-new-host-keys)", err, t.Name)
}

// attempt is the client configuration of one dial, and what it learnt.
type attempt struct {
	cfg     *ssh.ClientConfig
	signers int
	notes   []string // about keys that could not be offered

	mu         sync.Mutex
	hostKeyErr error // what the host key check said
}

func (a *attempt) hostKeyError() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.hostKeyErr
}

// clientConfig offers t's keys and checks the host key against t's known_hosts,
// asking for the key types known_hosts has for addr (golang/go#29286).
func (d *Dialer) clientConfig(name, addr, login string, t Target) (*attempt, error) {
	signers, notes, err := d.signers(t)
	if err != nil {
		return nil, err
	}
	if len(signers) == 0 {
		msg := "no SSH keys to offer: set identity files or load keys into ssh-agent (SSH_AUTH_SOCK)"
		if len(notes) > 0 {
			msg += "; " + strings.Join(notes, "; ")
		}
		return nil, errors.New(msg)
	}
	pol := d.hostKeyPolicy(t)
	d.khMu.Lock()
	db, err := d.knownHosts(pol.files())
	d.khMu.Unlock()
	if err != nil {
		return nil, err
	}
	a := &attempt{signers: len(signers), notes: notes}
	check := d.hostKeyCallback(name, pol)
	a.cfg = &ssh.ClientConfig{
		User: login,
		Auth: []ssh.AuthMethod{ssh.PublicKeys(signers...)},
		HostKeyCallback: func(hostname string, remote net.Addr, key ssh.PublicKey) error {
			err := check(hostname, remote, key)
			a.mu.Lock()
			a.hostKeyErr = err
			a.mu.Unlock()
			return err
		},
		HostKeyAlgorithms: db.hostKeyAlgorithms(addr),
		Timeout:           d.opts.ConnectTimeout,
	}
	return a, nil
}

// dialTCP connects to addr directly, through the bastion client via, or over the
// ProxyCommand proxy (jumpHops allows one only where via is nil).
func (d *Dialer) dialTCP(ctx context.Context, addr string, via *ssh.Client, proxy string) (net.Conn, error) {
	var tcp net.Conn
	var err error
	if via == nil && proxy != "" {
		return startProxyCommand(proxy, addr)
	}
	if via == nil {
		nd := net.Dialer{Timeout: d.opts.ConnectTimeout}
		tcp, err = nd.DialContext(ctx, "tcp", addr)
	} else {
		tcp, err = via.DialContext(ctx, "tcp", addr)
	}
	if err != nil && ctx.Err() != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return nil, fmt.Errorf("timed out after %s: %w", d.opts.ConnectTimeout, err)
	}
	return tcp, err
}

// handshakeError says why NewClientConn failed. stopped is false when ctx ended it.
func (d *Dialer) handshakeError(ctx context.Context, a *attempt, raw *greetingConn, err error, stopped bool, login string, fail func(error) error) error {
	hostKeyErr := a.hostKeyError()
	var unknown *UnknownHostKeyError
	var changed *HostKeyChangedError
	switch {
	case errors.As(hostKeyErr, &unknown), errors.As(hostKeyErr, &changed):
		return hostKeyErr
	case hostKeyErr != nil:
		return fail(hostKeyErr)
	case !stopped && errors.Is(ctx.Err(), context.Canceled):
		return fail(ctx.Err())
	case !stopped || isTimeout(err):
		return fail(fmt.Errorf("SSH handshake timed out after %s", d.opts.ConnectTimeout))
	case raw.dropped(err) != nil:
		return fail(raw.dropped(err))
	case errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET):
		return fail(fmt.Errorf("the connection closed during the SSH handshake: %w", err))
	case strings.Contains(err.Error(), "unable to authenticate"):
		msg := fmt.Sprintf("authentication as %s failed (offered %d key(s))", login, a.signers)
		if len(a.notes) > 0 {
			msg += "; " + strings.Join(a.notes, "; ")
		}
		return fail(fmt.Errorf("%s: %w", msg, err))
	}
	return fail(err)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// liveness tells why keepalive gave up on a connection.
type liveness struct {
	mu     sync.Mutex
	reason error
	// closed is closed once the client's connection has ended, however it ended.
	closed chan struct{}
}

// lost returns why keepalive closed the connection, or nil.
func (l *liveness) lost() error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.reason
}

func (l *liveness) set(err error) {
	l.mu.Lock()
	l.reason = err
	l.mu.Unlock()
}

// startKeepalive sends keepalive@openssh.com every interval and closes client when the
// server has not answered for interval*countMax.
func (d *Dialer) startKeepalive(client *ssh.Client) *liveness {
	done := make(chan struct{})
	lv := &liveness{closed: done}
	go func() {
		client.Wait()
		close(done)
	}()
	interval := d.opts.KeepaliveInterval
	if interval < 0 {
		return lv
	}
	limit := interval * time.Duration(d.opts.KeepaliveCountMax)
	go func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			reply := make(chan error, 1)
			go func() {
				_, _, err := client.SendRequest("keepalive@openssh.com", true, nil)
				reply <- err
			}()
			timer := time.NewTimer(limit)
			select {
			case err := <-reply:
				timer.Stop()
				if err != nil {
					lv.set(fmt.Errorf("keepalive failed: %w", err))
					client.Close()
					return
				}
			case <-timer.C:
				// Peer gone: fail everything waiting on it.
				lv.set(fmt.Errorf("no answer to keepalives for %s", limit))
				client.Close()
				return
			case <-done:
				timer.Stop()
				return
			}
		}
	}()
	return lv
}

// MaxJumps bounds a chain of jump hosts. OpenSSH has no bound (a ProxyJump loop in
// ssh_config starts ssh processes until something gives out); 8 is far beyond any real
// network's need.
const MaxJumps = 8

// hop is one bastion of a chain written as text.
type hop struct {
	user string // "" = the target's user
	host string
	port int
}

// parseBastions parses "[user@]host[:port]" or a comma-separated chain of them.
func parseBastions(spec string) ([]hop, error) {
	var hops []hop
	for _, part := range strings.Split(spec, ",") {
		h, err := parseHop(strings.TrimSpace(part))
		if err != nil {
			return nil, fmt.Errorf("bastion %q: %w", spec, err)
		}
		hops = append(hops, h)
	}
	return hops, nil
}

func parseHop(part string) (hop, error) {
	var h hop
	if part == "" {
		return h, errors.New("empty hop")
	}
	if i := strings.LastIndex(part, "@"); i >= 0 {
		h.user, part = part[:i], part[i+1:]
		if h.user == "" {
			return h, errors.New("empty user")
		}
	}
	h.host, h.port = part, 22
	if host, port, err := net.SplitHostPort(part); err == nil {
		p, err := strconv.Atoi(port)
		if err != nil || p <= 0 || p > 65535 {
			return h, fmt.Errorf("bad port %q", port)
		}
		h.host, h.port = host, p
	} else if strings.HasPrefix(part, "[") && strings.HasSuffix(part, "]") {
		h.host = part[1 : len(part)-1]
	} else if strings.Count(part, ":") == 1 {
		return h, err
	}
	if h.host == "" {
		return h, errors.New("empty host")
	}
	return h, nil
}

// jumpHops returns t's jump hosts in dialling order, each normalized as a Target of its
// own: t.Jumps, or else the hops of t.Bastion with t's user, keys and known_hosts. It
// refuses chains longer than MaxJumps, a host twice (a loop), and a ProxyCommand
// anywhere but on the first hop (the others are reached through the hop before).
func jumpHops(t Target) ([]Target, error) {
	hops := t.Jumps
	if len(hops) == 0 && t.Bastion != "" {
		parsed, err := parseBastions(t.Bastion)
		if err != nil {
			return nil, err
		}
		for _, h := range parsed {
			login := cmp.Or(h.user, t.User)
			hops = append(hops, Target{Address: h.host, Port: h.port, User: login,
				IdentityFiles: t.IdentityFiles, KnownHosts: t.KnownHosts})
		}
	}
	if t.ProxyCommand != "" && len(hops) > 0 {
		return nil, errors.New("a ProxyCommand and a bastion at once: use one of them")
	}
	if len(hops) > MaxJumps {
		return nil, fmt.Errorf("bastion chain %s has %d jump hosts, more than the %d hostplan allows", chainText(hops), len(hops), MaxJumps)
	}
	return normalizeHops(hops)
}

// normalizeHops fills in each hop's defaults and checks the chain for loops.
func normalizeHops(hops []Target) ([]Target, error) {
	out := make([]Target, 0, len(hops))
	seen := map[string]int{}
	for i, h := range hops {
		h.Bastion, h.Jumps, h.Local = "", nil, false
		h, err := normalize(h)
		if err != nil {
			return nil, fmt.Errorf("jump host %d of %d: %w", i+1, len(hops), err)
		}
		if i > 0 && h.ProxyCommand != "" {
			return nil, fmt.Errorf("jump host %d of %d (%s) has a ProxyCommand, but it is reached through jump host %d", i+1, len(hops), h.Name, i)
		}
		id := hopText(h)
		if j, ok := seen[id]; ok {
			return nil, fmt.Errorf("bastion chain %s is a loop: jump host %d is jump host %d (%s) again", chainText(hops), i+1, j+1, id)
		}
		seen[id] = i
		out = append(out, h)
	}
	return out, nil
}

// hopText is "user@host:port", as a chain is written and as sshToBastion reads it.
func hopText(h Target) string {
	port := h.Port
	if port == 0 {
		port = 22
	}
	s := net.JoinHostPort(h.Address, strconv.Itoa(port))
	if h.User != "" {
		s = h.User + "@" + s
	}
	return s
}

func chainText(hops []Target) string {
	parts := make([]string, len(hops))
	for i, h := range hops {
		parts[i] = hopText(h)
	}
	return strings.Join(parts, ",")
}

// viaText is a chain as ssh's command line takes it: ssh:// URIs, since `ssh
// user@host:port` would take "host:port" for the host name.
func viaText(hops []Target) string {
	parts := make([]string, len(hops))
	for i, h := range hops {
		parts[i] = "ssh://" + hopText(h)
	}
	return strings.Join(parts, ",")
}

// bastionEntry is one shared bastion connection; ready closes when the dial ended.
type bastionEntry struct {
	ready  chan struct{}
	client *ssh.Client
	err    error
}

// bastionChain returns the (shared) client of the last hop, dialling what is missing.
// A hop's connection is shared by every target whose chain starts the same way, with
// the same ProxyCommand and known_hosts file (which the hop's key was checked against).
func (d *Dialer) bastionChain(ctx context.Context, hops []Target) (*ssh.Client, error) {
	var via *ssh.Client
	key := ""
	for i, h := range hops {
		key += hopText(h) + "|" + h.ProxyCommand + "|" + h.KnownHosts + "\n"
		c, err := d.bastion(ctx, key, h, via)
		if err != nil {
			var unknown *UnknownHostKeyError
			if errors.As(err, &unknown) && i > 0 {
				unknown.Via = viaText(hops[:i])
			}
			return nil, fmt.Errorf("jump host %d of %d (%s): %w", i+1, len(hops), h.Name, err)
		}
		via = c
	}
	return via, nil
}

func (d *Dialer) bastion(ctx context.Context, key string, h Target, via *ssh.Client) (*ssh.Client, error) {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil, errors.New("dialer closed")
	}
	e, ok := d.bastions[key]
	if !ok {
		e = &bastionEntry{ready: make(chan struct{})}
		d.bastions[key] = e
		d.mu.Unlock()
		addr := net.JoinHostPort(h.Address, strconv.Itoa(h.Port))
		e.client, _, e.err = d.dialSSH(ctx, "bastion "+h.Name, addr, h.User, h, via)
		d.mu.Lock()
		if e.err != nil {
			if d.bastions[key] == e {
				delete(d.bastions, key) // a later dial may try again
			}
		} else {
			go d.forgetBastion(key, e)
		}
		d.mu.Unlock()
		close(e.ready)
		return e.client, e.err
	}
	d.mu.Unlock()
	select {
	case <-e.ready:
		return e.client, e.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// forgetBastion drops a shared bastion connection once it has ended, so that the next
// dial through it makes a new one.
func (d *Dialer) forgetBastion(key string, e *bastionEntry) {
	e.client.Wait()
	d.mu.Lock()
	if d.bastions[key] == e {
		delete(d.bastions, key)
	}
	d.mu.Unlock()
}
