package lab

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"
)

const sshdPath = "/usr/sbin/sshd"

// hostEnv is the environment of sshd and of Exec: nothing leaks in from the caller.
var hostEnv = []string{
	"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
	"HOME=/root", "USER=root", "LOGNAME=root", "SHELL=/bin/sh", "LANG=C.UTF-8",
}

// Host is one lab host, reachable with SSH at Address:Port.
type Host struct {
	Name    string // "h1", "h2", ...
	Address string // "127.0.1.N"
	Port    int
	NetNS   string // network namespace name (`ip netns exec NetNS ...` works)

	lab *Lab
	dir string  // Lab.Dir/hN: sshd config, host keys, log, overlay upper dirs, ...
	ns  nsFiles // the host's namespaces, open until Stop

	reachMu  sync.Mutex   // serialises SetReachable
	mu       sync.Mutex   // guards ln and hostKeys; taken after Lab.mu
	ln       net.Listener // nil while unreachable or stopped
	hostKeys []ssh.Signer // current host keys: ed25519, ecdsa
	conns    atomic.Int64
}

// LogPath is the host's sshd log (sshd -E; LogLevel ERROR).
func (h *Host) LogPath() string { return filepath.Join(h.dir, "sshd.log") }

// Connections is the number of TCP connections the host accepted so far.
func (h *Host) Connections() int { return int(h.conns.Load()) }

// HostKeys are the host's current public host keys (ed25519, ecdsa).
func (h *Host) HostKeys() []ssh.PublicKey {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []ssh.PublicKey
	for _, s := range h.hostKeys {
		out = append(out, s.PublicKey())
	}
	return out
}

// HostKeyLine is the known_hosts line of the host's current ed25519 key
// ("[127.0.1.N]:PORT ssh-ed25519 AAAA..."), with a trailing newline.
func (h *Host) HostKeyLine() string {
	return knownHostsLine(h.Address, h.Port, h.HostKeys()[0])
}

// KnownHostsLines are the known_hosts lines of all the host's current keys.
func (h *Host) KnownHostsLines() string {
	var b strings.Builder
	for _, k := range h.HostKeys() {
		b.WriteString(knownHostsLine(h.Address, h.Port, k))
	}
	return b.String()
}

// RotateHostKey gives the host new host keys. Lab.KnownHosts keeps the old ones, so
// strict host key checking against it fails from now on.
func (h *Host) RotateHostKey() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.writeHostKeysLocked()
}

func (h *Host) writeHostKeysLocked() error {
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	var signers []ssh.Signer
	for _, k := range []struct {
		key  any
		file string
	}{{edKey, "ssh_host_ed25519_key"}, {ecKey, "ssh_host_ecdsa_key"}} {
		s, err := ssh.NewSignerFromKey(k.key)
		if err != nil {
			return err
		}
		blk, err := ssh.MarshalPrivateKey(k.key, "root@"+h.Name)
		if err != nil {
			return err
		}
		if err := writeFileAtomic(filepath.Join(h.dir, k.file), pem.EncodeToMemory(blk), 0o600); err != nil {
			return err
		}
		if err := writeFileAtomic(filepath.Join(h.dir, k.file+".pub"), ssh.MarshalAuthorizedKey(s.PublicKey()), 0o644); err != nil {
			return err
		}
		signers = append(signers, s)
	}
	h.hostKeys = signers
	return nil
}

func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return err
	}
	if err := os.Chmod(tmp, mode); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// SetReachable(false) closes the host's listener: connections are refused (connections
// already open go on). SetReachable(true) listens again on the same address and port.
func (h *Host) SetReachable(on bool) error {
	h.reachMu.Lock()
	defer h.reachMu.Unlock()
	l := h.lab
	if !on {
		l.mu.Lock()
		defer l.mu.Unlock()
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.ln != nil {
			h.ln.Close()
			h.ln = nil
		}
		if l.stopped {
			return errStopped
		}
		return nil
	}
	h.mu.Lock()
	listening := h.ln != nil
	h.mu.Unlock()
	if listening {
		return nil
	}
	if l.isStopped() {
		return errStopped
	}
	addr := net.JoinHostPort(h.Address, strconv.Itoa(h.Port))
	var ln net.Listener
	var err error
	for i := 0; i < 50; i++ { // the old socket may take a moment to go
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("lab: %s: listen again: %w", h.Name, err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stopped {
		ln.Close()
		return errStopped
	}
	h.mu.Lock()
	h.ln = ln
	h.mu.Unlock()
	l.accepts.Add(1)
	go h.serve(ln)
	return nil
}

// serve accepts connections until ln is closed; each one is handed to a fresh
// `sshd -i` inside the host's namespaces.
func (h *Host) serve(ln net.Listener) {
	defer h.lab.accepts.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond) // EMFILE & co.
			continue
		}
		h.conns.Add(1)
		if h.lab.daemon {
			go h.relay(c)
		} else {
			go h.handle(c)
		}
	}
}

func (h *Host) handle(c net.Conn) {
	// The socket itself becomes sshd's stdin and stdout (os/exec makes it blocking).
	f, err := c.(*net.TCPConn).File()
	c.Close()
	if err != nil {
		h.logf("accept: %v", err)
		return
	}
	defer f.Close()
	l := h.lab
	logf, err := os.OpenFile(h.LogPath(), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return
	}
	defer logf.Close()
	cmd := exec.Command(sshdPath, "-i", "-f", filepath.Join(h.dir, "sshd_config"), "-E", h.LogPath())
	cmd.Stdin, cmd.Stdout, cmd.Stderr = f, f, logf
	cmd.Env = hostEnv
	if err := h.startIn(cmd, true); err != nil {
		if !errors.Is(err, errStopped) {
			fmt.Fprintf(logf, "hostplan-lab: start sshd: %v\n", err)
		}
		return
	}
	defer l.conns.Done()
	f.Close()
	// sshd -i exits 255 whenever the client goes away: only other failures are news.
	if err := cmd.Wait(); err != nil && !l.isStopped() {
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 255 {
			fmt.Fprintf(logf, "hostplan-lab: sshd -i: %v\n", err)
		}
	}
}

// daemonAddr is where a host's own sshd listens (Options.Daemon), inside its network.
const daemonAddr = "127.0.0.1:22"

// startDaemon starts the host's listening sshd and waits until it listens (it writes
// its pid file only then).
func (h *Host) startDaemon(ctx context.Context) error {
	pidFile := filepath.Join(h.dir, "sshd.pid")
	cmd := exec.Command(sshdPath, "-D", "-f", filepath.Join(h.dir, "sshd_config"), "-E", h.LogPath(),
		"-o", "ListenAddress="+daemonAddr, "-o", "PidFile="+pidFile)
	cmd.Env = hostEnv
	if err := h.startIn(cmd, true); err != nil {
		return fmt.Errorf("lab: %s: start sshd: %w", h.Name, err)
	}
	exited := make(chan error, 1)
	go func() {
		defer h.lab.conns.Done()
		exited <- cmd.Wait()
	}()
	for {
		if _, err := os.Stat(pidFile); err == nil {
			return nil
		}
		select {
		case err := <-exited:
			return fmt.Errorf("lab: %s: sshd exited at start (%v); see %s", h.Name, err, h.LogPath())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// relay carries one connection to the host's sshd daemon and back. Either side ending
// ends both: SSH has no use for half-closed connections.
func (h *Host) relay(c net.Conn) {
	defer c.Close()
	// Stop closes the namespace files DialIn uses: hold it off as startIn does.
	l := h.lab
	l.startMu.RLock()
	var s net.Conn
	err := errStopped
	if !l.isStopped() {
		s, err = h.DialIn(context.Background(), daemonAddr)
	}
	l.startMu.RUnlock()
	if errors.Is(err, errStopped) {
		return
	}
	if err != nil {
		h.logf("relay: %v", err)
		return
	}
	defer s.Close()
	done := make(chan struct{}, 2)
	go func() { io.Copy(s, c); done <- struct{}{} }()
	go func() { io.Copy(c, s); done <- struct{}{} }()
	<-done
}

func (l *Lab) isStopped() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.stopped
}

func (h *Host) logf(format string, args ...any) {
	if f, err := os.OpenFile(h.LogPath(), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644); err == nil {
		fmt.Fprintf(f, "hostplan-lab: "+format+"\n", args...)
		f.Close()
	}
}

// command is argv to run as root inside the host (cwd "/", a minimal environment).
// Start it with startIn, not Start.
func (h *Host) command(ctx context.Context, argv ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = hostEnv
	// A background process that keeps our pipe open must not hang the caller forever.
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

func (h *Host) run(cmd *exec.Cmd) error {
	if err := h.startIn(cmd, false); err != nil {
		return err
	}
	return cmd.Wait()
}

// Exec runs `sh -c command` as root inside the host (no SSH; cwd "/", a minimal
// environment) and returns its combined output. A non-zero exit is an *exec.ExitError.
func (h *Host) Exec(ctx context.Context, command string) ([]byte, error) {
	cmd := h.command(ctx, "/bin/sh", "-c", command)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := h.run(cmd)
	return out.Bytes(), err
}

// ReadFile reads a file as the host sees it. A missing file gives an error that
// matches fs.ErrNotExist.
func (h *Host) ReadFile(path string) ([]byte, error) {
	cmd := h.command(context.Background(), "/bin/sh", "-c", `[ -e "$1" ] || exit 3; exec cat -- "$1"`, "sh", path)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := h.run(cmd); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.ExitCode() == 3 {
			return nil, &fs.PathError{Op: "read", Path: h.Name + ":" + path, Err: fs.ErrNotExist}
		}
		return nil, fmt.Errorf("lab: read %s:%s: %v: %s", h.Name, path, err, strings.TrimSpace(stderr.String()))
	}
	return stdout.Bytes(), nil
}

// WriteFile writes a file on the host as root with the given mode, creating missing
// parent directories (0755) first, unlike os.WriteFile.
func (h *Host) WriteFile(path string, data []byte, mode os.FileMode) error {
	cmd := h.command(context.Background(), "/bin/sh", "-c",
		`mkdir -p -- "$(dirname -- "$1")" && cat > "$1" && chmod "$2" -- "$1"`,
		"sh", path, strconv.FormatUint(uint64(mode.Perm()), 8))
	cmd.Stdin = bytes.NewReader(data)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := h.run(cmd); err != nil {
		return fmt.Errorf("lab: write %s:%s: %v: %s", h.Name, path, err, strings.TrimSpace(out.String()))
	}
	return nil
}

// EnterCommand is a shell command that gives a root shell in the host without SSH, for
// a human debugging a running lab: "nsenter --net=... --mount=/proc/PID/fd/N --uts=...".
func (h *Host) EnterCommand() string {
	pid := os.Getpid()
	return fmt.Sprintf("nsenter --net=/run/netns/%s --mount=/proc/%d/fd/%d --uts=/proc/%d/fd/%d",
		h.NetNS, pid, h.ns.mnt.Fd(), pid, h.ns.uts.Fd())
}

// SSHLog returns the host's sshd log so far.
func (h *Host) SSHLog() string {
	b, _ := os.ReadFile(h.LogPath())
	return string(b)
}

// StartLogin opens a connection to the host's sshd and waits for its greeting, then
// says nothing: a client whose login is in progress, which counts against sshd's
// MaxStartups (with Options.Daemon) until it is closed.
func (h *Host) StartLogin() (net.Conn, error) {
	c, err := net.DialTimeout("tcp", net.JoinHostPort(h.Address, strconv.Itoa(h.Port)), 10*time.Second)
	if err != nil {
		return nil, err
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	// One byte at a time: what follows the greeting line is not ours to read.
	var line []byte
	b := make([]byte, 1)
	for len(line) < 256 && !bytes.HasSuffix(line, []byte("\n")) {
		if _, err := c.Read(b); err != nil {
			c.Close()
			return nil, fmt.Errorf("lab: %s: waiting for the SSH greeting: %w", h.Name, err)
		}
		line = append(line, b[0])
	}
	if !bytes.HasPrefix(line, []byte("SSH-2.0-")) {
		c.Close()
		return nil, fmt.Errorf("lab: %s: greeting %q, not SSH", h.Name, line)
	}
	c.SetReadDeadline(time.Time{})
	return c, nil
}

// SignalSSHD sends sig to every sshd process of the host (the listening daemon too,
// with Options.Daemon) and returns how many there were. SIGKILL cuts the host's SSH
// connections as a crash or a lost network would.
func (h *Host) SignalSSHD(sig syscall.Signal) (int, error) {
	var st syscall.Stat_t
	if err := syscall.Fstat(int(h.ns.net.Fd()), &st); err != nil {
		return 0, fmt.Errorf("lab: %s: %w", h.Name, err)
	}
	n := 0
	for _, pid := range pidsIn(map[uint64]bool{st.Ino: true}) {
		comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		if err != nil || strings.TrimSpace(string(comm)) != "sshd" {
			continue
		}
		if syscall.Kill(pid, sig) == nil {
			n++
		}
	}
	return n, nil
}
