package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// newSSHConn wraps an authenticated client: commands in exec sessions (at most
// MaxSessions at a time), files over one SFTP client opened on first use.
func newSSHConn(d *Dialer, t Target, client *ssh.Client, lv *liveness) *conn {
	st := &sshStarter{client: client, lv: lv, sem: make(chan struct{}, d.opts.MaxSessions)}
	c := &conn{
		d:     d,
		host:  t.Name,
		login: t.User,
		shell: t.Shell,
		st:    st,
		// The exec request is run by the login user's shell; make it /bin/sh as
		// documented, whatever that shell is.
		plain: func(command string) string { return "/bin/sh -c " + ShellQuote(command) },
		openFiles: func(ctx context.Context) (fileOps, error) {
			sc, err := sftp.NewClient(client, sftpOptions()...)
			if err != nil {
				return nil, fmt.Errorf("open SFTP: %w", err)
			}
			return newSFTPOps(sc, nil), nil
		},
		closeTransport: client.Close,
		dialTCP: func(ctx context.Context, addr string) (net.Conn, error) {
			return client.DialContext(ctx, "tcp", addr)
		},
	}
	if t.Shell == ShellCmd {
		c.plain = func(command string) string { return command }
	}
	if t.Become && t.User != t.BecomeUser { // logged in as the become user: no sudo needed
		c.become = newSudoSpec(t.BecomeUser, d.opts.BecomePassword != nil)
	}
	return c
}

// sshStarter runs commands in exec sessions of one client.
type sshStarter struct {
	client *ssh.Client
	lv     *liveness
	sem    chan struct{} // one token per running short-lived session
}

// lostErr explains a session that ended without an exit status.
func (s *sshStarter) lostErr() error {
	if reason := s.lv.lost(); reason != nil {
		return fmt.Errorf("connection lost: %w", reason)
	}
	return errors.New("connection lost (the command ended without an exit status)")
}

func (s *sshStarter) start(ctx context.Context, cmdline string, stdout, stderr io.Writer, longLived bool) (process, error) {
	release := func() {}
	if !longLived {
		select {
		case s.sem <- struct{}{}:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		var once sync.Once
		release = func() { once.Do(func() { <-s.sem }) }
	}
	sess, err := s.newSession(ctx)
	if err != nil {
		release()
		if reason := s.lv.lost(); reason != nil {
			return nil, fmt.Errorf("open session: connection lost: %w", reason)
		}
		return nil, fmt.Errorf("open session: %w", err)
	}
	sess.Stdout = stdout
	sess.Stderr = stderr
	in, err := sess.StdinPipe()
	if err != nil {
		sess.Close()
		release()
		return nil, err
	}
	if err := sess.Start(cmdline); err != nil {
		sess.Close()
		release()
		return nil, fmt.Errorf("start command: %w", err)
	}
	return &sshProcess{sess: sess, in: in, release: release, st: s}, nil
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
