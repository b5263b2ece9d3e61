package transport

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hostplan/hostplan/internal/lab"
)

// TestLabKeptShell: hostplan's own scripts run one after another in one shell per
// connection (one sshd session), as root and through sudo with and without a password,
// each with exactly its own output, standard error and exit status, whatever it prints
// (no final newline, empty lines, text like another command's end), and no input.
func TestLabKeptShell(t *testing.T) {
	l := startLab(t, 1)
	h := l.Hosts[0]
	for _, tc := range []struct {
		name   string
		target Target
		opts   DialerOptions
	}{
		{"root", labTarget(l, h, "root"), DialerOptions{}},
		{"sudo", sudoTarget(l, h, "labuser"), DialerOptions{}},
		{"sudo with a password", sudoTarget(l, h, lab.PasswordSudoUser),
			DialerOptions{BecomePassword: func() ([]byte, error) { return []byte(lab.SudoPassword), nil }}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			c := mustDial(t, newTestDialer(t, tc.opts), tc.target)
			shells := map[string]bool{}
			for i, want := range []struct {
				cmd, out, errs string
				code           int
			}{
				{"echo $PPID; id -u", "0\n", "", 0},
				{"echo $PPID; printf 'no newline'", "no newline", "", 0},
				{"echo $PPID; printf '\\n\\nhostplan-kept-0123 0\\n\\n'; echo err >&2; exit 3", "\n\nhostplan-kept-0123 0\n\n", "err\n", 3},
				{"echo $PPID; cat; echo read-nothing", "read-nothing\n", "", 0},
				{"echo $PPID; x=$(printf '%s' \"$__t$__l$__e\"); echo \"[$x]\"", "[", "", 0},
			} {
				res, err := runKept(ctx, c, want.cmd)
				if err != nil {
					t.Fatalf("command %d: %v", i, err)
				}
				ppid, out, _ := strings.Cut(string(res.Stdout), "\n")
				shells[ppid] = true
				if !strings.HasPrefix(out, want.out) || string(res.Stderr) != want.errs || res.ExitCode != want.code {
					t.Errorf("command %d: (%q, %q, %d), want (%q, %q, %d)", i, out, res.Stderr, res.ExitCode, want.out, want.errs, want.code)
				}
			}
			if len(shells) != 1 {
				t.Errorf("the commands ran in %d shells, want one: %v", len(shells), shells)
			}
			// Sections and batches go there too.
			got, _, err := RunSections(ctx, c, []string{"echo $PPID", "echo b"})
			if err != nil || !shells[strings.TrimSpace(got[0].Out)] {
				t.Errorf("sections: %+v %v, want the kept shell %v", got, err, shells)
			}
		})
	}
}

// TestLabKeptShellStopped: a command of the kept shell that outlives its context is
// stopped on the host with the shell; the next command runs (in a new shell), and
// commands at once that find the shell busy run in sessions of their own.
func TestLabKeptShellStopped(t *testing.T) {
	l := startLab(t, 1)
	h := l.Hosts[0]
	c := mustDial(t, newTestDialer(t, DialerOptions{}), labTarget(l, h, "root"))
	ctx := context.Background()
	if _, err := runKept(ctx, c, "true"); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 2*time.Second)
	_, err := runKept(short, c, "sleep 1234; echo late")
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a command past its deadline: %v", err)
	}
	if got := hostExec(t, h, "pgrep -f 'sleep 123[4]' || echo none"); got != "none\n" {
		t.Errorf("left running on the host: %q", got)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Go(func() {
			res, err := runKept(ctx, c, fmt.Sprintf("sleep 0.2; echo %d", i))
			if err != nil || string(res.Stdout) != fmt.Sprintf("%d\n", i) {
				errs <- fmt.Errorf("command %d: %+v %v", i, res, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestLabKeptShellYields: where sshd allows only 2 sessions per connection, the kept
// shell and the file session take both; a command then gets its session because the
// idle kept shell ends for it, and the scripts after it take turns in sessions.
func TestLabKeptShellYields(t *testing.T) {
	t.Parallel()
	l := lab.ForTest(t, lab.Options{Hosts: 1, SSHDConfig: "MaxSessions 2\n"})
	h := l.Hosts[0]
	hostExec(t, h, "printf content > /srv/f")
	c := mustDial(t, newTestDialer(t, DialerOptions{}), labTarget(l, h, "root"))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for i, step := range []func() error{
		func() error { _, _, err := RunSections(ctx, c, []string{"true"}); return err },
		func() error { _, err := c.ReadFile(ctx, "/srv/f"); return err },
		func() error { _, err := c.Run(ctx, "true", nil); return err },
		func() error { return RunAll(ctx, c, []string{"true", "true"}) },
		func() error { _, err := c.Run(ctx, "true", nil); return err },
	} {
		if err := step(); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
}
