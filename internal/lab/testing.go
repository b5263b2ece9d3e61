package lab

import (
	"context"
	"testing"
	"time"
)

// ForTest starts a lab for a test and stops it in t.Cleanup. It skips the test (with
// the reason) when labs cannot run here: not root, no CAP_SYS_ADMIN, or sshd, nsenter,
// unshare, mount or ip missing. When the test failed, the hosts' sshd logs are logged
// before the lab stops.
func ForTest(t testing.TB, opts Options) *Lab {
	t.Helper()
	if reason := Unavailable(); reason != "" {
		t.Skip("lab hosts unavailable: " + reason)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	l, err := Start(ctx, opts)
	if err != nil {
		t.Fatalf("starting lab: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, h := range l.Hosts {
				if log := h.SSHLog(); log != "" {
					t.Logf("sshd log of lab host %s (%s:%d):\n%s", h.Name, h.Address, h.Port, log)
				} else {
					t.Logf("sshd log of lab host %s (%s:%d): empty", h.Name, h.Address, h.Port)
				}
			}
		}
		if err := l.Stop(); err != nil {
			t.Errorf("stopping lab: %v", err)
		}
	})
	return l
}
