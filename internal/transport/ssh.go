package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// newSSHConn wraps an authenticated client: commands in exec sessions (at most
// MaxSessions at a time), files over one SFTP client opened on first use.
func newSSHConn(d *Dialer, t Target, client *ssh.Client, lv *liveness) *conn {
	st := newSSHStarter(client, lv, t.Name, d.opts.MaxSessions)
	c := &conn{
		d:              d,
		host:           t.Name,
		login:          t.User,
		shell:          t.Shell,
		st:             st,
		closeTransport: client.Close,
		dialTCP: func(ctx context.Context, addr string) (net.Conn, error) {
			return client.DialContext(ctx, "tcp", addr)
		},
	}
	st.yield = c.yieldKept
	if t.Shell != ShellCmd {
		c.dialUnix = func(ctx context.Context, path string) (net.Conn, error) {
			return client.DialContext(ctx, "unix", path)
		}
	}
	switch {
	case t.Shell == ShellCmd:
		c.openFiles = func(context.Context) (fileOps, int, error) {
			return nil, 0, fmt.Errorf("%s runs cmd.exe: hostplan has no file operations for Windows hosts", t.Name)
		}
		return c
	case sudoFor(t):
		c.become = newSudoSpec(t.BecomeUser, d.opts.BecomePassword != nil)
		c.spec = c.become
	default:
		c.spec = newPlainSpec()
	}
	c.filesAfter = true
	c.openFiles = func(ctx context.Context) (fileOps, int, error) {
		ops, uid, err := c.openSFTPServer(ctx)
		if errors.Is(err, errNoSFTPServer) {
			return c.openSubsystem(ctx, st)
		}
		return ops, uid, err
	}
	return c
}

// openSubsystem opens the SFTP subsystem, for a host whose sftp-server is in none of
// the places hostplan looks (sshd's internal-sftp, an unusual distribution). Its umask
// is sshd's, so atomicWrite stages temp files in a private directory; the user it acts
// as is asked with id -u.
func (c *conn) openSubsystem(ctx context.Context, st *sshStarter) (fileOps, int, error) {
	res, err := c.run(ctx, "id -u", nil, true)
	if err != nil {
		return nil, 0, err
	}
	uid, err := strconv.Atoi(strings.TrimSpace(string(res.Stdout)))
	if err != nil || res.ExitCode != 0 {
		return nil, 0, fmt.Errorf("id -u on %s: exit %d: %q", c.host, res.ExitCode, res.Stdout)
	}
	ops, err := openSFTP(ctx, st)
	if err != nil {
		return nil, 0, fmt.Errorf("open SFTP: %w", err)
	}
	return ops, uid, nil
}

// openSFTP starts the sftp subsystem in a session of st's client (as sftp.NewClient
// does, but through st, which knows how many sessions sshd allows).
func openSFTP(ctx context.Context, st *sshStarter) (*sftpOps, error) {
	sess, err := st.open(ctx, longLived)
	if err != nil {
		return nil, st.explain(ctx, err)
	}
	w, err := sess.StdinPipe()
	if err != nil {
		sess.Close()
		return nil, err
	}
	r, err := sess.StdoutPipe()
	if err != nil {
		sess.Close()
		return nil, err
	}
	if err := sess.RequestSubsystem("sftp"); err != nil {
		sess.Close()
		return nil, st.explain(ctx, err)
	}
	sc, err := sftp.NewClientPipe(r, w, sftpOptions()...)
	if err != nil {
		sess.Close()
		return nil, st.explain(ctx, err)
	}
	return newSFTPOps(sc, func() error {
		err := sc.Close()
		sess.Close()
		return err
	}), nil
}

// sshStarter runs commands in exec sessions of one client.
type sshStarter struct {
	client *ssh.Client
	lv     *liveness
	host   string

	mu        sync.Mutex
	limit     int           // short-lived sessions allowed at once; lowered when sshd refuses one
	running   int           // short-lived sessions open or being opened
	longLived int           // long-lived sessions opened (they last as long as the connection)
	peak      int           // the most sessions sshd has granted this connection at once
	freed     chan struct{} // closed (and replaced) whenever one ends

	// yield ends the connection's kept shell (once idle), for a session that sshd
	// refused with nothing else to wait for, and reports whether one is to end (set
	// once, before any session).
	yield func() bool
}

func newSSHStarter(client *ssh.Client, lv *liveness, host string, limit int) *sshStarter {
	return &sshStarter{client: client, lv: lv, host: host, limit: limit, freed: make(chan struct{})}
}

// lostErr explains a session that ended without an exit status.
func (s *sshStarter) lostErr() error {
	if reason := s.lv.lost(); reason != nil {
		return fmt.Errorf("connection lost: %w", reason)
	}
	return errors.New("connection lost (the command ended without an exit status)")
}

// explain says "connection lost" for an error of opening or starting a session when
// the connection has ended: x/crypto/ssh then answers "EOF", "unexpected packet in
// response to channel open: <nil>" and the like. The connection's end may be noticed
// a moment after the error.
func (s *sshStarter) explain(ctx context.Context, err error) error {
	if s.lv == nil || ctx.Err() != nil || isRefusedSession(err) {
		return err
	}
	select {
	case <-s.lv.closed:
	case <-time.After(200 * time.Millisecond):
		return err
	}
	if reason := s.lv.lost(); reason != nil {
		return fmt.Errorf("connection lost: %w", reason)
	}
	return fmt.Errorf("connection lost: %w", err)
}

// acquire waits for a session slot.
func (s *sshStarter) acquire(ctx context.Context) error {
	for {
		s.mu.Lock()
		if s.running < s.limit {
			s.running++
			s.mu.Unlock()
			return nil
		}
		freed := s.freed
		s.mu.Unlock()
		select {
		case <-freed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// release gives a slot back.
func (s *sshStarter) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.running--
	s.signalLocked()
}

func (s *sshStarter) signalLocked() {
	close(s.freed)
	s.freed = make(chan struct{})
}

// isRefusedSession tells a session the server refused. OpenSSH's MaxSessions answers
// "connect failed (open failed)"; other servers say "administratively prohibited" or
// "resource shortage". A refusal for another reason ends in the same error as a
// MaxSessions too low to run anything.
func isRefusedSession(err error) bool {
	var oce *ssh.OpenChannelError
	return errors.As(err, &oce)
}

// refusedPauses are the pauses before opening again a session sshd refused while none
// of our command sessions was left to wait for: sshd frees the slot of a session that
// ended only after it has read the next packets, such as our next open.
var refusedPauses = []time.Duration{5 * time.Millisecond, 20 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond}

// unfreedPause and unfreedPauses go on from refusedPauses when the refusal came while
// this connection held fewer sessions than sshd had granted it at once: sshd allows
// more, it has not freed an ended session's slot yet, which a loaded host can take
// seconds to do (CI saw it beyond refusedPauses' 0.8 s).
const (
	unfreedPause  = 500 * time.Millisecond
	unfreedPauses = 40
)

// refusedPause is the pause before the next open after the n-th refusal in a row with
// none of our command sessions to wait for, and false to give up. belowPeak: the
// connection holds fewer sessions than sshd has granted it before.
func refusedPause(n int, belowPeak bool) (time.Duration, bool) {
	switch {
	case n < len(refusedPauses):
		return refusedPauses[n], true
	case belowPeak && n < len(refusedPauses)+unfreedPauses:
		return unfreedPause, true
	}
	return 0, false
}

// open opens a session, waiting out sshd's refusals. A command's session (counted)
// takes a slot first; a long-lived one (the SFTP session, the sudo sftp-server's)
// takes none. sshd's MaxSessions counts every session of this connection, so a refusal
// means it has as many as it allows: the command sessions' limit drops to those still
// running (one fewer when a long-lived session must fit beside them), and the open
// waits for one of them to end. With none of them left to wait for, the kept shell is
// ended if it is idle (yield), and the open tries again after pauses (refusedPause),
// then gives up. A spare session is not waited for: refused, it is not opened.
func (s *sshStarter) open(ctx context.Context, life lifetime) (*ssh.Session, error) {
	counted := life == oneCommand
	pauses := 0
	for {
		if counted {
			if err := s.acquire(ctx); err != nil {
				return nil, err
			}
		}
		sess, err := s.newSession(ctx)
		if err == nil {
			s.opened(counted)
			return sess, nil
		}
		refused := isRefusedSession(err)
		if refused && life == spare {
			return nil, err // nothing opened, nothing to wait for
		}
		s.mu.Lock()
		if counted {
			s.running--
			s.signalLocked()
		}
		room := s.running
		if !counted {
			room--
		}
		if refused && room > 0 {
			s.limit = room
		}
		belowPeak := s.running+s.longLived < s.peak
		freed := s.freed
		s.mu.Unlock()
		if !refused {
			return nil, err
		}
		var pause <-chan time.Time
		if room <= 0 && s.yield != nil && s.yield() {
			// The kept shell's end frees a slot: wait for it (freed), or try again
			// after a while should it have ended just before (freed already sent).
			room, pause = 1, time.After(time.Second)
		}
		if room <= 0 {
			d, ok := refusedPause(pauses, belowPeak)
			if !ok {
				return nil, s.tooFewSessions(err)
			}
			pause = time.After(d)
			pauses++
		}
		select {
		case <-freed:
		case <-pause:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// releaseSpare uncounts the kept shell's session when it ended, and wakes opens waiting
// for a slot.
func (s *sshStarter) releaseSpare() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.longLived--
	s.signalLocked()
}

// opened counts a session sshd granted.
func (s *sshStarter) opened(counted bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !counted {
		s.longLived++
	}
	s.peak = max(s.peak, s.running+s.longLived)
}

// keep moves p's session from the commands' count to the long-lived ones: a command's
// session that became the connection's sftp-server (runThenFiles).
func (s *sshStarter) keep(p process) {
	p.(*sshProcess).release()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.longLived++
}

func (s *sshStarter) tooFewSessions(err error) error {
	return fmt.Errorf("%w: sshd on %s allows only one session per connection (MaxSessions 1?); hostplan needs 2, one for files and one for commands", err, s.host)
}

func (s *sshStarter) start(ctx context.Context, cmdline string, stdout, stderr io.Writer, life lifetime) (process, error) {
	sess, err := s.open(ctx, life)
	release := func() {}
	switch {
	case err == nil && life == oneCommand:
		release = sync.OnceFunc(s.release)
	case err == nil && life == spare:
		release = sync.OnceFunc(s.releaseSpare)
	}
	if err != nil {
		return nil, fmt.Errorf("open session: %w", s.explain(ctx, err))
	}
	sess.Stdout = smallCopies(stdout)
	sess.Stderr = smallCopies(stderr)
	in, err := sess.StdinPipe()
	if err != nil {
		sess.Close()
		release()
		return nil, err
	}
	if err := sess.Start(cmdline); err != nil {
		sess.Close()
		release()
		return nil, fmt.Errorf("start command: %w", s.explain(ctx, err))
	}
	return &sshProcess{sess: sess, in: in, release: release, st: s}, nil
}

// copyBuffer is the buffer a session's output is copied through.
const copyBuffer = 4 << 10

// smallCopies gives w a ReadFrom with a copyBuffer-sized buffer, unless it has one. A
// session copies its standard output and error to their writers with io.Copy, whose
// own buffer is 32 KiB per stream for the session's life: two per host for the SFTP
// session alone, 64 MiB of a run's heap at 1,000 hosts.
func smallCopies(w io.Writer) io.Writer {
	if _, ok := w.(io.ReaderFrom); ok {
		return w
	}
	return smallCopy{w}
}

type smallCopy struct{ w io.Writer }

func (c smallCopy) Write(p []byte) (int, error) { return c.w.Write(p) }

func (c smallCopy) ReadFrom(r io.Reader) (int64, error) {
	return io.CopyBuffer(c.w, r, make([]byte, copyBuffer))
}

// newSession opens a session channel, giving up when ctx ends or the connection does:
// x/crypto/ssh can wait forever for the answer to a channel opened just as the
// connection closes (the open is queued, the channel never dropped).
func (s *sshStarter) newSession(ctx context.Context) (*ssh.Session, error) {
	type opened struct {
		sess *ssh.Session
		err  error
	}
	ch := make(chan opened, 1)
	go func() {
		sess, err := s.client.NewSession()
		ch <- opened{sess, err}
	}()
	var closed <-chan struct{}
	if s.lv != nil {
		closed = s.lv.closed
	}
	abandon := func() {
		go func() {
			if o := <-ch; o.sess != nil {
				o.sess.Close()
			}
		}()
	}
	select {
	case o := <-ch:
		return o.sess, o.err
	case <-closed:
		abandon()
		return nil, errors.New("the connection is closed")
	case <-ctx.Done():
		abandon()
		return nil, ctx.Err()
	}
}

type sshProcess struct {
	st      *sshStarter
	sess    *ssh.Session
	in      io.WriteCloser
	release func()
}

func (p *sshProcess) stdin() io.WriteCloser { return p.in }

func (p *sshProcess) wait() (int, error) {
	err := p.sess.Wait()
	p.sess.Close()
	p.release()
	var ee *ssh.ExitError
	switch {
	case err == nil:
		return 0, nil
	case errors.As(err, &ee):
		return ee.ExitStatus(), nil
	case errors.As(err, new(*ssh.ExitMissingError)), errors.Is(err, io.EOF):
		return -1, p.st.lostErr()
	}
	return -1, err
}

func (p *sshProcess) kill() {
	p.sess.Signal(ssh.SIGKILL) // OpenSSH honours it since 7.9; closing is the fallback
	p.sess.Close()
}
