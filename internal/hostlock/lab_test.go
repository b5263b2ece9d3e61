package hostlock

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hostplan/hostplan/internal/lab"
	"github.com/hostplan/hostplan/internal/transport"
)

// The lab tests attack the lock the way a local user of a host could: an unprivileged
// login (labnosudo) plants things where locks live, or a tampering reviewer (root)
// leaves a lock directory in a state hostplan must not trust. The machine's kernel has
// fs.protected_symlinks/fifos/regular at 0, so none of this relies on them.

// countingConn counts the commands a lock sends: a wait that never pauses shows up as
// hundreds of them.
type countingConn struct {
	transport.Conn
	runs atomic.Int64
}

func (c *countingConn) Run(ctx context.Context, cmd string, stdin io.Reader) (*transport.Result, error) {
	c.runs.Add(1)
	return c.Conn.Run(ctx, cmd, stdin)
}

// labConn logs in to h as user over SSH, as an apply does.
func labConn(t *testing.T, l *lab.Lab, h *lab.Host, user string) *countingConn {
	t.Helper()
	d := transport.NewDialer(transport.DialerOptions{})
	t.Cleanup(func() { d.Close() })
	c, err := d.Dial(context.Background(), transport.Target{Name: h.Name, Address: h.Address, Port: h.Port,
		User: user, IdentityFiles: []string{l.UserKey}, KnownHosts: l.KnownHosts})
	if err != nil {
		t.Fatalf("log in to %s as %s: %v", h.Name, user, err)
	}
	return &countingConn{Conn: c}
}

// hostSh runs script as root inside h and returns its output.
func hostSh(t *testing.T, h *lab.Host, script string) string {
	t.Helper()
	out, err := h.Exec(context.Background(), script)
	if err != nil {
		t.Fatalf("%s: %s: %v\n%s", h.Name, script, err, out)
	}
	return strings.TrimSpace(string(out))
}

// margin is how much longer than its lock timeout an Acquire may take on a shared,
// noisy machine; a wait that ignores its deadline takes forever, not seconds more.
const margin = 20 * time.Second

// timedAcquire runs Acquire with a context that ends margin after o.Wait, and fails
// the test if Acquire was still going then.
func timedAcquire(t *testing.T, c transport.Conn, who string, o Options) (*Lock, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), o.Wait+margin)
	defer cancel()
	start := time.Now()
	lk, err := Acquire(ctx, c, "h1", holder(who), o)
	if d := time.Since(start); d > o.Wait+margin/2 {
		t.Errorf("Acquire for %s took %v with a lock timeout of %v (err %v)", who, d.Round(time.Millisecond), o.Wait, err)
	}
	return lk, err
}

// timedFirst is timedAcquire by way of First, as an apply takes its locks: the first
// step runs in a session of its own here (an apply runs the facts with it).
func timedFirst(t *testing.T, c transport.Conn, who string, o Options) (*Lock, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), o.Wait+margin)
	defer cancel()
	start := time.Now()
	h := holder(who)
	f, err := NewFirst(o, h, nil)
	if err != nil {
		return nil, err
	}
	f.Start = start
	got, _, err := transport.RunSections(ctx, c, []string{f.Command})
	if err != nil {
		return nil, err
	}
	f.Out = got[0]
	lk, err := AcquireLooked(ctx, c, "h1", h, o, f, nil)
	if d := time.Since(start); d > o.Wait+margin/2 {
		t.Errorf("Acquire for %s took %v with a lock timeout of %v (err %v)", who, d.Round(time.Millisecond), o.Wait, err)
	}
	return lk, err
}

// acquireWays are the two ways to take a lock: Acquire, and First then AcquireLooked.
var acquireWays = []struct {
	name    string
	acquire func(t *testing.T, c transport.Conn, who string, o Options) (*Lock, error)
}{{"acquire", timedAcquire}, {"first", timedFirst}}

// attemptsWithin bounds the commands one waiting Acquire may send: one look per poll
// (two when a stale lock is replaced) plus the setup.
func attemptsWithin(o Options) int64 {
	return 2*int64(o.Wait/o.Poll) + 6
}

// TestLabLockUnprivilegedAttacks: whatever labnosudo plants where the lock lived
// (/run/lock, world-writable) or where it lives now, two root applies still exclude
// each other, neither spins, and each returns within its lock timeout.
func TestLabLockUnprivilegedAttacks(t *testing.T) {
	l := lab.ForTest(t, lab.Options{Hosts: 1})
	h := l.Host("h1")
	mallory := labConn(t, l, h, lab.NoSudoUser)
	fake := `{"operator":"mallory@x","machine":"x","pid":1,"run":"m","since":"2026-01-01T00:00:00Z"}`
	for _, way := range acquireWays {
		for _, tc := range []struct {
			name, plant string
			made        bool // an earlier apply made the lock directory
		}{
			{"directory at the old path", "mkdir /run/lock/hostplan.lock", false},
			{"symlink to /dev/null at the old path", "ln -s /dev/null /run/lock/hostplan.lock", false},
			{"symlink to her own file at the old path", "printf '%s\\n' '" + fake + "' > ~/fake && ln -s ~/fake /run/lock/hostplan.lock", false},
			{"fifo at the old path", "mkfifo /run/lock/hostplan.lock", false},
			{"fake lock at the old path", "printf '%s\\n' '" + fake + "' > /run/lock/hostplan.lock", false},
			{"the lock directory made first", "mkdir -m 777 /run/hostplan", false},
			{"symlink as the lock directory", "ln -s /tmp /run/hostplan", false},
			{"directory at the new path", "mkdir /run/hostplan/lock", true},
			{"symlink at the new path", "ln -s /dev/null /run/hostplan/lock", true},
			{"fifo at the new path", "mkfifo /run/hostplan/lock", true},
		} {
			t.Run(way.name+"/"+tc.name, func(t *testing.T) {
				hostSh(t, h, "rm -rf /run/lock/hostplan.lock /run/hostplan ~labnosudo/fake")
				if tc.made {
					hostSh(t, h, "mkdir -m 700 /run/hostplan")
				}
				// The plant may be refused (permission denied): that is the defence.
				res, err := mallory.Run(context.Background(), tc.plant, nil)
				if err != nil {
					t.Fatal(err)
				}
				t.Logf("as %s: %s: exit %d %s", lab.NoSudoUser, tc.plant, res.ExitCode, strings.TrimSpace(string(res.Stderr)))

				o := Options{Wait: 3 * time.Second, Poll: 250 * time.Millisecond}
				alice := labConn(t, l, h, "root")
				a, err := way.acquire(t, alice, "alice", o)
				if err != nil {
					t.Fatalf("first apply could not lock (%d commands): %v", alice.runs.Load(), err)
				}
				if n := alice.runs.Load(); n > attemptsWithin(o) {
					t.Errorf("first Acquire sent %d commands within a %v lock timeout", n, o.Wait)
				}
				bob := labConn(t, l, h, "root")
				_, err = way.acquire(t, bob, "bob", o)
				var held *HeldError
				if !errors.As(err, &held) || held.By.Operator != "alice@bastion" {
					t.Errorf("second apply while alice holds the lock: %v", err)
				}
				if n := bob.runs.Load(); n > attemptsWithin(o) {
					t.Errorf("waiting Acquire sent %d commands within a %v lock timeout", n, o.Wait)
				}
				t.Logf("lock timeout %v, poll %v: first Acquire %d commands, second %d", o.Wait, o.Poll, alice.runs.Load(), bob.runs.Load())
				if err := a.Release(context.Background()); err != nil {
					t.Error(err)
				}
				if got := hostSh(t, h, "stat -c %F /dev/null"); got != "character special file" {
					t.Errorf("/dev/null is now a %s", got)
				}
			})
		}
	}
}

// TestLabLockDirTampered: a lock directory or lock file that a reviewer (root) left in
// a state hostplan did not make is refused at once, with the path and what is wrong,
// and left as it is.
func TestLabLockDirTampered(t *testing.T) {
	l := lab.ForTest(t, lab.Options{Hosts: 1})
	h := l.Host("h1")
	for _, way := range acquireWays {
		for _, tc := range []struct {
			name, setup string
			path        string // Options.Path; "" is the default
			want        string
		}{
			{"lock directory is a symlink", "mkdir -m 700 /root/elsewhere && ln -s /root/elsewhere /run/hostplan", "", "/run/hostplan: a symbolic link"},
			{"lock directory owned by another user", "mkdir -m 700 /run/hostplan && chown labnosudo /run/hostplan", "", "/run/hostplan: owned by uid "},
			{"lock directory open to others", "mkdir -m 1777 /run/hostplan", "", "/run/hostplan: mode 1777"},
			{"lock directory is a file", "touch /run/hostplan", "", "/run/hostplan: a regular file"},
			{"parent writable by others", "mkdir -m 1777 /srv/shared", "/srv/shared/hostplan/lock", "/srv/shared: mode 1777"},
			{"lock is a fifo", "mkdir -m 700 /run/hostplan && mkfifo /run/hostplan/lock", "", "/run/hostplan/lock: a fifo"},
			{"lock is a symlink to /dev/null", "mkdir -m 700 /run/hostplan && ln -s /dev/null /run/hostplan/lock", "", "/run/hostplan/lock: a symbolic link"},
			{"lock is a directory", "mkdir -m 700 /run/hostplan && mkdir /run/hostplan/lock", "", "/run/hostplan/lock: a directory"},
			{"lock owned by another user", "mkdir -m 700 /run/hostplan && echo '{}' > /run/hostplan/lock && chown labnosudo /run/hostplan/lock", "", "/run/hostplan/lock: owned by uid "},
		} {
			t.Run(way.name+"/"+tc.name, func(t *testing.T) {
				hostSh(t, h, "rm -rf /run/hostplan /root/elsewhere /srv/shared")
				hostSh(t, h, tc.setup)
				const look = "ls -ld /run/hostplan /run/hostplan/lock /srv/shared; ls -A /srv/shared /root/elsewhere; true"
				before := hostSh(t, h, look)
				o := Options{Path: tc.path, Wait: 3 * time.Second, Poll: 250 * time.Millisecond}
				c := labConn(t, l, h, "root")
				lk, err := way.acquire(t, c, "alice", o)
				if err == nil {
					lk.Release(context.Background())
					t.Fatal("Acquire took a lock in a tampered place")
				}
				if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "h1") {
					t.Errorf("error %q does not say %q", err, tc.want)
				}
				if n := c.runs.Load(); n > 4 {
					t.Errorf("a refusal took %d commands: it should not wait", n)
				}
				if after := hostSh(t, h, look); after != before {
					t.Errorf("refusing changed the host:\n%s\nbecame\n%s", before, after)
				}
			})
		}
	}
}

// TestLabLockAsLoginUser: a login without become locks in its own home (it cannot
// create entries in /run), and two such applies exclude each other.
func TestLabLockAsLoginUser(t *testing.T) {
	l := lab.ForTest(t, lab.Options{Hosts: 1})
	h := l.Host("h1")
	o := Options{Wait: time.Second, Poll: 250 * time.Millisecond}
	for _, way := range acquireWays {
		t.Run(way.name, func(t *testing.T) {
			hostSh(t, h, "rm -rf ~labnosudo/.hostplan")
			a, err := way.acquire(t, labConn(t, l, h, lab.NoSudoUser), "alice", o)
			if err != nil {
				t.Fatal(err)
			}
			if got := hostSh(t, h, "stat -c '%U %a %F' ~labnosudo/.hostplan ~labnosudo/.hostplan/lock"); got != "labnosudo 700 directory\nlabnosudo 600 regular file" {
				t.Errorf("login user's lock:\n%s", got)
			}
			var held *HeldError
			if _, err := way.acquire(t, labConn(t, l, h, lab.NoSudoUser), "bob", o); !errors.As(err, &held) {
				t.Errorf("second Acquire as the same login: %v", err)
			}
			if err := a.Release(context.Background()); err != nil {
				t.Fatal(err)
			}
			if got := hostSh(t, h, "ls -A ~labnosudo/.hostplan"); got != "" {
				t.Errorf("left in the lock directory: %q", got)
			}
		})
	}
}

// TestLabLockRefreshOverFiles: over SSH, as root and as a login user, the holder keeps
// its lock fresh through the SFTP session (no command, so no session per refresh)
// and on the host's clock: a short lease never runs out.
func TestLabLockRefreshOverFiles(t *testing.T) {
	l := lab.ForTest(t, lab.Options{Hosts: 1})
	h := l.Host("h1")
	for _, tc := range []struct{ user, lock string }{
		{"root", "/run/hostplan/lock"},
		{lab.NoSudoUser, "~" + lab.NoSudoUser + "/.hostplan/lock"},
	} {
		t.Run(tc.user, func(t *testing.T) {
			o := Options{Lease: 2 * time.Second}
			c := labConn(t, l, h, tc.user)
			// An apply has its file session open from the plan's reads. Starting it in
			// the first refresh took longer than that refresh's half lease (1 s here) on
			// a busy machine, and turned the refreshes to commands.
			if _, err := c.Stat(context.Background(), "/"); err != nil {
				t.Fatal(err)
			}
			a, err := timedAcquire(t, c, "alice", o)
			if err != nil {
				t.Fatal(err)
			}
			defer a.Release(context.Background())
			made := hostSh(t, h, "stat -c %Y "+tc.lock)
			runs := c.runs.Load()
			time.Sleep(3500 * time.Millisecond)
			if n := c.runs.Load() - runs; n != 0 {
				t.Errorf("the refreshes ran %d commands", n)
			}
			if now := hostSh(t, h, "stat -c %Y "+tc.lock); now <= made {
				t.Errorf("the lock's mtime stayed at %s (made at %s)", now, made)
			}
			var held *HeldError
			if _, err := timedAcquire(t, labConn(t, l, h, tc.user), "bob", o); !errors.As(err, &held) {
				t.Errorf("another apply while alice refreshes her lock: %v", err)
			}
		})
	}
}
