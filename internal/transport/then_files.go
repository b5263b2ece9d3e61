package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/pkg/sftp"
)

// RunThenFiles runs command as Run does with no input. On an SSH connection whose file
// operations are not open yet, the command's session then becomes the connection's
// sftp-server, as openSFTPServer starts it, instead of a session of its own later: an
// apply's first command (the facts and the lock) and its files share one session, which
// saves the host an sshd fork, the login shell and a second sudo. Anything that keeps
// the server from starting there (no sftp-server on the host, the shell ending early)
// leaves the files to open on first use, as before.
func RunThenFiles(ctx context.Context, c Conn, command string) (*Result, error) {
	return runThenFilesAs(ctx, c, command, subshellEval)
}

// runThenFilesAs is RunThenFiles with command run in the shell text eval makes of it
// (subshellEval, or inShellEval for Sections' script).
func runThenFilesAs(ctx context.Context, c Conn, command string, eval func(string) string) (*Result, error) {
	if sc, ok := c.(*conn); ok && sc.filesAfter {
		res, err := sc.runThenFiles(ctx, command, eval(command))
		if err != nil {
			return nil, fmt.Errorf("run a command on %s: %w", sc.host, err)
		}
		return res, nil
	}
	return c.Run(ctx, command, nil)
}

// runThenFiles is RunThenFiles on c.
func (c *conn) runThenFiles(ctx context.Context, command, run string) (*Result, error) {
	c.filesMu.Lock()
	if c.closed || c.files != nil {
		c.filesMu.Unlock()
		return c.run(ctx, command, nil, true)
	}
	defer c.filesMu.Unlock()
	out, errs := newTokenStream(), newTokenStream()
	lead := newLeadLine(errs)
	w := newSudoWatcher(c.spec, lead)
	st := c.st.(*sshStarter)
	line, first := c.spec.wrapStream()
	p, err := st.start(ctx, line, out, w, oneCommand)
	if err != nil {
		return nil, err
	}
	pr, pw := io.Pipe()
	ex := watchExit(p, pw)
	exited := ex.exited
	stop := func() {
		c.stopGroup(lead)
		p.kill()
		// Once out passes on to pw, the session's output waits for a reader; with
		// none (the server never started), closing pr lets it end.
		pr.Close()
		<-exited
	}
	tok := randomToken("hostplan-files-")
	feed := func() {
		// Not closed after: the server reads the same input.
		go p.stdin().Write(filesInput(first, run, tok))
	}
	if c.spec.prompt == "" {
		feed()
	} else if err := c.sudoDance(ctx, p, w, exited, feed); err != nil {
		stop()
		return nil, err
	}
	stdout, line, err := out.wait(ctx, exited, tok+" ")
	switch {
	case errors.Is(err, errKeptExited):
		// The shell exited before the server's turn: the command's result, as run
		// gives it.
		<-exited
		return c.exitedResult(out, errs, w, ex.code, ex.err)
	case err != nil:
		stop()
		return nil, err
	}
	stderr, _, err := errs.wait(ctx, exited, tok)
	if err != nil {
		stop()
		return nil, err
	}
	status, uid, err := parseFilesLine(line)
	if err != nil {
		stop()
		return nil, err
	}
	res := &Result{Stdout: stdout, Stderr: stderr, ExitCode: status}
	if uid < 0 {
		select {
		case <-exited:
			return res, nil
		case <-ctx.Done():
			stop()
			return nil, ctx.Err()
		}
	}
	if err := c.serveFiles(ctx, p, st, out, errs, pr, pw, exited, lead, uid); err != nil {
		stop()
	}
	return res, nil
}

// exitedResult is the result of a runThenFiles command whose shell exited first.
func (c *conn) exitedResult(out, errs *tokenStream, w *sudoWatcher, code int, werr error) (*Result, error) {
	if werr != nil {
		return nil, werr
	}
	if _, rejected, ready := w.state(); !ready {
		return nil, c.startFailure(code, w.sudoOutput(), rejected)
	}
	return &Result{Stdout: out.passOn(io.Discard), Stderr: errs.passOn(io.Discard), ExitCode: code}, nil
}

// parseFilesLine reads filesInput's "STATUS UID" (uid -1 for "-").
func parseFilesLine(line string) (status, uid int, err error) {
	s, u, _ := strings.Cut(line, " ")
	if status, err = strconv.Atoi(s); err == nil {
		if u == "-" {
			return status, -1, nil
		}
		if uid, err = strconv.Atoi(u); err == nil && uid >= 0 {
			return status, uid, nil
		}
	}
	return 0, 0, fmt.Errorf("unexpected status line %q before sftp-server", line)
}

// serveFiles makes p, now sftp-server, the connection's file operations (c.filesMu is
// held). The session is the connection's from here: it no longer counts as a command's.
func (c *conn) serveFiles(ctx context.Context, p process, st *sshStarter, out, errs *tokenStream, pr *io.PipeReader, pw *io.PipeWriter, exited <-chan struct{}, lead *leadLine, uid int) error {
	v := lead.values()
	if len(v) != 2 {
		return fmt.Errorf("sftp-server on %s: no lead line", c.host)
	}
	if rest := out.passOn(pw); len(rest) > 0 {
		return fmt.Errorf("sftp-server on %s: output before the client spoke", c.host)
	}
	errTail := &tailBuffer{max: 4096}
	errTail.Write(errs.passOn(errTail))
	type started struct {
		client *sftp.Client
		err    error
	}
	ch := make(chan started, 1)
	go func() {
		client, err := sftp.NewClientPipe(pr, p.stdin(), sftpOptions()...)
		ch <- started{client, err}
	}()
	var s started
	select {
	case s = <-ch:
	case <-ctx.Done():
		s.err = ctx.Err()
	case <-exited:
		s.err = fmt.Errorf("exited: %s", strings.TrimSpace(errTail.String()))
	}
	if s.err != nil {
		go func() {
			if s := <-ch; s.client != nil {
				s.client.Close()
			}
		}()
		return fmt.Errorf("sftp-server on %s: %w", c.host, s.err)
	}
	st.keep(p)
	ops := newSFTPOps(s.client, func() error { return c.closeSFTPServer(s.client, p, pr, exited, v[0], v[1]) })
	ops.private = true
	c.files = ops
	if c.guard == nil {
		c.guard = newGuard(uid)
	}
	return nil
}
