package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hostplan/hostplan/internal/lab"
)

// openPTY returns a pseudo-terminal pair: the controller (what a user types into) and the
// terminal the CLI gets as stdin.
func openPTY(t *testing.T) (controller, term *os.File) {
	t.Helper()
	c, tty, _ := openPTYCapture(t)
	return c, tty
}

// openPTYCapture is openPTY that also keeps what the terminal displayed.
func openPTYCapture(t *testing.T) (controller, term *os.File, screen *syncBuffer) {
	t.Helper()
	screen = &syncBuffer{}
	c, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(c.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(c.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	tty, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tty.Close(); c.Close() })
	// Drain what the terminal shows so its buffer never fills.
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			screen.Write(buf[:n])
		}
	}()
	return c, tty, screen
}

// syncBuffer is a bytes.Buffer the CLI writes to while the test watches it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitFor waits until buf contains want, then types input into the terminal.
func waitFor(t *testing.T, buf *syncBuffer, want string, controller *os.File, input string) {
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(buf.String(), want) {
		if time.Now().After(deadline) {
			t.Errorf("timed out waiting for %q; output so far:\n%s", want, buf.String())
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := controller.WriteString(input); err != nil {
		t.Error(err)
	}
}

func runOnTTY(t *testing.T, tty *os.File, stdout, stderr *syncBuffer, args ...string) chan int {
	done := make(chan int, 1)
	go func() {
		env := []string{"HOME=" + t.TempDir(), "NO_COLOR=1", "SSH_AUTH_SOCK="}
		done <- run(context.Background(), args, tty, stdout, stderr, env)
	}()
	return done
}

// TestLabConfirmOnTerminal: on a terminal, apply asks; anything but "yes" changes nothing.
// The encrypted key's passphrase is asked on the same terminal, once.
func TestLabConfirmOnTerminal(t *testing.T) {
	l, inv := startLab(t, 2, "root")
	src, err := os.ReadFile(inv)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(inv, bytes.ReplaceAll(src, []byte(l.UserKey+`"`), []byte(l.EncryptedUserKey+`"`)), 0o644); err != nil {
		t.Fatal(err)
	}
	planDir := writeFiles(t, map[string]string{"main.hcl": `
task "t" {
  on = ["lab"]
  file "/etc/confirmed" { content = "yes\n" }
}`})

	for _, answer := range []string{"no", "yes"} {
		controller, tty := openPTY(t)
		var stdout, stderr syncBuffer
		done := runOnTTY(t, tty, &stdout, &stderr, "apply", "-i", inv, planDir)
		waitFor(t, &stderr, "Passphrase for "+l.EncryptedUserKey, controller, lab.KeyPassphrase+"\n")
		waitFor(t, &stdout, "Only 'yes' will be accepted", controller, answer+"\n")
		code := <-done
		if n := strings.Count(stderr.String(), "Passphrase for"); n != 1 {
			t.Errorf("passphrase asked %d times for 2 hosts, want once", n)
		}
		present := remote(t, l.Hosts[0], "test -e /etc/confirmed && echo present || echo absent")
		switch answer {
		case "no":
			if code != exitError || present != "absent" || !strings.Contains(stdout.String(), "Apply cancelled; nothing was changed.") {
				t.Fatalf("answer no: exit %d, file %s\n%s\n%s", code, present, stdout.String(), stderr.String())
			}
		case "yes":
			if code != exitOK || present != "present" {
				t.Fatalf("answer yes: exit %d, file %s\n%s\n%s", code, present, stdout.String(), stderr.String())
			}
		}
	}
}

// TestLabEncryptedKeyWithoutTerminal: no terminal, no prompt: a clear error.
func TestLabEncryptedKeyWithoutTerminal(t *testing.T) {
	l, inv := startLab(t, 1, "root")
	src, err := os.ReadFile(inv)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(inv, bytes.ReplaceAll(src, []byte(l.UserKey+`"`), []byte(l.EncryptedUserKey+`"`)), 0o644); err != nil {
		t.Fatal(err)
	}
	planDir := writeFiles(t, map[string]string{"main.hcl": "task \"t\" {\n  on = [\"lab\"]\n}\n"})
	r := hostplan(t, "plan", "-i", inv, planDir)
	if r.code != exitError || !strings.Contains(r.stdout, "is encrypted") || !strings.Contains(r.stdout, "ssh-agent") {
		t.Fatalf("encrypted key without a terminal:\n%s", r)
	}
}

// TestLabBecomePassword: sudo with a password from HOSTPLAN_BECOME_PASSWORD; the password
// never shows up, not even when it is wrong.
func TestLabBecomePassword(t *testing.T) {
	l, inv := startLab(t, 1, lab.PasswordSudoUser)
	src, err := os.ReadFile(inv)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(inv, bytes.Replace(src, []byte("defaults {"), []byte("defaults {\n  become = true"), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	planDir := writeFiles(t, map[string]string{"main.hcl": `
task "t" {
  on = ["lab"]
  file "/etc/sudo-password-test" {
    content = "root file\n"
    mode    = "0600"
  }
}`})
	r := hostplanEnv(t, []string{"HOSTPLAN_BECOME_PASSWORD=wrong-password-xyz"}, "apply", "--auto-approve", "-i", inv, planDir)
	if r.code != exitError || strings.Contains(r.String(), "wrong-password-xyz") {
		t.Fatalf("wrong sudo password: want a failure that does not show it\n%s", r)
	}
	r = hostplanEnv(t, []string{"HOSTPLAN_BECOME_PASSWORD=" + lab.SudoPassword}, "apply", "--auto-approve", "-i", inv, planDir)
	if r.code != exitOK || strings.Contains(r.String(), lab.SudoPassword) {
		t.Fatalf("apply with sudo password:\n%s", r)
	}
	if got := remote(t, l.Hosts[0], "stat -c '%a %U' /etc/sudo-password-test"); got != "600 root" {
		t.Errorf("file written through sudo: %s", got)
	}
	r = hostplanEnv(t, []string{"HOSTPLAN_BECOME_PASSWORD=" + lab.SudoPassword}, "plan", "-i", inv, planDir)
	if r.code != exitOK {
		t.Fatalf("second plan:\n%s", r)
	}
}

// TestLocalConnection: connection = "local" goes through the same plan/apply code on
// this machine, without SSH. It only writes inside a temp dir.
func TestLocalConnection(t *testing.T) {
	dir := t.TempDir()
	inv := filepath.Join(dir, "inv.hcl")
	if err := os.WriteFile(inv, []byte("host \"bastion\" {\n  connection = \"local\"\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(dir, "out")
	planDir := writeFiles(t, map[string]string{"main.hcl": fmt.Sprintf(`
task "t" {
  on = ["bastion"]
  directory %[1]q { mode = "0700" }
  file "%[1]s/conf" {
    content = "on ${host.facts.hostname}\n"
    mode    = "0640"
  }
}`, target)})
	r := hostplan(t, "plan", "-i", inv, planDir)
	if r.code != exitChanges {
		t.Fatalf("local plan:\n%s", r)
	}
	if _, err := os.Stat(target); err == nil {
		t.Fatalf("plan created %s", target)
	}
	if r = hostplan(t, "apply", "--auto-approve", "-i", inv, planDir); r.code != exitOK {
		t.Fatalf("local apply:\n%s", r)
	}
	st, err := os.Stat(filepath.Join(target, "conf"))
	if err != nil || st.Mode().Perm() != 0o640 {
		t.Fatalf("local file: %v %v", st, err)
	}
	if r = hostplan(t, "plan", "-i", inv, planDir); r.code != exitOK {
		t.Fatalf("second local plan:\n%s", r)
	}
}

// TestLabProgressOnTerminal: with stderr on a terminal, apply shows a live per-host block
// (redrawn in place, elapsed times) and erases it before the results; stdout, the plan
// and results, has no control characters. Without a terminal the same run writes plain
// lines only.
func TestLabProgressOnTerminal(t *testing.T) {
	_, inv := startLab(t, 2, "root")
	planDir := writeFiles(t, map[string]string{"main.hcl": `
task "t" {
  on = ["lab"]
  file "/etc/progress" { content = "shown\n" }
  command "slow" {
    run     = "sleep 1; touch /etc/progress-slow"
    creates = "/etc/progress-slow"
  }
}`})
	_, tty, screen := openPTYCapture(t)
	var stdout syncBuffer
	env := []string{"HOME=" + t.TempDir(), "NO_COLOR=1", "SSH_AUTH_SOCK="}
	code := run(context.Background(), []string{"apply", "--auto-approve", "-i", inv, planDir}, strings.NewReader(""), &stdout, tty, env)
	if code != 0 {
		t.Fatalf("apply: exit %d\n%s\n%s", code, stdout.String(), screen.String())
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(screen.String(), "\x1b[J") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	shown := screen.String()
	for _, want := range []string{"h1  applying 1/2", "h2  applying 1/2", "hosts finished", "\x1b[J"} {
		if !strings.Contains(shown, want) {
			t.Errorf("terminal lacks %q:\n%q", want, shown)
		}
	}
	// The block is gone at the end: the last thing written erases it.
	if i := strings.LastIndex(shown, "\x1b[J"); strings.Contains(shown[i:], "hosts finished") {
		t.Errorf("the progress block was left on screen: %q", shown[i:])
	}
	if strings.Contains(stdout.String(), "\x1b") || !strings.Contains(stdout.String(), "Apply complete: 4 changed") {
		t.Errorf("stdout:\n%q", stdout.String())
	}

	r := hostplan(t, "apply", "--auto-approve", "-i", inv, writeFiles(t, map[string]string{"main.hcl": `
task "t" {
  on = ["lab"]
  file "/etc/progress" { content = "again\n" }
}`}))
	if r.code != 0 || strings.Contains(r.stderr, "\x1b") || !strings.Contains(r.stderr, "] h1: applying 0/1\n") {
		t.Errorf("progress without a terminal:\n%s", r)
	}
}
