package transport

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ProxyCommand support (ssh_config's ProxyCommand): the SSH connection runs over the
// standard input and output of a local command, as OpenSSH does it. Neither
// x/crypto/ssh nor net offer a net.Conn over a child process (net.Pipe is in-memory
// only), so proxyConn is that: os.Pipe ends (which Go's poller serves, so deadlines
// work and bound the handshake like a TCP socket's) plus the process's life.

// Bounds: how much of the command's stderr is kept for messages, and how long the
// steps of stopping it may take. Every wait on the process has one of these.
const (
	proxyStderrMax = 2048
	proxyExitWait  = 2 * time.Second        // for the exit after it closed its output
	proxyHangup    = 500 * time.Millisecond // after SIGHUP, before SIGKILL
	proxyKillWait  = 5 * time.Second        // after SIGKILL
)

// ProxyCommandError is a ProxyCommand that ended before or while it carried the
// connection: how it ended and the end of what it wrote on stderr.
type ProxyCommandError struct {
	Command string // as run, tokens expanded
	Status  string // e.g. "exit status 1"; "" when it ended with status 0
	Stderr  string // its last proxyStderrMax bytes of stderr, trimmed
	Silent  bool   // it never wrote a byte of output
}

func (e *ProxyCommandError) Error() string {
	msg := fmt.Sprintf("the ProxyCommand %q", e.Command)
	switch {
	case e.Status != "":
		msg += " ended (" + e.Status + ")"
	default:
		msg += " ended (exit status 0)"
	}
	if e.Silent {
		msg += " before the server's SSH greeting came through it"
	}
	if e.Stderr != "" {
		msg += fmt.Sprintf("; it said: %q", e.Stderr)
	} else {
		msg += "; it wrote nothing on stderr"
	}
	return msg
}

// proxyConn is a net.Conn over a ProxyCommand's stdin (Write) and stdout (Read).
// Closing it stops the command's whole process group.
type proxyConn struct {
	command string
	target  string // host:port the command was asked to reach (RemoteAddr)
	cmd     *exec.Cmd
	r, w    *os.File // our ends of its stdout and stdin
	stderr  *tailBuffer
	left    chan struct{} // closed once the command's process has exited (not reaped)

	readAny   atomic.Bool              // it wrote a byte of output
	lv        atomic.Pointer[liveness] // the connection's, once it is up
	mu        sync.Mutex
	reaped    bool
	waitErr   error
	closeOnce sync.Once
}

// startProxyCommand runs command as OpenSSH does: `exec COMMAND` in $SHELL -c
// (/bin/sh without $SHELL). It gets its own process group, so that Ctrl-C on the
// terminal reaches hostplan alone (which still needs the connection to release its
// locks) and Close can stop whatever the command started.
func startProxyCommand(command, target string) (*proxyConn, error) {
	shell := os.Getenv("SHELL")
	if shell == "" {
		shell = "/bin/sh"
	}
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("ProxyCommand %q: %w", command, err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return nil, fmt.Errorf("ProxyCommand %q: %w", command, err)
	}
	c := &proxyConn{command: command, target: target, r: outR, w: inW,
		stderr: &tailBuffer{max: proxyStderrMax}, left: make(chan struct{})}
	c.cmd = exec.Command(shell, "-c", "exec "+command)
	c.cmd.Stdin, c.cmd.Stdout, c.cmd.Stderr = inR, outW, c.stderr
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// A grandchild that keeps stderr open must not block Wait for ever.
	c.cmd.WaitDelay = proxyExitWait
	err = c.cmd.Start()
	inR.Close() // the child's ends: keeping them would hide its exit from us
	outW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		return nil, fmt.Errorf("start the ProxyCommand %q with %s: %w", command, shell, err)
	}
	go c.watch()
	return c, nil
}

// watch closes c.left when the process exits, without reaping it: an unreaped process
// keeps its pid, so signalling its group stays safe until reap.
func (c *proxyConn) watch() {
	var info unix.Siginfo
	for {
		err := unix.Waitid(unix.P_PID, c.cmd.Process.Pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	close(c.left)
}

func (c *proxyConn) exitedWithin(d time.Duration) bool {
	select {
	case <-c.left:
		return true
	default:
	}
	if d <= 0 {
		return false
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-c.left:
		return true
	case <-t.C:
		return false
	}
}

// stop signals the process group (SIGHUP, as OpenSSH does, then SIGKILL) and reaps
// the process; it returns how the process ended. Safe to call more than once.
func (c *proxyConn) stop() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.reaped {
		return c.waitErr
	}
	pgid := c.cmd.Process.Pid
	if !c.exitedWithin(0) {
		_ = syscall.Kill(-pgid, syscall.SIGHUP)
		c.exitedWithin(proxyHangup)
	}
	// Also what the command left running in its group, whether or not it exited.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	if !c.exitedWithin(proxyKillWait) {
		// Unkillable (stuck in the kernel): reap it whenever it goes.
		go c.cmd.Wait()
		c.reaped, c.waitErr = true, errors.New("did not exit after SIGKILL")
		return c.waitErr
	}
	c.reaped, c.waitErr = true, c.cmd.Wait()
	return c.waitErr
}

// ended turns the end of the command's output (or a write it no longer reads) into a
// *ProxyCommandError once the process has exited. A command that exits with status 0
// after it carried the connection is an ordinary end (io.EOF), so that a server
// closing the connection reads as usual; one that never said a word is not (it is not
// a busy server to retry).
func (c *proxyConn) ended(err error) error {
	if !c.exitedWithin(proxyExitWait) {
		return err
	}
	werr := c.stop()
	status := ""
	var ee *exec.ExitError
	if errors.As(werr, &ee) {
		status = ee.ProcessState.String()
	} else if werr != nil {
		status = werr.Error()
	}
	if status == "" && c.readAny.Load() && errors.Is(err, io.EOF) {
		return err
	}
	perr := &ProxyCommandError{Command: c.command, Status: status,
		Stderr: strings.TrimSpace(c.stderr.String()), Silent: !c.readAny.Load()}
	// Said before x/crypto sees the error and fails the sessions, which then report
	// "connection lost" with the reason liveness holds.
	if lv := c.lv.Load(); lv != nil && lv.lost() == nil {
		lv.set(perr)
	}
	return perr
}

func (c *proxyConn) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 {
		c.readAny.Store(true)
	}
	if errors.Is(err, io.EOF) {
		err = c.ended(err)
	}
	return n, err
}

func (c *proxyConn) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	if errors.Is(err, syscall.EPIPE) {
		err = c.ended(err)
	}
	return n, err
}

// Close closes both pipes (the command sees EOF), then stops the process group and
// waits for it (bounded: a command that ignores SIGHUP costs proxyHangup), so that no
// proxy outlives the connection it carried.
func (c *proxyConn) Close() error {
	c.closeOnce.Do(func() {
		c.w.Close()
		c.r.Close()
		c.stop()
	})
	return nil
}

func (c *proxyConn) LocalAddr() net.Addr  { return proxyAddr("hostplan") }
func (c *proxyConn) RemoteAddr() net.Addr { return proxyAddr(c.target) }

func (c *proxyConn) SetDeadline(t time.Time) error {
	return errors.Join(c.r.SetReadDeadline(t), c.w.SetWriteDeadline(t))
}
func (c *proxyConn) SetReadDeadline(t time.Time) error  { return c.r.SetReadDeadline(t) }
func (c *proxyConn) SetWriteDeadline(t time.Time) error { return c.w.SetWriteDeadline(t) }

// proxyAddr is the address the command was asked to reach, "host:port", which is what
// knownhosts parses out of RemoteAddr (it checks the name dialled first).
type proxyAddr string

func (a proxyAddr) Network() string { return "proxycommand" }
func (a proxyAddr) String() string  { return string(a) }
