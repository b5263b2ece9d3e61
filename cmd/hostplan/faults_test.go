package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hostplan/hostplan/internal/lab"
)

// Faults: each leaves the target file either as it was or as planned, byte for byte,
// says what went wrong, and a rerun after the fault is gone converges to an empty plan.

const faultPlan = `
task "t" {
  on = ["lab"]
  file "/srv/full/app.conf" {
    content = "%s"
  }
}`

func faultPlanDir(t *testing.T, content string) string {
	return writeFiles(t, map[string]string{"main.hcl": strings.Replace(faultPlan, "%s", content, 1)})
}

// TestLabFaultFullDisk: the target folder is a tiny tmpfs inside the lab host; a write
// that does not fit fails, the old file stays whole, and no temp file is left.
func TestLabFaultFullDisk(t *testing.T) {
	t.Parallel()
	l, inv := startLab(t, 1, "root")
	h := l.Host("h1")
	remote(t, h, "mkdir -p /srv/full && mount -t tmpfs -o size=64k tmpfs /srv/full && printf 'old\\n' > /srv/full/app.conf")
	big := strings.Repeat("0123456789abcdef", 8192) // 128 KiB: more than the disk holds
	r := hostplan(t, "apply", "--auto-approve", "-i", inv, faultPlanDir(t, big))
	if r.code != exitError || !strings.Contains(r.stdout, `file "/srv/full/app.conf"`) || !strings.Contains(strings.ToLower(r.stdout), "no space left") {
		t.Errorf("apply onto a full disk: exit %d\n%s", r.code, tail(r.stdout, 1500))
	}
	if got := remote(t, h, "cat /srv/full/app.conf"); got != "old" {
		t.Errorf("after the failed write the file holds %q, want the old content", got)
	}
	if left := remote(t, h, "ls -A /srv/full"); left != "app.conf" {
		t.Errorf("files left in the full folder: %q", left)
	}
	// Make room; the same plan now converges.
	remote(t, h, "mount -o remount,size=1m /srv/full")
	if r = hostplan(t, "apply", "--auto-approve", "-i", inv, faultPlanDir(t, big)); r.code != 0 {
		t.Fatalf("apply after making room: exit %d\n%s\n%s", r.code, tail(r.stdout, 1500), r.stderr)
	}
	if r = hostplan(t, "plan", "-i", inv, faultPlanDir(t, big)); r.code != 0 {
		t.Errorf("plan after the rerun: exit %d\n%s", r.code, tail(r.stdout, 1500))
	}
}

// tail is the end of s: a 128 KiB one-line diff says nothing a reader needs.
func tail(s string, n int) string { return s[max(0, len(s)-n):] }

// TestLabFaultPermissionDenied: a login without sudo and without become cannot write
// root's folder; the error says so and the file is untouched. With a user that may
// become root the same plan converges.
func TestLabFaultPermissionDenied(t *testing.T) {
	t.Parallel()
	l, inv := startLab(t, 1, lab.NoSudoUser)
	h := l.Host("h1")
	remote(t, h, "mkdir -p /srv/full && printf 'old\\n' > /srv/full/app.conf && chmod 755 /srv/full")
	dir := faultPlanDir(t, `new\n`)
	r := hostplan(t, "apply", "--auto-approve", "-i", inv, dir)
	if r.code != exitError || !strings.Contains(strings.ToLower(r.stdout), "permission denied") {
		t.Errorf("apply without permission:\n%s", r)
	}
	if got := remote(t, h, "cat /srv/full/app.conf; ls -A /srv/full"); got != "old\napp.conf" {
		t.Errorf("after permission denied: %q", got)
	}
	src, err := os.ReadFile(inv)
	if err != nil {
		t.Fatal(err)
	}
	become := filepath.Join(t.TempDir(), "become.hcl")
	fixed := strings.Replace(string(src), `user          = "`+lab.NoSudoUser+`"`, `user          = "`+lab.SudoUser+`"`+"\n  become        = true", 1)
	if err := os.WriteFile(become, []byte(fixed), 0o644); err != nil {
		t.Fatal(err)
	}
	if r = hostplan(t, "apply", "--auto-approve", "-i", become, dir); r.code != 0 {
		t.Fatalf("apply with become:\n%s", r)
	}
	if r = hostplan(t, "plan", "-i", become, dir); r.code != 0 || remote(t, h, "cat /srv/full/app.conf") != "new" {
		t.Errorf("plan after the rerun:\n%s", r)
	}
}

// TestLabFaultHostKeyChanged: the host key changes between a saved plan and its apply;
// the apply refuses the host before touching it, naming the changed key. Once the new
// key is trusted, a new plan applies and converges.
func TestLabFaultHostKeyChanged(t *testing.T) {
	t.Parallel()
	l, inv := startLab(t, 1, "root")
	h := l.Host("h1")
	remote(t, h, "mkdir -p /srv/full && printf 'old\\n' > /srv/full/app.conf")
	dir := faultPlanDir(t, `new\n`)
	planFile := filepath.Join(t.TempDir(), "change.plan")
	if r := hostplan(t, "plan", "-out", planFile, "-i", inv, dir); r.code != exitChanges {
		t.Fatalf("plan -out:\n%s", r)
	}
	if err := h.RotateHostKey(); err != nil {
		t.Fatal(err)
	}
	r := hostplan(t, "apply", planFile)
	if r.code != exitError || !strings.Contains(strings.ToLower(r.stdout), "changed") || !strings.Contains(r.stdout, "host h1: FAILED") {
		t.Errorf("apply after the host key changed:\n%s", r)
	}
	if got := remote(t, h, "cat /srv/full/app.conf"); got != "old" {
		t.Errorf("a host with a changed key was written: %q", got)
	}
	// The operator checks the new key and trusts it (the lab rewrote known_hosts with it).
	if err := l.TrustHostKeys(); err != nil {
		t.Fatal(err)
	}
	if r = hostplan(t, "apply", "--auto-approve", "-i", inv, dir); r.code != 0 {
		t.Fatalf("apply with the new key trusted:\n%s", r)
	}
	if r = hostplan(t, "plan", "-i", inv, dir); r.code != 0 {
		t.Errorf("plan after the rerun:\n%s", r)
	}
}
