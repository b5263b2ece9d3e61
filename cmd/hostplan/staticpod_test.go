package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// staticPodPlan is the flagship example's manifest patch without the health gate (no API
// server runs in these lab hosts; the kube tier tests the gate).
const staticPodPlan = `
task "audit" {
  on = ["masters"]
  directory "/var/log/kubernetes" {
    mode = "0700"
  }
  audit_policy "/etc/kubernetes/audit-policy.yaml" {}
  static_pod "/etc/kubernetes/manifests/kube-apiserver.yaml" {
    container    = "kube-apiserver"
    keep_backups = 2
    flags = {
      "audit-log-path"      = "/var/log/kubernetes/kubernetes.audit"
      "audit-log-maxage"    = "30"
      "audit-log-maxbackup" = "10"
      "audit-log-maxsize"   = "100"
      "audit-policy-file"   = "/etc/kubernetes/audit-policy.yaml"
    }
    env = {
      "aliyun_logs_audit-c1"          = "/var/log/kubernetes/kubernetes.audit"
      "aliyun_logs_audit-c1_jsonfile" = "true"
    }
    volume_mount "k8s-audit" {
      mount_path = "/var/log/kubernetes"
    }
    volume_mount "audit-policy" {
      mount_path = "/etc/kubernetes/audit-policy.yaml"
      read_only  = true
    }
    host_path_volume "k8s-audit" {
      path = "/var/log/kubernetes"
      type = "DirectoryOrCreate"
    }
    host_path_volume "audit-policy" {
      path = "/etc/kubernetes/audit-policy.yaml"
      type = "FileOrCreate"
    }
  }
}
`

func fixture(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "internal", "kubeyaml", "testdata", "kube-apiserver.v1.32.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestLabStaticPod: the manifest patch over real SSH: exact minimal diff in the plan,
// backup outside manifests/, idempotent second run, old backups pruned, mode kept.
func TestLabStaticPod(t *testing.T) {
	t.Parallel()
	l, inv := startLab(t, 1, "root")
	h := l.Host("h1")
	orig := fixture(t)
	if err := h.WriteFile("/etc/kubernetes/manifests/kube-apiserver.yaml", orig, 0o600); err != nil {
		t.Fatal(err)
	}
	planDir := writeFiles(t, map[string]string{"main.hcl": staticPodPlan})

	r := hostplan(t, "plan", "-i", inv, planDir)
	if r.code != 2 {
		t.Fatalf("plan:\n%s", r)
	}
	// The diff only adds lines: the rest of the manifest is untouched.
	var added, removed int
	for _, line := range strings.Split(r.stdout, "\n") {
		line = strings.TrimPrefix(line, "        ") // the renderer's indent of diff lines
		switch {
		case strings.HasPrefix(line, "+++"), strings.HasPrefix(line, "---"):
		case strings.HasPrefix(line, "+"):
			added++
		case strings.HasPrefix(line, "-"):
			removed++
		}
	}
	if removed != 0 {
		t.Errorf("the plan removes %d lines of the manifest; a pure addition removes none:\n%s", removed, r.stdout)
	}
	if !strings.Contains(r.stdout, "+    - --audit-policy-file=/etc/kubernetes/audit-policy.yaml") ||
		!strings.Contains(r.stdout, `value: "true"`) || !strings.Contains(r.stdout, "apiVersion: audit.k8s.io/v1\n") {
		t.Errorf("plan lacks the flag, the quoted env value or the v1 policy:\n%s", r.stdout)
	}
	if got := remote(t, h, "ls /etc/kubernetes"); strings.Contains(got, "hostplan-backups") {
		t.Errorf("plan created the backup folder")
	}

	r = hostplan(t, "apply", "--auto-approve", "-i", inv, planDir)
	if r.code != 0 {
		t.Fatalf("apply:\n%s", r)
	}
	got, err := h.ReadFile("/etc/kubernetes/manifests/kube-apiserver.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(got), string(orig[:strings.Index(string(orig), "    - --tls-private-key-file")])) {
		t.Errorf("the lines before the first insertion changed")
	}
	if mode := remote(t, h, "stat -c %a /etc/kubernetes/manifests/kube-apiserver.yaml"); mode != "600" {
		t.Errorf("manifest mode %s, want the old 600 kept", mode)
	}
	if ls := remote(t, h, "ls -A /etc/kubernetes/manifests"); ls != "kube-apiserver.yaml" {
		t.Errorf("manifests/ holds %q: kubelet would run anything else there", ls)
	}
	backups := remote(t, h, "ls /etc/kubernetes/hostplan-backups")
	if !regexp.MustCompile(`^\d{8}T\d{6}\.\d{3}Z$`).MatchString(backups) {
		t.Fatalf("backups: %q", backups)
	}
	if b := remote(t, h, "cat /etc/kubernetes/hostplan-backups/"+backups+"/kube-apiserver.yaml"); b != strings.TrimSpace(string(orig)) {
		t.Errorf("the backup is not the old manifest")
	}
	if mode := remote(t, h, "stat -c %a /etc/kubernetes/audit-policy.yaml"); mode != "600" {
		t.Errorf("policy mode %s", mode)
	}

	before := hashAll(t, l)
	r = hostplan(t, "plan", "-i", inv, planDir)
	if r.code != 0 || !strings.Contains(r.stdout, "0 to change") {
		t.Fatalf("second plan must show no change:\n%s", r)
	}
	r = hostplan(t, "apply", "--auto-approve", "-i", inv, planDir)
	if r.code != 0 || !strings.Contains(r.stdout, "No changes") {
		t.Fatalf("second apply:\n%s", r)
	}
	if after := hashAll(t, l); strings.Join(after, ",") != strings.Join(before, ",") {
		t.Errorf("the second apply touched the host")
	}

	// Three more changes with keep_backups = 2 leave the two newest backups.
	for i := range 3 {
		if err := h.WriteFile("/etc/kubernetes/manifests/kube-apiserver.yaml", orig, 0o600); err != nil {
			t.Fatal(err)
		}
		if r := hostplan(t, "apply", "--auto-approve", "-i", inv, planDir); r.code != 0 {
			t.Fatalf("apply %d:\n%s", i, r)
		}
	}
	if n := len(strings.Fields(remote(t, h, "ls /etc/kubernetes/hostplan-backups"))); n != 2 {
		t.Errorf("%d backups kept, want 2", n)
	}
}

// TestLabStaticPodRefusals: bad manifests and a policy mounted before it exists are
// refused at plan time, with nothing changed on the host.
func TestLabStaticPodRefusals(t *testing.T) {
	t.Parallel()
	l, inv := startLab(t, 1, "root")
	h := l.Host("h1")
	noPolicy := strings.Replace(staticPodPlan, `audit_policy "/etc/kubernetes/audit-policy.yaml" {}`, "", 1)
	dup := strings.Replace(string(fixture(t)), "    - --secure-port=6443\n", "    - --secure-port=6443\n    - --secure-port=6444\n", 1)
	for _, tc := range []struct {
		name, manifest, plan, want string
	}{
		{"policy missing", string(fixture(t)), noPolicy, "no earlier resource creates it"},
		{"not yaml", "apiVersion: v1\nkind: Pod\nspec: [\n", staticPodPlan, "kube-apiserver.yaml"},
		{"duplicate flag", dup, staticPodPlan, "duplicate flag --secure-port"},
		{"no container", strings.ReplaceAll(string(fixture(t)), "name: kube-apiserver\n", "name: other\n"), staticPodPlan, "kube-apiserver"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := h.WriteFile("/etc/kubernetes/manifests/kube-apiserver.yaml", []byte(tc.manifest), 0o600); err != nil {
				t.Fatal(err)
			}
			before := hashAll(t, l)
			planDir := writeFiles(t, map[string]string{"main.hcl": tc.plan})
			for _, cmd := range [][]string{{"plan"}, {"apply", "--auto-approve"}} {
				r := hostplan(t, append(cmd, "-i", inv, planDir)...)
				if r.code != 1 || !strings.Contains(r.stdout+r.stderr, tc.want) {
					t.Errorf("%s: want exit 1 and %q:\n%s", cmd[0], tc.want, r)
				}
			}
			if after := hashAll(t, l); strings.Join(after, ",") != strings.Join(before, ",") {
				t.Errorf("a refused plan changed the host")
			}
		})
	}
}

// TestValidateRejectsBadPolicy: a user's policy with a misspelt field fails validate,
// before any host is contacted.
func TestValidateRejectsBadPolicy(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"main.hcl": `
task "audit" {
  on = ["masters"]
  audit_policy "/etc/kubernetes/audit-policy.yaml" {
    source = "policy.yaml"
  }
}
`,
		"policy.yaml": "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n  verb: [get]\n",
	})
	invDir := writeFiles(t, map[string]string{"hosts.hcl": "host \"m1\" {\n  address = \"192.0.2.1\"\n  groups  = [\"masters\"]\n}\n"})
	r := hostplan(t, "validate", "-i", filepath.Join(invDir, "hosts.hcl"), dir)
	if r.code != 1 || !strings.Contains(r.stdout+r.stderr, `unknown field "verb"`) || !strings.Contains(r.stdout+r.stderr, "main.hcl:5") {
		t.Errorf("validate should reject the policy with its line and the plan's line:\n%s", r)
	}
}
