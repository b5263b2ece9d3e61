package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"strings"
	"sync"

	"github.com/pkg/sftp"
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
// only after both were written completely. longLived processes (the sudo sftp-server)
// are not counted against the session limit.
type starter interface {
	start(ctx context.Context, cmdline string, stdout, stderr io.Writer, longLived bool) (process, error)
}

// fileOps are the file operations of a connection, over SFTP or the os package.
type fileOps interface {
	lstat(path string) (*FileInfo, error)
	readFile(path string) ([]byte, error)
	writeFile(ctx context.Context, path string, data []byte, attrs FileAttrs) error
	mkdir(path string, attrs FileAttrs) error
	chmod(path string, mode fs.FileMode) error
	chown(path string, uid, gid int) error
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
	// plain turns a command into the line st runs when not becoming anyone.
	plain func(command string) string
	// become is set when commands and files go through sudo.
	become *sudoSpec
	// openFiles opens the file operations used without become.
	openFiles func(ctx context.Context) (fileOps, error)
	// closeTransport ends the underlying connection (after the files were closed).
	closeTransport func() error
	// dialTCP opens a TCP connection from the host.
	dialTCP func(ctx context.Context, addr string) (net.Conn, error)

	filesMu sync.Mutex
	files   fileOps
	closed  bool // under filesMu

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

// Run implements Conn.
func (c *conn) Run(ctx context.Context, command string, stdin io.Reader) (*Result, error) {
	res, err := c.run(ctx, command, stdin)
	if err != nil {
		// The command's text stays out of the error: it may carry a sensitive value.
		// Callers say which resource ran it.
		return nil, fmt.Errorf("run a command on %s: %w", c.host, err)
	}
	return res, nil
}

func (c *conn) run(ctx context.Context, command string, stdin io.Reader) (*Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var stdout, stderr bytes.Buffer
	if c.become == nil {
		p, err := c.st.start(ctx, c.plain(command), &stdout, &stderr, false)
		if err != nil {
			return nil, err
		}
		feedStdin(p, stdin)
		code, err := waitCtx(ctx, p)
		if err != nil {
			return nil, err
		}
		return &Result{Stdout: stdout.Bytes(), Stderr: stderr.Bytes(), ExitCode: code}, nil
	}

	w := newSudoWatcher(c.become, &stderr)
	p, err := c.st.start(ctx, c.become.wrapCommand(command), &stdout, w, false)
	if err != nil {
		return nil, err
	}
	exited := make(chan struct{})
	fed := make(chan error, 1)
	go func() {
		fed <- c.sudoDance(ctx, p, w, exited, func() { feedStdin(p, stdin) })
	}()
	code, werr := waitCtx(ctx, p)
	close(exited)
	if danceErr := <-fed; danceErr != nil {
		return nil, danceErr
	}
	if werr != nil {
		return nil, werr
	}
	if _, rejected, ready := w.state(); !ready {
		return nil, becomeFailure(c.host, c.login, c.become.user, code, w.sudoOutput(), rejected)
	}
	return &Result{Stdout: stdout.Bytes(), Stderr: stderr.Bytes(), ExitCode: code}, nil
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

// waitCtx waits for p, killing it when ctx ends first.
func waitCtx(ctx context.Context, p process) (int, error) {
	stop := context.AfterFunc(ctx, p.kill)
	code, err := p.wait()
	stop()
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

// fileOps returns the connection's file operations, opening them on first use: the
// SFTP subsystem, or with become an sftp-server started through sudo, or the os package.
func (c *conn) fileOps(ctx context.Context) (fileOps, error) {
	c.filesMu.Lock()
	defer c.filesMu.Unlock()
	if c.closed {
		return nil, errors.New("connection closed")
	}
	if c.files != nil {
		return c.files, nil
	}
	// Opening SFTP takes a channel request that a half-dead peer never answers, and
	// pkg/sftp takes no context: wait for it here, so ctx still bounds the call.
	type opened struct {
		f   fileOps
		err error
	}
	ch := make(chan opened, 1)
	go func() {
		var o opened
		if c.become != nil {
			o.f, o.err = c.openSudoSFTP(ctx)
		} else {
			o.f, o.err = c.openFiles(ctx)
		}
		ch <- o
	}()
	select {
	case o := <-ch:
		if o.err != nil {
			return nil, o.err
		}
		c.files = o.f
		return o.f, nil
	case <-ctx.Done():
		// The open finishes or fails when the connection closes; its result is dropped.
		go func() {
			if o := <-ch; o.err == nil {
				o.f.close()
			}
		}()
		return nil, fmt.Errorf("open file transfer (SFTP): %w", ctx.Err())
	}
}

// sftpOptions are the pkg/sftp client options of every connection. Concurrent writes are
// safe because WriteFile only writes fresh temp files (removed on any error).
func sftpOptions() []sftp.ClientOption {
	return []sftp.ClientOption{sftp.UseConcurrentWrites(true)}
}

// openSudoSFTP starts sftp-server through sudo (as the become user) and speaks SFTP over
// its stdin/stdout: the SFTP subsystem would run as the login user (pkg/sftp#12).
func (c *conn) openSudoSFTP(ctx context.Context) (fileOps, error) {
	pr, pw := io.Pipe()
	errTail := &tailBuffer{max: 4096}
	w := newSudoWatcher(c.become, errTail)
	p, err := c.st.start(ctx, c.become.wrapSFTPServer(), pw, w, true)
	if err != nil {
		return nil, fmt.Errorf("start sftp-server through sudo: %w", err)
	}
	exited := make(chan struct{})
	var code int
	var werr error
	go func() {
		code, werr = p.wait()
		pw.CloseWithError(io.EOF)
		close(exited)
	}()
	readyCh := make(chan struct{})
	err = c.sudoDance(ctx, p, w, exited, func() { close(readyCh) })
	fail := func(err error) (fileOps, error) {
		p.kill()
		pr.Close()
		<-exited
		return nil, err
	}
	if err != nil {
		return fail(err)
	}
	select {
	case <-readyCh:
	default:
		if ctx.Err() != nil {
			return fail(ctx.Err())
		}
		<-exited
		if werr != nil {
			return nil, fmt.Errorf("start sftp-server through sudo: %w", werr)
		}
		said := w.sudoOutput()
		if strings.Contains(said, "no sftp-server found") {
			return nil, fmt.Errorf("become %s on %s: %s", c.become.user, c.host, said)
		}
		_, rejected, _ := w.state()
		return nil, becomeFailure(c.host, c.login, c.become.user, code, said, rejected)
	}
	client, err := sftp.NewClientPipe(pr, p.stdin(), sftpOptions()...)
	if err != nil {
		if tail := strings.TrimSpace(errTail.String()); tail != "" {
			err = fmt.Errorf("%w (sftp-server: %s)", err, tail)
		}
		return fail(fmt.Errorf("sftp-server through sudo: %w", err))
	}
	return newSFTPOps(client, func() error {
		err := client.Close()
		p.stdin().Close()
		select {
		case <-exited:
		default:
			p.kill()
			<-exited
		}
		return err
	}), nil
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append([]byte(nil), t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

// Stat implements Conn.
func (c *conn) Stat(ctx context.Context, path string) (*FileInfo, error) {
	f, err := c.fileOps(ctx)
	if err == nil {
		var fi *FileInfo
		if fi, err = f.lstat(path); err == nil {
			return fi, nil
		}
	}
	return nil, fmt.Errorf("stat %s on %s: %w", path, c.host, err)
}

// ReadFile implements Conn.
func (c *conn) ReadFile(ctx context.Context, path string) ([]byte, error) {
	f, err := c.fileOps(ctx)
	if err == nil {
		var data []byte
		if data, err = f.readFile(path); err == nil {
			return data, nil
		}
	}
	return nil, fmt.Errorf("read %s on %s: %w", path, c.host, err)
}

// WriteFile implements Conn.
func (c *conn) WriteFile(ctx context.Context, path string, data []byte, attrs FileAttrs) error {
	f, err := c.fileOps(ctx)
	if err == nil {
		err = f.writeFile(ctx, path, data, attrs)
	}
	if err != nil {
		return fmt.Errorf("write %s on %s: %w", path, c.host, err)
	}
	return nil
}

// Mkdir implements Conn.
func (c *conn) Mkdir(ctx context.Context, path string, attrs FileAttrs) error {
	f, err := c.fileOps(ctx)
	if err == nil {
		err = f.mkdir(path, attrs)
	}
	if err != nil {
		return fmt.Errorf("mkdir %s on %s: %w", path, c.host, err)
	}
	return nil
}

// Chmod implements Conn.
func (c *conn) Chmod(ctx context.Context, path string, mode fs.FileMode) error {
	f, err := c.fileOps(ctx)
	if err == nil {
		err = f.chmod(path, mode)
	}
	if err != nil {
		return fmt.Errorf("chmod %s on %s: %w", path, c.host, err)
	}
	return nil
}

// Chown implements Conn.
func (c *conn) Chown(ctx context.Context, path string, uid, gid int) error {
	f, err := c.fileOps(ctx)
	if err == nil {
		err = f.chown(path, uid, gid)
	}
	if err != nil {
		return fmt.Errorf("chown %s on %s: %w", path, c.host, err)
	}
	return nil
}

// Remove implements Conn.
func (c *conn) Remove(ctx context.Context, path string) error {
	f, err := c.fileOps(ctx)
	if err == nil {
		err = f.remove(path)
	}
	if err != nil {
		return fmt.Errorf("remove %s on %s: %w", path, c.host, err)
	}
	return nil
}

// Close implements Conn. It is safe to call more than once.
func (c *conn) Close() error {
	c.closeOnce.Do(func() {
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
