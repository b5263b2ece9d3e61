package report

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/hostplan/hostplan/internal/engine"
	"github.com/hostplan/hostplan/tasks"
)

// fleetHost plans one host: the same policy file everywhere, whose content is given.
func fleetHost(name, content string, sensitive bool) *engine.HostPlan {
	return &engine.HostPlan{Host: name, Steps: []*engine.Step{
		{Task: "audit", Type: "file", Label: "/etc/p", Change: &tasks.Change{Action: tasks.Update, Details: []string{"mode 0644 -> 0600"},
			File: &tasks.FileChange{Path: "/etc/p", OldExists: true, NewExists: true, Old: []byte("a\nb\n"), New: []byte(content), Sensitive: sensitive}}},
		{Task: "audit", Type: "file", Label: "/etc/same", Change: &tasks.Change{Action: tasks.NoOp}},
	}}
}

func groupNames(groups []HostGroup) []string {
	var out []string
	for _, g := range groups {
		out = append(out, strings.Join(g.Names, ","))
	}
	return out
}

func TestGroupHosts(t *testing.T) {
	p := &engine.Plan{Hosts: []*engine.HostPlan{
		fleetHost("m1", "a\nc\n", false),
		fleetHost("m2", "a\nc\n", false),
		fleetHost("m3", "a\nm3\n", false), // the host's name in the content is a change of its own
		fleetHost("m4", "a\nc\n", false),
		fleetHost("m10", "a\nc\n", false),
		{Host: "m5", Err: errors.New("dial m5:22: connection refused")},
		{Host: "m6", Err: errors.New("dial m6:22: connection refused")},
		{Host: "m7", Err: errors.New("dial m6:22: connection refused")}, // names another host
		{Host: "m8", Err: errors.New("dial m8.example.org:22: connection refused")},
	}}
	doc := FromPlan(p, Options{DiffContext: 3})
	groups := GroupHosts(doc.Hosts)
	want := []string{"m1,m2,m4,m10", "m3", "m5,m6", "m7", "m8"}
	if got := groupNames(groups); !slices.Equal(got, want) {
		t.Fatalf("groups %q, want %q", got, want)
	}
	g := groups[0].Host
	if d := g.Steps[0].Diff; !strings.HasPrefix(d, "--- <host>:/etc/p\n+++ <host>:/etc/p (planned)\n") {
		t.Errorf("a group's diff headers name the first host:\n%s", d)
	}
	if g.Steps[0].Before != nil || g.Steps[0].Fingerprint != "" {
		t.Errorf("a group's plan keeps the first host's file states: %+v", g.Steps[0])
	}
	if got := groups[2].Host.Error; got != "dial <host>:22: connection refused" {
		t.Errorf("a group's error %q", got)
	}
	if got := groups[1].Host; got.Name != "m3" || !strings.Contains(got.Steps[0].Diff, "+++ m3:/etc/p") {
		t.Errorf("a host on its own is shown as it is: %+v", got)
	}
	if doc.Hosts[0].Steps[0].Before == nil || !strings.Contains(doc.Hosts[0].Steps[0].Diff, "m1:") {
		t.Error("grouping changed the plan it grouped")
	}
	if got := groupNames(PerHost(doc.Hosts)); len(got) != len(doc.Hosts) {
		t.Errorf("PerHost: %q", got)
	}
}

// Two hosts group only when each step is the same: notes, resources, actions, details,
// and for masked sensitive content the digests too.
func TestGroupHostsExact(t *testing.T) {
	base := func(name string) *engine.HostPlan { return fleetHost(name, "a\nc\n", false) }
	for _, tc := range []struct {
		name  string
		other func() *engine.HostPlan
	}{
		{"a note", func() *engine.HostPlan { h := base("m2"); h.Notes = []string{"took over a stale lock"}; return h }},
		{"an unchanged resource more", func() *engine.HostPlan {
			h := base("m2")
			h.Steps = append(h.Steps, &engine.Step{Task: "audit", Type: "file", Label: "/etc/more", Change: &tasks.Change{Action: tasks.NoOp}})
			return h
		}},
		{"another detail", func() *engine.HostPlan {
			h := base("m2")
			h.Steps[0].Change.Details = []string{"mode 0640 -> 0600"}
			return h
		}},
		{"another action", func() *engine.HostPlan { h := base("m2"); h.Steps[1].Change.Action = tasks.Run; return h }},
		{"a step error", func() *engine.HostPlan {
			h := base("m2")
			h.Steps[1].Change, h.Steps[1].Err = nil, errors.New("x")
			return h
		}},
	} {
		doc := FromPlan(&engine.Plan{Hosts: []*engine.HostPlan{base("m1"), tc.other()}}, Options{})
		if got := GroupHosts(doc.Hosts); len(got) != 2 {
			t.Errorf("%s: grouped %q", tc.name, groupNames(got))
		}
	}
	key := NewContentKey()
	secret := func(name, content string) *engine.HostPlan { return fleetHost(name, content, true) }
	doc := FromPlan(&engine.Plan{Hosts: []*engine.HostPlan{secret("m1", "a\nt1\n"), secret("m2", "a\nt2\n"), secret("m3", "a\nt1\n")}}, Options{ContentKey: key})
	if got := groupNames(GroupHosts(doc.Hosts)); !slices.Equal(got, []string{"m1,m3", "m2"}) {
		t.Errorf("sensitive changes with the same mask but other content grouped: %q", got)
	}
}

func TestTextPieces(t *testing.T) {
	for _, tc := range []struct{ s, name, want string }{
		{"dial m1:22", "m1", "dial |:22"},
		{"m1", "m1", "|"},
		{"m10 and cm1 and m1-a", "m1", "m10 and cm1 and m1-a"},
		{"m1.example.org, m1", "m1", "|.example.org, |"},
		{"unreachable", "a", "unreachable"},
		{"no name", "", "no name"},
	} {
		if got := strings.Join(textPieces(tc.s, tc.name), "|"); got != tc.want {
			t.Errorf("textPieces(%q, %q) = %q, want %q", tc.s, tc.name, got, tc.want)
		}
	}
}

// Only a diff's file headers lose the host's name: a content line that reads like a
// header is the change itself.
func TestDiffPieces(t *testing.T) {
	d := "--- m1:/etc/x\n+++ m1:/etc/x (planned)\n@@ -1,2 +1,2 @@\n--- m1:old\n+++ m1:new\n a\n"
	want := "--- |:/etc/x\n+++ |:/etc/x (planned)\n@@ -1,2 +1,2 @@\n--- m1:old\n+++ m1:new\n a\n"
	if got := strings.Join(diffPieces(d, "m1"), "|"); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	two := "--- m1:/a\n+++ m1:/a\n@@ -1 +1 @@\n-x\n+y\n--- m1:/b\n+++ /dev/null\n@@ -1 +0,0 @@\n-z\n"
	if got := strings.Count(strings.Join(diffPieces(two, "m1"), "|"), "|"); got != 3 {
		t.Errorf("%d headers of two files found, want 3", got)
	}
}

// A 300-host fleet with one change everywhere is one group.
func TestGroupHostsFleet(t *testing.T) {
	p := &engine.Plan{}
	for i := 1; i <= 300; i++ {
		p.Hosts = append(p.Hosts, fleetHost(fmt.Sprintf("h%d", i), "a\nc\n", false))
	}
	if got := GroupHosts(FromPlan(p, Options{}).Hosts); len(got) != 1 || len(got[0].Names) != 300 {
		t.Errorf("%d groups", len(got))
	}
}
