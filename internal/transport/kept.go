package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"
)

// The kept shell: hostplan's own batches (RunAll and its kin: a forwarder's port forward
// and allowlist, say) run one after another in one shell per connection, started by the
// first of them, instead of a session each. A session costs the host an sshd fork and
// the login shell, about 20 ms of CPU; a command in the kept shell costs a subshell.
// Only scripts hostplan writes go there: they start nothing that outlives them and read
// no input, where a plan's own `command` could leave a process writing into the shell's
// output after it returned.
//
// The shell ends once idle for keptIdle: a host's batches come one after another in its
// apply. The facts' script does not start it: a plan runs no batch after it, and an
// apply's batches come only once every host is planned, so a shell kept from the facts
// sat idle through the plan of the whole fleet (at 1,000 hosts, 70 KB and a session
// each: the masters' apply went 1.48x -> 1.86x the floor, peak RSS 252 -> 325 MiB).

// keptIdle is how long the kept shell waits for the next batch before it ends: long
// enough for the file writes between a host's batches on a loaded host, short beside a
// fleet's plan.
const keptIdle = 5 * time.Second

// keptShell is the kept shell of one connection.
type keptShell struct {
	busy   sync.Mutex // held while a command runs
	p      process
	w      *sudoWatcher
	lead   *leadLine
	out    *tokenStream // standard output
	errs   *tokenStream // standard error, after sudo's part
	exited chan struct{}
	code   int         // the shell's exit status, once exited is closed
	idle   *time.Timer // ends the shell once idle (endIdle); set and stopped under busy
	last   time.Time   // when the last command ended; under busy
	lead1  string      // wrapStream's lead, sent with the first command; under busy

	mu   sync.Mutex
	dead bool // exited, stopped or failed: commands go to sessions of their own
}

// tokenStream collects a kept shell's output and hands it out up to each command's token.
type tokenStream struct {
	mu      sync.Mutex
	buf     []byte
	scanned int       // buf before this holds no complete mark line: take resumes here
	next    io.Writer // once set (passOn), writes go there
	notify  chan struct{}
}

func newTokenStream() *tokenStream { return &tokenStream{notify: make(chan struct{}, 1)} }

// Write implements io.Writer.
func (s *tokenStream) Write(p []byte) (int, error) {
	s.mu.Lock()
	if next := s.next; next != nil {
		s.mu.Unlock()
		return next.Write(p)
	}
	s.buf = append(s.buf, p...)
	s.mu.Unlock()
	select {
	case s.notify <- struct{}{}:
	default:
	}
	return len(p), nil
}

// take returns what came before "\n"+mark and the rest of mark's line, and drops both;
// ok is false until the line is complete.
func (s *tokenStream) take(mark string) (before []byte, line string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	// A mark and its line may have begun in what was scanned: look again from there.
	from := max(0, s.scanned-len(mark)-1)
	i := bytes.Index(s.buf[from:], []byte("\n"+mark))
	if i < 0 {
		s.scanned = len(s.buf)
		return nil, "", false
	}
	i += from
	j := bytes.IndexByte(s.buf[i+1+len(mark):], '\n')
	if j < 0 {
		s.scanned = i
		return nil, "", false
	}
	end := i + 1 + len(mark) + j
	before, line = bytes.Clone(s.buf[:i]), string(s.buf[i+1+len(mark):end])
	s.buf, s.scanned = s.buf[end+1:], 0
	return before, line, true
}

// passOn sends what is written from now on to next, and returns what s still held.
func (s *tokenStream) passOn(next io.Writer) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.next = next
	rest := s.buf
	s.buf = nil
	return rest
}

// wait returns once take(mark) succeeds, or when ctx ends or the shell exits first.
func (s *tokenStream) wait(ctx context.Context, exited <-chan struct{}, mark string) ([]byte, string, error) {
	for {
		if before, line, ok := s.take(mark); ok {
			return before, line, nil
		}
		select {
		case <-s.notify:
		case <-exited:
			if before, line, ok := s.take(mark); ok {
				return before, line, nil
			}
			return nil, "", errKeptExited
		case <-ctx.Done():
			return nil, "", ctx.Err()
		}
	}
}

var errKeptExited = errors.New("the host's kept shell ended")

// runKept runs one of hostplan's own scripts (no input, nothing left running) in the
// kept shell, starting it when there is none; when it is busy or gone, in a session of
// its own as Run does. Each runs in a subshell of the kept shell, unless inShell: a
// script that neither exits nor sets anything the shell goes on with runs in the shell
// itself, sparing the fork.
func runKept(ctx context.Context, c Conn, command string, inShell bool) (*Result, error) {
	if v, ok := connBelow(c); ok {
		return v.runKept(ctx, command, inShell)
	}
	return c.Run(ctx, command, nil)
}

// connBelow is the connection c answers for, through the views over it (prefetched
// commands and files); false for a Conn of another kind.
func connBelow(c Conn) (*conn, bool) {
	for {
		switch v := c.(type) {
		case *conn:
			return v, true
		case interface{ below() Conn }:
			c = v.below()
		default:
			return nil, false
		}
	}
}

func (c *conn) runKept(ctx context.Context, command string, inShell bool) (*Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("run a command on %s: %w", c.host, err) // the shell is fine
	}
	k, err := c.keptShell(ctx)
	if err != nil {
		return nil, fmt.Errorf("run a command on %s: %w", c.host, err)
	}
	if k == nil || !k.busy.TryLock() {
		return c.Run(ctx, command, nil)
	}
	defer k.busy.Unlock()
	if k.idle != nil {
		k.idle.Stop()
	}
	if k.gone() {
		return c.Run(ctx, command, nil)
	}
	res, err := c.runIn(ctx, k, command, inShell)
	if err == nil {
		k.last = time.Now()
		k.idle = time.AfterFunc(c.idleBound(), func() { c.endIdle(k) })
	}
	if err != nil {
		k.stop(c)
		if _, rejected, ready := k.w.state(); !ready && errors.Is(err, errKeptExited) {
			// The shell never started (sudo refused, say): the reason, as Run gives
			// it. Not Run itself, which would send a become password again.
			<-k.exited
			err = c.startFailure(k.code, k.w.sudoOutput(), rejected)
		}
		return nil, fmt.Errorf("run a command on %s: %w", c.host, err)
	}
	return res, nil
}

// runIn sends command to k and waits for its output.
func (c *conn) runIn(ctx context.Context, k *keptShell, command string, inShell bool) (*Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	tok := randomToken("hostplan-kept-")
	input := keptInput(k.lead1, command, tok, inShell)
	k.lead1 = ""
	written := make(chan error, 1)
	go func() {
		_, err := k.p.stdin().Write(input)
		written <- err
	}()
	select {
	case err := <-written:
		if err != nil {
			return nil, fmt.Errorf("%w: %v", errKeptExited, err)
		}
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	out, status, err := k.out.wait(ctx, k.exited, tok+" ")
	if err != nil {
		return nil, err
	}
	code, err := strconv.Atoi(status)
	if err != nil {
		return nil, fmt.Errorf("unexpected status %q from the kept shell", status)
	}
	stderr, _, err := k.errs.wait(ctx, k.exited, tok)
	if err != nil {
		return nil, err
	}
	return &Result{Stdout: out, Stderr: stderr, ExitCode: code}, nil
}

// keptShell returns the connection's kept shell, starting it on first use; nil where
// commands are not /bin/sh or the shell is gone.
func (c *conn) keptShell(ctx context.Context) (*keptShell, error) {
	c.keptMu.Lock()
	defer c.keptMu.Unlock()
	if c.spec == nil || c.keptOff || c.kept != nil && c.kept.gone() {
		return nil, nil
	}
	if c.kept != nil {
		return c.kept, nil
	}
	k := &keptShell{out: newTokenStream(), errs: newTokenStream(), exited: make(chan struct{})}
	k.lead = newLeadLine(k.errs)
	w := newSudoWatcher(c.spec, k.lead)
	line, lead := c.spec.wrapStream()
	p, err := c.st.start(ctx, line, k.out, w, spare)
	if err != nil {
		if isRefusedSession(err) {
			// sshd has no session to spare (MaxSessions): commands take turns.
			c.keptOff = true
			return nil, nil
		}
		return nil, err
	}
	k.p, k.w, k.lead1 = p, w, lead
	go func() {
		k.code, _ = p.wait()
		k.mu.Lock()
		k.dead = true
		k.mu.Unlock()
		close(k.exited)
	}()
	if c.spec.prompt != "" {
		if err := c.sudoDance(ctx, p, w, k.exited, func() {}); err != nil {
			p.kill()
			return nil, err
		}
		if _, rejected, ready := w.state(); !ready {
			// sudo took the password and then refused the shell, or the context
			// ended: never a session of the command's own after that, which would
			// send the password again.
			p.kill()
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			<-k.exited
			c.keptOff = true
			return nil, c.startFailure(k.code, w.sudoOutput(), rejected)
		}
	}
	c.kept = k
	return k, nil
}

// yieldKept ends the kept shell for a session sshd would not open beside it: at once
// when idle, else once its command is done. It starts none again on this connection,
// and reports whether a shell is to end (whose session then frees a slot).
func (c *conn) yieldKept() bool {
	if !c.keptMu.TryLock() {
		return false // a shell is starting: the open waits out its pauses
	}
	defer c.keptMu.Unlock()
	c.keptOff = true
	k := c.kept
	if k == nil || k.gone() {
		return false
	}
	go func() {
		k.busy.Lock()
		defer k.busy.Unlock()
		k.close()
	}()
	return true
}

// endIdle ends k once keptIdle passed with no command: unless a command holds it by
// now, it is closed, and the connection's next batch starts a shell of its own.
func (c *conn) endIdle(k *keptShell) {
	if !c.keptMu.TryLock() {
		return // a shell is starting, or the connection closing: it ends k
	}
	defer c.keptMu.Unlock()
	if c.kept != k || k.gone() || !k.busy.TryLock() {
		return
	}
	defer k.busy.Unlock()
	if time.Since(k.last) < c.idleBound() {
		return // a timer that fired as a command began: that command's timer ends k
	}
	k.close()
	c.kept = nil
}

// idleBound is how long c's kept shell waits for the next batch.
func (c *conn) idleBound() time.Duration {
	if c.keptIdle > 0 {
		return c.keptIdle
	}
	return keptIdle
}

func (k *keptShell) gone() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.dead
}

// stop ends the kept shell after a failed or stopped command: the session, then the
// command's whole process group (the shell's) on the host, with a session of its own,
// which the shell's then left free (sshd's MaxSessions). Later commands run in
// sessions of their own.
func (k *keptShell) stop(c *conn) {
	k.mu.Lock()
	k.dead = true
	k.mu.Unlock()
	k.p.kill()
	c.stopGroup(k.lead)
}

// close ends the kept shell: no more input ends its loop. The caller holds busy, so no
// command is being written.
func (k *keptShell) close() {
	k.mu.Lock()
	was := k.dead
	k.dead = true
	k.mu.Unlock()
	if !was {
		k.p.stdin().Close()
	}
}

// keptInput is one command for the kept shell (wrapStream), after lead (the first's):
// run in a subshell with no
// input (in the shell itself with inShell: inShellEval), then a newline and "TOKEN
// STATUS" on standard output, a newline and the token on standard error. Whatever the
// command prints, the token (random per command, and in no variable the command could
// read) ends its output. The brace group is parsed whole before any of it runs, so a
// command cut short runs nothing.
func keptInput(lead, command, tok string, inShell bool) []byte {
	eval := subshellEval
	if inShell {
		eval = inShellEval
	}
	return streamText(lead, "{ ", eval(command), "; printf '\\n%s %s\\n' "+tok+" $?; unset __hostplan_cmd; printf '\\n%s\\n' "+tok+" >&2\n}\n")
}
