// Package hostlock keeps two hostplan applies from changing one host at the same time.
// The lock is a file on the host, created atomically (O_EXCL through the shell's
// noclobber), holding who took it. Its holder refreshes the file's mtime while it runs,
// so a lock whose holder died (killed bastion, lost network) is recognised as stale once
// the lease has passed without a refresh, or at once when the holder was a process on
// this same machine that no longer exists.
package hostlock

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hostplan/hostplan/internal/transport"
)

// DefaultPath is where the lock lives: /run/lock is a tmpfs on systemd hosts, so a
// reboot (which ends any apply) also clears the lock.
const DefaultPath = "/run/lock/hostplan.lock"

// Holder says who holds a lock.
type Holder struct {
	Operator string    `json:"operator"` // user@machine
	Machine  string    `json:"machine"`  // the machine hostplan runs on
	PID      int       `json:"pid"`
	Run      string    `json:"run"`
	Since    time.Time `json:"since"`
}

func (h Holder) String() string {
	return fmt.Sprintf("%s (pid %d on %s, since %s)", h.Operator, h.PID, h.Machine, h.Since.Local().Format("2006-01-02 15:04:05"))
}

// Options tune Acquire.
type Options struct {
	Path string // default DefaultPath
	// Wait is how long to wait for a lock someone else holds (0: fail at once).
	Wait time.Duration
	// Lease is how long a lock may go without a refresh before it counts as stale
	// (default 2m); the holder refreshes it every Lease/4.
	Lease time.Duration
	// Poll is how often a waiting Acquire looks again (default 1s).
	Poll time.Duration
}

func (o *Options) defaults() {
	if o.Path == "" {
		o.Path = DefaultPath
	}
	if o.Lease <= 0 {
		o.Lease = 2 * time.Minute
	}
	if o.Poll <= 0 {
		o.Poll = time.Second
	}
}

// HeldError is returned when another holder keeps the lock past Options.Wait.
type HeldError struct {
	Host, Path string
	By         Holder
}

func (e *HeldError) Error() string {
	return fmt.Sprintf("%s is locked by %s: another hostplan apply is changing it (lock file %s). Wait for it with --lock-timeout, or remove the file if you are sure that run is gone",
		e.Host, e.By, e.Path)
}

// Lock is a held lock; Release it when done.
type Lock struct {
	conn    transport.Conn
	host    string
	path    string
	run     string
	content string
	// TookOver is set when a stale lock was replaced, naming its holder.
	TookOver *Holder

	stop     chan struct{}
	wg       sync.WaitGroup
	stopOnce sync.Once
	once     sync.Once
}

// Acquire takes the lock on the host behind conn for holder.
func Acquire(ctx context.Context, conn transport.Conn, host string, holder Holder, o Options) (*Lock, error) {
	o.defaults()
	b, err := json.Marshal(holder)
	if err != nil {
		return nil, err
	}
	content := string(b)
	deadline := time.Now().Add(o.Wait)
	var tookOver *Holder
	for {
		state, err := try(ctx, conn, o.Path, content)
		if err != nil {
			return nil, fmt.Errorf("lock %s on %s: %w", o.Path, host, err)
		}
		if state.gone {
			continue // released between our looks: try again at once
		}
		if state.acquired {
			l := &Lock{conn: conn, host: host, path: o.Path, content: content, run: holder.Run, TookOver: tookOver, stop: make(chan struct{})}
			trackRun(holder.Run, 1)
			l.refresh(o.Lease / 4)
			return l, nil
		}
		other, perr := parseHolder(state.content)
		if stale(other, perr, state.age, o.Lease) {
			// Remove exactly the stale file seen (not one a third run just made), then retry.
			if err := removeIf(ctx, conn, o.Path, state.content); err != nil {
				return nil, fmt.Errorf("remove stale lock %s on %s: %w", o.Path, host, err)
			}
			tookOver = &other
			continue
		}
		if time.Now().After(deadline) {
			return nil, &HeldError{Host: host, Path: o.Path, By: other}
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(o.Poll):
		}
	}
}

type tryState struct {
	acquired bool
	gone     bool          // the holder released it between our looks
	content  string        // the holder's, when not acquired
	age      time.Duration // since the holder's last refresh
}

// try creates the lock file if there is none, else reads it and its age, in one round
// trip. noclobber makes the shell open the file with O_EXCL.
func try(ctx context.Context, conn transport.Conn, path, content string) (tryState, error) {
	q := transport.ShellQuote(path)
	script := fmt.Sprintf(`mkdir -p "$(dirname %[1]s)" || exit 3
if (set -C; printf '%%s\n' %[2]s > %[1]s) 2>/dev/null; then echo acquired; exit 0; fi
c=$(cat %[1]s 2>/dev/null) && m=$(stat -c %%Y %[1]s 2>/dev/null) || { echo retry; exit 0; }
echo "held $(($(date +%%s) - m))"
printf '%%s\n' "$c"`, q, transport.ShellQuote(content))
	res, err := conn.Run(ctx, script, nil)
	if err != nil {
		return tryState{}, err
	}
	if res.ExitCode != 0 {
		return tryState{}, fmt.Errorf("exit %d: %s", res.ExitCode, strings.TrimSpace(string(res.Stderr)))
	}
	first, rest, _ := strings.Cut(string(res.Stdout), "\n")
	switch {
	case first == "acquired":
		return tryState{acquired: true}, nil
	case first == "retry":
		return tryState{gone: true}, nil
	case strings.HasPrefix(first, "held "):
		secs, err := strconv.Atoi(strings.TrimPrefix(first, "held "))
		if err != nil {
			return tryState{}, fmt.Errorf("unexpected output %q", res.Stdout)
		}
		return tryState{content: strings.TrimSuffix(rest, "\n"), age: time.Duration(secs) * time.Second}, nil
	}
	return tryState{}, fmt.Errorf("unexpected output %q", res.Stdout)
}

func parseHolder(content string) (Holder, error) {
	var h Holder
	err := json.Unmarshal([]byte(content), &h)
	return h, err
}

// liveRuns counts the locks each run of this process holds: a lock this process took
// for a run that holds none any more was left behind when its release failed (a cut
// connection), and is stale although its pid is alive.
var liveRuns = struct {
	sync.Mutex
	n map[string]int
}{n: map[string]int{}}

func trackRun(run string, delta int) {
	liveRuns.Lock()
	defer liveRuns.Unlock()
	if liveRuns.n[run] += delta; liveRuns.n[run] <= 0 {
		delete(liveRuns.n, run)
	}
}

// stale reports whether a lock's holder is gone: its lease ran out, or it was a process
// on this machine that no longer exists, or a finished run of this process. An
// unreadable lock counts as stale only after the lease, like any other.
func stale(h Holder, perr error, age, lease time.Duration) bool {
	if age > lease {
		return true
	}
	if perr != nil || h.PID <= 0 {
		return false
	}
	if me, err := os.Hostname(); err != nil || me != h.Machine {
		return false
	}
	if h.PID == os.Getpid() {
		liveRuns.Lock()
		defer liveRuns.Unlock()
		return liveRuns.n[h.Run] == 0
	}
	err := syscall.Kill(h.PID, 0)
	return errors.Is(err, syscall.ESRCH)
}

// removeIf removes path only while it still holds content.
func removeIf(ctx context.Context, conn transport.Conn, path, content string) error {
	q := transport.ShellQuote(path)
	res, err := conn.Run(ctx, fmt.Sprintf(`[ "$(cat %[1]s 2>/dev/null)" = %[2]s ] && rm -f %[1]s; exit 0`, q, transport.ShellQuote(content)), nil)
	if err != nil {
		return err
	}
	if res.ExitCode != 0 {
		return fmt.Errorf("exit %d: %s", res.ExitCode, strings.TrimSpace(string(res.Stderr)))
	}
	return nil
}

// refresh touches the lock every interval until Release, so it never looks stale while
// its holder lives.
func (l *Lock) refresh(interval time.Duration) {
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-l.stop:
				return
			case <-t.C:
				ctx, cancel := context.WithTimeout(context.Background(), interval)
				l.conn.Run(ctx, "touch -c -- "+transport.ShellQuote(l.path), nil)
				cancel()
			}
		}
	}()
}

// stopRefresh ends the refreshing; the lock file stays.
func (l *Lock) stopRefresh() {
	l.stopOnce.Do(func() {
		close(l.stop)
		l.wg.Wait()
	})
}

// Release removes the lock if it is still ours.
func (l *Lock) Release(ctx context.Context) error {
	var err error
	l.once.Do(func() {
		l.stopRefresh()
		err = removeIf(ctx, l.conn, l.path, l.content)
		trackRun(l.run, -1)
	})
	if err != nil {
		return fmt.Errorf("release lock %s on %s: %w", l.path, l.host, err)
	}
	return nil
}
