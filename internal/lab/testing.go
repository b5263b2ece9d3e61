package lab

import (
	"context"
	"os"
	"testing"
	"time"
)

// ForTest starts a lab for a test and stops it in t.Cleanup. It skips the test (with
// the reason) when labs cannot run here: not root, no CAP_SYS_ADMIN, or no OpenSSH
// server (sshd, sftp-server). With HOSTPLAN_LAB_REQUIRED=1 (as `make test` sets it) it
// fails instead, so CI cannot go green by skipping every integration test. When the test failed, the hosts' sshd logs are logged
// before the lab stops.
func ForTest(t testing.TB, opts Options) *Lab {
	t.Helper()
	if reason := Unavailable(); reason != "" {
		if os.Getenv("HOSTPLAN_LAB_REQUIRED") == "1" {
			t.Fatal("lab hosts unavailable and HOSTPLAN_LAB_REQUIRED=1: " + reason)
		}
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
