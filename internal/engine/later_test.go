package engine_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/hostplan/hostplan/internal/transport"
)

// TestLaterSaveAccounting: two tasks each change an allowlist of the same name, whose
// iptables rules are saved once per task; the second task's save fails. That task's
// step fails, the first task's stays changed (same address, other task), and every
// step is listed once.
func TestLaterSaveAccounting(t *testing.T) {
	const plan = `
task "a" {
  on = ["all"]
  allowlist "sc" {
    region = "cn-hangzhou"
    ports  = [6443]
    method = "iptables"
  }
}
task "b" {
  on = ["all"]
  allowlist "sc" {
    region = "cn-hangzhou"
    ports  = [6443, 16443]
    method = "iptables"
  }
  command "after" { run = "after" }
}
`
	f := newFleet(t)
	var saves atomic.Int32
	f.hook = func(host, op, arg string) error {
		if op == opRun && strings.Contains(arg, "{ iptables-save") && saves.Add(1) == 2 { // a save, not the plan's read
			return errors.New("connection lost")
		}
		return nil
	}
	p, res := newHarness(t, f, runSpec{hosts: []string{"h1"}, plan: plan}).run()
	if p.Summary().Changes != 3 {
		t.Fatalf("planned %+v, want 3 changes", p.Summary())
	}
	hr := hostResult(t, res, "h1")
	if want := []string{`allowlist "sc"`}; !slices.Equal(hr.Changed, want) || hr.Failed != `allowlist "sc"` ||
		!strings.Contains(hr.FailedErr.Error(), "connection lost") || !slices.Equal(hr.Skipped, []string{`command "after"`}) {
		t.Errorf("changed %q, failed %q (%v), skipped %q; want task a's allowlist changed, task b's failed on the save, the command after it skipped",
			hr.Changed, hr.Failed, hr.FailedErr, hr.Skipped)
	}
	if n := saves.Load(); n != 2 {
		t.Errorf("%d saves, want one per task", n)
	}
}

// TestLaterBatchesAccounting: a port forward's and an allowlist's iptables batches run
// as one iptables-restore after both steps; when it fails, the step whose lines it
// names fails, the steps before it stay changed (and are saved), those after it did
// nothing.
func TestLaterBatchesAccounting(t *testing.T) {
	const plan = `
task "fw" {
  on = ["all"]
  port_forward "api" {
    listen_port = 16443
    to_address  = "10.0.0.5"
    to_port     = 6443
    method      = "iptables"
  }
  allowlist "sc" {
    region = "cn-hangzhou"
    ports  = [6443]
    method = "iptables"
  }
  command "after" { run = "after" }
}
`
	const pf, al, after = `port_forward "api"`, `allowlist "sc"`, `command "after"`
	for _, tc := range []struct {
		name             string
		failIn           string // the step whose first line iptables-restore names
		changed, skipped []string
		failed           string
		wantSaves        int32
	}{
		{name: "all in", changed: []string{pf, al, after}, wantSaves: 1},
		{name: "allowlist's lines fail", failIn: al, changed: []string{pf}, failed: al, skipped: []string{after}, wantSaves: 1},
		{name: "port forward's lines fail", failIn: pf, failed: pf, skipped: []string{al, after}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFleet(t)
			// Forwarding is on already: the port forward's step is its rules alone.
			f.seed = map[string]string{"/etc/sysctl.d/90-hostplan-net.ipv4.ip_forward.conf": "# Managed by hostplan.\nnet.ipv4.ip_forward = 1\n"}
			var restores, saves atomic.Int32
			f.hook = func(host, op, arg string) error {
				if op == opRun && strings.Contains(arg, "{ iptables-save") {
					saves.Add(1)
				}
				return nil
			}
			f.answer = func(host, command string) (*transport.Result, bool) {
				if strings.Contains(command, "/proc/sys/net/ipv4/ip_forward") && strings.Contains(command, "awk") {
					return &transport.Result{Stdout: []byte("1\n--- files\n")}, true
				}
				_, input, ok := strings.Cut(command, "iptables-restore -w --noflush <<'HOSTPLAN_RESTORE_END'\n")
				if !ok {
					return nil, false
				}
				restores.Add(1)
				input, _, _ = strings.Cut(input, "\nHOSTPLAN_RESTORE_END")
				lines := strings.Split(input, "\n")
				first := slices.IndexFunc(lines, func(l string) bool { return strings.Contains(l, "HOSTPLAN-ALLOW") })
				var n int
				switch tc.failIn {
				case "":
					return &transport.Result{}, true
				case pf:
					n = 2
				case al:
					// The allowlist's table line comes just before its first rule.
					n = first
				}
				return &transport.Result{ExitCode: 1, Stdout: []byte(fmt.Sprintf("iptables-restore: line %d failed: Bad rule\n", n))}, true
			}
			_, res := newHarness(t, f, runSpec{hosts: []string{"h1"}, plan: plan}).run()
			hr := hostResult(t, res, "h1")
			if !slices.Equal(hr.Changed, tc.changed) || hr.Failed != tc.failed || !slices.Equal(hr.Skipped, tc.skipped) {
				t.Errorf("changed %q, failed %q (%v), skipped %q; want %q, %q, %q", hr.Changed, hr.Failed, hr.FailedErr, hr.Skipped, tc.changed, tc.failed, tc.skipped)
			}
			if tc.failed != "" && !strings.Contains(hr.FailedErr.Error(), "are "+tc.failed+"'s") {
				t.Errorf("the failure does not say whose lines failed: %v", hr.FailedErr)
			}
			if n := restores.Load(); n != 1 {
				t.Errorf("%d iptables-restore runs, want 1 for both steps", n)
			}
			if n := saves.Load(); n != tc.wantSaves {
				t.Errorf("%d saves, want %d", n, tc.wantSaves)
			}
		})
	}
}
