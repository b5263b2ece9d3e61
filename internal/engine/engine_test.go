package engine_test

// Unit tests of the engine's ordering, run_once, serial and stop rules, against the
// fake hosts of fake_test.go. Plans are real HCL loaded by internal/config, and the
// resources (directory, file, command) and the kube_apiserver gate are the real ones,
// so the fakes see the reads, writes and commands a real host would. Assertions are on
// the recorded order of calls and on the engine's values, never on durations.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hostplan/hostplan/internal/config"
	"github.com/hostplan/hostplan/internal/engine"
	"github.com/hostplan/hostplan/inventory"
)

const (
	manifestPath = "/etc/kubernetes/manifests/kube-apiserver.yaml"
	caPath       = "/etc/kubernetes/pki/ca.crt"
	// gateTimeout bounds a failing gate, which always waits it out; a passing gate
	// returns at its first check, which takes milliseconds.
	gateTimeout = "1s"
)

// manifest is a kubeadm-style static pod of the API server; the plans change maxAge.
func manifest(maxAge int) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: kube-apiserver
  namespace: kube-system
spec:
  hostNetwork: true
  containers:
  - name: kube-apiserver
    image: registry.k8s.io/kube-apiserver:v1.32.13
    command:
    - kube-apiserver
    - --secure-port=6443
    - --audit-log-maxage=%d
`, maxAge)
}

// runSpec is one run: the inventory's hosts, the run's targets and the plan.
type runSpec struct {
	hosts []string // "h1" or "h2:workers,db"; inventory order
	limit []string // the targeted hosts (--limit); nil: all of them
	plan  string   // main.hcl; kube-apiserver.yaml next to it holds manifest(7)
	opts  engine.Options
}

// harness is one engine over a fleet, with the run's context.
type harness struct {
	fleet  *fleet
	eng    *engine.Engine
	ctx    context.Context
	cancel context.CancelFunc
	// applyAt is the sequence number of the "apply" mark: events after it are Apply's.
	applyAt int
}

func newHarness(t *testing.T, f *fleet, s runSpec) *harness {
	t.Helper()
	planDir, invDir := t.TempDir(), t.TempDir()
	write(t, filepath.Join(planDir, "main.hcl"), s.plan)
	write(t, filepath.Join(planDir, "kube-apiserver.yaml"), manifest(7))
	var inv strings.Builder
	for i, spec := range s.hosts {
		name, groups, _ := strings.Cut(spec, ":")
		fmt.Fprintf(&inv, "host %q {\n  address = \"10.0.0.%d\"\n", name, i+1)
		if groups != "" {
			fmt.Fprintf(&inv, "  groups = [\"%s\"]\n", strings.ReplaceAll(groups, ",", `", "`))
		}
		inv.WriteString("}\n")
	}
	invPath := filepath.Join(invDir, "inventory.hcl")
	write(t, invPath, inv.String())

	plan, diags := config.Load(planDir, config.Inputs{})
	if diags.HasErrors() {
		t.Fatalf("load plan: %s", diags.Error())
	}
	in, diags := inventory.Load([]string{invPath})
	if diags.HasErrors() {
		t.Fatalf("load inventory: %s", diags.Error())
	}
	var targets []*engine.Target
	for _, h := range in.Hosts {
		if s.limit != nil && !slices.Contains(s.limit, h.Name) {
			continue
		}
		cs, err := in.Resolve(h, inventory.ResolveOptions{SSHConfig: "none", Home: invDir, LocalUser: "ops"})
		if err != nil {
			t.Fatal(err)
		}
		targets = append(targets, &engine.Target{Host: h, Conn: cs})
	}
	eng, diags := engine.New(plan, in, targets, f, s.opts)
	if diags.HasErrors() {
		t.Fatalf("engine.New: %s", diags.Error())
	}
	// The timeout only keeps a broken batching (a rendezvous nobody else joins) from
	// hanging the test; nothing asserts on it.
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	t.Cleanup(func() {
		cancel()
		eng.Close()
	})
	return &harness{fleet: f, eng: eng, ctx: ctx, cancel: cancel}
}

func write(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// run plans, marks the log and applies that plan, as `hostplan apply` does.
func (h *harness) run() (*engine.Plan, *engine.ApplyResult) {
	p := h.eng.Plan(h.ctx)
	h.applyAt = h.fleet.log.mark("apply")
	return p, h.eng.Apply(h.ctx, p)
}

// events returns the recorded calls that keep accepts.
func (h *harness) events(keep func(event) bool) []event {
	var out []event
	for _, e := range h.fleet.log.snapshot() {
		if e.Op != opMark && keep(e) {
			out = append(out, e)
		}
	}
	return out
}

// applied keeps the calls Apply made on host ("" for every host).
func (h *harness) applied(host string) func(event) bool {
	return func(e event) bool { return e.Seq > h.applyAt && (host == "" || e.Host == host) }
}

func onHost(host string) func(event) bool { return func(e event) bool { return e.Host == host } }

func and(fs ...func(event) bool) func(event) bool {
	return func(e event) bool {
		for _, f := range fs {
			if !f(e) {
				return false
			}
		}
		return true
	}
}

func mutation(e event) bool { return e.mutates() }

func show(evs []event) string {
	var b strings.Builder
	for _, e := range evs {
		b.WriteString("\n  " + e.String())
	}
	return b.String()
}

// calls is a compact form of events for comparisons: "write /etc/x".
func calls(evs []event) []string {
	out := make([]string, 0, len(evs))
	for _, e := range evs {
		out = append(out, e.Op+" "+e.Arg)
	}
	return out
}

func hostResult(t *testing.T, res *engine.ApplyResult, host string) *engine.HostResult {
	t.Helper()
	for _, hr := range res.Hosts {
		if hr.Host == host {
			return hr
		}
	}
	t.Fatalf("no result for host %s", host)
	return nil
}

func hostPlan(t *testing.T, p *engine.Plan, host string) *engine.HostPlan {
	t.Helper()
	for _, hp := range p.Hosts {
		if hp.Host == host {
			return hp
		}
	}
	t.Fatalf("no plan for host %s", host)
	return nil
}

func steps(hp *engine.HostPlan) []string {
	var out []string
	for _, st := range hp.Steps {
		out = append(out, st.Task+": "+st.Address())
	}
	return out
}

func hostNames(n int) []string {
	var out []string
	for i := 1; i <= n; i++ {
		out = append(out, fmt.Sprintf("h%d", i))
	}
	return out
}

// kubeFleet is a fleet of control-plane nodes whose API servers are healthy, with an
// /etc/app.conf for the plans to change.
func kubeFleet(t *testing.T) *fleet {
	f := newFleet(t)
	f.seed = map[string]string{
		manifestPath:    manifest(30),
		caPath:          string(f.api.caPEM),
		"/etc/app.conf": "v1\n",
	}
	return f
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// TestPlanThenApplyOrder: planning changes nothing; apply runs each host's resources in
// plan order, finishes a task on every host before the next task starts anywhere, and
// reuses the one connection per host that the plan opened.
func TestPlanThenApplyOrder(t *testing.T) {
	const plan = `
task "first" {
  on = ["all"]
  directory "/etc/app" { mode = "0750" }
  file "/etc/app/a.conf" {
    content = "a on ${host.name} (${host.facts.distro} ${host.facts.distro_version})\n"
    owner   = "www-data"
  }
  command "configure" { run = "configure ${host.name}" }
  file "/etc/app/c.conf" { content = "c\n" }
}
task "second" {
  on = ["all"]
  file "/etc/app/d.conf" { content = "d\n" }
}
`
	wantSteps := []string{
		`first: directory "/etc/app"`,
		`first: file "/etc/app/a.conf"`,
		`first: command "configure"`,
		`first: file "/etc/app/c.conf"`,
		`second: file "/etc/app/d.conf"`,
	}
	for _, tc := range []struct {
		name     string
		parallel int
	}{
		{"hosts in parallel", 0},
		{"one host at a time", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFleet(t)
			hosts := hostNames(3)
			h := newHarness(t, f, runSpec{hosts: hosts, plan: plan, opts: engine.Options{Parallel: tc.parallel}})

			p := h.eng.Plan(h.ctx)
			if ms := h.events(mutation); len(ms) > 0 {
				t.Fatalf("planning changed hosts:%s", show(ms))
			}
			if got := p.Summary(); got.Changes != 15 || got.FailedHosts != 0 {
				t.Fatalf("plan summary %+v, want 15 changes on 3 hosts", got)
			}
			for i, hp := range p.Hosts {
				if hp.Host != hosts[i] {
					t.Errorf("plan host %d is %s, want inventory order %v", i, hp.Host, hosts)
				}
				if got := steps(hp); !slices.Equal(got, wantSteps) {
					t.Errorf("%s: steps %q, want %q", hp.Host, got, wantSteps)
				}
			}
			for _, host := range hosts {
				evs := h.events(onHost(host))
				// Connect, gather facts, then read what the resources manage, in order.
				if len(evs) < 2 || evs[0].Op != opDial || evs[1].Arg != cmdFacts {
					t.Fatalf("%s: a plan must dial, then gather facts:%s", host, show(evs))
				}
				first := func(p string) int {
					return slices.IndexFunc(evs, func(e event) bool { return e.Arg == p })
				}
				order := []int{first("/etc/app"), first("/etc/app/a.conf"), first("/etc/app/c.conf"), first("/etc/app/d.conf")}
				if slices.Contains(order, -1) || !slices.IsSorted(order) {
					t.Errorf("%s: resources planned out of order:%s", host, show(evs))
				}
			}

			h.applyAt = f.log.mark("apply")
			res := h.eng.Apply(h.ctx, p)
			if !res.OK() {
				t.Fatalf("apply failed: %+v", res.Summary())
			}
			for _, host := range hosts {
				want := []string{
					"mkdir /etc/app",
					"write /etc/app/a.conf",
					"run configure " + host,
					"write /etc/app/c.conf",
					"write /etc/app/d.conf",
				}
				ms := h.events(and(h.applied(host), mutation))
				if got := calls(ms); !slices.Equal(got, want) {
					t.Errorf("%s: apply did %q, want %q", host, got, want)
				}
				hr := hostResult(t, res, host)
				if want := []string{`directory "/etc/app"`, `file "/etc/app/a.conf"`, `command "configure"`, `file "/etc/app/c.conf"`, `file "/etc/app/d.conf"`}; !slices.Equal(hr.Changed, want) {
					t.Errorf("%s: Changed %q, want %q", host, hr.Changed, want)
				}
				// Facts reached the resources: host.facts in content, the uid of a
				// user from the facts' passwd.
				if got, _ := f.file(host, "/etc/app/a.conf"); got != "a on "+host+" (debian 12)\n" {
					t.Errorf("%s: a.conf = %q", host, got)
				}
				for _, e := range ms {
					if e.Arg == "/etc/app/a.conf" && e.Attrs.UID != 33 {
						t.Errorf("%s: a.conf written with uid %d, want www-data's 33", host, e.Attrs.UID)
					}
				}
			}
			// Task "second" starts on no host before task "first" ended on every host.
			var lastFirst, firstSecond int
			for _, e := range h.events(and(h.applied(""), mutation)) {
				if e.Arg == "/etc/app/d.conf" {
					if firstSecond == 0 || e.Seq < firstSecond {
						firstSecond = e.Seq
					}
				} else {
					lastFirst = max(lastFirst, e.End)
				}
			}
			if firstSecond < lastFirst {
				t.Errorf("task second started (#%d) before task first ended everywhere (#%d):%s", firstSecond, lastFirst, show(h.events(h.applied(""))))
			}

			if err := h.eng.Close(); err != nil {
				t.Fatal(err)
			}
			for _, host := range hosts {
				evs := h.events(onHost(host))
				dials := slices.DeleteFunc(slices.Clone(evs), func(e event) bool { return e.Op != opDial })
				closes := slices.DeleteFunc(slices.Clone(evs), func(e event) bool { return e.Op != opClose })
				if len(dials) != 1 || len(closes) != 1 || evs[len(evs)-1].Op != opClose {
					t.Errorf("%s: want one connection for plan and apply, closed last:%s", host, show(evs))
				}
			}
		})
	}
}

// TestSerialBatches: serial splits the hosts with changes into batches in inventory
// order; the hosts of a batch run together (a rendezvous only they can pass), and a
// batch starts only after the previous one ended.
func TestSerialBatches(t *testing.T) {
	for _, tc := range []struct {
		name    string
		hosts   int
		serial  string // the attribute; "" for none
		done    []string
		batches [][]string
		rollout string // Rollout.Serial
	}{
		{"one at a time", 3, `serial = 1`, nil, [][]string{{"h1"}, {"h2"}, {"h3"}}, "1"},
		{"two at a time, the last batch smaller", 5, `serial = 2`, nil, [][]string{{"h1", "h2"}, {"h3", "h4"}, {"h5"}}, "2"},
		{"a percentage rounds down", 4, `serial = "50%"`, nil, [][]string{{"h1", "h2"}, {"h3", "h4"}}, "50%"},
		{"a percentage is at least one host", 3, `serial = "30%"`, nil, [][]string{{"h1"}, {"h2"}, {"h3"}}, "30%"},
		{"hosts without changes are not batched", 4, `serial = 2`, []string{"h2"}, [][]string{{"h1", "h3"}, {"h4"}}, "2"},
		{"without serial all hosts at once", 4, ``, nil, [][]string{{"h1", "h2", "h3", "h4"}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFleet(t)
			f.seedHost = map[string]map[string]string{}
			for _, h := range tc.done {
				f.seedHost[h] = map[string]string{"/etc/rolled": "rolled\n"}
			}
			var sizes []int
			for _, b := range tc.batches {
				sizes = append(sizes, len(b))
			}
			f.rv = newRendezvous(sizes)
			h := newHarness(t, f, runSpec{hosts: hostNames(tc.hosts), plan: fmt.Sprintf(`
task "roll" {
  on = ["all"]
  %s
  command "meet" {
    run     = "rendezvous"
    creates = "/etc/rolled"
  }
  file "/etc/rolled" { content = "rolled\n" }
}
`, tc.serial)})
			p, res := h.run()
			if !res.OK() {
				t.Fatalf("apply failed: %+v %s", res.Summary(), res.Stopped)
			}
			var want []engine.Rollout
			if tc.rollout != "" {
				want = []engine.Rollout{{Task: "roll", Serial: tc.rollout, MaxFailPercent: -1}}
			}
			if !reflect.DeepEqual(p.Rollouts, want) {
				t.Errorf("Rollouts %+v, want %+v", p.Rollouts, want)
			}
			if got := f.rv.joined(); fmt.Sprint(got) != fmt.Sprint(tc.batches) {
				t.Errorf("hosts met in batches %v, want %v", got, tc.batches)
			}
			for i := 1; i < len(tc.batches); i++ {
				prevEnd, nextStart := 0, -1
				for _, host := range tc.batches[i-1] {
					for _, e := range h.events(h.applied(host)) {
						prevEnd = max(prevEnd, e.End)
					}
				}
				for _, host := range tc.batches[i] {
					if evs := h.events(h.applied(host)); len(evs) > 0 && (nextStart < 0 || evs[0].Seq < nextStart) {
						nextStart = evs[0].Seq
					}
				}
				if nextStart < prevEnd {
					t.Errorf("batch %d started (#%d) before batch %d ended (#%d):%s", i+1, nextStart, i, prevEnd, show(h.events(h.applied(""))))
				}
			}
			for _, host := range tc.done {
				if ms := h.events(and(h.applied(host), mutation)); len(ms) > 0 {
					t.Errorf("%s had no changes but was changed:%s", host, show(ms))
				}
				if hr := hostResult(t, res, host); hr.Unchanged != 2 {
					t.Errorf("%s: Unchanged = %d, want 2", host, hr.Unchanged)
				}
			}
			for _, host := range hostNames(tc.hosts) {
				if got, _ := f.file(host, "/etc/rolled"); got != "rolled\n" {
					t.Errorf("%s: /etc/rolled = %q", host, got)
				}
			}
		})
	}
}

// TestRunOnce: a run_once task is planned and applied on the first targeted host of
// its targets only; the other hosts never see its resources, and other tasks run on
// every host.
func TestRunOnce(t *testing.T) {
	for _, tc := range []struct {
		name  string
		hosts []string
		limit []string
		on    string
		want  string
	}{
		{"the first host of the task", hostNames(3), nil, `["all"]`, "h1"},
		{"the first targeted host under --limit", hostNames(3), []string{"h2", "h3"}, `["all"]`, "h2"},
		{"the first host of the task's group", []string{"h1", "h2:workers", "h3:workers"}, nil, `["workers"]`, "h2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFleet(t)
			h := newHarness(t, f, runSpec{hosts: tc.hosts, limit: tc.limit, plan: fmt.Sprintf(`
task "once" {
  on       = %s
  run_once = true
  file "/etc/once" { content = "once\n" }
  command "note" { run = "note ${host.name}" }
}
task "everywhere" {
  on = ["all"]
  file "/etc/everywhere" { content = "all\n" }
}
`, tc.on)})
			p, res := h.run()
			if !res.OK() {
				t.Fatalf("apply failed: %+v %s", res.Summary(), res.Stopped)
			}
			if want := []engine.Rollout{{Task: "once", RunOnce: tc.want, MaxFailPercent: -1}}; !reflect.DeepEqual(p.Rollouts, want) {
				t.Errorf("Rollouts %+v, want %+v", p.Rollouts, want)
			}
			for _, spec := range tc.hosts {
				host, _, _ := strings.Cut(spec, ":")
				targeted := tc.limit == nil || slices.Contains(tc.limit, host)
				if !targeted {
					if evs := h.events(onHost(host)); len(evs) > 0 {
						t.Errorf("%s is not targeted but was contacted:%s", host, show(evs))
					}
					continue
				}
				_, once := f.file(host, "/etc/once")
				ran := len(h.events(func(e event) bool { return e.Host == host && e.Arg == "note "+host })) > 0
				if once != (host == tc.want) || ran != (host == tc.want) {
					t.Errorf("%s: /etc/once written %v, note ran %v; only %s should run the task", host, once, ran, tc.want)
				}
				if host != tc.want {
					if evs := h.events(func(e event) bool { return e.Host == host && e.Arg == "/etc/once" }); len(evs) > 0 {
						t.Errorf("%s planned the run_once task's file:%s", host, show(evs))
					}
					if got := steps(hostPlan(t, p, host)); !slices.Equal(got, []string{`everywhere: file "/etc/everywhere"`}) {
						t.Errorf("%s: steps %q", host, got)
					}
				}
				if got, _ := f.file(host, "/etc/everywhere"); got != "all\n" {
					t.Errorf("%s: /etc/everywhere = %q", host, got)
				}
			}
		})
	}
}

// stopPlan changes the API server's manifest and an app file, then runs a command, in a
// task that may roll or be gated; a later task writes /etc/after.
func stopPlan(serial string, gated bool) string {
	health := ""
	if gated {
		health = fmt.Sprintf(`health "kube_apiserver" { timeout = %q }`, gateTimeout)
	}
	return fmt.Sprintf(`
task "roll" {
  on = ["all"]
  %s
  %s
  file %q { source = "kube-apiserver.yaml" }
  file "/etc/app.conf" { content = "v2 on ${host.name}\n" }
  command "deploy" { run = "deploy ${host.name}" }
}
task "after" {
  on = ["all"]
  file "/etc/after" { content = "after\n" }
}
`, serial, health, manifestPath)
}

var (
	rollSteps     = []string{`file "` + manifestPath + `"`, `file "/etc/app.conf"`, `command "deploy"`}
	restoredSteps = []string{`file "/etc/app.conf"`, `file "` + manifestPath + `"`} // reverse order
	notRestored   = []string{`command "deploy"`}
)

// TestStopRules: a failure in a rolling or gated task rolls the host back (when gated)
// and stops the rollout: hosts of later batches and later tasks are not touched; a
// failure in a plain task stops only that host.
func TestStopRules(t *testing.T) {
	for _, tc := range []struct {
		name       string
		hosts      int
		serial     string
		gated      bool
		noRollback bool
		fail       []string          // hosts whose command exits 1
		crash      []string          // hosts whose API server does not come back on the new manifest
		wantErr    map[string]string // failed host -> a piece of its error
		rolled     []string          // hosts task "roll" changed
		restored   []string          // of those, hosts put back as they were
		after      []string          // hosts task "after" ran on
		stopped    string
	}{
		{
			name: "serial 1: a failed step stops the hosts after it and later tasks", hosts: 3, serial: `serial = 1`,
			fail: []string{"h2"}, wantErr: map[string]string{"h2": `command "deploy" exited 1`},
			rolled:  []string{"h1", "h2"},
			stopped: `rollout of task "roll" stopped: h2 failed; not changed: h3; later tasks not run`,
		},
		{
			name: "serial 2: the failed host's batch finishes, later batches do not start", hosts: 4, serial: `serial = 2`,
			fail: []string{"h1"}, wantErr: map[string]string{"h1": `command "deploy" exited 1`},
			rolled:  []string{"h1", "h2"},
			stopped: `rollout of task "roll" stopped: h1 failed; not changed: h3, h4; later tasks not run`,
		},
		{
			name: "not rolling: only the failed host stops", hosts: 3,
			fail: []string{"h2"}, wantErr: map[string]string{"h2": `command "deploy" exited 1`},
			rolled: []string{"h1", "h2", "h3"}, after: []string{"h1", "h3"},
		},
		{
			name: "gated: a failed step is rolled back and later tasks do not run", hosts: 3, gated: true,
			fail: []string{"h2"}, wantErr: map[string]string{"h2": `command "deploy" exited 1`},
			rolled: []string{"h1", "h2", "h3"}, restored: []string{"h2"},
			stopped: `rollout of task "roll" stopped: h2 failed; later tasks not run`,
		},
		{
			name: "gated serial 1: a server that does not come back is rolled back", hosts: 3, serial: `serial = 1`, gated: true,
			crash: []string{"h2"}, wantErr: map[string]string{"h2": "no kube-apiserver process is running"},
			rolled: []string{"h1", "h2"}, restored: []string{"h2"},
			stopped: `rollout of task "roll" stopped: h2 failed; not changed: h3; later tasks not run`,
		},
		{
			name: "gated serial 1, --no-rollback: left as it is, still stopped", hosts: 3, serial: `serial = 1`, gated: true, noRollback: true,
			crash: []string{"h1"}, wantErr: map[string]string{"h1": "no kube-apiserver process is running"},
			rolled:  []string{"h1"},
			stopped: `rollout of task "roll" stopped: h1 failed; not changed: h2, h3; later tasks not run`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := kubeFleet(t)
			f.failRun, f.crash = map[string]bool{}, map[string]bool{}
			for _, host := range tc.fail {
				f.failRun["deploy "+host] = true
			}
			for _, host := range tc.crash {
				f.crash[host] = true
			}
			h := newHarness(t, f, runSpec{hosts: hostNames(tc.hosts), plan: stopPlan(tc.serial, tc.gated), opts: engine.Options{NoRollback: tc.noRollback}})
			_, res := h.run()
			if res.Stopped != tc.stopped {
				t.Errorf("Stopped = %q\nwant      %q", res.Stopped, tc.stopped)
			}
			if res.OK() {
				t.Errorf("OK() with a failed host")
			}
			for _, host := range hostNames(tc.hosts) {
				hr := hostResult(t, res, host)
				rolled := slices.Contains(tc.rolled, host)
				ms := h.events(and(h.applied(host), mutation))
				if !rolled {
					// Untouched: not even a read of what the rollout would change.
					if evs := h.events(h.applied(host)); len(evs) > 0 {
						t.Errorf("%s should be untouched:%s", host, show(evs))
					}
					if want := append(slices.Clone(rollSteps), `file "/etc/after"`); !slices.Equal(hr.Skipped, want) {
						t.Errorf("%s: Skipped %q, want %q", host, hr.Skipped, want)
					}
					continue
				}
				if !slices.ContainsFunc(ms, func(e event) bool { return e.Op == opWrite && e.Arg == manifestPath }) {
					t.Errorf("%s: the rollout did not change it:%s", host, show(ms))
				}
				_, after := f.file(host, "/etc/after")
				if after != slices.Contains(tc.after, host) {
					t.Errorf("%s: task after ran: %v, want %v", host, after, !after)
				}
				wantManifest, wantApp := manifest(7), "v2 on "+host+"\n"
				if slices.Contains(tc.restored, host) {
					wantManifest, wantApp = manifest(30), "v1\n"
				}
				if got, _ := f.file(host, manifestPath); got != wantManifest {
					t.Errorf("%s: manifest is\n%s\nwant\n%s", host, got, wantManifest)
				}
				if got, _ := f.file(host, "/etc/app.conf"); got != wantApp {
					t.Errorf("%s: /etc/app.conf = %q, want %q", host, got, wantApp)
				}

				want, failed := tc.wantErr[host]
				var gateErr error
				if len(hr.Health) > 0 {
					gateErr = hr.Health[0].Err
				}
				if got := errText(errors.Join(hr.FailedErr, gateErr)); failed && !strings.Contains(got, want) || !failed && got != "" {
					t.Errorf("%s: error %q, want one with %q", host, got, want)
				}
				if !tc.gated {
					if len(hr.Health) > 0 {
						t.Errorf("%s: a task without a gate has health checks %+v", host, hr.Health)
					}
					continue
				}
				if len(hr.Health) != 1 {
					t.Fatalf("%s: Health %+v, want the gate of task roll", host, hr.Health)
				}
				hc := hr.Health[0]
				switch {
				case !failed:
					// The manifest changed, so the server had to be a new process.
					if hc.Err != nil || !hc.Restarted || hc.Rollback != nil {
						t.Errorf("%s: gate %+v, want passed after a restart", host, hc)
					}
				case slices.Contains(tc.fail, host) && hc.Err.Error() != "not checked: a change failed":
					t.Errorf("%s: gate error %q after a failed step", host, hc.Err)
				case tc.noRollback:
					if hc.Rollback == nil || !hc.Rollback.Disabled || len(hc.Rollback.Restored) > 0 {
						t.Errorf("%s: rollback %+v, want disabled", host, hc.Rollback)
					}
				default:
					rb := hc.Rollback
					if rb == nil || !slices.Equal(rb.Restored, restoredSteps) || !slices.Equal(rb.NotRestored, notRestored) || rb.Err != nil {
						t.Fatalf("%s: rollback %+v, want restored %q (reverse order), not restored %q", host, rb, restoredSteps, notRestored)
					}
					if !rb.Healthy || rb.HealthErr != nil {
						t.Errorf("%s: not healthy after the rollback: %v", host, rb.HealthErr)
					}
					// Restores run newest first: the app file before the manifest.
					ws := slices.DeleteFunc(slices.Clone(ms), func(e event) bool { return e.Op != opWrite })
					if got := calls(ws[len(ws)-2:]); !slices.Equal(got, []string{"write /etc/app.conf", "write " + manifestPath}) {
						t.Errorf("%s: restored in the order %q:%s", host, got, show(ms))
					}
				}
			}
		})
	}
}

// TestUnreachableHost: a host that cannot be planned (no connection, no facts) is
// reported and left alone; the other hosts are planned and applied, and it stops no
// rollout, since it never joins one.
func TestUnreachableHost(t *testing.T) {
	for _, tc := range []struct {
		name    string
		serial  string
		dialErr error
		factsOK bool
		wantErr string
	}{
		{"dial fails", ``, errors.New("dial tcp 10.0.0.2:22: connect: no route to host"), true, "no route to host"},
		{"facts fail", ``, nil, false, "gather facts: exit 1: uname: Permission denied"},
		{"dial fails in a rolling task", `serial = 1`, errors.New("ssh: handshake failed: host key mismatch"), true, "host key mismatch"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFleet(t)
			f.dialErr = map[string]error{"h2": tc.dialErr}
			f.factsErr = map[string]bool{"h2": !tc.factsOK}
			h := newHarness(t, f, runSpec{hosts: hostNames(3), plan: fmt.Sprintf(`
task "conf" {
  on = ["all"]
  %s
  file "/etc/app.conf" { content = "v2\n" }
}
`, tc.serial)})
			p, res := h.run()
			if hp := hostPlan(t, p, "h2"); !strings.Contains(errText(hp.Err), tc.wantErr) || len(hp.Steps) > 0 {
				t.Errorf("h2 plan: err %v, steps %q; want %q and no steps", hp.Err, steps(hp), tc.wantErr)
			}
			if s := p.Summary(); s.FailedHosts != 1 || s.Changes != 2 {
				t.Errorf("plan summary %+v, want 1 failed host and 2 changes", s)
			}
			hr := hostResult(t, res, "h2")
			if got := errText(hr.Err); !strings.HasPrefix(got, "not applied: ") || !strings.Contains(got, tc.wantErr) {
				t.Errorf("h2 result error %q", got)
			}
			if evs := h.events(h.applied("h2")); len(evs) > 0 {
				t.Errorf("h2 was contacted again by apply:%s", show(evs))
			}
			if !tc.factsOK {
				// The connection that could not gather facts is not left open.
				if evs := h.events(onHost("h2")); evs[len(evs)-1].Op != opClose {
					t.Errorf("h2's connection was not closed after the facts failed:%s", show(evs))
				}
			}
			for _, host := range []string{"h1", "h3"} {
				if got, _ := f.file(host, "/etc/app.conf"); got != "v2\n" {
					t.Errorf("%s was not applied: %q", host, got)
				}
			}
			if res.Stopped != "" || res.OK() || res.Summary() != (engine.ApplySummary{Changed: 2, Failed: 1}) {
				t.Errorf("apply: stopped %q, summary %+v; want not stopped, 2 changed, 1 failed", res.Stopped, res.Summary())
			}
		})
	}
}

// interrupted runs a gated rollout (serial 1, h1 then h2) and cancels the run's
// context during the first call on host that trigger picks, as Ctrl-C does; that call
// fails with the context's error. It returns the sequence number of the interrupt.
func interrupted(t *testing.T, host string, trigger func(op, arg string, seen []string) bool) (*harness, *engine.ApplyResult, int) {
	t.Helper()
	f := kubeFleet(t)
	var h *harness
	var mu sync.Mutex
	var seen []string // h's calls in the apply so far
	at := 0
	f.hook = func(name, op, arg string) error {
		mu.Lock()
		defer mu.Unlock()
		if name != host || h.applyAt == 0 || at != 0 {
			return nil
		}
		if !trigger(op, arg, seen) {
			seen = append(seen, arg)
			return nil
		}
		at = f.log.mark("interrupt")
		h.cancel() // the step's context ends with the run's
		return fmt.Errorf("%s %s: %w", op, arg, context.Canceled)
	}
	h = newHarness(t, f, runSpec{hosts: hostNames(2), plan: stopPlan(`serial = 1`, true)})
	p := h.eng.Plan(h.ctx)
	if p.Summary().FailedHosts > 0 {
		t.Fatalf("plan failed: %+v", p.Hosts)
	}
	h.applyAt = f.log.mark("apply")
	res := h.eng.Apply(h.ctx, p)
	mu.Lock()
	defer mu.Unlock()
	if at == 0 {
		t.Fatalf("the run was never interrupted:%s", show(h.events(h.applied(""))))
	}
	return h, res, at
}

// callIs triggers on the first call op arg.
func callIs(op, arg string) func(string, string, []string) bool {
	return func(o, a string, _ []string) bool { return o == op && a == arg }
}

// gateAfterDeploy triggers on the gate's first look at the processes after the
// command ran, that is, while the gate waits for the changed server.
func gateAfterDeploy(host string) func(string, string, []string) bool {
	return func(op, arg string, seen []string) bool {
		return op == opRun && arg == cmdPS && slices.Contains(seen, "deploy "+host)
	}
}

// TestInterruptRollsBack: when the run's context ends during a step of a gated task, or
// while its gate waits, the host's changed files still go back (on a context of the
// engine's own: the fakes refuse calls on an ended context), the gate is not waited
// for again, and the rollout stops.
func TestInterruptRollsBack(t *testing.T) {
	for _, tc := range []struct {
		name        string
		trigger     func(op, arg string, seen []string) bool
		failed      string // the step that failed ("" when all steps were done)
		skipped     []string
		notRestored []string
		gateErr     string
	}{
		{"during a command", callIs(opRun, "deploy h1"), `command "deploy"`, nil, notRestored, "not checked: a change failed"},
		{"during a file write", callIs(opWrite, "/etc/app.conf"), `file "/etc/app.conf"`, []string{`command "deploy"`}, nil, "not checked: a change failed"},
		// How this gate error reads is TestInterruptReportedAsInterrupted's business.
		{"during the health gate", gateAfterDeploy("h1"), "", nil, notRestored, "interrupted before the health gate could tell"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, res, at := interrupted(t, "h1", tc.trigger)
			f := h.fleet

			hr := hostResult(t, res, "h1")
			if hr.Failed != tc.failed || (tc.failed == "") != (hr.FailedErr == nil) ||
				tc.failed != "" && !strings.Contains(errText(hr.FailedErr), "interrupted; what ran on the host was stopped") {
				t.Errorf("h1 failed at %q: %v; want %q, interrupted", hr.Failed, hr.FailedErr, tc.failed)
			}
			if want := append(slices.Clone(tc.skipped), `file "/etc/after"`); !slices.Equal(hr.Skipped, want) {
				t.Errorf("h1 Skipped %q, want %q", hr.Skipped, want)
			}
			if len(hr.Health) != 1 || hr.Health[0].Rollback == nil {
				t.Fatalf("h1: Health %+v, want the gate with a rollback", hr.Health)
			}
			hc, rb := hr.Health[0], hr.Health[0].Rollback
			if !strings.Contains(errText(hc.Err), tc.gateErr) {
				t.Errorf("gate error %q, want %q", errText(hc.Err), tc.gateErr)
			}
			if !slices.Equal(rb.Restored, restoredSteps) || !slices.Equal(rb.NotRestored, tc.notRestored) || rb.Err != nil {
				t.Errorf("rollback restored %q, not restored %q, err %v; want %q, %q", rb.Restored, rb.NotRestored, rb.Err, restoredSteps, tc.notRestored)
			}
			if rb.Healthy || errText(rb.HealthErr) != "not checked: interrupted" {
				t.Errorf("rollback health: healthy %v, %v; want not checked: interrupted", rb.Healthy, rb.HealthErr)
			}
			for p, want := range map[string]string{manifestPath: manifest(30), "/etc/app.conf": "v1\n"} {
				if got, _ := f.file("h1", p); got != want {
					t.Errorf("h1: %s was not put back: %q", p, got)
				}
			}
			later := h.events(func(e event) bool { return e.Host == "h1" && e.Seq > at })
			if !slices.ContainsFunc(later, func(e event) bool { return e.Op == opWrite && e.Arg == manifestPath && e.Err == nil }) {
				t.Errorf("the manifest was not restored after the interrupt:%s", show(later))
			}
			if slices.ContainsFunc(later, func(e event) bool { return e.Arg == cmdPS || e.Op == opDialTCP }) {
				t.Errorf("the gate was waited for after the interrupt:%s", show(later))
			}
			if evs := h.events(h.applied("h2")); len(evs) > 0 {
				t.Errorf("h2 was touched after the interrupt:%s", show(evs))
			}
			if want := `rollout of task "roll" stopped: h1 failed; not changed: h2; later tasks not run`; res.Stopped != want {
				t.Errorf("Stopped %q, want %q", res.Stopped, want)
			}
		})
	}
}

// TestInterruptReportedAsInterrupted: a gate cut short by Ctrl-C must say so, as an
// interrupted step does, instead of blaming the node's health.
func TestInterruptReportedAsInterrupted(t *testing.T) {
	for _, tc := range []struct {
		name    string
		host    string
		trigger func(op, arg string, seen []string) bool
		err     func(*engine.HostResult) error
	}{
		{"while the gate waits", "h1", gateAfterDeploy("h1"), func(hr *engine.HostResult) error {
			if len(hr.Health) == 0 {
				return nil
			}
			return hr.Health[0].Err
		}},
		// h1 passed its gate; Ctrl-C comes as h2's health is checked before its change.
		{"while the gate checks the next host first", "h2", func(string, string, []string) bool { return true },
			func(hr *engine.HostResult) error { return hr.FailedErr }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, res, _ := interrupted(t, tc.host, tc.trigger)
			got := errText(tc.err(hostResult(t, res, tc.host)))
			if !strings.Contains(got, "interrupted") || strings.Contains(got, "not healthy") {
				t.Errorf("%s: %q; want it reported as interrupted, not as unhealthy", tc.host, got)
			}
		})
	}
}
