package hostlock

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hostplan/hostplan/internal/transport"
)

// localConn runs the lock's shell commands on this machine: the protocol is the same
// as over SSH, and the lock file lives in a temp dir.
func localConn(t *testing.T) transport.Conn {
	t.Helper()
	d := transport.NewDialer(transport.DialerOptions{})
	t.Cleanup(func() { d.Close() })
	c, err := d.Dial(context.Background(), transport.Target{Local: true})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func holder(name string) Holder {
	return Holder{Operator: name + "@bastion", Machine: "elsewhere", PID: 4242, Run: name, Since: time.Now()}
}

func TestAcquireRelease(t *testing.T) {
	ctx := context.Background()
	c := localConn(t)
	path := filepath.Join(t.TempDir(), "lock", "hostplan.lock")
	a, err := Acquire(ctx, c, "h1", holder("alice"), Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); !strings.Contains(string(b), `"operator":"alice@bastion"`) {
		t.Errorf("lock file %q does not name its holder", b)
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
	if err := removeIf(ctx, c, path, a.content); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("bob's lock is gone: %v", err)
	}
	if err := b.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("lock file left after Release: %v", err)
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
			path := filepath.Join(t.TempDir(), "hostplan.lock")
			old, err := Acquire(ctx, c, "h1", tc.holder, Options{Path: path})
			if err != nil {
				t.Fatal(err)
			}
			old.stopRefresh()
			if tc.left {
				old.once.Do(func() { trackRun(old.run, -1) })
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

// The holder keeps its lock fresh: with a short lease it still does not look stale.
func TestRefreshKeepsLockLive(t *testing.T) {
	ctx := context.Background()
	c := localConn(t)
	path := filepath.Join(t.TempDir(), "hostplan.lock")
	l, err := Acquire(ctx, c, "h1", holder("alice"), Options{Path: path, Lease: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release(ctx)
	time.Sleep(3 * time.Second)
	if _, err := Acquire(ctx, c, "h1", holder("bob"), Options{Path: path, Lease: 2 * time.Second}); err == nil {
		t.Fatal("a refreshed lock was taken over as stale")
	}
}
