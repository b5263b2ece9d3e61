package main

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

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
	remote(t, h, "mkdir -p /srv/full && mount -t tmpfs -o size=64k,mode=0755 tmpfs /srv/full && printf 'old\\n' > /srv/full/app.conf")
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
	r := hostplanEnv(t, signPlan(t, planFile), "apply", planFile)
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

// TestLabFaultConnectionCut: the SSH connection dies at a random moment of an apply
// (20 tries, from its start to past its end) that writes a 1 MiB file and a small one.
// Each file is then either as it was or as planned, byte for byte; a cut apply says
// which host failed and that its connection was lost. The apply after the last cut
// converges, leaves no temp file behind, and the plan after it is empty.
func TestLabFaultConnectionCut(t *testing.T) {
	t.Parallel()
	l, inv := startLab(t, 1, "root")
	h := l.Host("h1")
	remote(t, h, "mkdir -p /srv/cut")
	files := []string{"/srv/cut/big.conf", "/srv/cut/small.conf"}
	gen := func(i int) map[string][]byte {
		return map[string][]byte{
			files[0]: bytes.Repeat([]byte(fmt.Sprintf("generation %02d\n", i)), 1<<20/14),
			files[1]: []byte(fmt.Sprintf("small %02d\n", i)),
		}
	}
	planFor := func(i int) string {
		// The contents come from files next to the plan: a 1 MiB string literal would
		// make the test about HCL instead.
		g := gen(i)
		dir := writeFiles(t, map[string]string{
			"big.txt": string(g[files[0]]), "small.txt": string(g[files[1]]),
			"main.hcl": fmt.Sprintf(`task "t" {
  on = ["lab"]
  file %q {
    content = file("big.txt")
  }
  file %q {
    content = file("small.txt")
  }
}`, files[0], files[1]),
		})
		return dir
	}
	onHost := func() map[string]string {
		out := map[string]string{}
		for _, f := range files {
			out[f] = strings.Fields(remote(t, h, "sha256sum "+f+" 2>/dev/null || echo none"))[0]
		}
		return out
	}
	sum := func(b []byte) string { return fmt.Sprintf("%x", sha256.Sum256(b)) }

	if r := hostplan(t, "apply", "--auto-approve", "-i", inv, planFor(98)); r.code != 0 {
		t.Fatalf("first apply:\n%s", r)
	}
	// An uncut apply that changes both files tells how long one takes here.
	start := time.Now()
	if r := hostplan(t, "apply", "--auto-approve", "-i", inv, planFor(99)); r.code != 0 {
		t.Fatalf("second apply:\n%s", r)
	}
	span := time.Since(start) * 13 / 10
	was := gen(99)
	rng := rand.New(rand.NewPCG(3, 4))
	cut, bigNew := 0, 0
	reasons := map[string]int{}
	for i := range 20 {
		dir := planFor(i)
		want := gen(i)
		resc := make(chan result, 1)
		go func() { resc <- hostplan(t, "apply", "--auto-approve", "-i", inv, dir) }()
		time.Sleep(time.Duration(rng.Int64N(int64(span))))
		if _, err := h.SignalSSHD(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		r := <-resc
		got := onHost()
		for _, f := range files {
			switch got[f] {
			case sum(want[f]):
				if f == files[0] && !bytes.Equal(was[f], want[f]) {
					bigNew++
				}
				was[f] = want[f]
			case sum(was[f]):
				if r.code == 0 {
					t.Errorf("try %d: the apply succeeded but %s is unchanged", i, f)
				}
			default:
				t.Fatalf("try %d: %s is neither the old nor the new file\n%s", i, f, tail(r.stdout, 1500))
			}
		}
		if r.code != 0 {
			cut++
			// The reason: the first line that says what happened (after the verdict
			// when the apply failed, on the resource when the plan did).
			reason := ""
			for _, line := range strings.Split(r.stdout, "\n") {
				if strings.Contains(line, "connection lost") || strings.Contains(line, "connection closed") {
					reason = strings.TrimSpace(line)
					break
				}
			}
			reasons[reason]++
			if r.code != exitError || reason == "" || !strings.Contains(reason, "h1") {
				t.Errorf("try %d: a cut apply should say that the connection to h1 was lost: exit %d\n%s", i, r.code, tail(r.stdout, 1500))
			}
		}
	}
	t.Logf("20 cuts at random moments within %v: %d applies failed, %d finished first; the big file was replaced %d times, kept %d times", span, cut, 20-cut, bigNew, 20-bigNew)
	for reason, n := range reasons {
		t.Logf("%dx %s", n, reason)
	}
	if cut == 0 {
		t.Error("no try was cut: the cuts came too late")
	}

	final := planFor(100)
	if r := hostplan(t, "apply", "--auto-approve", "-i", inv, final); r.code != 0 {
		t.Fatalf("apply after the cuts:\n%s", r)
	}
	if r := hostplan(t, "plan", "-i", inv, final); r.code != 0 {
		t.Errorf("plan after the rerun: exit %d\n%s", r.code, tail(r.stdout, 1500))
	}
	if left := remote(t, h, "ls -A /srv/cut"); left != "big.conf\nsmall.conf" {
		t.Errorf("files left beside the targets: %q", left)
	}
}
