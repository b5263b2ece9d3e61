package engine_test

import (
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
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
