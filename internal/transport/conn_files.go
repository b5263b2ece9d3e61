package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/pkg/sftp"
)

// errNoSFTPServer: none of sftpServerPaths is on the host.
var errNoSFTPServer = errors.New("no sftp-server found")

// openedFiles returns the connection's file operations and path guard, opening them on first
// use (again after a stopped operation dropped them).
func (c *conn) openedFiles(ctx context.Context) (fileOps, *guard, error) {
	c.filesMu.Lock()
	defer c.filesMu.Unlock()
	if c.closed {
		return nil, nil, errors.New("connection closed")
	}
	if c.files != nil {
		return c.files, c.guard, nil
	}
	// Opening SFTP takes a channel request that a half-dead peer never answers, and
	// pkg/sftp takes no context: wait for it here, so ctx still bounds the call.
	type opened struct {
		f   fileOps
		uid int
		err error
	}
	ch := make(chan opened, 1)
	go func() {
		var o opened
		o.f, o.uid, o.err = c.openFiles(ctx)
		ch <- o
	}()
	select {
	case o := <-ch:
		if o.err != nil {
			return nil, nil, o.err
		}
		c.files = o.f
		if c.guard == nil {
			c.guard = newGuard(o.uid)
		}
		return o.f, c.guard, nil
	case <-ctx.Done():
		// The open finishes or fails when the connection closes; its result is dropped.
		go func() {
			if o := <-ch; o.err == nil {
				o.f.close()
			}
		}()
		return nil, nil, fmt.Errorf("open file transfer (SFTP): %w", ctx.Err())
	}
}

// fileOpGrace is how long a stopped file operation may take to return once its SFTP
// session is closed.
const fileOpGrace = 5 * time.Second

// fileOp runs fn with the file operations, bounded by ctx: pkg/sftp takes no context,
// so when ctx ends first the SFTP session is closed (its server stopped), which ends
// the request in flight, and the next operation opens a new session. A write stopped
// that way leaves the old file: the new content only ever lands by a rename.
func (c *conn) fileOp(ctx context.Context, fn func(fileOps, *guard) error) error {
	f, g, err := c.openedFiles(ctx)
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- fn(f, g) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		c.dropFiles(f)
		select {
		case <-done:
		case <-time.After(fileOpGrace):
		}
		return fmt.Errorf("stopped: %w", ctx.Err())
	}
}

// dropFiles closes f and forgets it, unless it was replaced already.
func (c *conn) dropFiles(f fileOps) {
	c.filesMu.Lock()
	if c.files == f {
		c.files = nil
	}
	c.filesMu.Unlock()
	f.close()
}

// openSFTPServer starts sftp-server with the connection's spec (through sudo as the
// become user, which the SFTP subsystem cannot do: pkg/sftp#12) and speaks SFTP over
// its stdin/stdout. It returns the user the server acts as.
func (c *conn) openSFTPServer(ctx context.Context) (fileOps, int, error) {
	pr, pw := io.Pipe()
	errTail := &tailBuffer{max: 4096}
	lead := newLeadLine(errTail)
	w := newSudoWatcher(c.spec, lead)
	p, err := c.st.start(ctx, c.spec.wrapSFTPServer(), pw, w, longLived)
	if err != nil {
		return nil, 0, fmt.Errorf("start sftp-server: %w", err)
	}
	ex := watchExit(p, pw)
	exited := ex.exited
	fail := func(err error) (fileOps, int, error) {
		p.kill()
		pr.Close()
		<-exited
		return nil, 0, err
	}
	readyCh := make(chan struct{})
	if err := c.sudoDance(ctx, p, w, exited, func() { close(readyCh) }); err != nil {
		return fail(err)
	}
	select {
	case <-readyCh:
	default:
		if ctx.Err() != nil {
			return fail(ctx.Err())
		}
		<-exited
		return nil, 0, c.sftpServerFailure(ex.code, ex.err, w)
	}
	client, v, err := c.sftpClient(ctx, pr, p, errTail, lead)
	if err != nil {
		return fail(err)
	}
	ops := newSFTPOps(client, func() error { return c.closeSFTPServer(client, p, pr, exited, v[1], v[2]) })
	ops.private = true
	return ops, int(v[0]), nil
}

// exitWatch is a process waited for in the background: code and err are its exit's,
// to read once exited is closed.
type exitWatch struct {
	exited chan struct{}
	code   int
	err    error
}

// watchExit waits for p, then closes pw, p's output pipe, so its reader sees the end,
// and then exited.
func watchExit(p process, pw *io.PipeWriter) *exitWatch {
	ex := &exitWatch{exited: make(chan struct{})}
	go func() {
		ex.code, ex.err = p.wait()
		pw.CloseWithError(io.EOF)
		close(ex.exited)
	}()
	return ex
}

// leadLineTimeout bounds the wait for the wrapper's lead line once the server answered
// on stdout: the line was printed before the server started, so it is in flight.
const leadLineTimeout = 10 * time.Second

// sftpClient starts the SFTP client on the server's pipes and reads what the wrapper
// printed first: the user id, the process group and its start time.
func (c *conn) sftpClient(ctx context.Context, pr *io.PipeReader, p process, errTail *tailBuffer, lead *leadLine) (*sftp.Client, []int64, error) {
	client, err := sftp.NewClientPipe(pr, p.stdin(), sftpOptions()...)
	if err != nil {
		if tail := strings.TrimSpace(errTail.String()); tail != "" {
			err = fmt.Errorf("%w (sftp-server: %s)", err, tail)
		}
		return nil, nil, fmt.Errorf("sftp-server: %w", err)
	}
	wctx, cancel := context.WithTimeout(ctx, leadLineTimeout)
	defer cancel()
	v := lead.wait(wctx)
	if len(v) != 3 {
		client.Close()
		return nil, nil, fmt.Errorf("sftp-server on %s: the wrapper printed no user id", c.host)
	}
	return client, v, nil
}

// closeSFTPServer ends a session of openSFTPServer. Closing the client ends the
// server's input (under the client's lock: a close of the channel beside a write in
// flight races in x/crypto/ssh) and waits for its reader. The server exits at the end
// of its input; one stuck in a call (a hung mount, a stopped process) is stopped, not
// just our end of it (its process group pgid, started at start); then our end of its
// output closes, which ends the reader whatever the server did.
func (c *conn) closeSFTPServer(client *sftp.Client, p process, out *io.PipeReader, exited <-chan struct{}, pgid, start int64) error {
	closed := make(chan error, 1)
	go func() { closed <- client.Close() }()
	select {
	case <-exited:
	case <-time.After(time.Second):
		c.killGroup(pgid, start)
		p.kill()
	}
	out.Close()
	select {
	case err := <-closed:
		return err
	case <-time.After(stopTimeout):
		return errors.New("sftp-server did not stop")
	}
}

// sftpServerFailure explains an sftp-server that exited before the marker.
func (c *conn) sftpServerFailure(code int, werr error, w *sudoWatcher) error {
	if werr != nil {
		return fmt.Errorf("start sftp-server: %w", werr)
	}
	said := w.sudoOutput()
	if strings.Contains(said, "no sftp-server found") {
		if c.become == nil {
			return fmt.Errorf("%w on %s: %s", errNoSFTPServer, c.host, said)
		}
		return fmt.Errorf("become %s on %s: %s", c.become.user, c.host, said)
	}
	_, rejected, _ := w.state()
	return c.startFailure(code, said, rejected)
}

// Stat implements Conn.
func (c *conn) Stat(ctx context.Context, p string) (*FileInfo, error) {
	var fi *FileInfo
	err := c.fileOp(ctx, func(f fileOps, g *guard) error {
		real, err := g.strictParent(f, p)
		if err != nil {
			return err
		}
		if fi, err = f.lstat(real); err != nil {
			return err
		}
		if fi.Mode&fs.ModeSymlink != 0 {
			fi.Link, _ = f.readlink(real)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("stat %s on %s: %w", p, c.host, err)
	}
	return fi, nil
}

// ReadDir implements Conn.
func (c *conn) ReadDir(ctx context.Context, p string) ([]string, error) {
	var names []string
	err := c.fileOp(ctx, func(f fileOps, g *guard) error {
		real, err := g.strictParent(f, p)
		if err != nil {
			return err
		}
		fi, err := f.lstat(real)
		if err != nil {
			return err
		}
		if !fi.Mode.IsDir() {
			return fmt.Errorf("not a directory (%s)", fi.Mode.Type())
		}
		names, err = f.readDir(real)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list %s on %s: %w", p, c.host, err)
	}
	return names, nil
}

// regular returns the lstat of real, which must be a regular file: a FIFO is refused
// before anything opens it (the open would block for ever), a symlink is not followed.
func regular(f fileOps, real string) (*FileInfo, error) {
	fi, err := f.lstat(real)
	if err != nil {
		return nil, err
	}
	if !fi.Mode.IsRegular() {
		e := &NotRegularError{Path: real, Mode: fi.Mode}
		if fi.Mode&fs.ModeSymlink != 0 {
			e.Link, _ = f.readlink(real)
		}
		return nil, e
	}
	return fi, nil
}

// ReadFile implements Conn.
func (c *conn) ReadFile(ctx context.Context, p string) ([]byte, error) {
	var data []byte
	err := c.fileOp(ctx, func(f fileOps, g *guard) error {
		real, err := g.strictParent(f, p)
		if err != nil {
			return err
		}
		if _, err := regular(f, real); err != nil {
			return err
		}
		data, err = f.readFile(real)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read %s on %s: %w", p, c.host, err)
	}
	return data, nil
}

// WriteKernel implements Conn.
func (c *conn) WriteKernel(ctx context.Context, p string, data []byte) error {
	if !strings.HasPrefix(p, "/proc/sys/") || path.Clean(p) != p {
		return fmt.Errorf("write %s on %s in place: only kernel settings under /proc/sys/ are written in place", p, c.host)
	}
	err := c.fileOp(ctx, func(f fileOps, g *guard) error {
		real, err := c.noLink(f, g, p)
		if err != nil {
			return err
		}
		return f.writeInPlace(real, data)
	})
	if err != nil {
		return fmt.Errorf("write %s on %s: %w", p, c.host, err)
	}
	return nil
}

// NoCutWrites tells c that no earlier write on its host can have been cut off with its
// temp file left behind: c's writes then skip removeStaleTemps, a listing of the
// target's directory after each. A caller knows it from the host lock: an apply whose
// connection dies cannot release its lock, so after such a cut the next apply takes
// the lock over and its writes look; one that took the lock free need not.
func NoCutWrites(c Conn) {
	if v, ok := connBelow(c); ok {
		v.noCutWrites.Store(true)
	}
}

// WriteFile implements Conn.
func (c *conn) WriteFile(ctx context.Context, p string, data []byte, attrs FileAttrs) error {
	err := c.fileOp(ctx, func(f fileOps, g *guard) error {
		real, err := g.strictParent(f, p)
		if err != nil {
			return err
		}
		return f.writeFile(ctx, real, data, attrs, !c.noCutWrites.Load())
	})
	if err != nil {
		return fmt.Errorf("write %s on %s: %w", p, c.host, err)
	}
	return nil
}

// Mkdir implements Conn.
func (c *conn) Mkdir(ctx context.Context, p string, attrs FileAttrs) error {
	err := c.fileOp(ctx, func(f fileOps, g *guard) error {
		real, err := g.strictParent(f, p)
		if err != nil {
			return err
		}
		return f.mkdir(real, attrs)
	})
	if err != nil {
		return fmt.Errorf("mkdir %s on %s: %w", p, c.host, err)
	}
	return nil
}

// Chmod implements Conn.
func (c *conn) Chmod(ctx context.Context, p string, mode fs.FileMode) error {
	err := c.fileOp(ctx, func(f fileOps, g *guard) error {
		real, err := c.noLink(f, g, p)
		if err != nil {
			return err
		}
		return f.chmod(real, mode)
	})
	if err != nil {
		return fmt.Errorf("chmod %s on %s: %w", p, c.host, err)
	}
	return nil
}

// Chown implements Conn.
func (c *conn) Chown(ctx context.Context, p string, uid, gid int) error {
	err := c.fileOp(ctx, func(f fileOps, g *guard) error {
		real, err := c.noLink(f, g, p)
		if err != nil {
			return err
		}
		return f.chown(real, uid, gid)
	})
	if err != nil {
		return fmt.Errorf("chown %s on %s: %w", p, c.host, err)
	}
	return nil
}

// SetModTime implements Conn.
func (c *conn) SetModTime(ctx context.Context, p string, t time.Time) error {
	err := c.fileOp(ctx, func(f fileOps, g *guard) error {
		real, err := c.noLink(f, g, p)
		if err != nil {
			return err
		}
		return f.chtimes(real, t)
	})
	if err != nil {
		return fmt.Errorf("set the time of %s on %s: %w", p, c.host, err)
	}
	return nil
}

// noLink resolves p for chmod, chown and chtimes, which SFTP and the os package apply
// through a symlink: a link there is refused.
func (c *conn) noLink(f fileOps, g *guard, p string) (string, error) {
	real, err := g.strictParent(f, p)
	if err != nil {
		return "", err
	}
	fi, err := f.lstat(real)
	if err != nil {
		return "", err
	}
	if fi.Mode&fs.ModeSymlink != 0 {
		link, _ := f.readlink(real)
		return "", &NotRegularError{Path: real, Mode: fi.Mode, Link: link}
	}
	return real, nil
}

// Remove implements Conn.
func (c *conn) Remove(ctx context.Context, p string) error {
	err := c.fileOp(ctx, func(f fileOps, g *guard) error {
		real, err := g.strictParent(f, p)
		if err != nil {
			return err
		}
		if err := f.remove(real); err != nil {
			return err
		}
		g.forget(real)
		return nil
	})
	if err != nil {
		return fmt.Errorf("remove %s on %s: %w", p, c.host, err)
	}
	return nil
}

// Resolve implements Conn.
func (c *conn) Resolve(ctx context.Context, p string) (string, error) {
	var real string
	err := c.fileOp(ctx, func(f fileOps, g *guard) (err error) {
		real, err = g.resolve(f, p)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("resolve %s on %s: %w", p, c.host, err)
	}
	return real, nil
}

// sftpOptions are the pkg/sftp client options of every connection. Concurrent writes are
// safe because WriteFile only writes fresh temp files (removed on any error). Reads are
// sequential: the files read are configuration (a read-ahead stops at 1 MiB), and a
// concurrent read first stats the file by its path, a request more per read, each of
// which costs sshd and sftp-server on the host.
func sftpOptions() []sftp.ClientOption {
	return []sftp.ClientOption{sftp.UseConcurrentWrites(true), sftp.UseConcurrentReads(false)}
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

// ReadFollowing reads p, following it on purpose when it is a symlink (by Resolve's
// rule): a resource that edits a file through a link (Debian's 99-sysctl.conf, a linked
// manifest) reads and writes the target. The common case, a regular file, costs one
// ReadFile; the link is resolved only when there is one. real is the path read (to
// write back to); a missing file is an fs.ErrNotExist error with real set.
func ReadFollowing(ctx context.Context, c Conn, p string) (real string, data []byte, err error) {
	data, err = c.ReadFile(ctx, p)
	var nr *NotRegularError
	if !errors.As(err, &nr) || nr.Mode&fs.ModeSymlink == 0 {
		return p, data, err
	}
	if real, err = c.Resolve(ctx, p); err != nil {
		return "", nil, err
	}
	data, err = c.ReadFile(ctx, real)
	return real, data, err
}
