package transport

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hostplan/hostplan/internal/lab"
)

// Throttling by a real sshd daemon: MaxStartups drops connections beyond its count of
// unauthenticated ones before saying a word, MaxSessions refuses sessions beyond its
// count per connection. Both are waited out, never reported as failures.

// holdStartups opens n connections that never authenticate, so they count against
// sshd's MaxStartups. Closing them frees the slots.
func holdStartups(t *testing.T, h *lab.Host, n int) []net.Conn {
	t.Helper()
	var held []net.Conn
	for range n {
		c, err := h.StartLogin()
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	t.Cleanup(func() {
		for _, c := range held {
			c.Close()
		}
	})
	return held
}

// TestLabMaxStartups: while other clients fill sshd's MaxStartups, dials are dropped;
// hostplan retries them with pauses and connects once a slot frees. When none frees,
// the error says what happened. Not parallel: it shortens dropPauses.
func TestLabMaxStartups(t *testing.T) {
	l := lab.ForTest(t, lab.Options{Hosts: 1, Daemon: true, SSHDConfig: "MaxStartups 2\nLogLevel INFO\n"})
	h := l.Hosts[0]
	target := labTarget(l, h, "root")

	held := holdStartups(t, h, 2)
	saved := dropPauses
	dropPauses = []time.Duration{10 * time.Millisecond, 10 * time.Millisecond}
	_, err := newTestDialer(t, DialerOptions{}).Dial(context.Background(), target)
	dropPauses = saved
	var dropped *droppedError
	if !errors.As(err, &dropped) || dropped.said != "Exceeded MaxStartups" ||
		!strings.Contains(err.Error(), "gave up after 3 attempts") || !strings.Contains(err.Error(), "MaxStartups too low") {
		t.Fatalf("dial while MaxStartups is exhausted: %v", err)
	}

	// Other clients finish their logins while we retry.
	go func() {
		time.Sleep(300 * time.Millisecond)
		for _, c := range held {
			c.Close()
		}
	}()
	before := h.Connections()
	c := mustDial(t, newTestDialer(t, DialerOptions{}), target)
	if res, err := c.Run(context.Background(), "echo ok", nil); err != nil || string(res.Stdout) != "ok\n" {
		t.Fatalf("run after a throttled dial: %v", err)
	}
	attempts := h.Connections() - before
	if attempts < 2 {
		t.Errorf("the dial connected at once (%d attempt): MaxStartups did not throttle it", attempts)
	}
	t.Logf("error when no slot frees: %v", err)
	t.Logf("connected at attempt %d once the slots freed", attempts)
}

// TestLabMaxSessions: sshd allows 2 sessions per connection; 12 commands at once and a
// file read among them all succeed, the surplus waiting for a session to end.
func TestLabMaxSessions(t *testing.T) {
	t.Parallel()
	l := lab.ForTest(t, lab.Options{Hosts: 1, SSHDConfig: "MaxSessions 2\n"})
	h := l.Hosts[0]
	hostExec(t, h, "printf content > /srv/f")
	c := mustDial(t, newTestDialer(t, DialerOptions{MaxSessions: 4}), labTarget(l, h, "root"))
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 13)
	for i := range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := c.Run(ctx, fmt.Sprintf("sleep 0.1; echo %d", i), nil)
			if err == nil && string(res.Stdout) != fmt.Sprintf("%d\n", i) {
				err = fmt.Errorf("command %d printed %q", i, res.Stdout)
			}
			errs <- err
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		time.Sleep(50 * time.Millisecond) // the commands hold every session sshd allows
		b, err := c.ReadFile(ctx, "/srv/f")
		if err == nil && string(b) != "content" {
			err = fmt.Errorf("read %q", b)
		}
		errs <- err
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

// TestLabMaxSessionsOne: with one session per connection, files and commands cannot
// both be open; the error names the setting.
func TestLabMaxSessionsOne(t *testing.T) {
	t.Parallel()
	l := lab.ForTest(t, lab.Options{Hosts: 1, SSHDConfig: "MaxSessions 1\n"})
	h := l.Hosts[0]
	hostExec(t, h, "printf content > /srv/f")
	c := mustDial(t, newTestDialer(t, DialerOptions{}), labTarget(l, h, "root"))
	ctx := context.Background()
	if _, err := c.ReadFile(ctx, "/srv/f"); err != nil {
		t.Fatal(err)
	}
	_, err := c.Run(ctx, "true", nil)
	if err == nil || !strings.Contains(err.Error(), "MaxSessions 1") {
		t.Fatalf("a command beside the file session, with MaxSessions 1: %v", err)
	}
}

// TestRefusedPause: a refusal while the connection holds as many sessions as sshd ever
// granted it gives up after refusedPauses (sshd allows no more); one below that peak
// waits longer for sshd to free an ended session's slot, then gives up too.
func TestRefusedPause(t *testing.T) {
	for _, belowPeak := range []bool{false, true} {
		var total time.Duration
		n := 0
		for ; ; n++ {
			d, ok := refusedPause(n, belowPeak)
			if !ok {
				break
			}
			total += d
		}
		want := len(refusedPauses)
		if belowPeak {
			want += unfreedPauses
		}
		if n != want {
			t.Errorf("belowPeak %v: gave up after %d pauses (%v), want %d", belowPeak, n, total, want)
		}
		if belowPeak && total < 10*time.Second {
			t.Errorf("below the peak, the pauses add up to %v: too short for a loaded sshd", total)
		}
	}
}
