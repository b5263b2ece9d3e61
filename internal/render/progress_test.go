package render

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hostplan/hostplan/internal/engine"
)

// fakeClock is a clock that moves only when the test says so.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func startProgress(w *syncBuf, tty bool) (*Progress, func(time.Duration)) {
	c := &fakeClock{t: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)}
	return newProgress(w, tty, c.now), c.advance
}

func TestProgressPlainLines(t *testing.T) {
	var b syncBuf
	p, advance := startProgress(&b, false)
	for _, ev := range []engine.Event{
		{Host: "h1", Phase: "connecting"}, {Host: "h1", Phase: "facts"},
		{Host: "h1", Phase: "planning", Done: 0, Total: 3}, {Host: "h1", Phase: "planning", Done: 1, Total: 3},
		{Host: "h1", Phase: "done", Done: 3, Total: 3},
		{Host: "h1", Phase: "applying", Done: 0, Total: 2}, {Host: "h1", Phase: "applying", Done: 1, Total: 2},
	} {
		advance(500 * time.Millisecond)
		p.Event(ev)
	}
	p.Stop()
	want := "[   0.5s] h1: connecting\n[   1.0s] h1: facts\n[   1.5s] h1: planning 0/3\n[   2.5s] h1: done\n" +
		"[   3.0s] h1: applying 0/2\n[   3.5s] h1: applying 1/2\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
	if strings.Contains(b.String(), "\x1b") {
		t.Errorf("control characters in plain output")
	}
}

func TestProgressTerminalBlock(t *testing.T) {
	var b syncBuf
	p, advance := startProgress(&b, true)
	p.Event(engine.Event{Host: "master-1", Phase: "connecting"})
	advance(1200 * time.Millisecond)
	p.Event(engine.Event{Host: "m2", Phase: "applying", Done: 1, Total: 4})
	out := b.String()
	for _, want := range []string{"  master-1  connecting         1.2s\n", "  m2        applying 1/4       0.0s\n", "hostplan: 0/2 hosts finished, 1.2s\n", "\x1b[2F\x1b[J"} {
		if !strings.Contains(out, want) {
			t.Errorf("block lacks %q:\n%q", want, out)
		}
	}
	p.Event(engine.Event{Host: "master-1", Phase: "done"})
	if last := b.String()[len(out):]; !strings.HasPrefix(last, "\x1b[3F\x1b[J") || strings.Contains(last, "master-1") || !strings.Contains(last, "1/2 hosts finished") {
		t.Errorf("a finished host should leave the block, counted: %q", last)
	}
	p.Suspend()
	if !strings.HasSuffix(b.String(), "\x1b[2F\x1b[J") {
		t.Errorf("Suspend must erase the block: %q", b.String())
	}
	n := len(b.String())
	p.Event(engine.Event{Host: "m2", Phase: "health"})
	if len(b.String()) != n {
		t.Errorf("drawn while suspended")
	}
	p.Resume()
	p.Stop()
	if !strings.HasSuffix(b.String(), "\x1b[2F\x1b[J") {
		t.Errorf("Stop must leave the screen without the block: %q", b.String())
	}
}

func TestProgressManyHosts(t *testing.T) {
	var b syncBuf
	p, _ := startProgress(&b, true)
	for i := range 40 {
		p.Event(engine.Event{Host: "host" + string(rune('A'+i)), Phase: "planning"})
	}
	p.Stop()
	if !strings.Contains(b.String(), "  ... and 25 more hosts at work\n") {
		t.Errorf("block is not bounded:\n%s", b.String())
	}
}

// syncBuf is written by the ticker goroutine and read by the test.
type syncBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
