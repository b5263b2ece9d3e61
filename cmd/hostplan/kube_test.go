package main

// The kube tier: a real kube-apiserver v1.32 on every lab master (internal/lab), run by
// a stand-in for kubelet's static pods. These tests apply the flagship example and a
// failing variant of it, end to end through the CLI.

import (
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hostplan/hostplan/internal/lab"
)

// startKube starts n lab hosts, all in group "masters", each running kube-apiserver.
func startKube(t *testing.T, n int) (*lab.Lab, *lab.KubeCluster, string) {
	t.Helper()
	l := lab.ForTest(t, lab.Options{Hosts: n, Groups: func(int) []string { return []string{"masters"} }})
	c := lab.KubeForTest(t, l, lab.KubeOptions{})
	inv := filepath.Join(t.TempDir(), "inventory.hcl")
	if err := l.WriteInventory(inv, "root"); err != nil {
		t.Fatal(err)
	}
	return l, c, inv
}

var healthyAfter = regexp.MustCompile(`healthy task "audit-logging": restarted with the new configuration, healthy after ((?:[0-9]+m)?[0-9.]+m?s)`)

// TestKubeSecurityCenterExample is scenario 1: the flagship example on three masters
// (and a forwarder, for the example's forwarding task).
func TestKubeSecurityCenterExample(t *testing.T) {
	t.Parallel()
	all := lab.ForTest(t, lab.Options{Hosts: 4, Groups: func(i int) []string {
		if i == 3 {
			return []string{"forwarders"}
		}
		return []string{"masters"}
	}})
	c := lab.KubeForTest(t, all, lab.KubeOptions{Masters: all.Hosts[:3]})
	inv := filepath.Join(t.TempDir(), "inventory.hcl")
	if err := all.WriteInventory(inv, "root"); err != nil {
		t.Fatal(err)
	}
	masters := all.Hosts[:3]
	example := filepath.Join("..", "..", "examples", "security-center")
	args := []string{"-i", inv, "--var", "cluster_id=c0ffee", "--var", "health_timeout=3m", "--var", "apiserver_address=192.168.0.11", example}

	// Before: check fails the masters' audit settings (kubeadm's defaults) and reports drift.
	r := hostplan(t, append([]string{"check"}, args...)...)
	for _, want := range []string{"h1    audit-log-path", "FAIL    --audit-log-path is not set", "--audit-log-maxage is not set (want 30 or more)",
		"--audit-policy-file is not set", "h2    drift", "static_pod \"/etc/kubernetes/manifests/kube-apiserver.yaml\" would update it",
		"h4    kube-apiserver audit", "h1    manifest permissions  pass"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("check before the example lacks %q", want)
		}
	}
	if r.code != exitCheckFailed {
		t.Errorf("check before the example: exit %d, want %d:\n%s", r.code, exitCheckFailed, r)
	} else if t.Failed() {
		t.Log(r.stdout)
	}

	r = hostplan(t, append([]string{"plan"}, args...)...)
	if r.code != 2 {
		t.Fatalf("plan:\n%s", r)
	}
	for _, want := range []string{`task "audit-logging": rolling, 1 host at a time; each host waits for: kube-apiserver`,
		`task "record-in-kubeadm-config": runs once, on h1`, "+    - --audit-policy-file=/etc/kubernetes/audit-policy.yaml",
		"+    - name: aliyun_logs_audit-c0ffee_jsonfile", "+  - name: audit-log-maxage", "apiVersion: audit.k8s.io/v1\n",
		`port_forward "apiserver" (update)`, `allowlist "security-center" (update)`} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("plan lacks %q", want)
		}
	}
	if t.Failed() {
		t.Log(r.stdout)
	}

	start := time.Now()
	r = hostplan(t, append([]string{"apply", "--auto-approve"}, args...)...)
	applyTime := time.Since(start)
	if r.code != 0 {
		t.Fatalf("apply:\n%s", r)
	}
	times := healthyAfter.FindAllStringSubmatch(r.stdout, -1)
	if len(times) != 3 {
		t.Fatalf("want a restarted, healthy API server on each of the 3 masters:\n%s", r.stdout)
	}
	for i, m := range times {
		t.Logf("master h%d: change -> healthy %s", i+1, m[1])
	}
	t.Logf("apply of the example on 3 masters: %s", applyTime.Round(100*time.Millisecond))

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, m := range masters {
		if err := c.Healthy(ctx, m); err != nil {
			t.Errorf("%s: %v", m.Name, err)
		}
		if c.Restarts(m) != 2 {
			t.Errorf("%s: kube-apiserver started %d times, want 2 (initial + one restart)", m.Name, c.Restarts(m))
		}
		waitAuditEvent(ctx, t, c, m)
	}
	out, err := c.Kubectl(ctx, masters[0], "--namespace", "kube-system", "get", "configmap", "kubeadm-config", "--output", "jsonpath={.data.ClusterConfiguration}")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"name: audit-policy-file", "value: /etc/kubernetes/audit-policy.yaml", "name: k8s-audit", "pathType: FileOrCreate"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("kubeadm-config ClusterConfiguration lacks %q:\n%s", want, out)
		}
	}

	r = hostplan(t, append([]string{"plan"}, args...)...)
	if r.code != 0 || !strings.Contains(r.stdout, "Plan: 4 hosts, 0 to change") {
		t.Errorf("plan after apply must show no change:\n%s", r)
	}
	// After: every check passes, in the table and in JSON.
	if r = hostplan(t, append([]string{"check"}, args...)...); r.code != 0 || strings.Contains(r.stdout, "FAIL") {
		t.Errorf("check after the example:\n%s", r)
	}
	if r = hostplan(t, append([]string{"check", "--json"}, args...)...); r.code != 0 {
		t.Errorf("check --json after the example:\n%s", r)
	} else {
		schemaCheck(t, []byte(r.stdout))
		if n := strings.Count(r.stdout, `"pass": true`); n != 3*9+1 {
			t.Errorf("%d passing checks, want 28 (3 masters x (drift + 8 audit checks) + drift on the forwarder):\n%s", n, r.stdout)
		}
	}
	before := []int{c.Restarts(masters[0]), c.Restarts(masters[1]), c.Restarts(masters[2])}
	r = hostplan(t, append([]string{"apply", "--auto-approve"}, args...)...)
	if r.code != 0 || !strings.Contains(r.stdout, "No changes") {
		t.Errorf("second apply:\n%s", r)
	}
	for i, m := range masters {
		if c.Restarts(m) != before[i] {
			t.Errorf("%s: the second apply restarted kube-apiserver", m.Name)
		}
	}
}

// waitAuditEvent makes API requests on m until its audit log holds an audit.k8s.io/v1
// Event (the log is written asynchronously, in batches).
func waitAuditEvent(ctx context.Context, t *testing.T, c *lab.KubeCluster, m *lab.Host) {
	t.Helper()
	var last string
	for ctx.Err() == nil {
		c.Kubectl(ctx, m, "get", "namespaces")
		b, _ := m.ReadFile("/var/log/kubernetes/kubernetes.audit")
		for _, line := range strings.Split(string(b), "\n") {
			var ev struct{ Kind, APIVersion string }
			if json.Unmarshal([]byte(line), &ev) == nil && ev.Kind == "Event" && ev.APIVersion == "audit.k8s.io/v1" {
				return
			}
		}
		last = string(b)
		time.Sleep(500 * time.Millisecond)
	}
	t.Errorf("%s: no audit.k8s.io/v1 Event in /var/log/kubernetes/kubernetes.audit (%d bytes)", m.Name, len(last))
}

// badPolicyPlan bypasses the policy check on purpose: a plain file resource ships a
// v1beta1 policy, which kube-apiserver 1.32 refuses at start.
const badPolicyPlan = `
task "audit-logging" {
  on     = ["masters"]
  serial = 1
  health "kube_apiserver" {
    timeout = "40s"
  }
  file "/etc/kubernetes/audit-policy.yaml" {
    content = "apiVersion: audit.k8s.io/v1beta1\nkind: Policy\nrules:\n- level: Metadata\n"
    mode    = "0600"
  }
  static_pod "/etc/kubernetes/manifests/kube-apiserver.yaml" {
    container = "kube-apiserver"
    flags = {
      "audit-log-path"    = "/var/log/kubernetes/kubernetes.audit"
      "audit-policy-file" = "/etc/kubernetes/audit-policy.yaml"
    }
  }
}
`

// TestKubeRollbackOnFailedGate is scenario 2: master 1's API server does not come back;
// its change is rolled back, it is healthy again, and masters 2 and 3 are never touched.
func TestKubeRollbackOnFailedGate(t *testing.T) {
	t.Parallel()
	l, c, inv := startKube(t, 3)
	planDir := writeFiles(t, map[string]string{"main.hcl": badPolicyPlan})
	r := hostplan(t, "apply", "--auto-approve", "-i", inv, planDir)
	if r.code != 1 {
		t.Fatalf("apply must fail:\n%s", r)
	}
	for _, want := range []string{
		"host h1: FAILED",
		`unhealthy task "audit-logging": health gate failed`,
		// The gate sees the new server exit and quotes why, well before its timeout.
		"kube-apiserver exits after starting with the new manifest",
		`no kind \"Policy\" is registered for version \"audit.k8s.io/v1beta1\"`,
		`restored static_pod "/etc/kubernetes/manifests/kube-apiserver.yaml"`,
		`restored file "/etc/kubernetes/audit-policy.yaml"`,
		"healthy after the rollback, healthy again after",
		`Rollout stopped: rollout of task "audit-logging" stopped: h1 failed; not changed: h2, h3.`,
		"host h2: not changed (the rollout stopped)",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if strings.Contains(r.stdout, "not healthy after 40s") {
		t.Errorf("the gate waited for its whole timeout instead of seeing the crash loop")
	}
	t.Logf("apply output:\n%s", r.stdout) // the readable report the issue asks for
	m1 := l.Hosts[0]
	got, err := m1.ReadFile("/etc/kubernetes/manifests/kube-apiserver.yaml")
	if err != nil || string(got) != string(c.Manifest(m1)) {
		t.Errorf("h1's manifest was not restored byte for byte (err %v)", err)
	}
	if _, err := m1.ReadFile("/etc/kubernetes/audit-policy.yaml"); err == nil {
		t.Errorf("h1: the policy file the rollback should remove is still there")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.Healthy(ctx, m1); err != nil {
		t.Errorf("h1 is not healthy after the rollback: %v", err)
	}
	for _, m := range l.Hosts[1:] {
		// Their running API servers write logs, so compare what hostplan would write.
		if got, err := m.ReadFile("/etc/kubernetes/manifests/kube-apiserver.yaml"); err != nil || string(got) != string(c.Manifest(m)) {
			t.Errorf("%s: the manifest was changed (err %v)", m.Name, err)
		}
		if _, err := m.ReadFile("/etc/kubernetes/audit-policy.yaml"); err == nil {
			t.Errorf("%s: a policy file was written", m.Name)
		}
		if n := c.Restarts(m); n != 1 {
			t.Errorf("%s: kube-apiserver started %d times; it should never have restarted", m.Name, n)
		}
	}
}

// A flag the new server refuses ends the gate as soon as the server exits, quoting the
// server's own error; the old manifest is back and healthy.
func TestKubeBadFlagFailsFast(t *testing.T) {
	t.Parallel()
	l, c, inv := startKube(t, 1)
	plan := `
task "audit-logging" {
  on = ["masters"]
  health "kube_apiserver" {}
  static_pod "/etc/kubernetes/manifests/kube-apiserver.yaml" {
    container = "kube-apiserver"
    flags     = { "audit-log-maxage" = "thirty" }
  }
}
`
	r := hostplan(t, "apply", "--auto-approve", "-i", inv, writeFiles(t, map[string]string{"main.hcl": plan}))
	if r.code != 1 || !strings.Contains(r.stdout, `invalid argument \"thirty\" for \"--audit-log-maxage\" flag`) &&
		!strings.Contains(r.stdout, `invalid argument "thirty" for "--audit-log-maxage" flag`) {
		t.Fatalf("apply must fail quoting the server's flag error:\n%s", r)
	}
	if !strings.Contains(r.stdout, "healthy after the rollback") || strings.Contains(r.stdout, "not healthy after 5m") {
		t.Errorf("the gate must give up on the crash, not at its 5m timeout, and the rollback must leave it healthy:\n%s", r.stdout)
	}
	t.Logf("apply output:\n%s", r.stdout)
	if got, err := l.Hosts[0].ReadFile("/etc/kubernetes/manifests/kube-apiserver.yaml"); err != nil || string(got) != string(c.Manifest(l.Hosts[0])) {
		t.Errorf("the manifest was not restored byte for byte (err %v)", err)
	}

	// The server quotes a refused value back; a sensitive one must not reach the report.
	const secret = "s3cr3t-maxage"
	sensitivePlan := "variable \"maxage\" {\n  type = string\n  sensitive = true\n}\n" +
		strings.Replace(plan, `"thirty"`, "var.maxage", 1)
	r = hostplan(t, "apply", "--auto-approve", "-i", inv, "--var", "maxage="+secret, writeFiles(t, map[string]string{"main.hcl": sensitivePlan}))
	if r.code != 1 || !strings.Contains(r.stdout, "not quoted here: the manifest holds sensitive values") {
		t.Errorf("apply of a refused sensitive flag must fail without quoting the server:\n%s", r)
	}
	if strings.Contains(r.stdout+r.stderr, secret) {
		t.Errorf("the sensitive value appears in the output:\n%s", r)
	}
}

// TestKubeNoRollback: with --no-rollback the failed master keeps the broken change for
// debugging in place, and the rollout still stops.
func TestKubeNoRollback(t *testing.T) {
	t.Parallel()
	l, c, inv := startKube(t, 2)
	planDir := writeFiles(t, map[string]string{"main.hcl": strings.Replace(badPolicyPlan, `timeout = "40s"`, `timeout = "15s"`, 1)})
	r := hostplan(t, "apply", "--auto-approve", "--no-rollback", "-i", inv, planDir)
	if r.code != 1 || !strings.Contains(r.stdout, "no rollback: the host was left as it is (--no-rollback)") ||
		!strings.Contains(r.stdout, "not changed: h2") {
		t.Fatalf("apply --no-rollback:\n%s", r)
	}
	got, err := l.Hosts[0].ReadFile("/etc/kubernetes/manifests/kube-apiserver.yaml")
	if err != nil || !strings.Contains(string(got), "--audit-policy-file=") {
		t.Errorf("h1 should keep the failed change (err %v)", err)
	}
	if got, _ := l.Hosts[1].ReadFile("/etc/kubernetes/manifests/kube-apiserver.yaml"); string(got) != string(c.Manifest(l.Hosts[1])) {
		t.Errorf("h2 was changed")
	}
}

// TestKubeKubectlApply: the onboarding manifest applied with kubectl on a master; the
// plan is kubectl diff, empty after the apply; secret values never shown; errors clear.
func TestKubeKubectlApply(t *testing.T) {
	t.Parallel()
	l, c, inv := startKube(t, 1)
	manifest := `apiVersion: v1
kind: Namespace
metadata:
  name: security-center
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: onboarding
  namespace: security-center
data:
  cluster: c0ffee
---
apiVersion: v1
kind: Secret
metadata:
  name: agent-token
  namespace: security-center
stringData:
  token: s3cr3t-agent-token
`
	planDir := writeFiles(t, map[string]string{
		"onboarding.yaml": manifest,
		"main.hcl": `
task "onboarding" {
  on = ["masters"]
  kubectl_apply "security-center" {
    manifest = file("onboarding.yaml")
  }
}
`})
	r := hostplan(t, "plan", "-i", inv, planDir)
	if r.code != 2 || !strings.Contains(r.stdout, `+ kubectl_apply "security-center" (create)`) || !strings.Contains(r.stdout, "+  cluster: c0ffee") ||
		!strings.Contains(r.stdout, "token: '***'") {
		t.Fatalf("plan should show the new objects, secret masked:\n%s", r)
	}
	if strings.Contains(r.stdout+r.stderr, "s3cr3t-agent-token") {
		t.Errorf("the plan shows the secret's value:\n%s", r.stdout)
	}
	if r = hostplan(t, "apply", "--auto-approve", "-i", inv, planDir); r.code != 0 {
		t.Fatalf("apply:\n%s", r)
	}
	ctx := context.Background()
	out, err := c.Kubectl(ctx, l.Hosts[0], "--namespace", "security-center", "get", "configmap", "onboarding", "--output", "jsonpath={.data.cluster}")
	if err != nil || string(out) != "c0ffee" {
		t.Errorf("configmap after apply: %q %v", out, err)
	}
	if r = hostplan(t, "plan", "-i", inv, planDir); r.code != 0 {
		t.Errorf("plan after apply must be empty:\n%s", r)
	}
	// A changed value is a kubectl diff of the live object.
	changed := writeFiles(t, map[string]string{
		"onboarding.yaml": strings.Replace(manifest, "cluster: c0ffee", "cluster: beef", 1),
		"main.hcl":        "task \"onboarding\" {\n  on = [\"masters\"]\n  kubectl_apply \"security-center\" {\n    manifest = file(\"onboarding.yaml\")\n  }\n}\n",
	})
	if r = hostplan(t, "plan", "-i", inv, changed); r.code != 2 || !strings.Contains(r.stdout, "-  cluster: c0ffee") || !strings.Contains(r.stdout, "+  cluster: beef") ||
		!strings.Contains(r.stdout, "--- live/") {
		t.Errorf("plan of a changed value should be kubectl's diff:\n%s", r)
	}

	bad := writeFiles(t, map[string]string{"main.hcl": `
task "onboarding" {
  on = ["masters"]
  kubectl_apply "bad" {
    manifest = "apiVersion: v1\nkind: NoSuchKind\nmetadata:\n  name: x\n"
  }
}
`})
	if r = hostplan(t, "plan", "-i", inv, bad); r.code != 1 || !strings.Contains(r.stdout, `no matches for kind "NoSuchKind"`) {
		t.Errorf("a kind the API server does not know must fail the plan with its message:\n%s", r)
	}
}

// TestLabKubectlMissing: kubectl_apply on a host without kubectl says so.
func TestLabKubectlMissing(t *testing.T) {
	t.Parallel()
	_, inv := startLab(t, 1, "root")
	planDir := writeFiles(t, map[string]string{"main.hcl": `
task "onboarding" {
  on = ["all"]
  kubectl_apply "x" {
    manifest = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: x\n"
  }
}
`})
	// The lab host sees this machine's /usr: whether kubectl is there decides which of
	// the two checks speaks first.
	want := "kubectl is not installed on h1"
	if _, err := exec.LookPath("kubectl"); err == nil {
		want = "no readable kubeconfig at /etc/kubernetes/admin.conf on h1"
	}
	if r := hostplan(t, "plan", "-i", inv, planDir); r.code != 1 || !strings.Contains(r.stdout, want) {
		t.Errorf("plan want %q:\n%s", want, r)
	}
}
