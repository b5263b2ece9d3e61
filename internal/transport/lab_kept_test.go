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

// TestLabKeptShell: hostplan's own batches run one after another in one shell per
// connection (one sshd session), as root and through sudo with and without a password,
// each with exactly its own output, standard error and exit status, whatever it prints
// (no final newline, empty lines, text like another command's end), and no input.
func TestLabKeptShell(t *testing.T) {
	l := startLab(t, 1)
	h := l.Hosts[0]
	for _, tc := range loginCases(l, h) {
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
				{"echo $PPID; x=$(printf '%s' \"$__t$__c$__l$__e\"); echo \"[$x]\"", "[]\n", "", 0},
			} {
				res, err := runKept(ctx, c, want.cmd, false)
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
			// Batches go there too ($$ is the shell's process); the facts' sections
			// do not.
			kept, err := runKept(ctx, c, "echo $$", false)
			if err != nil {
				t.Fatal(err)
			}
			out, err := RunAllThen(ctx, c, []string{"true"}, "echo $$")
			if err != nil || out != string(kept.Stdout) {
				t.Errorf("batch: %q %v, want the kept shell %q", out, err, kept.Stdout)
			}
			// A batch's last command runs as the subshell's end: its exit is the
			// batch's failure, quoted, and the shell stays.
			err = RunAll(ctx, c, []string{"true", "echo late >&2; exit 4"})
			if err == nil || err.Error() != "echo late >&2; exit 4: exit 4: late" {
				t.Errorf("failing last command: %v", err)
			}
			if again, err := runKept(ctx, c, "echo $$", false); err != nil || string(again.Stdout) != string(kept.Stdout) {
				t.Errorf("after a failed batch: %q %v, want the same kept shell %q", again.Stdout, err, kept.Stdout)
			}
			// RunPrograms' batch of one program runs in the kept shell itself (its
			// parent is the shell); a failure is quoted as shown, the shell stays.
			if out, err := RunPrograms(ctx, c, nil, nil, "sh -c 'echo $PPID'"); err != nil || out != string(kept.Stdout) {
				t.Errorf("RunPrograms: the program's parent is %q (%v), want the kept shell %q", out, err, kept.Stdout)
			}
			err = func() error {
				_, err := RunPrograms(ctx, c, []string{"sh -c 'echo no >&2; exit 3'"}, []string{"shown"}, "")
				return err
			}()
			if err == nil || err.Error() != "shown: exit 3: no" {
				t.Errorf("RunPrograms failing: %v", err)
			}
			if again, err := runKept(ctx, c, "echo $$", false); err != nil || string(again.Stdout) != string(kept.Stdout) {
				t.Errorf("after a failed program: %q %v, want the same kept shell %q", again.Stdout, err, kept.Stdout)
			}
			got, _, err := RunSections(ctx, c, []string{"echo $$", "echo b"})
			if err != nil || len(got) != 2 || got[0].Out == string(kept.Stdout) {
				t.Errorf("sections: %+v %v, want a session of their own, not %q", got, err, kept.Stdout)
			}
		})
	}
}

// TestLabKeptShellIdle: the kept shell ends once idle for its bound (here 0.5 s), on
// the host too; the next batch starts a new one.
func TestLabKeptShellIdle(t *testing.T) {
	l := startLab(t, 1)
	h := l.Hosts[0]
	c := mustDial(t, newTestDialer(t, DialerOptions{}), labTarget(l, h, "root"))
	c.(*conn).keptIdle = 500 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	shell := func() string {
		t.Helper()
		out, err := RunAllThen(ctx, c, []string{"true"}, "echo $$")
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(out)
	}
	first := shell()
	if again := shell(); again != first {
		t.Fatalf("two batches in a row ran in shells %s and %s, want one", first, again)
	}
	for deadline := time.Now().Add(30 * time.Second); hostExec(t, h, "kill -0 "+first+" 2>/dev/null && echo alive || echo gone") != "gone\n"; {
		if time.Now().After(deadline) {
			t.Fatalf("the kept shell %s still runs 30 s after its last batch", first)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// The batches after the idle end share a new kept shell.
	if next, again := shell(), shell(); next == first || again != next {
		t.Errorf("after the idle end of %s, two batches ran in %s and %s, want one new shell", first, next, again)
	}
}

// TestLabKeptShellStopped: a command of the kept shell that outlives its context is
// stopped on the host with the shell, and the connection's next command still runs;
// commands at once that find the shell busy run in sessions of their own.
func TestLabKeptShellStopped(t *testing.T) {
	l := startLab(t, 1)
	h := l.Hosts[0]
	c := mustDial(t, newTestDialer(t, DialerOptions{}), labTarget(l, h, "root"))
	ctx := context.Background()
	if _, err := runKept(ctx, c, "true", false); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 2*time.Second)
	_, err := runKept(short, c, "sleep 1234; echo late", false)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a command past its deadline: %v", err)
	}
	if got := hostExec(t, h, "pgrep -f 'sleep 123[4]' || echo none"); got != "none\n" {
		t.Errorf("left running on the host: %q", got)
	}
	// Closing the connection under a running command leaves no race (-race).
	other := mustDial(t, newTestDialer(t, DialerOptions{}), labTarget(l, h, "root"))
	if _, err := runKept(ctx, other, "true", false); err != nil {
		t.Fatal(err)
	}
	running := make(chan struct{})
	go func() {
		defer close(running)
		runKept(ctx, other, "sleep 0.3", false)
	}()
	time.Sleep(100 * time.Millisecond)
	other.Close()
	<-running
	// Commands at once on a connection with a live kept shell: one runs there, those
	// that find it busy in sessions of their own, each with its own output.
	third := mustDial(t, newTestDialer(t, DialerOptions{}), labTarget(l, h, "root"))
	kept, err := runKept(ctx, third, "echo $$", false)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	inKept := 0
	for i := range 8 {
		wg.Go(func() {
			res, err := runKept(ctx, third, fmt.Sprintf("echo $$; sleep 0.5; echo %d", i), false)
			if err != nil {
				t.Errorf("command %d: %v", i, err)
				return
			}
			shell, out, _ := strings.Cut(string(res.Stdout), "\n")
			if out != fmt.Sprintf("%d\n", i) {
				t.Errorf("command %d printed %q", i, out)
			}
			mu.Lock()
			defer mu.Unlock()
			if shell+"\n" == string(kept.Stdout) {
				inKept++
			}
		})
	}
	wg.Wait()
	if inKept < 1 || inKept == 8 {
		t.Errorf("%d of 8 commands at once ran in the kept shell; want one at a time there, the rest beside it", inKept)
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
	// The idle end must not stand in for the yield this tests.
	c.(*conn).keptIdle = time.Hour
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// Busy, the kept shell ends once its command is done, and the command session
	// waits for that (found in review: it gave up after 0.8 s).
	busy := mustDial(t, newTestDialer(t, DialerOptions{}), labTarget(l, h, "root"))
	busy.(*conn).keptIdle = time.Hour
	if err := RunAll(ctx, busy, []string{"true"}); err != nil {
		t.Fatal(err)
	}
	if _, err := busy.ReadFile(ctx, "/srv/f"); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- RunAll(ctx, busy, []string{"sleep 2"}) }()
	time.Sleep(300 * time.Millisecond)
	if _, err := busy.Run(ctx, "true", nil); err != nil {
		t.Errorf("a command beside a busy kept shell: %v", err)
	}
	if err := <-done; err != nil {
		t.Errorf("the busy shell's command: %v", err)
	}
	for i, step := range []func() error{
		func() error { return RunAll(ctx, c, []string{"true"}) },
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

// TestLabRunStream: a longer command with no input of its own goes through the stream
// form (streamScript), as root and through sudo, with and without a password: the same
// result as the read loop gives a short one, its text nowhere in the host's process
// list.
func TestLabRunStream(t *testing.T) {
	l := startLab(t, 1)
	h := l.Hosts[0]
	// A word no other process on a shared machine has in its command line.
	word := fmt.Sprintf("stream%d", time.Now().UnixNano())
	padding := "# " + strings.Repeat(word+" ", streamMin/len(word)+1) + "\n"
	pattern := word[:1] + "[" + word[1:2] + "]" + word[2:] // not grep's own cmdline
	for _, tc := range loginCases(l, h) {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			c := mustDial(t, newTestDialer(t, tc.opts), tc.target)
			res, err := c.Run(ctx, padding+`id -u; grep -l '`+pattern+`' /proc/[0-9]*/cmdline 2>/dev/null | wc -l; tr '\0' ' ' </proc/$$/cmdline; echo; echo "it's" >&2; exit 4`, nil)
			if err != nil {
				t.Fatal(err)
			}
			// The shell that ran it reads its script: /bin/sh -s (streamScript's
			// second one with a sudo password, the session's one without).
			if want := "0\n0\n/bin/sh -s \n"; string(res.Stdout) != want || string(res.Stderr) != "it's\n" || res.ExitCode != 4 {
				t.Errorf("got (%q, %q, %d), want (%q, \"it's\\n\", 4)", res.Stdout, res.Stderr, res.ExitCode, want)
			}
			// With input of its own, the read loop: the input is the command's.
			res, err = c.Run(ctx, padding+"cat", strings.NewReader("input\n"))
			if err != nil || string(res.Stdout) != "input\n" {
				t.Errorf("with input: %q %v", res.Stdout, err)
			}
		})
	}
}
