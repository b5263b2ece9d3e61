package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hostplan/hostplan/internal/lab"
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
	waitUntil(t, func() bool { return remote(t, h, "test -e /run/hostplan/lock && echo yes || echo no") == "yes" })

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
	if got := remote(t, h, "test -e /run/hostplan/lock && echo left || echo gone"); got != "gone" {
		t.Errorf("lock file %s after both applies", got)
	}

	// A lock left by a run that died long ago.
	remote(t, h, `printf '%s\n' '{"operator":"ghost@old-bastion","machine":"old-bastion","pid":1,"run":"x","since":"2026-01-01T00:00:00Z"}' > /run/hostplan/lock && touch -d '10 minutes ago' /run/hostplan/lock`)
	if r = hostplan(t, "apply", "--auto-approve", "-i", inv, quick); r.code != 0 || !strings.Contains(r.stdout, "note: took over a stale lock held by ghost@old-bastion") {
		t.Errorf("apply over a stale lock:\n%s", r)
	}
}

// TestLabHostLockPlanted: what an unprivileged user of the host (labnosudo) plants at
// the old lock path, in world-writable /run/lock, neither jams the lock (a directory
// there made `apply --lock-timeout` spin forever) nor spoofs it (a symlink to /dev/null
// let two applies both hold it; a FIFO hung the apply).
func TestLabHostLockPlanted(t *testing.T) {
	t.Parallel()
	l, inv := startLab(t, 1, "root")
	h := l.Host("h1")
	// The first apply holds the lock until the test says go (at most a minute).
	slow := writeFiles(t, map[string]string{"main.hcl": `
task "t" {
  on = ["lab"]
  command "a" { run = "touch /tmp/started; i=0; while [ ! -e /tmp/go ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done; echo a >> /etc/lock-order" }
}`})
	quick := writeFiles(t, map[string]string{"main.hcl": `
task "t" {
  on = ["lab"]
  command "b" { run = "echo b >> /etc/lock-order" }
}`})
	for _, plant := range []string{
		"mkdir /run/lock/hostplan.lock",
		"ln -s /dev/null /run/lock/hostplan.lock",
		"mkfifo /run/lock/hostplan.lock",
		"mkdir /run/hostplan",
	} {
		t.Run(plant, func(t *testing.T) {
			remote(t, h, "rm -rf /run/lock/hostplan.lock /run/hostplan /tmp/started /tmp/go /etc/lock-order")
			// May be refused (permission denied): that is the defence.
			out, err := h.Exec(context.Background(), "runuser -u "+lab.NoSudoUser+" -- "+plant)
			t.Logf("as %s: %s: %v %s", lab.NoSudoUser, plant, err, out)

			first := make(chan result, 1)
			go func() {
				first <- hostplanWithin(t, time.Minute, "apply", "--auto-approve", "--lock-timeout", "5s", "-i", inv, slow)
			}()
			drained := false
			defer func() { // the first apply must not outlive the test
				if !drained {
					h.Exec(context.Background(), "touch /tmp/go")
					<-first
				}
			}()
			waitUntil(t, func() bool { return remote(t, h, "test -e /tmp/started && echo yes || echo no") == "yes" })
			start := time.Now()
			r := hostplanWithin(t, time.Minute, "apply", "--auto-approve", "--lock-timeout", "2s", "-i", inv, quick)
			if r.code != exitError || !strings.Contains(r.stdout, "h1 is locked by ") {
				t.Errorf("second apply while the first holds the lock:\n%s", r)
			}
			if d := time.Since(start); d > 30*time.Second {
				t.Errorf("second apply took %v with --lock-timeout 2s", d.Round(time.Millisecond))
			}
			remote(t, h, "touch /tmp/go")
			r, drained = <-first, true
			if r.code != 0 {
				t.Errorf("first apply:\n%s", r)
			}
			if got := remote(t, h, "cat /etc/lock-order"); got != "a" {
				t.Errorf("changes %q, want only the first apply's", got)
			}
			if r = hostplanWithin(t, time.Minute, "apply", "--auto-approve", "-i", inv, quick); r.code != 0 {
				t.Errorf("apply after both:\n%s", r)
			}
		})
	}
}

// TestLabHostLockUnsafeDir: a lock directory others may write to (as a careless or
// tampering admin could leave it) is refused, naming it and what is wrong, and the host
// is not changed.
func TestLabHostLockUnsafeDir(t *testing.T) {
	t.Parallel()
	l, inv := startLab(t, 1, "root")
	h := l.Host("h1")
	quick := writeFiles(t, map[string]string{"main.hcl": `
task "t" {
  on = ["lab"]
  command "b" { run = "echo b >> /etc/lock-order" }
}`})
	remote(t, h, "mkdir -m 1777 /run/hostplan")
	r := hostplanWithin(t, time.Minute, "apply", "--auto-approve", "--lock-timeout", "5s", "-i", inv, quick)
	if r.code != exitError || !strings.Contains(r.stdout, "refusing to lock the host at /run/hostplan/lock: /run/hostplan: mode 1777 lets group or others in") {
		t.Errorf("apply with a world-writable lock directory:\n%s", r)
	}
	if got := remote(t, h, "cat /etc/lock-order 2>&1; ls -A /run/hostplan"); got != "cat: /etc/lock-order: No such file or directory" {
		t.Errorf("host after the refusal: %q", got)
	}
}

// hostplanWithin runs the CLI like hostplan, but gives up after d: a lock that waits
// forever fails the test instead of hanging it.
func hostplanWithin(t *testing.T, d time.Duration, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var out, errb bytes.Buffer
	env := []string{"HOME=" + t.TempDir(), "NO_COLOR=1", "SSH_AUTH_SOCK="}
	code := run(ctx, args, strings.NewReader(""), &out, &errb, env)
	if ctx.Err() != nil {
		t.Errorf("hostplan %s still running after %v", strings.Join(args, " "), d)
	}
	return result{code, out.String(), errb.String()}
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

// TestLabApplySessions: a plan of file changes, a port forward and an allowlist gathers
// the facts and reads the host in one command session, with and without changes to
// show. An apply of them on a fresh host gathers the facts, makes the lock directory,
// takes the lock and reads the host in one session, which then goes on as the
// sftp-server that changes the files and releases the lock (RunThenFiles), and runs the
// forward's and the allowlist's iptables batches in one shell (kept.go); an apply with
// nothing to change costs the first. Each session is an sshd fork and a login shell.
func TestLabApplySessions(t *testing.T) {
	t.Parallel()
	l := lab.ForTest(t, lab.Options{Hosts: 1, SSHDConfig: "LogLevel VERBOSE\n"})
	inv := filepath.Join(t.TempDir(), "inventory.hcl")
	if err := l.WriteInventory(inv, "root"); err != nil {
		t.Fatal(err)
	}
	h := l.Host("h1")
	remote(t, h, "rm -rf /run/hostplan /etc/hostplan-sessions")
	dir := writeFiles(t, map[string]string{"main.hcl": `
task "t" {
  on = ["lab"]
  directory "/etc/hostplan-sessions" {}
  file "/etc/hostplan-sessions/a" { content = "a\n" }
  port_forward "api" {
    listen_port = 8443
    to_address  = "10.0.0.5"
    to_port     = 6443
    method      = "iptables"
  }
  allowlist "security-center" {
    region = "cn-hangzhou"
    ports  = [6443]
    method = "iptables"
  }
}`})
	for i, want := range []struct {
		summary  string
		sessions int
	}{{"4 changed", 2}, {"no changes", 1}} {
		// A plan reads the files in the facts' session too (transport.FileReads).
		before := sessions(t, h)
		if r := hostplan(t, "plan", "-i", inv, dir); r.code != exitChanges-i*exitChanges {
			t.Fatalf("plan %d:\n%s", i+1, r)
		}
		if n := sessions(t, h) - before; n != 1 {
			t.Errorf("plan %d opened %d sessions on the host, want 1", i+1, n)
		}
		before = sessions(t, h)
		r := hostplan(t, "apply", "--auto-approve", "-i", inv, dir)
		if r.code != 0 || !strings.Contains(r.stdout, want.summary) {
			t.Fatalf("apply %d:\n%s", i+1, r)
		}
		if n := sessions(t, h) - before; n != want.sessions {
			t.Errorf("apply %d (%s) opened %d sessions on the host, want %d", i+1, want.summary, n, want.sessions)
		}
	}
	if got := remote(t, h, "stat -c '%a %F' /run/hostplan; ls -A /run/hostplan"); got != "700 directory" {
		t.Errorf("lock directory after the applies: %q", got)
	}
}

// TestLabLockAbandoned: when the session that took the lock with the facts times out
// in the reads that follow (an iptables-save that hangs), the apply fails for the
// host and removes the lock it took there, rather than leaving it for its lease.
func TestLabLockAbandoned(t *testing.T) {
	t.Parallel()
	l, inv := startLab(t, 1, "root")
	h := l.Host("h1")
	remote(t, h, `rm -rf /run/hostplan && mkdir -p /usr/local/sbin && printf '#!/bin/sh\nexec sleep 60\n' > /usr/local/sbin/iptables-save && chmod 755 /usr/local/sbin/iptables-save`)
	defer remote(t, h, "rm -f /usr/local/sbin/iptables-save")
	dir := writeFiles(t, map[string]string{"main.hcl": `
task "t" {
  on = ["lab"]
  port_forward "api" {
    listen_port = 8443
    to_address  = "10.0.0.5"
    to_port     = 6443
    method      = "iptables"
  }
}`})
	r := hostplanWithin(t, time.Minute, "apply", "--auto-approve", "--command-timeout", "3s", "-i", inv, dir)
	if r.code != exitError || !strings.Contains(r.stdout, "gather facts") {
		t.Fatalf("apply with a hanging read:\n%s", r)
	}
	if got := remote(t, h, "test -d /run/hostplan && ls -A /run/hostplan"); got != "" {
		t.Errorf("left in the lock directory: %q", got)
	}
}

// TestLabLockLost: when the lock an apply holds is taken over behind its back (as
// another apply does after the holder stalled past its lease), the next refresh (every
// 30 s) notices, and the apply starts no further change on that host, saying why.
func TestLabLockLost(t *testing.T) {
	t.Parallel()
	l, inv := startLab(t, 1, "root")
	h := l.Host("h1")
	remote(t, h, "rm -rf /run/hostplan /tmp/started /tmp/go /etc/lock-lost /etc/lock-lost-first")
	// The file opens the SFTP session, which the refreshes use, before the wait.
	dir := writeFiles(t, map[string]string{"main.hcl": `
task "t" {
  on = ["lab"]
  file "/etc/lock-lost-first" { content = "x\n" }
  command "a" { run = "touch /tmp/started; i=0; while [ ! -e /tmp/go ] && [ $i -lt 900 ]; do sleep 0.1; i=$((i+1)); done" }
  command "b" { run = "echo b > /etc/lock-lost" }
}`})
	done := make(chan result, 1)
	go func() { done <- hostplanWithin(t, 3*time.Minute, "apply", "--auto-approve", "-i", inv, dir) }()
	waitUntil(t, func() bool { return remote(t, h, "test -e /tmp/started && echo yes || echo no") == "yes" })
	remote(t, h, `printf '%s\n' '{"operator":"bob@other","machine":"other","pid":1,"run":"b","since":"2026-01-01T00:00:00Z"}' > /run/hostplan/lock`)
	time.Sleep(45 * time.Second) // past the first refresh, 30 s after the lock was taken
	remote(t, h, "touch /tmp/go")
	r := <-done
	if r.code != exitError || !strings.Contains(r.stdout, "this run lost the host's lock") {
		t.Errorf("apply whose lock was taken over:\n%s", r)
	}
	if got := remote(t, h, "cat /etc/lock-lost 2>&1; cat /run/hostplan/lock"); !strings.Contains(got, "No such file") || !strings.Contains(got, "bob@other") {
		t.Errorf("after the apply: %q; want no change b, and bob's lock left alone", got)
	}
}

// TestLabLitterAfterCut: the temp file of a write whose connection was cut is removed
// by the next apply that writes the same file after taking the dead run's lock over;
// an apply that took the lock free does not look for such files (a directory listing
// per write), since a cut run cannot have released its lock.
func TestLabLitterAfterCut(t *testing.T) {
	t.Parallel()
	l, inv := startLab(t, 1, "root")
	h := l.Host("h1")
	plan := func(content string) string {
		return writeFiles(t, map[string]string{"main.hcl": `
task "t" {
  on = ["lab"]
  file "/etc/litter/app.conf" {
    content = "` + content + `\n"
  }
}`})
	}
	const litter = "/etc/litter/.app.conf.hostplan-0123456789abcdef"
	remote(t, h, "mkdir -p /etc/litter && printf secret > "+litter+" && chmod 600 "+litter)
	if r := hostplan(t, "apply", "--auto-approve", "-i", inv, plan("one")); r.code != 0 || strings.Contains(r.stdout, "took over") {
		t.Fatalf("apply with a free lock:\n%s", r)
	}
	if got := remote(t, h, "ls -A /etc/litter | tr '\\n' ' '"); got != ".app.conf.hostplan-0123456789abcdef app.conf" {
		t.Errorf("after an apply that took the lock free, /etc/litter holds %q; want the planted temp file and app.conf", got)
	}
	remote(t, h, `printf '%s\n' '{"operator":"ghost@old-bastion","machine":"old-bastion","pid":1,"run":"x","since":"2026-01-01T00:00:00Z"}' > /run/hostplan/lock && touch -d '10 minutes ago' /run/hostplan/lock`)
	if r := hostplan(t, "apply", "--auto-approve", "-i", inv, plan("two")); r.code != 0 || !strings.Contains(r.stdout, "note: took over a stale lock") {
		t.Fatalf("apply over the dead run's lock:\n%s", r)
	}
	if got := remote(t, h, "ls -A /etc/litter | tr '\\n' ' '"); got != "app.conf" {
		t.Errorf("after the apply that took the dead run's lock over, /etc/litter holds %q; want app.conf alone", got)
	}
}
