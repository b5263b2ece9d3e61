package main

// A fleet on the kube tier: three clusters of three masters, each cluster with its own
// etcd and kube-apiservers, and a forwarder; one inventory, the flagship example.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hostplan/hostplan/internal/journal"
	"github.com/hostplan/hostplan/internal/lab"
)

const fleetClusters = 3

// startFleet starts three kube clusters of three masters (groups masters and prod-N,
// whose vars give the cluster_id c0ffee-N and the forwarding target) and a forwarder in
// prod-1, and writes their inventory.
func startFleet(t *testing.T) (*lab.Lab, []*lab.KubeCluster, string) {
	t.Helper()
	n := fleetClusters * 3
	l := lab.ForTest(t, lab.Options{Hosts: n + 1, Groups: func(i int) []string {
		if i == n {
			return []string{"forwarders", "prod-1"}
		}
		return []string{"masters", fmt.Sprintf("prod-%d", i/3+1)}
	}})
	var clusters []*lab.KubeCluster
	for c := range fleetClusters {
		clusters = append(clusters, lab.KubeForTest(t, l, lab.KubeOptions{Masters: l.Hosts[c*3 : c*3+3]}))
	}
	inv := filepath.Join(t.TempDir(), "inventory.hcl")
	if err := l.WriteInventory(inv, "root"); err != nil {
		t.Fatal(err)
	}
	var vars strings.Builder
	for c := 1; c <= fleetClusters; c++ {
		fmt.Fprintf(&vars, "\ngroup \"prod-%d\" {\n  vars = { cluster_id = \"c0ffee-%d\", apiserver_address = \"192.168.%d.11\" }\n}\n", c, c, c)
	}
	f, err := os.OpenFile(inv, os.O_APPEND|os.O_WRONLY, 0)
	if err == nil {
		_, err = f.WriteString(vars.String())
		err = errors.Join(err, f.Close())
	}
	if err != nil {
		t.Fatal(err)
	}
	return l, clusters, inv
}

// TestKubeFleet: one apply onboards three clusters, each cluster's masters one at a
// time while the clusters overlap in time (the journal's timeline shows it), with
// kubeadm-config recorded in every cluster; the second plan is empty. Then a flag one
// cluster's servers refuse: that cluster's first master is rolled back within seconds,
// the other clusters complete.
func TestKubeFleet(t *testing.T) {
	t.Parallel()
	l, clusters, inv := startFleet(t)
	example := filepath.Join("..", "..", "examples", "security-center")
	jpath := filepath.Join(t.TempDir(), "journal.jsonl")
	args := []string{"-i", inv, "--var", "health_timeout=3m", example}

	r := hostplan(t, append([]string{"plan"}, args...)...)
	if r.code != 2 || !strings.Contains(r.stdout, `task "audit-logging": per local.cluster_id: 3 groups side by side; rolling, 1 host at a time in each group`) ||
		!strings.Contains(r.stdout, `task "record-in-kubeadm-config": per local.cluster_id: 3 groups side by side; runs once in each group`) ||
		!strings.Contains(r.stdout, `"c0ffee-2" h4, h5, h6 (3 hosts): 9 to change`) ||
		!strings.Contains(r.stdout, "+    - name: aliyun_logs_audit-c0ffee-3_jsonfile") {
		t.Fatalf("plan of the fleet:\n%s", r)
	}
	t.Logf("plan (first lines):\n%s", firstLines(r.stdout, 12))

	r = hostplan(t, append([]string{"apply", "--auto-approve", "--journal", jpath}, args...)...)
	if r.code != 0 {
		t.Fatalf("apply:\n%s", r)
	}
	t.Logf("apply (per-group lines):\n%s", groupLines(r.stdout))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for i, c := range clusters {
		for _, m := range c.Masters {
			if n := c.Restarts(m); n != 2 {
				t.Errorf("%s: kube-apiserver started %d times, want 2", m.Name, n)
			}
			if got, _ := m.ReadFile("/etc/kubernetes/manifests/kube-apiserver.yaml"); !strings.Contains(string(got), fmt.Sprintf("aliyun_logs_audit-c0ffee-%d_jsonfile", i+1)) {
				t.Errorf("%s: the manifest lacks its own cluster's env vars", m.Name)
			}
		}
		out, err := c.Kubectl(ctx, c.Masters[0], "--namespace", "kube-system", "get", "configmap", "kubeadm-config", "--output", "jsonpath={.data.ClusterConfiguration}")
		if err != nil || !strings.Contains(string(out), "value: /etc/kubernetes/audit-policy.yaml") {
			t.Errorf("cluster %d: kubeadm-config not recorded (err %v):\n%s", i+1, err, out)
		}
	}
	checkTimeline(t, jpath, clusters)

	r = hostplan(t, append([]string{"plan"}, args...)...)
	if r.code != 0 {
		t.Fatalf("second plan should be empty:\n%s", r)
	}

	badFlagOnOneCluster(t, l, clusters, inv)
}

// checkTimeline reads the journal's task spans of audit-logging: within a cluster no
// two masters overlap, and the clusters' rollouts overlap one another.
func checkTimeline(t *testing.T, jpath string, clusters []*lab.KubeCluster) {
	t.Helper()
	entries, _, err := journal.Read(jpath)
	if err != nil {
		t.Fatal(err)
	}
	type span struct{ start, end time.Time }
	spans := map[string]span{}
	var first time.Time
	for _, e := range entries {
		if e.Task == "audit-logging" && !e.Started.IsZero() {
			spans[e.Host] = span{e.Started, e.Time}
			if first.IsZero() || e.Started.Before(first) {
				first = e.Started
			}
		}
	}
	var timeline strings.Builder
	for i, c := range clusters {
		var own []span
		for _, m := range c.Masters {
			s, ok := spans[m.Name]
			if !ok {
				t.Fatalf("the journal has no audit-logging span for %s", m.Name)
			}
			fmt.Fprintf(&timeline, "cluster %d %-3s %6.1fs -> %6.1fs\n", i+1, m.Name, s.start.Sub(first).Seconds(), s.end.Sub(first).Seconds())
			own = append(own, s)
		}
		slices.SortFunc(own, func(a, b span) int { return a.start.Compare(b.start) })
		for j := 1; j < len(own); j++ {
			if own[j].start.Before(own[j-1].end) {
				t.Errorf("cluster %d: two masters changed at the same time", i+1)
			}
		}
	}
	t.Logf("timeline of audit-logging from the journal:\n%s", timeline.String())
	// The clusters overlap: each cluster's first master starts before any cluster's
	// first master ended.
	firstEnd := time.Time{}
	var starts []time.Time
	for _, c := range clusters {
		s := spans[c.Masters[0].Name]
		starts = append(starts, s.start)
		if firstEnd.IsZero() || s.end.Before(firstEnd) {
			firstEnd = s.end
		}
	}
	for i, s := range starts {
		if !s.Before(firstEnd) {
			t.Errorf("cluster %d started after another cluster's first master was done: the clusters did not roll side by side", i+1)
		}
	}
}

var rolledBackIn = regexp.MustCompile(`not healthy after ((?:[0-9]+m)?[0-9.]+m?s)`)

// badFlagOnOneCluster applies a max-age flag that cluster 2's servers refuse and the
// others accept: cluster 2's first master is rolled back, its other masters are left
// alone, and clusters 1 and 3 complete.
func badFlagOnOneCluster(t *testing.T, l *lab.Lab, clusters []*lab.KubeCluster, inv string) {
	plan := `
task "audit-logging" {
  on     = ["masters"]
  serial = 1
  per    = host.vars.cluster_id
  health "kube_apiserver" {}
  static_pod "/etc/kubernetes/manifests/kube-apiserver.yaml" {
    container = "kube-apiserver"
    flags     = { "audit-log-maxage" = host.vars.cluster_id == "c0ffee-2" ? "thirty" : "31" }
  }
}
`
	start := time.Now()
	r := hostplan(t, "apply", "--auto-approve", "-i", inv, "--limit", "masters", writeFiles(t, map[string]string{"main.hcl": plan}))
	took := time.Since(start)
	if r.code != 1 || !strings.Contains(r.stdout, `invalid argument \"thirty\" for \"--audit-log-maxage\" flag`) &&
		!strings.Contains(r.stdout, `invalid argument "thirty" for "--audit-log-maxage" flag`) {
		t.Fatalf("apply with a flag cluster 2 refuses must fail quoting the server:\n%s", r)
	}
	for _, want := range []string{`"c0ffee-1" done: h1, h2, h3, 3 hosts`, `"c0ffee-2" STOPPED: h4 failed; not changed: h5, h6`, `"c0ffee-3" done: h7, h8, h9, 3 hosts`} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("apply report lacks %q", want)
		}
	}
	if m := rolledBackIn.FindStringSubmatch(r.stdout); m != nil {
		t.Logf("cluster 2's first master: gate gave up after %s (bad manifest written -> crash seen); apply took %s", m[1], took.Round(time.Second))
	}
	t.Logf("apply (per-group lines):\n%s", groupLines(r.stdout))
	for i, c := range clusters {
		for j, m := range c.Masters {
			want := 3 // the first apply's restart and this one
			switch {
			case i == 1 && j == 0:
				want = -1 // crash-looped, then restored: at least 3
			case i == 1:
				want = 2 // never touched by this apply
			}
			if n := c.Restarts(m); want > 0 && n != want || want < 0 && n < 3 {
				t.Errorf("%s: kube-apiserver started %d times, want %d", m.Name, n, want)
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := clusters[1].Healthy(ctx, clusters[1].Masters[0]); err != nil {
		t.Errorf("cluster 2's first master is not healthy after the rollback: %v", err)
	}
	if got, _ := l.Hosts[3].ReadFile("/etc/kubernetes/manifests/kube-apiserver.yaml"); strings.Contains(string(got), "thirty") {
		t.Errorf("h4 kept the refused flag")
	}
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	return strings.Join(lines[:min(n, len(lines))], "\n")
}

// groupLines are an apply's per-group report lines.
func groupLines(s string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, "task ") && strings.HasSuffix(l, "by group:") || strings.HasPrefix(l, `  "`) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestLabPlan300: a 300-master plan (thirty lab hosts, each under ten inventory names,
// a hundred clusters of three) reads in a few hundred lines: the identical change once,
// one line per cluster, and the one host whose change differs on its own.
func TestLabPlan300(t *testing.T) {
	t.Parallel()
	l := lab.ForTest(t, lab.Options{Hosts: 30})
	var inv strings.Builder
	fmt.Fprintf(&inv, "defaults {\n  user          = \"root\"\n  identity_file = %q\n  known_hosts   = %q\n}\n", l.UserKey, l.KnownHosts)
	for i := range 300 {
		h := l.Hosts[i%len(l.Hosts)]
		fmt.Fprintf(&inv, "host \"m%03d\" {\n  address = %q\n  port    = %d\n  groups  = [\"masters\"]\n  vars    = { cluster = \"prod-%02d\" }\n}\n",
			i+1, h.Address, h.Port, i/3+1)
	}
	invPath := filepath.Join(t.TempDir(), "inventory.hcl")
	if err := os.WriteFile(invPath, []byte(inv.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	plan := writeFiles(t, map[string]string{"main.hcl": `
task "audit-logging" {
  on     = ["masters"]
  serial = 1
  per    = host.vars.cluster
  file "/etc/hostplan-fleet.yaml" {
    content = host.name == "m150" ? "apiVersion: audit.k8s.io/v1\nlevel: None\n" : "apiVersion: audit.k8s.io/v1\nlevel: Metadata\n"
    mode    = "0600"
  }
}
`})
	r := hostplan(t, "plan", "-i", invPath, plan)
	if r.code != 2 {
		t.Fatalf("plan of 300 hosts:\n%s", r)
	}
	lines := strings.Count(r.stdout, "\n")
	t.Logf("the plan of 300 masters in 100 clusters has %d lines; first lines:\n%s", lines, firstLines(r.stdout, 24))
	if lines > 300 {
		t.Errorf("the plan of 300 hosts has %d lines", lines)
	}
	for _, want := range []string{"hosts m[001:149], m[151:300] (299 hosts): 1 to change", "host m150: 1 to change", `"prod-50" m148, m149, m150 (3 hosts): 3 to change`,
		`task "audit-logging": per host.vars.cluster: 100 groups side by side`, "Plan: 300 hosts, 300 to change"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("the plan lacks %q", want)
		}
	}
}
