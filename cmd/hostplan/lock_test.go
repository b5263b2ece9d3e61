package main

import (
	"strings"
	"testing"
	"time"
)

// TestLabHostLock: two applies at once on one host never both change it. The second
// fails naming the holder, or with --lock-timeout waits for the first; a lock whose
// holder is gone is taken over, with a note.
func TestLabHostLock(t *testing.T) {
	t.Parallel()
	l, inv := startLab(t, 1, "root")
	h := l.Host("h1")
	slow := writeFiles(t, map[string]string{"main.hcl": `
task "t" {
  on = ["lab"]
  command "a" { run = "sleep 3; echo a >> /etc/lock-order" }
}`})
	quick := writeFiles(t, map[string]string{"main.hcl": `
task "t" {
  on = ["lab"]
  command "b" { run = "echo b >> /etc/lock-order" }
}`})
	first := make(chan result, 1)
	go func() { first <- hostplan(t, "apply", "--auto-approve", "-i", inv, slow) }()
	waitUntil(t, func() bool { return remote(t, h, "test -e /run/lock/hostplan.lock && echo yes || echo no") == "yes" })

	r := hostplan(t, "apply", "--auto-approve", "-i", inv, quick)
	if r.code != exitError || !strings.Contains(r.stdout, "h1 is locked by ") || !strings.Contains(r.stdout, "another hostplan apply is changing it") {
		t.Errorf("second apply while the first holds the lock:\n%s", r)
	}
	if r = hostplan(t, "apply", "--auto-approve", "--lock-timeout", "60s", "-i", inv, quick); r.code != 0 {
		t.Errorf("waiting apply:\n%s", r)
	}
	if r = <-first; r.code != 0 {
		t.Errorf("first apply:\n%s", r)
	}
	if got := remote(t, h, "cat /etc/lock-order"); got != "a\nb" {
		t.Errorf("order of changes %q, want a then b: both applies wrote at once", got)
	}
	if got := remote(t, h, "test -e /run/lock/hostplan.lock && echo left || echo gone"); got != "gone" {
		t.Errorf("lock file %s after both applies", got)
	}

	// A lock left by a run that died long ago.
	remote(t, h, `mkdir -p /run/lock && printf '%s\n' '{"operator":"ghost@old-bastion","machine":"old-bastion","pid":1,"run":"x","since":"2026-01-01T00:00:00Z"}' > /run/lock/hostplan.lock && touch -d '10 minutes ago' /run/lock/hostplan.lock`)
	if r = hostplan(t, "apply", "--auto-approve", "-i", inv, quick); r.code != 0 || !strings.Contains(r.stdout, "note: took over a stale lock held by ghost@old-bastion") {
		t.Errorf("apply over a stale lock:\n%s", r)
	}
}

// waitUntil polls cond for up to 30 s.
func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
