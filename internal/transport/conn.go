package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// process is one started command, remote (an SSH session) or local (os/exec).
type process interface {
	stdin() io.WriteCloser
	// wait returns the exit status (128+n for a signal). err is for transport
	// failures only.
	wait() (int, error)
	// kill stops the command as well as the transport allows; wait returns soon after.
	kill()
}

// starter starts shell command lines. stdout and stderr receive the output; wait returns
// only after both were written completely.
type starter interface {
	start(ctx context.Context, cmdline string, stdout, stderr io.Writer, life lifetime) (process, error)
}

// lifetime says how long a started process lasts, for the count of sessions.
type lifetime int

const (
	// oneCommand is counted against the limit of command sessions at once.
	oneCommand lifetime = iota
	// longLived lasts as long as the connection (the sudo sftp-server) and is not
	// counted; its start waits for room as a command's does.
	longLived
	// spare is longLived, started only if sshd grants its session at once (the kept
	// shell, without which commands still run).
	spare
)

// fileOps are the file operations of a connection, over SFTP or the os package.
type fileOps interface {
	lstat(path string) (*FileInfo, error)
	readlink(path string) (string, error)
	readFile(path string) ([]byte, error)
	readDir(path string) ([]string, error)
	// writeFile replaces path atomically (atomicWrite, which tidy is passed to).
	writeFile(ctx context.Context, path string, data []byte, attrs FileAttrs, tidy bool) error
	mkdir(path string, attrs FileAttrs) error
	chmod(path string, mode fs.FileMode) error
	chown(path string, uid, gid int) error
	chtimes(path string, t time.Time) error
	// writeInPlace writes data at the start of an existing file, which it neither
	// creates nor truncates.
	writeInPlace(path string, data []byte) error
	remove(path string) error
	close() error
}

// conn implements Conn on top of a starter and fileOps; SSH and local connections
// differ only in those.
type conn struct {
	d     *Dialer
	host  string // for messages
	login string // the user we are logged in as
	shell Shell
	st    starter
	// spec starts Unix processes: through sudo when become is set, else as the login
	// user. nil on a ShellCmd host, whose commands run as the cmd.exe lines they are.
	spec *sudoSpec
	// become is set when commands and files go through sudo (it is then spec).
	become *sudoSpec
	// openFiles opens the file operations (see fileOps) and says which user they act as.
	openFiles func(ctx context.Context) (fileOps, int, error)
	// filesAfter: a command's session can become the sftp-server (RunThenFiles).
	filesAfter bool
	// closeTransport ends the underlying connection (after the files were closed).
	closeTransport func() error
	// dialTCP opens a TCP connection from the host.
	dialTCP func(ctx context.Context, addr string) (net.Conn, error)
	// dialUnix opens a Unix socket's connection from the host as the login user; nil
	// where the host has none (Windows).
	dialUnix func(ctx context.Context, path string) (net.Conn, error)

	keptMu   sync.Mutex
	kept     *keptShell    // see kept.go
	keptOff  bool          // no kept shell (any more) on this connection
	keptIdle time.Duration // how long the kept shell waits for a batch; 0: keptIdle

	// noCutWrites: no write on the host can have been cut off (NoCutWrites).
	noCutWrites atomic.Bool

	filesMu sync.Mutex
	files   fileOps
	guard   *guard // made with the first files; kept when they are reopened
	closed  bool   // under filesMu

	closeOnce sync.Once
	closeErr  error
}

var _ Conn = (*conn)(nil)

// Shell implements Conn.
func (c *conn) Shell() Shell { return c.shell }

// DialTCP implements Conn.
func (c *conn) DialTCP(ctx context.Context, addr string) (net.Conn, error) {
	nc, err := c.dialTCP(ctx, addr)
	if err != nil {
		return nil, fmt.Errorf("connect to %s from %s: %w", addr, c.host, err)
	}
	return nc, nil
}

// ErrNotAsCommands marks a DialUnix refused because the host's commands run as
// another user (become) than the one a socket would see.
var ErrNotAsCommands = errors.New("commands run through sudo, as another user than the login a socket would see")

// DialUnix implements Conn.
func (c *conn) DialUnix(ctx context.Context, path string) (net.Conn, error) {
	return c.dialSocket(ctx, path, c.Stat)
}

// DialsUnix reports whether c's DialUnix may connect: false where commands run through
// sudo or the host has no Unix sockets, so that a caller can tell before it plans on it.
func DialsUnix(c Conn) bool {
	v, ok := connBelow(c)
	return ok && v.dialUnix != nil && v.become == nil
}

// DialsUnix is DialsUnix of a connection to t, as far as it is known before dialing
// (a Windows host found by its server's version cannot).
func (t Target) DialsUnix() bool {
	t, err := normalize(t)
	return err == nil && t.Shell != ShellCmd && !sudoFor(t)
}

// sudoFor reports whether commands on t go through sudo: become to another user than
// the login (over SSH), or than this process's (local).
func sudoFor(t Target) bool {
	if t.Local {
		return t.Become && !(os.Geteuid() == 0 && t.BecomeUser == "root")
	}
	return t.Become && t.User != t.BecomeUser
}

// dialSocket is DialUnix with stat as the look at path: the file session's, or what a
// plan read ahead of it (filesView), which follows the same rule.
func (c *conn) dialSocket(ctx context.Context, path string, stat func(context.Context, string) (*FileInfo, error)) (net.Conn, error) {
	switch {
	case c.dialUnix == nil:
		return nil, fmt.Errorf("connect to %s on %s: no Unix sockets there", path, c.host)
	case c.become != nil:
		return nil, fmt.Errorf("connect to %s on %s: %w", path, c.host, ErrNotAsCommands)
	}
	fi, err := stat(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("connect to %s on %s: %w", path, c.host, err)
	}
	if fi.Mode.Type() != fs.ModeSocket {
		return nil, fmt.Errorf("connect to %s on %s: not a socket (%s)", path, c.host, fi.Mode.Type())
	}
	nc, err := c.dialUnix(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("connect to %s on %s: %w", path, c.host, err)
	}
	return nc, nil
}

// Run implements Conn.
func (c *conn) Run(ctx context.Context, command string, stdin io.Reader) (*Result, error) {
	res, err := c.run(ctx, command, stdin, true)
	if err != nil {
		// The command's text stays out of the error: it may carry a sensitive value.
		// Callers say which resource ran it.
		return nil, fmt.Errorf("run a command on %s: %w", c.host, err)
	}
	return res, nil
}

// stopTimeout bounds the command that stops a timed-out or interrupted one.
const stopTimeout = 10 * time.Second

// run runs command; stoppable (every command but the one that stops another) kills
// the command's process group on the host when ctx ends first.
func (c *conn) run(ctx context.Context, command string, stdin io.Reader, stoppable bool) (*Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if c.spec == nil {
		return c.runCmdExe(ctx, command, stdin)
	}
	var stdout, stderr bytes.Buffer
	lead := newLeadLine(&stderr)
	w := newSudoWatcher(c.spec, lead)
	line, first := c.spec.wrapStream()
	input := io.Reader(bytes.NewReader(streamInput(first, command)))
	// Without a lead script (a sudo password) the stream costs a second shell.
	if stdin != nil || first == "" && len(command) < streamMin {
		end := randomToken("hostplan-end-")
		line = c.spec.wrapCommand(end)
		input = io.MultiReader(bytes.NewReader(commandInput(command, end)), orEmpty(stdin))
	}
	p, err := c.st.start(ctx, line, &stdout, w, oneCommand)
	if err != nil {
		return nil, err
	}
	exited := make(chan struct{})
	fed := make(chan error, 1)
	if c.spec.prompt == "" {
		// Nothing may read standard input before the command: send it at once rather
		// than a round trip later.
		feedStdin(p, input)
		fed <- nil
	} else {
		go func() {
			fed <- c.sudoDance(ctx, p, w, exited, func() { feedStdin(p, input) })
		}()
	}
	var stopGroup func()
	if stoppable {
		stopGroup = func() { c.stopGroup(lead) }
	}
	code, werr := waitCtx(ctx, p, stopGroup)
	close(exited)
	if danceErr := <-fed; danceErr != nil {
		return nil, danceErr
	}
	if werr != nil {
		return nil, werr
	}
	if _, rejected, ready := w.state(); !ready {
		return nil, c.startFailure(code, w.sudoOutput(), rejected)
	}
	return &Result{Stdout: stdout.Bytes(), Stderr: stderr.Bytes(), ExitCode: code}, nil
}

// startFailure explains a process that exited before it printed the marker.
func (c *conn) startFailure(code int, said string, rejected bool) error {
	if c.become != nil {
		return becomeFailure(c.host, c.login, c.become.user, code, said, rejected)
	}
	return fmt.Errorf("/bin/sh did not start on %s (exit %d): %s", c.host, code, orNothing(said))
}

// runCmdExe runs a command line on a ShellCmd host. Its text is in the process list
// there (cmd.exe /c takes it as an argument); commands on such hosts carry no secrets.
func (c *conn) runCmdExe(ctx context.Context, command string, stdin io.Reader) (*Result, error) {
	var stdout, stderr bytes.Buffer
	p, err := c.st.start(ctx, command, &stdout, &stderr, oneCommand)
	if err != nil {
		return nil, err
	}
	feedStdin(p, stdin)
	code, err := waitCtx(ctx, p, nil)
	if err != nil {
		return nil, err
	}
	return &Result{Stdout: stdout.Bytes(), Stderr: stderr.Bytes(), ExitCode: code}, nil
}

// stopGroup ends the process group a command's lead line names ("PGID STARTTIME").
func (c *conn) stopGroup(lead *leadLine) {
	if v := lead.values(); len(v) == 2 {
		c.killGroup(v[0], v[1])
	}
}

// killGroup ends a process group on the host with a command of its own: sshd refuses
// signal requests (without privilege separation, and for root logins), and closing a
// channel stops nothing that ignores SIGHUP or has no terminal.
func (c *conn) killGroup(pgid, start int64) {
	if pgid <= 1 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	c.run(ctx, killScript(pgid, start), nil, false)
}

func orEmpty(r io.Reader) io.Reader {
	if r == nil {
		return bytes.NewReader(nil)
	}
	return r
}

// feedStdin copies stdin to the process and closes its input (at once when stdin is nil,
// so commands that read it see EOF). The copy is not waited for: a command may exit
// without reading its input.
func feedStdin(p process, stdin io.Reader) {
	in := p.stdin()
	if stdin == nil {
		in.Close()
		return
	}
	go func() {
		io.Copy(in, stdin)
		in.Close()
	}()
}

// waitCtx waits for p. When ctx ends first, stopGroup (if any) ends the remote process
// group, then p is killed; waitCtx returns only after both, so the connection is not
// closed under the stopping command.
func waitCtx(ctx context.Context, p process, stopGroup func()) (int, error) {
	stopped := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(stopped)
		if stopGroup != nil {
			stopGroup()
		}
		p.kill()
	})
	code, err := p.wait()
	if !stop() {
		<-stopped
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		return code, ctxErr
	}
	return code, err
}

// sudoDance answers sudo's password prompt (only when it appears) and calls onReady once
// the marker shows that sudo runs our command. It returns when that happened, when the
// process exited (exited closed) or ctx ended; the caller then checks w.state(). A
// rejected password kills the process and yields ErrBecomePasswordRejected.
func (c *conn) sudoDance(ctx context.Context, p process, w *sudoWatcher, exited <-chan struct{}, onReady func()) error {
	answered := 0
	for {
		prompts, rejected, ready := w.state()
		switch {
		case rejected || (answered > 0 && prompts > answered):
			// "Sorry, try again." (or a second prompt): the password is wrong. Never
			// let sudo ask again: it would count more failures against the account.
			p.kill()
			return fmt.Errorf("%w on %s (become %s as %s)", ErrBecomePasswordRejected, c.host, c.become.user, c.login)
		case ready:
			onReady()
			return nil
		case prompts > answered:
			pw, err := c.d.becomePassword()
			if err != nil {
				p.kill()
				if errors.Is(err, ErrBecomePasswordRequired) {
					return fmt.Errorf("become %s on %s: %w for %s and no become password was given",
						c.become.user, c.host, ErrBecomePasswordRequired, c.login)
				}
				return fmt.Errorf("become %s on %s: become password: %w", c.become.user, c.host, err)
			}
			line := make([]byte, 0, len(pw)+1)
			line = append(append(line, pw...), '\n')
			_, err = p.stdin().Write(line)
			clear(line)
			if err != nil {
				return nil // the process is gone; its exit tells the rest
			}
			answered = prompts
		}
		select {
		case <-w.notify:
		case <-exited:
			return nil
		case <-ctx.Done():
			return nil
		}
	}
}

// Close implements Conn. It is safe to call more than once.
func (c *conn) Close() error {
	c.closeOnce.Do(func() {
		// Busy or starting, the kept shell ends with the transport (or, on a local
		// connection, once idle).
		if c.keptMu.TryLock() {
			if k := c.kept; k != nil && k.busy.TryLock() {
				k.close()
				k.busy.Unlock()
			}
			c.keptOff = true
			c.keptMu.Unlock()
		}
		closeTransport := func() {
			if c.closeTransport != nil {
				c.closeErr = c.closeTransport()
			}
		}
		if c.filesMu.TryLock() {
			// Clean order: the SFTP session first, then the connection.
			if c.files != nil {
				c.files.close()
			}
			c.closed = true
			c.filesMu.Unlock()
			closeTransport()
		} else {
			// A file operation is opening SFTP: ending the connection unblocks it.
			closeTransport()
			c.filesMu.Lock()
			if c.files != nil {
				c.files.close()
			}
			c.closed = true
			c.filesMu.Unlock()
		}
		if c.d != nil {
			c.d.untrack(c)
		}
	})
	return c.closeErr
}
