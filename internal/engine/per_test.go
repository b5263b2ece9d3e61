package engine_test

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/hostplan/hostplan/internal/engine"
)

// threeClusters is six hosts, two in each of the groups ca, cb and cc.
var threeClusters = []string{"h1:ca", "h2:ca", "h3:cb", "h4:cb", "h5:cc", "h6:cc"}

// perPlan rolls task "roll" one host at a time per cluster; the rendezvous lets through
// only hosts that run at the same time, and task "after" follows.
func perPlan(extra string) string {
	return fmt.Sprintf(`
task "roll" {
  on     = ["all"]
  serial = 1
  per    = [for g in host.groups : g if g != "all"][0]
  %s
  command "meet" {
    run     = "rendezvous"
    creates = "/etc/rolled"
  }
  command "deploy" { run = "deploy ${host.name}" }
  file "/etc/rolled" { content = "rolled\n" }
}
task "after" {
  on = ["all"]
  file "/etc/after" { content = "after\n" }
}
`, extra)
}

// TestPerClustersRollSideBySide: with per, serial batches form within each cluster and
// the clusters roll at the same time: the first hosts of the three clusters meet, then
// the second ones.
func TestPerClustersRollSideBySide(t *testing.T) {
	f := newFleet(t)
	f.rv = newRendezvous([]int{3, 3})
	h := newHarness(t, f, runSpec{hosts: threeClusters, plan: perPlan("")})
	p, res := h.run()
	if !res.OK() {
		t.Fatalf("apply failed: %+v %s", res.Summary(), res.Stopped)
	}
	if got, want := f.rv.joined(), [][]string{{"h1", "h3", "h5"}, {"h2", "h4", "h6"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("hosts met in batches %v, want %v", got, want)
	}
	want := []engine.RolloutGroup{{Key: "ca", Hosts: []string{"h1", "h2"}}, {Key: "cb", Hosts: []string{"h3", "h4"}}, {Key: "cc", Hosts: []string{"h5", "h6"}}}
	if len(p.Rollouts) != 1 || p.Rollouts[0].Per != `[for g in host.groups : g if g != "all"][0]` || !reflect.DeepEqual(p.Rollouts[0].Groups, want) {
		t.Errorf("Rollouts %+v, want per by cluster with groups %+v", p.Rollouts, want)
	}
	if len(res.Groups) != 3 {
		t.Fatalf("Groups %+v, want one result per cluster", res.Groups)
	}
	for i, g := range res.Groups {
		if g.Task != "roll" || g.Key != want[i].Key || !slices.Equal(g.Hosts, want[i].Hosts) || g.Stopped != "" || len(g.Failed) > 0 {
			t.Errorf("group %d: %+v", i, g)
		}
	}
	for _, host := range hostNames(6) {
		if spans := hostResult(t, res, host).Spans; len(spans) != 2 || spans[0].Task != "roll" || spans[0].End.Before(spans[0].Start) {
			t.Errorf("%s: spans %+v, want one per task", host, spans)
		}
	}
}

// TestPerFailureStopsItsCluster: a failed host stops its own cluster (the rest of it
// and its later tasks), not the others, unless max_fail_percentage is exceeded.
func TestPerFailureStopsItsCluster(t *testing.T) {
	for _, tc := range []struct {
		name, extra string
		stopped     string
		after       []string // hosts task "after" ran on; nil: not checked
	}{
		{"other clusters complete", "", "", []string{"h1", "h2", "h5", "h6"}},
		{"max_fail_percentage 50: one of three is within it", "max_fail_percentage = 50", "", []string{"h1", "h2", "h5", "h6"}},
		{"max_fail_percentage 0: every cluster stops", "max_fail_percentage = 0",
			`rollout of task "roll" stopped in every group: 1 of 3 groups failed (max_fail_percentage = 0); later tasks not run`, []string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFleet(t)
			f.failRun = map[string]bool{"deploy h3": true}
			h := newHarness(t, f, runSpec{hosts: threeClusters, plan: strings.Replace(perPlan(tc.extra), `run     = "rendezvous"`, `run     = "true"`, 1)})
			_, res := h.run()
			if res.Stopped != tc.stopped {
				t.Errorf("Stopped = %q\nwant      %q", res.Stopped, tc.stopped)
			}
			if res.OK() {
				t.Errorf("OK() with a failed host")
			}
			var cb *engine.GroupResult
			for _, g := range res.Groups {
				if g.Key == "cb" {
					cb = g
				}
			}
			if cb == nil || !slices.Equal(cb.Failed, []string{"h3"}) || !slices.Equal(cb.NotChanged, []string{"h4"}) || cb.Stopped != "h3 failed" {
				t.Errorf("cluster cb: %+v, want h3 failed, h4 not changed", cb)
			}
			if evs := h.events(h.applied("h4")); len(evs) > 0 {
				t.Errorf("h4 is in the failed cluster and must be untouched:%s", show(evs))
			}
			for _, host := range hostNames(6) {
				_, ran := f.file(host, "/etc/after")
				if ran != slices.Contains(tc.after, host) {
					t.Errorf("%s: task after ran: %v, want %v", host, ran, !ran)
				}
			}
			if tc.stopped == "" {
				for _, host := range []string{"h1", "h2", "h5", "h6"} {
					if got, _ := f.file(host, "/etc/rolled"); got != "rolled\n" {
						t.Errorf("%s: its cluster should have completed", host)
					}
				}
			}
		})
	}
}

// TestPerRunOnce: run_once with per runs on the first targeted host of each cluster.
func TestPerRunOnce(t *testing.T) {
	f := newFleet(t)
	h := newHarness(t, f, runSpec{hosts: threeClusters, limit: []string{"h1", "h2", "h4", "h5", "h6"}, plan: `
task "once" {
  on       = ["all"]
  run_once = true
  per      = [for g in host.groups : g if g != "all"][0]
  file "/etc/once" { content = "once\n" }
}
`})
	p, res := h.run()
	if !res.OK() {
		t.Fatalf("apply failed: %+v", res.Summary())
	}
	for _, host := range hostNames(6) {
		_, once := f.file(host, "/etc/once")
		if want := slices.Contains([]string{"h1", "h4", "h5"}, host); once != want {
			t.Errorf("%s: ran %v, want %v", host, once, want)
		}
	}
	want := []engine.RolloutGroup{{Key: "ca", Hosts: []string{"h1"}}, {Key: "cb", Hosts: []string{"h4"}}, {Key: "cc", Hosts: []string{"h5"}}}
	if len(p.Rollouts) != 1 || !reflect.DeepEqual(p.Rollouts[0].Groups, want) || p.Rollouts[0].RunOnce != "" {
		t.Errorf("Rollouts %+v, want groups %+v", p.Rollouts, want)
	}
}
