package transport

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// newLocalConn is Ansible's connection=local: commands with os/exec `/bin/sh -c`, files
// with the os package. With become, commands go through the same sudo wrapping as over
// SSH and files through sftp-server started with sudo, unless we already are the become
// user root.
func newLocalConn(d *Dialer, t Target) (*conn, error) {
	c := &conn{
		d:     d,
		host:  t.Name,
		shell: ShellSh,
		login: localUser(),
		st:    localStarter{},
		spec:  newPlainSpec(),
		openFiles: func(context.Context) (fileOps, int, error) {
			return osOps{}, os.Geteuid(), nil
		},
		dialTCP: func(ctx context.Context, addr string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "tcp", addr)
		},
		dialUnix: func(ctx context.Context, path string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
	}
	if sudoFor(t) {
		c.become = newSudoSpec(t.BecomeUser, d.opts.BecomePassword != nil)
		c.spec = c.become
		c.openFiles = c.openSFTPServer
	}
	if err := d.track(c); err != nil {
		return nil, err
	}
	return c, nil
}

// localWaitDelay bounds how long a finished command's output pipes are waited for when a
// background child it started still holds them.
const localWaitDelay = 2 * time.Second

type localStarter struct{}

func (localStarter) start(ctx context.Context, cmdline string, stdout, stderr io.Writer, life lifetime) (process, error) {
	cmd := exec.Command("/bin/sh", "-c", cmdline)
	cmd.Stdout = stdout
	cmd.Stderr = stderr
	// Own process group, so kill reaches sudo's and the shell's children too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if life == oneCommand {
		cmd.WaitDelay = localWaitDelay
	}
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return &localProcess{cmd: cmd, in: in}, nil
}

type localProcess struct {
	cmd *exec.Cmd
	in  io.WriteCloser
}

func (p *localProcess) stdin() io.WriteCloser { return p.in }

func (p *localProcess) wait() (int, error) {
	err := p.cmd.Wait()
	var ee *exec.ExitError
	switch {
	case err == nil, errors.Is(err, exec.ErrWaitDelay):
	case errors.As(err, &ee):
	default:
		return -1, err
	}
	ps := p.cmd.ProcessState
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal()), nil
	}
	return ps.ExitCode(), nil
}

func (p *localProcess) kill() {
	if p.cmd.Process != nil {
		syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	}
}
