package hostlock

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hostplan/hostplan/internal/transport"
)

// localConn runs the lock's shell commands on this machine: the protocol is the same
// as over SSH.
func localConn(t *testing.T) *countingConn {
	t.Helper()
	d := transport.NewDialer(transport.DialerOptions{})
	t.Cleanup(func() { d.Close() })
	c, err := d.Dial(context.Background(), transport.Target{Local: true})
	if err != nil {
		t.Fatal(err)
	}
	return &countingConn{Conn: c}
}

// lockPath is a lock file in a fresh directory that only its owner may change, as
// Acquire demands: t.TempDir is under /tmp, which everyone may write to.
func lockPath(t *testing.T) string {
	t.Helper()
	base := "/run"
	if os.Geteuid() != 0 {
		base = os.Getenv("HOME")
	}
	dir, err := os.MkdirTemp(base, "hostplan-locktest-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, "lock", "hostplan.lock")
}

func holder(name string) Holder {
	return Holder{Operator: name + "@bastion", Machine: "elsewhere", PID: 4242, Run: name, Since: time.Now()}
}

func TestAcquireRelease(t *testing.T) {
	ctx := context.Background()
	c := localConn(t)
	path := lockPath(t)
	a, err := Acquire(ctx, c, "h1", holder("alice"), Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); !strings.Contains(string(b), `"operator":"alice@bastion"`) {
		t.Errorf("lock file %q does not name its holder", b)
	}
	if fi, err := os.Stat(filepath.Dir(path)); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("lock directory: %v %v", fi.Mode(), err)
	}
	_, err = Acquire(ctx, c, "h1", holder("bob"), Options{Path: path})
	var held *HeldError
	if !errors.As(err, &held) || held.By.Operator != "alice@bastion" || !strings.Contains(err.Error(), "h1 is locked by alice@bastion (pid 4242 on elsewhere") {
		t.Fatalf("second Acquire: %v", err)
	}
	// Waiting: bob gets it once alice releases.
	go func() {
		time.Sleep(300 * time.Millisecond)
		a.Release(ctx)
	}()
	start := time.Now()
	b, err := Acquire(ctx, c, "h1", holder("bob"), Options{Path: path, Wait: 10 * time.Second, Poll: 50 * time.Millisecond})
	if err != nil {
		t.Fatalf("waiting Acquire: %v", err)
	}
	if d := time.Since(start); d < 250*time.Millisecond {
		t.Errorf("bob got the lock after %v, before alice released it", d)
	}
	// Removing alice's lock (as her Release does) must leave bob's alone.
	if ours, err := a.ifOurs(ctx, time.Second, removal); err != nil || ours {
		t.Fatalf("alice's removal: ours %v, %v", ours, err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("bob's lock is gone: %v", err)
	}
	if err := b.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if left, _ := os.ReadDir(filepath.Dir(path)); len(left) != 0 {
		t.Errorf("left in the lock directory after Release: %v", left)
	}
}

// A run that timed out or was interrupted still frees the host.
func TestReleaseAfterCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	path := lockPath(t)
	l, err := Acquire(ctx, localConn(t), "h1", holder("alice"), Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := l.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("lock left after Release with an ended context: %v", err)
	}
}

// A lock someone else holds costs one look per poll, and Acquire gives up at its
// deadline, not later.
func TestWaitHonoursDeadline(t *testing.T) {
	ctx := context.Background()
	path := lockPath(t)
	a, err := Acquire(ctx, localConn(t), "h1", holder("alice"), Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Release(ctx)
	for _, o := range []Options{
		{Path: path},
		{Path: path, Wait: 2 * time.Second, Poll: 200 * time.Millisecond},
	} {
		c := localConn(t)
		start := time.Now()
		_, err := Acquire(ctx, c, "h1", holder("bob"), o)
		d := time.Since(start)
		var held *HeldError
		if !errors.As(err, &held) {
			t.Fatalf("wait %v: %v", o.Wait, err)
		}
		if d < o.Wait || d > o.Wait+margin {
			t.Errorf("wait %v: gave up after %v", o.Wait, d)
		}
		if o.Poll == 0 {
			o.Poll = time.Second
		}
		if n := c.runs.Load(); n > attemptsWithin(o) {
			t.Errorf("wait %v: %d commands", o.Wait, n)
		}
	}
}

func TestStaleLocks(t *testing.T) {
	ctx := context.Background()
	c := localConn(t)
	me, _ := os.Hostname()
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		holder Holder
		age    time.Duration
		stale  bool
		// left: the run released it but the file stayed (its removal failed: a cut connection)
		left bool
	}{
		{"lease ran out", holder("gone"), 10 * time.Minute, true, false},
		{"fresh, elsewhere", holder("busy"), 0, false, false},
		{"dead process here", Holder{Operator: "x", Machine: me, PID: dead.Process.Pid}, 0, true, false},
		{"live process here", Holder{Operator: "x", Machine: me, PID: os.Getpid(), Run: "r1"}, 0, false, false},
		{"finished run of this process", Holder{Operator: "x", Machine: me, PID: os.Getpid(), Run: "r2"}, 0, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := lockPath(t)
			old, err := Acquire(ctx, c, "h1", tc.holder, Options{Path: path})
			if err != nil {
				t.Fatal(err)
			}
			old.stopRefresh()
			if tc.left {
				old.once.Do(func() { trackRun(old.runID, -1) })
			}
			when := time.Now().Add(-tc.age)
			if err := os.Chtimes(path, when, when); err != nil {
				t.Fatal(err)
			}
			l, err := Acquire(ctx, c, "h1", holder("new"), Options{Path: path, Lease: time.Minute})
			if tc.stale {
				if err != nil || l.TookOver == nil || l.TookOver.Operator != tc.holder.Operator {
					t.Fatalf("stale lock not taken over: %v %+v", err, l)
				}
				l.Release(ctx)
				return
			}
			var held *HeldError
			if !errors.As(err, &held) {
				t.Fatalf("a live lock was taken over: %v", err)
			}
		})
	}
}

// Several applies that find the same stale lock: exactly one takes it over, and no
// two ever hold the lock at once. Nor when they find it free, and make it without the
// flock.
func TestNeverTwoHolders(t *testing.T) {
	for _, stale := range []bool{true, false} {
		t.Run(fmt.Sprintf("stale %v", stale), func(t *testing.T) {
			ctx := context.Background()
			path := lockPath(t)
			if stale {
				ghost, err := Acquire(ctx, localConn(t), "h1", holder("ghost"), Options{Path: path})
				if err != nil {
					t.Fatal(err)
				}
				ghost.stopRefresh()
				when := time.Now().Add(-time.Hour)
				if err := os.Chtimes(path, when, when); err != nil {
					t.Fatal(err)
				}
			}
			var holding, tookOver atomic.Int32
			var wg sync.WaitGroup
			for i := range 6 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					c := localConn(t)
					l, err := Acquire(ctx, c, "h1", holder(string(rune('a'+i))), Options{Path: path, Wait: time.Minute, Poll: 20 * time.Millisecond, Lease: time.Minute})
					if err != nil {
						t.Error(err)
						return
					}
					if l.TookOver != nil {
						tookOver.Add(1)
					}
					if n := holding.Add(1); n != 1 {
						t.Errorf("%d applies hold the lock at once", n)
					}
					time.Sleep(50 * time.Millisecond)
					holding.Add(-1)
					if err := l.Release(ctx); err != nil {
						t.Error(err)
					}
				}()
			}
			wg.Wait()
			if n, want := tookOver.Load(), map[bool]int32{true: 1}[stale]; n != want {
				t.Errorf("%d applies say they took over a stale lock, want %d", n, want)
			}
		})
	}
}

// An empty lock file, as a try finds one another made an instant before (or a run
// killed in that instant left): held by no one known, and stale after the lease.
func TestEmptyLock(t *testing.T) {
	ctx := context.Background()
	c := localConn(t)
	for _, tc := range []struct {
		age   time.Duration
		stale bool
	}{{0, false}, {2 * time.Minute, true}} {
		path := lockPath(t)
		if err := os.Mkdir(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		when := time.Now().Add(-tc.age)
		if err := os.Chtimes(path, when, when); err != nil {
			t.Fatal(err)
		}
		l, err := Acquire(ctx, c, "h1", holder("new"), Options{Path: path, Lease: time.Minute})
		if !tc.stale {
			var held *HeldError
			if !errors.As(err, &held) || !strings.Contains(err.Error(), "locked by an unknown holder (the lock file names none)") {
				t.Errorf("fresh empty lock: %v", err)
			}
			continue
		}
		if err != nil || l.TookOver == nil || l.TookOver.String() != "an unknown holder (the lock file names none)" {
			t.Fatalf("stale empty lock not taken over: %v %+v", err, l)
		}
		l.Release(ctx)
	}
}

// The refreshing holder keeps its lock fresh: with a short lease it still does not
// look stale. It refreshes over the file session, with no command; when that fails,
// by command.
func TestRefreshKeepsLockLive(t *testing.T) {
	for _, tc := range []struct {
		name     string
		noFiles  bool
		wantRuns bool // refreshes run commands
	}{
		{name: "files"},
		{name: "commands", noFiles: true, wantRuns: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			c, conn := filesOrNot(t, tc.noFiles)
			path := lockPath(t)
			o := Options{Path: path, Lease: 2 * time.Second}
			start := time.Now()
			l, err := Acquire(ctx, conn, "h1", holder("alice"), o)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Release(ctx)
			before, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			runs := c.runs.Load()
			time.Sleep(3 * time.Second)
			if got := c.runs.Load() - runs; (got > 0) != tc.wantRuns {
				t.Errorf("the refreshes ran %d commands", got)
			}
			after, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			// The lock's time runs on this machine's clock from just before Acquire
			// made it: never ahead of the time since then, in whole seconds.
			if d, most := after.ModTime().Sub(before.ModTime()), time.Since(start)+time.Second; d < time.Second || d > most {
				t.Errorf("the lock's time moved by %v in %v", d, most)
			}
			if _, err := Acquire(ctx, c, "h1", holder("bob"), o); err == nil {
				t.Fatal("a refreshed lock was taken over as stale")
			}
		})
	}
}

// A lock another apply took over is not refreshed by the old holder.
func TestRefreshLeavesOthersLock(t *testing.T) {
	ctx := context.Background()
	c := localConn(t)
	path := lockPath(t)
	l, err := Acquire(ctx, c, "h1", holder("alice"), Options{Path: path, Lease: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release(ctx)
	l.stopRefresh()
	if err := os.WriteFile(path, []byte(`{"operator":"bob@bastion"}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour).Truncate(time.Second)
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
	l.touch(ctx, time.Second)
	if fi, err := os.Stat(path); err != nil || !fi.ModTime().Equal(old) {
		t.Errorf("alice refreshed bob's lock: %v %v", fi.ModTime(), err)
	}
	if l.byCommand {
		t.Error("alice gave up refreshing over the file session")
	}
}

func TestBadPaths(t *testing.T) {
	for _, p := range []string{"lock", "/lock", "/run/../run/hostplan/lock", "/run/hostplan/"} {
		if _, err := Acquire(context.Background(), localConn(t), "h1", holder("a"), Options{Path: p}); err == nil || !strings.Contains(err.Error(), "want an absolute, clean path") {
			t.Errorf("%q: %v", p, err)
		}
	}
}

// dirCase is a lock directory and the directories above it, as stat lines the host
// prints them (uid, st_mode in hex, name).
type dirCase struct {
	name  string
	uid   int
	lines []string
	want  string // "" when safe
	lock  string // default DefaultPath
}

func (tc dirCase) located(t *testing.T) located {
	t.Helper()
	loc := located{uid: tc.uid, path: tc.lock, entries: map[string]entry{}}
	if loc.path == "" {
		loc.path = DefaultPath
	}
	for _, line := range tc.lines {
		e, err := parseEntry(line)
		if err != nil {
			t.Fatal(err)
		}
		loc.entries[e.name] = e
	}
	return loc
}

var okAbove = []string{"0 41ed /", "0 41ed /run"}

var dirCases = []dirCase{
	{"root's lock", 0, append(okAbove, "0 41c0 /run/hostplan"), "", ""},
	{"not made yet", 0, okAbove, "", ""},
	{"a login's own home", 1000, []string{"0 41ed /", "0 41ed /home", "1000 41ed /home/u", "1000 41c0 /home/u/.hostplan"}, "", "/home/u/.hostplan/lock"},
	{"world-writable parent", 0, append(okAbove[:1], "0 43ff /run", "0 41c0 /run/hostplan"), "/run: mode 1777 lets group or others", ""},
	{"group-writable parent", 0, append(okAbove[:1], "0 41fd /run", "0 41c0 /run/hostplan"), "/run: mode 0775", ""},
	{"parent of another user", 0, append(okAbove[:1], "1000 41ed /run", "0 41c0 /run/hostplan"), "/run: owned by uid 1000, not by root or uid 0", ""},
	{"symlink as the directory", 0, append(okAbove, "0 a1ff /run/hostplan"), "/run/hostplan: a symbolic link, not a directory", ""},
	{"directory of another user", 0, append(okAbove, "1000 41c0 /run/hostplan"), "/run/hostplan: owned by uid 1000, not by uid 0", ""},
	{"root's directory for a login", 1000, []string{"0 41ed /", "0 41ed /home", "1000 41ed /home/u", "0 41c0 /home/u/.hostplan"}, "owned by uid 0, not by uid 1000", "/home/u/.hostplan/lock"},
	{"readable by others", 0, append(okAbove, "0 41ed /run/hostplan"), "/run/hostplan: mode 0755 lets group or others in", ""},
	{"parent missing", 0, okAbove[:1], "/run: missing", ""},
	{"parent a symlink", 0, append(okAbove[:1], "0 a1ff /run", "0 41c0 /run/hostplan"), "/run: a symbolic link, not a directory", ""},
	{"group-readable directory", 0, append(okAbove, "0 41e0 /run/hostplan"), "/run/hostplan: mode 0740", ""},
}

// The rules for the directories.
func TestCheckDirectories(t *testing.T) {
	for _, tc := range dirCases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.located(t).check()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("got %v, want %q", err, tc.want)
			}
		})
	}
}

// FirstCommand's gate (check in shell) passes exactly the directories check passes:
// the cases above, and random ones. stat and mkdir are shell functions here, so the
// gate runs on the lines given and changes nothing; a missing lock directory "made"
// by the gate is the acting user's, 0700, as mkdir -m 0700 makes it.
func TestFirstGateAgreesWithCheck(t *testing.T) {
	cases := slices.Clone(dirCases)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 300 {
		cases = append(cases, randomDirCase(r, i))
	}
	for _, tc := range cases {
		loc := tc.located(t)
		want := loc.check() == nil
		dir := path.Dir(loc.path)
		vars := fmt.Sprintf("uid=%d p=%s d=%s n=%d s=%s\n", loc.uid, transport.ShellQuote(loc.path), transport.ShellQuote(dir),
			len(ancestors(path.Dir(dir))), transport.ShellQuote(strings.Join(tc.lines, "\n")))
		// The gate's own mkdir makes the directory, or one made since the look is
		// there already (mkdir fails, stat describes it).
		for _, fake := range []string{"mkdir() { :; }\nstat() { exit 9; }\n", "mkdir() { return 1; }\nstat() { echo \"$uid 41c0\"; }\n"} {
			out, err := exec.Command("sh", "-c", vars+fake+firstGate+"\necho \"passed $l\"").CombinedOutput()
			if err != nil {
				t.Fatalf("%s: %v\n%s", tc.name, err, out)
			}
			if got := string(out) == "passed "+loc.path+"\n"; got != want {
				t.Errorf("%s (uid %d, %q, %s): gate printed %q, check passes: %v", tc.name, loc.uid, tc.lines, fake, out, want)
			}
		}
	}
}

// randomDirCase is a lock under /a/b (or a missing /a/b) whose directories have a
// random owner, type and mode each, or are missing.
func randomDirCase(r *rand.Rand, i int) dirCase {
	uids := []int{0, 1000, 1001}
	types := []uint32{typeDir, typeDir, typeDir, 0o120000, typeReg}
	tc := dirCase{name: fmt.Sprintf("random %d", i), uid: uids[r.IntN(2)], lock: "/a/b/lock"}
	for _, name := range []string{"/", "/a", "/a/b"} {
		if r.IntN(8) == 0 {
			continue
		}
		mode := types[r.IntN(len(types))] | []uint32{0o755, 0o700, 0o775, 0o1777, 0o750, 0o740, 0o701}[r.IntN(7)]
		tc.lines = append(tc.lines, fmt.Sprintf("%d %x %s", uids[r.IntN(len(uids))], mode, name))
	}
	return tc
}

// FirstCommand, run in a session with other commands, takes a free lock there: the
// whole Acquire costs that one session, and its then ran once it held the lock. A
// second apply's FirstCommand finds the lock held and Acquire goes on as usual.
func TestFirstCommand(t *testing.T) {
	ctx := context.Background()
	c := localConn(t)
	path := lockPath(t)
	o := Options{Path: path, Poll: 50 * time.Millisecond}
	first := func(h Holder, then *transport.Sections) *First {
		t.Helper()
		f, err := NewFirst(o, h, then)
		if err != nil {
			t.Fatal(err)
		}
		f.Start = time.Now()
		got, _, err := transport.RunSections(ctx, c, []string{"echo other", f.Command})
		if err != nil || got[0].Out != "other\n" {
			t.Fatalf("sections %v: %v", got, err)
		}
		f.Out = got[1]
		return f
	}
	alice, bob := holder("alice"), holder("bob")
	reads := transport.NewSections([]string{"cat " + path})
	f := first(alice, reads)
	runs := c.runs.Load()
	a, err := AcquireLooked(ctx, c, "h1", alice, o, f, transport.NewSections([]string{"echo later"}))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Release(ctx)
	if n := c.runs.Load() - runs; n != 0 || !a.First {
		t.Errorf("Acquire after the first try ran %d more commands (First %v)", n, a.First)
	}
	if got, err := reads.Parse(a.ThenOutput()); err != nil || len(got) != 1 || got[0] != (transport.Section{Out: a.content + "\n"}) {
		t.Errorf("then printed %q (%+v, %v), want the lock's content", a.ThenOutput(), got, err)
	}
	if got := fileMode(t, filepath.Dir(path)); got != os.ModeDir|0o700 {
		t.Errorf("lock directory made %v", got)
	}
	_, err = AcquireLooked(ctx, c, "h1", bob, o, first(bob, transport.NewSections([]string{"echo ran"})), nil)
	var held *HeldError
	if !errors.As(err, &held) || held.By.Operator != "alice@bastion" {
		t.Errorf("second Acquire: %v", err)
	}
	if _, err := AcquireLooked(ctx, c, "h1", holder("bob"), o, first(bob, nil), nil); err == nil || !strings.Contains(err.Error(), "made for another holder") {
		t.Errorf("Acquire with another holder's first step: %v", err)
	}
}

// A lock whose output was lost (the session failed after the try) is removed by
// Abandon; one that is not ours is left.
func TestFirstAbandon(t *testing.T) {
	ctx := context.Background()
	c := localConn(t)
	path := lockPath(t)
	o := Options{Path: path}
	f, err := NewFirst(o, holder("alice"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if res, err := c.Run(ctx, f.Command, nil); err != nil || res.ExitCode != 0 || !strings.Contains(string(res.Stdout), "\nacquired\n") {
		t.Fatalf("first step: %v %+v", err, res)
	}
	if err := f.Abandon(ctx, c, "h1"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("lock after Abandon: %v", err)
	}
	b, err := Acquire(ctx, c, "h1", holder("bob"), o)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Release(ctx)
	if err := f.Abandon(ctx, c, "h1"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(path); err != nil {
		t.Errorf("Abandon removed another holder's lock: %v", err)
	}
}

// A directory name with a newline cannot print lines of its own into the look: not a
// try's "acquired" (the marker is random), nor stat lines for directories it names.
func TestFirstLookNotSpoofed(t *testing.T) {
	ctx := context.Background()
	c := localConn(t)
	base := filepath.Dir(filepath.Dir(lockPath(t)))
	evil := filepath.Join(base, "A\n0 41ed /\nhostplan-lock-try\nacquired\nZ")
	if err := os.MkdirAll(filepath.Join(evil, "d"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(evil, filepath.Join(base, "V")); err != nil {
		t.Fatal(err)
	}
	o := Options{Path: filepath.Join(base, "V", "d", "lock")}
	alice := holder("alice")
	f, err := NewFirst(o, alice, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := transport.RunSections(ctx, c, []string{f.Command})
	if err != nil {
		t.Fatal(err)
	}
	f.Out = got[0]
	lk, err := AcquireLooked(ctx, c, "h1", alice, o, f, nil)
	if err == nil {
		lk.Release(ctx)
		t.Fatal("locked under a directory whose name has a newline")
	}
	if !strings.Contains(err.Error(), "newline") {
		t.Errorf("error %v does not say why", err)
	}
	if _, err := os.Lstat(filepath.Join(evil, "d", "lock")); err == nil {
		t.Error("a lock file was made")
	}
	for _, out := range []string{
		"0\n/run/hostplan/lock\n0 41ed /\n0 41ed /run\n0 41ed /etc\n",               // a directory not on the path
		"0\n/run/hostplan/lock\n0 41ed /\n0 41ed /run\n0 43ff /run\n",               // one twice
		"0\n/run/hostplan/lock\n0 41ed /\n0 41ed /run\n0 41c0 /run/hostplan/lock\n", // the lock as a directory
	} {
		if _, err := parseLook(out); err == nil {
			t.Errorf("look %q accepted", out)
		}
	}
}

func fileMode(t *testing.T, p string) os.FileMode {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode()
}

// Release removes a fresh lock over the file session, with no command; a lock not
// refreshed for half a lease (another apply may be taking it over) by command, under
// the flock. Neither removes a lock that is no longer ours.
func TestReleaseWays(t *testing.T) {
	for _, tc := range []struct {
		name     string
		age      time.Duration // since the last refresh
		noFiles  bool
		theirs   bool // another apply's lock is there now
		wantRuns int64
	}{
		{name: "fresh", wantRuns: 0},
		{name: "fresh, not ours", theirs: true, wantRuns: 0},
		{name: "half a lease old", age: 31 * time.Second, wantRuns: 1},
		{name: "half a lease old, not ours", age: 31 * time.Second, theirs: true, wantRuns: 1},
		{name: "files fail", noFiles: true, wantRuns: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			c, conn := filesOrNot(t, tc.noFiles)
			path := lockPath(t)
			l, err := Acquire(ctx, conn, "h1", holder("alice"), Options{Path: path, Lease: time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			l.stopRefresh()
			l.touched = l.touched.Add(-tc.age)
			bob := `{"operator":"bob@bastion"}`
			if tc.theirs {
				if err := os.WriteFile(path, []byte(bob+"\n"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			runs := c.runs.Load()
			if err := l.Release(ctx); err != nil {
				t.Fatal(err)
			}
			if n := c.runs.Load() - runs; n != tc.wantRuns {
				t.Errorf("Release ran %d commands, want %d", n, tc.wantRuns)
			}
			b, err := os.ReadFile(path)
			switch {
			case tc.theirs && string(b) != bob+"\n":
				t.Errorf("bob's lock is now %q (%v)", b, err)
			case !tc.theirs && !errors.Is(err, os.ErrNotExist):
				t.Errorf("alice's lock is still there: %q %v", b, err)
			}
			// Nothing is left beside the lock.
			if left, _ := os.ReadDir(filepath.Dir(path)); !tc.theirs && len(left) != 0 {
				t.Errorf("left in the lock directory: %v", left)
			}
		})
	}
}

// filesOrNot is a local connection, counting its commands, and the same connection with
// a file session that fails when noFiles is set.
func filesOrNot(t *testing.T, noFiles bool) (*countingConn, transport.Conn) {
	c := localConn(t)
	if noFiles {
		return c, noFilesConn{c}
	}
	return c, c
}

// noFilesConn is a connection whose file session fails.
type noFilesConn struct{ *countingConn }

func (noFilesConn) ReadFile(context.Context, string) ([]byte, error) {
	return nil, errors.New("no files here")
}

// A refresh that finds the lock no longer ours (taken over after a stall, or removed)
// says so through Lost, over the file session and by command; a lock still ours, that
// refreshes have touched, never reads as lost.
func TestRefreshNoticesLoss(t *testing.T) {
	ctx := context.Background()
	other := `{"operator":"bob@bastion","machine":"elsewhere","pid":1,"run":"b","since":"2026-01-01T00:00:00Z"}` + "\n"
	takeOver := func(p string) error { // as a takeover does: whole at once
		tmp := p + ".bob"
		if err := os.WriteFile(tmp, []byte(other), 0o600); err != nil {
			return err
		}
		return os.Rename(tmp, p)
	}
	for _, tc := range []struct {
		name    string
		noFiles bool
		change  func(path string) error
	}{
		{"files, taken over", false, takeOver},
		{"files, removed", false, os.Remove},
		{"commands, taken over", true, takeOver},
		{"commands, removed", true, os.Remove},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, conn := filesOrNot(t, tc.noFiles)
			path := lockPath(t)
			a, err := Acquire(ctx, conn, "h1", holder("alice"), Options{Path: path, Lease: 2 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			defer a.Release(ctx)
			made := mtime(t, path)
			for deadline := time.Now().Add(20 * time.Second); mtime(t, path).Equal(made); time.Sleep(20 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatal("no refresh touched the lock")
				}
			}
			if err := a.Lost(); err != nil {
				t.Fatalf("a lock refreshed as ours reads as lost: %v", err)
			}
			if err := tc.change(path); err != nil {
				t.Fatal(err)
			}
			for deadline := time.Now().Add(30 * time.Second); a.Lost() == nil; time.Sleep(20 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatal("no refresh noticed the loss")
				}
			}
			if err := a.Lost(); !errors.Is(err, ErrLost) || !strings.Contains(err.Error(), path) {
				t.Errorf("Lost: %v", err)
			}
		})
	}
	var none *Lock
	if none.Lost() != nil {
		t.Error("a nil lock reads as lost")
	}
}

func mtime(t *testing.T, p string) time.Time {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.ModTime()
}

// then runs in the session that takes the lock, once it holds it and outside the
// directory's flock; a read that exits ends only itself, not the try; an Acquire that
// does not get the lock does not run it.
func TestAcquireThen(t *testing.T) {
	ctx := context.Background()
	c := localConn(t)
	path := lockPath(t)
	dir := filepath.Dir(path)
	// flock -n fails while the try still holds the directory's flock.
	then := transport.NewSections([]string{"cat " + path + "; flock -n " + dir + " echo unlocked; exit 7", "echo second", "umask"})
	a, err := AcquireLooked(ctx, c, "h1", holder("alice"), Options{Path: path}, nil, then)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Release(ctx)
	// The reads see the shell's umask, not the 077 the lock's temp file was made with.
	mask := syscall.Umask(0)
	syscall.Umask(mask)
	want := []transport.Section{{Out: a.content + "\nunlocked\n", Code: 7}, {Out: "second\n"}, {Out: fmt.Sprintf("%04o\n", mask)}}
	if got, err := then.Parse(a.ThenOutput()); err != nil || !slices.Equal(got, want) {
		t.Errorf("then printed %q (%+v, %v), want %+v", a.ThenOutput(), got, err, want)
	}
	marker := filepath.Join(dir, "ran")
	_, err = AcquireLooked(ctx, c, "h1", holder("bob"), Options{Path: path}, nil, transport.NewSections([]string{"touch " + marker}))
	var held *HeldError
	if !errors.As(err, &held) {
		t.Fatalf("second Acquire: %v", err)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("then ran for an Acquire that did not get the lock")
	}
}

// A touch may run past an interval, up to three quarters of a lease after the last good
// one; past that, a late touch gets an interval.
func TestTouchDeadline(t *testing.T) {
	const lease, interval = 2 * time.Second, 500 * time.Millisecond
	now := time.Now()
	for _, tc := range []struct {
		sinceTouched time.Duration
		want         time.Duration // from now
	}{
		{interval, lease*3/4 - interval},
		{lease / 2, lease / 4},
		{lease, interval},
		{10 * lease, interval},
	} {
		l := &Lock{lease: lease, touched: now.Add(-tc.sinceTouched)}
		got := time.Until(l.touchDeadline(interval))
		if d := got - tc.want; d < -100*time.Millisecond || d > 100*time.Millisecond {
			t.Errorf("%v after the last touch: deadline in %v, want %v", tc.sinceTouched, got, tc.want)
		}
	}
}
