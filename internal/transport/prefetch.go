package transport

import (
	"bytes"
	"context"
	"io"
	"sync"
)

// Prefetch runs read-only commands in one session (RunSections) and returns c with
// their results kept: the first Run of exactly one of those commands, with no
// standard input, is answered from them instead of a session of its own. A session
// costs an sshd fork and a login shell on the host, more than most reads.
//
// Only results that exited 0 are kept, each answered once: the sections share one
// standard error, so a kept result has none of its own (callers quote it only for a
// failure, and a failed read runs again for its message), and a second Run, which may
// come after a change, reads afresh. When the session fails, c is returned as it is
// and each read runs on its own. Commands must not depend on each other: each runs in
// a subshell of its own; a command listed twice runs twice.
func Prefetch(ctx context.Context, c Conn, commands []string) Conn {
	if c.Shell() == ShellCmd || len(commands) == 0 {
		return c
	}
	got, _, err := RunSections(ctx, c, commands)
	if err != nil {
		return c
	}
	return WithResults(c, commands, got)
}

// PrefetchSections keeps results as Prefetch does, read from the output of s's script,
// which the caller ran within a command of its own (out). Output that cannot be read
// is ignored: each read then runs on its own.
func PrefetchSections(c Conn, s *Sections, out string) Conn {
	got, err := s.Parse(out)
	if err != nil {
		return c
	}
	return WithResults(c, s.commands, got)
}

// WithResults is c answering commands, as Prefetch does, from their sections, which
// the caller ran with RunSections among others.
func WithResults(c Conn, commands []string, got []Section) Conn {
	p := &prefetched{Conn: c, results: map[string][]byte{}}
	for i, s := range got {
		if s.Code == 0 {
			p.results[commands[i]] = []byte(s.Out)
		}
	}
	return p
}

// prefetched is a Conn with the standard output of commands already run.
type prefetched struct {
	Conn
	mu      sync.Mutex
	results map[string][]byte
}

// Run implements Conn.
func (p *prefetched) Run(ctx context.Context, command string, stdin io.Reader) (*Result, error) {
	if stdin == nil {
		if out, ok := p.take(command); ok {
			return &Result{Stdout: out}, nil
		}
	}
	return p.Conn.Run(ctx, command, stdin)
}

// below is the connection p answers for (see runKept).
func (p *prefetched) below() Conn { return p.Conn }

// take returns command's kept output, here or in the prefetched conn below, once.
func (p *prefetched) take(command string) ([]byte, bool) {
	p.mu.Lock()
	out, ok := p.results[command]
	delete(p.results, command)
	p.mu.Unlock()
	if ok {
		return bytes.Clone(out), true
	}
	if below, isPrefetched := p.Conn.(*prefetched); isPrefetched {
		return below.take(command)
	}
	return nil, false
}
