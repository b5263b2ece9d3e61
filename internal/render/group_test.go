package render

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hostplan/hostplan/internal/engine"
	"github.com/hostplan/hostplan/internal/golden"
	"github.com/hostplan/hostplan/internal/report"
	"github.com/hostplan/hostplan/tasks"
)

const policyOld = "apiVersion: audit.k8s.io/v1beta1\nkind: Policy\nrules:\n- level: Metadata\n"

// masterPlan is one master's plan in a fleet: the audit policy updated to policy, a
// log directory made, a token rotated (sensitive, the same everywhere), one resource
// already right.
func masterPlan(name, policy string) *engine.HostPlan {
	return &engine.HostPlan{Host: name, Steps: []*engine.Step{
		{Task: "audit", Type: "directory", Label: "/var/log/kubernetes", Change: &tasks.Change{Action: tasks.Create, Details: []string{"mode 0755"}}},
		{Task: "audit", Type: "file", Label: "/etc/kubernetes/audit-policy.yaml", Change: &tasks.Change{Action: tasks.Update,
			File: &tasks.FileChange{Path: "/etc/kubernetes/audit-policy.yaml", OldExists: true, NewExists: true, Old: []byte(policyOld), New: []byte(policy)}}},
		{Task: "audit", Type: "file", Label: "/etc/token", Change: &tasks.Change{Action: tasks.Update,
			File: &tasks.FileChange{Path: "/etc/token", OldExists: true, NewExists: true, Old: []byte("token=old\n"), New: []byte("token=new\n"), Sensitive: true}}},
		{Task: "audit", Type: "file", Label: "/etc/same", Change: &tasks.Change{Action: tasks.NoOp}},
	}}
}

const policyNew = "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n"

func fleetPlan(hosts ...*engine.HostPlan) *report.Plan {
	return report.FromPlan(&engine.Plan{Hosts: hosts}, report.Options{DiffContext: 3, ContentKey: bytes.Repeat([]byte{7}, 32)})
}

func humanPlan(p *report.Plan, perHost bool) string {
	var b bytes.Buffer
	(&Human{W: &b, PerHost: perHost}).Plan(p)
	return b.String()
}

func markdownPlan(t *testing.T, p *report.Plan, perHost bool) string {
	t.Helper()
	var b bytes.Buffer
	if err := Markdown(&b, p, perHost); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// The grouped views: identical plans once, with their hosts named; a host that differs,
// or failed differently, on its own.
func TestGroupedGolden(t *testing.T) {
	for _, tc := range []struct {
		name string
		plan *report.Plan
	}{
		{"identical", fleetPlan(masterPlan("m1", policyNew), masterPlan("m2", policyNew), masterPlan("m3", policyNew))},
		{"one-differs", fleetPlan(masterPlan("m1", policyNew), masterPlan("m2", policyNew+"- level: None\n"), masterPlan("m3", policyNew))},
		{"failed", fleetPlan(
			masterPlan("m1", policyNew),
			&engine.HostPlan{Host: "m2", Err: errors.New("dial m2:22: connection refused")},
			&engine.HostPlan{Host: "m3", Err: errors.New("dial m3:22: connection refused")},
			&engine.HostPlan{Host: "m4", Err: errors.New("ssh: handshake failed: EOF")},
			&engine.HostPlan{Host: "m5", Steps: []*engine.Step{{Task: "audit", Type: "file", Label: "/etc/x", Err: errors.New(`owner: user "app" does not exist on m5`)}}},
			&engine.HostPlan{Host: "m6", Steps: []*engine.Step{{Task: "audit", Type: "file", Label: "/etc/x", Err: errors.New(`owner: user "app" does not exist on m6`)}}},
			masterPlan("m7", policyNew),
		)},
	} {
		human := humanPlan(tc.plan, false)
		if strings.Contains(human, "token=") {
			t.Fatalf("%s: sensitive content in the grouped plan:\n%s", tc.name, human)
		}
		golden.Check(t, "grouped-"+tc.name+".golden", []byte(human))
		golden.Check(t, "grouped-"+tc.name+".md.golden", []byte(markdownPlan(t, tc.plan, false)))
		if got, want := lastLine(human), lastLine(humanPlan(tc.plan, true)); got != want {
			t.Errorf("%s: the summary %q differs from the per-host view's %q", tc.name, got, want)
		}
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	return lines[len(lines)-1]
}

// The per-host view shows every host's own plan, as plans were shown before groups.
func TestPerHost(t *testing.T) {
	p := fleetPlan(masterPlan("m1", policyNew), masterPlan("m2", policyNew), masterPlan("m3", policyNew))
	human := humanPlan(p, true)
	md := markdownPlan(t, p, true)
	for _, h := range []string{"m1", "m2", "m3"} {
		if !strings.Contains(human, "host "+h+": 3 to change, 1 unchanged\n") || !strings.Contains(human, "+++ "+h+":/etc/token (planned)") {
			t.Errorf("the per-host view does not show %s's plan:\n%s", h, human)
		}
		if !strings.Contains(md, "| `"+h+"` | 3 | 1 | changes |") || !strings.Contains(md, "<b>"+h+"</b>: 3 to change") {
			t.Errorf("the per-host Markdown does not show %s:\n%s", h, md)
		}
	}
	if strings.Contains(human+md, report.HostPlaceholder) {
		t.Errorf("the per-host view has a group's placeholder")
	}
}

// At fleet size an identical change is read once: 300 masters' plan is a few dozen
// lines, not 300 copies of it.
func TestGroupedFleet(t *testing.T) {
	var hosts []*engine.HostPlan
	for i := 1; i <= 300; i++ {
		hosts = append(hosts, masterPlan(fmt.Sprintf("m%d", i), policyNew))
	}
	if n := strings.Count(humanPlan(fleetPlan(hosts...), false), "\n"); n > 30 {
		t.Errorf("the grouped plan of 300 identical hosts has %d lines", n)
	}
	hosts[149] = masterPlan("m150", policyNew+"- level: None\n")
	p := fleetPlan(hosts...)
	human := humanPlan(p, false)
	if n := strings.Count(human, "\n"); n > 60 {
		t.Errorf("the grouped plan of 300 hosts has %d lines", n)
	}
	if n := strings.Count(humanPlan(p, true), "\n"); n < 300*10 {
		t.Errorf("the per-host plan of 300 hosts has only %d lines", n)
	}
	golden.Check(t, "grouped-fleet.golden", []byte(human))
	md := markdownPlan(t, p, false)
	if n := strings.Count(md, "\n"); n > 80 {
		t.Errorf("the grouped Markdown of 300 hosts has %d lines", n)
	}
}

func TestHostList(t *testing.T) {
	seq := func(format string, from, to int) []string {
		var out []string
		for i := from; i <= to; i++ {
			out = append(out, fmt.Sprintf(format, i))
		}
		return out
	}
	cat := func(lists ...[]string) []string {
		var out []string
		for _, l := range lists {
			out = append(out, l...)
		}
		return out
	}
	for _, tc := range []struct {
		names []string
		want  string
	}{
		{[]string{"m1"}, "m1"},
		{seq("m%d", 1, 10), "m1, m2, m3, m4, m5, m6, m7, m8, m9, m10"}, // short lists in full
		{seq("m%d", 1, 300), "m[1:300]"},
		{seq("web%02d", 1, 20), "web[01:20]"},
		{seq("m%d.example.org", 8, 30), "m[8:30].example.org"},
		{cat(seq("a%d", 1, 5), []string{"db", "x7", "x9"}, seq("c%d", 1, 3)), "a[1:5], db, x7, x9, c[1:3]"},
		{cat(seq("web%d", 9, 10), seq("web%03d", 11, 20)), "web9, web10, web[011:020]"},
		{everyOther(seq("m%d", 1, 60)), "m1, m3, m5, m7, m9, m11, m13, m15, m17, m19 and 20 more"},
	} {
		if got := hostList(tc.names); got != tc.want {
			t.Errorf("hostList(%q) = %q, want %q", tc.names, got, tc.want)
		}
	}
}

func everyOther(names []string) []string {
	var out []string
	for i := 0; i < len(names); i += 2 {
		out = append(out, names[i])
	}
	return out
}

// A fleet of clusters rolled per cluster: the plan names each cluster's hosts and
// changes once per cluster, the apply says per cluster what happened.
func TestPerClusterGolden(t *testing.T) {
	var hosts []*engine.HostPlan
	var groups []engine.RolloutGroup
	for c := 1; c <= 3; c++ {
		g := engine.RolloutGroup{Key: fmt.Sprintf("prod-%d", c)}
		for m := 1; m <= 3; m++ {
			name := fmt.Sprintf("c%d-m%d", c, m)
			hosts = append(hosts, masterPlan(name, policyNew))
			g.Hosts = append(g.Hosts, name)
		}
		groups = append(groups, g)
	}
	p := report.FromPlan(&engine.Plan{Hosts: hosts, Rollouts: []engine.Rollout{
		{Task: "audit", Serial: "1", Gate: "kube-apiserver on each master", Per: "host.vars.cluster", Groups: groups, MaxFailPercent: -1},
	}}, report.Options{DiffContext: 3, ContentKey: bytes.Repeat([]byte{7}, 32)})
	golden.Check(t, "per-cluster-plan.golden", []byte(humanPlan(p, false)))
	golden.Check(t, "per-cluster-plan.md.golden", []byte(markdownPlan(t, p, false)))

	at := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	res := &engine.ApplyResult{Groups: []*engine.GroupResult{
		{Task: "audit", Key: "prod-1", Hosts: groups[0].Hosts, Start: at, End: at.Add(19 * time.Second)},
		{Task: "audit", Key: "prod-2", Hosts: groups[1].Hosts, Failed: []string{"c2-m1"}, NotChanged: []string{"c2-m2", "c2-m3"},
			Start: at, End: at.Add(11 * time.Second), Stopped: "c2-m1 failed"},
		{Task: "audit", Key: "prod-3", Hosts: groups[2].Hosts, Start: at, End: at.Add(21 * time.Second)},
	}}
	var b bytes.Buffer
	(&Human{W: &b}).Apply(report.FromApply(p, res, report.Options{}))
	golden.Check(t, "per-cluster-apply.golden", b.Bytes())
}
