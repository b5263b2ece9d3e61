package render

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hostplan/hostplan/internal/engine"
)

// Progress shows what each host is doing while a run works. On a terminal it keeps a
// block of status lines (one per busy host, with elapsed time) redrawn in place, and
// erases it before anything else is printed, so diffs are never mixed with it.
// Elsewhere (CI logs) it prints one plain line per change of phase, with no control
// characters.
type Progress struct {
	w     io.Writer
	tty   bool
	start time.Time
	now   func() time.Time

	mu        sync.Mutex
	hosts     map[string]*hostStatus
	order     []string
	drawn     int  // lines of the block on screen
	suspended bool // erased for a prompt or the plan; no drawing until Resume
	stopped   bool
	stop      chan struct{}
	done      chan struct{}
}

type hostStatus struct {
	ev      engine.Event
	started time.Time
	ended   time.Time // set when done or failed
}

// maxLines bounds the block; with more busy hosts the rest are counted in its last line.
const maxLines = 15

// NewProgress starts showing progress on w; tty selects the redrawn block.
func NewProgress(w io.Writer, tty bool) *Progress { return newProgress(w, tty, time.Now) }

func newProgress(w io.Writer, tty bool, now func() time.Time) *Progress {
	p := &Progress{w: w, tty: tty, start: now(), now: now, hosts: map[string]*hostStatus{},
		stop: make(chan struct{}), done: make(chan struct{})}
	if tty {
		go p.tick()
	} else {
		close(p.done)
	}
	return p
}

// tick redraws the block so elapsed times move while nothing else happens.
func (p *Progress) tick() {
	defer close(p.done)
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
			p.mu.Lock()
			p.redraw()
			p.mu.Unlock()
		}
	}
}

// Event records a host's new phase; it is engine.Options.Progress.
func (p *Progress) Event(ev engine.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return
	}
	now := p.now()
	hs, ok := p.hosts[ev.Host]
	if !ok {
		hs = &hostStatus{started: now}
		p.hosts[ev.Host] = hs
		p.order = append(p.order, ev.Host)
	}
	changed := hs.ev.Phase != ev.Phase
	hs.ev = ev
	hs.ended = time.Time{}
	if ev.Phase == "done" || ev.Phase == "failed" {
		hs.ended = now
	}
	if p.tty {
		p.redraw()
		return
	}
	// Plain lines: a new phase, or each resource applied (planning counts would be noise).
	if changed || ev.Phase == "applying" {
		fmt.Fprintf(p.w, "[%6.1fs] %s: %s\n", now.Sub(p.start).Seconds(), ev.Host, phaseText(ev))
	}
}

func phaseText(ev engine.Event) string {
	if ev.Total > 0 && (ev.Phase == "planning" || ev.Phase == "applying") {
		return fmt.Sprintf("%s %d/%d", ev.Phase, ev.Done, ev.Total)
	}
	return ev.Phase
}

// redraw replaces the block on screen; mu is held.
func (p *Progress) redraw() {
	if !p.tty || p.suspended || p.stopped {
		return
	}
	var b strings.Builder
	p.erase(&b)
	lines := p.lines()
	for _, l := range lines {
		b.WriteString(l + "\n")
	}
	p.drawn = len(lines)
	io.WriteString(p.w, b.String())
}

// erase moves up over the block and clears to the end of the screen; mu is held.
func (p *Progress) erase(b *strings.Builder) {
	if p.drawn > 0 {
		fmt.Fprintf(b, "\x1b[%dF\x1b[J", p.drawn)
		p.drawn = 0
	}
}

// lines is the block: busy hosts first (longest running first), then a count of the rest.
func (p *Progress) lines() []string {
	now := p.now()
	var busy []string
	counts := map[string]int{}
	for _, h := range p.order {
		hs := p.hosts[h]
		if hs.ended.IsZero() {
			busy = append(busy, h)
		} else {
			counts[hs.ev.Phase]++
		}
	}
	sort.SliceStable(busy, func(i, j int) bool { return p.hosts[busy[i]].started.Before(p.hosts[busy[j]].started) })
	width := 0
	for _, h := range busy {
		width = max(width, len(h))
	}
	var out []string
	for i, h := range busy {
		if i == maxLines {
			out = append(out, fmt.Sprintf("  ... and %d more hosts at work", len(busy)-maxLines))
			break
		}
		hs := p.hosts[h]
		out = append(out, fmt.Sprintf("  %-*s  %-16s %5.1fs", width, h, phaseText(hs.ev), now.Sub(hs.started).Seconds()))
	}
	summary := fmt.Sprintf("hostplan: %d/%d hosts finished", counts["done"]+counts["failed"], len(p.order))
	if counts["failed"] > 0 {
		summary += fmt.Sprintf(" (%d failed)", counts["failed"])
	}
	return append(out, fmt.Sprintf("%s, %.1fs", summary, now.Sub(p.start).Seconds()))
}

// Suspend erases the block until Resume: for a prompt, or for output printed meanwhile.
func (p *Progress) Suspend() {
	p.mu.Lock()
	defer p.mu.Unlock()
	var b strings.Builder
	p.erase(&b)
	io.WriteString(p.w, b.String())
	p.suspended = true
}

// Resume draws the block again after Suspend.
func (p *Progress) Resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.suspended = false
	p.redraw()
}

// Reset forgets every host, for the next phase of the run (apply after plan).
func (p *Progress) Reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.hosts = map[string]*hostStatus{}
	p.order = nil
}

// Stop erases the block for good; later events are ignored.
func (p *Progress) Stop() {
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		return
	}
	var b strings.Builder
	p.erase(&b)
	io.WriteString(p.w, b.String())
	p.stopped = true
	p.mu.Unlock()
	if p.tty {
		close(p.stop)
	}
	<-p.done
}
