package cis

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hostplan/hostplan/internal/transport"
)

const plainManifest = `apiVersion: v1
kind: Pod
metadata:
  name: kube-apiserver
  namespace: kube-system
spec:
  containers:
  - name: kube-apiserver
    image: registry.k8s.io/kube-apiserver:v1.32.13
    command:
    - kube-apiserver
    - --secure-port=6443
`

func withFlags(flags ...string) []byte {
	m := plainManifest
	for _, f := range flags {
		m += "    - " + f + "\n"
	}
	return []byte(m)
}

var compliant = []string{"--audit-log-path=/var/log/kubernetes/kubernetes.audit", "--audit-log-maxage=30",
	"--audit-log-maxbackup=10", "--audit-log-maxsize=100", "--audit-policy-file=/etc/kubernetes/audit-policy.yaml"}

func failed(fs []Finding) map[string]string {
	out := map[string]string{}
	for _, f := range fs {
		if !f.Pass {
			out[f.Check] = f.Why
		}
	}
	return out
}

func TestEvaluate(t *testing.T) {
	root600 := &transport.FileInfo{Mode: 0o600}
	for _, tc := range []struct {
		name string
		ev   Evidence
		want map[string]string // failed check -> part of why
	}{
		{"compliant", Evidence{Manifest: withFlags(compliant...), Info: root600, PolicyExists: true, LogAge: time.Minute}, map[string]string{}},
		{"kubeadm default", Evidence{Manifest: withFlags(), Info: root600}, map[string]string{
			"audit-log-path": "not set", "audit-log-maxage": "not set (want 30", "audit-log-maxbackup": "not set (want 10",
			"audit-log-maxsize": "not set (want 100", "audit-policy-file": "not set", "audit events recent": "no audit log file"}},
		{"too small", Evidence{Manifest: withFlags("--audit-log-path=/a", "--audit-log-maxage=7", "--audit-log-maxbackup=x", "--audit-log-maxsize=100",
			"--audit-policy-file=/p"), Info: root600, LogMissing: true}, map[string]string{
			"audit-log-maxage": "=7, want 30 or more", "audit-log-maxbackup": "=x is not a number",
			"audit-policy-file": "no such file", "audit events recent": "/a does not exist"}},
		{"stdout", Evidence{Manifest: withFlags(append([]string{"--audit-log-path=-"}, compliant[1:]...)...), Info: root600, PolicyExists: true},
			map[string]string{"audit-log-path": "stdout", "audit events recent": "no audit log file"}},
		{"loose file", Evidence{Manifest: withFlags(compliant...), Info: &transport.FileInfo{Mode: 0o644, UID: 1000}, PolicyExists: true, LogAge: time.Hour},
			map[string]string{"manifest permissions": "mode 0644", "manifest owner": "1000:0", "audit events recent": "1h0m0s ago, more than 10m0s"}},
		{"broken manifest", Evidence{ManifestPath: "/m.yaml", Manifest: []byte("kind: Deployment\n"), Info: root600},
			map[string]string{"manifest readable": "/m.yaml"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := failed(Evaluate(&tc.ev, 10*time.Minute))
			if len(got) != len(tc.want) {
				t.Errorf("failed %v, want %v", got, tc.want)
			}
			for check, why := range tc.want {
				if !strings.Contains(got[check], why) {
					t.Errorf("%s: %q, want it to say %q", check, got[check], why)
				}
			}
		})
	}
}

// The shared kubeadm fixture (what a fresh master has) fails the audit checks.
func TestEvaluateKubeadmFixture(t *testing.T) {
	src, err := os.ReadFile("../kubeyaml/testdata/kube-apiserver.v1.32.yaml")
	if err != nil {
		t.Fatal(err)
	}
	got := failed(Evaluate(&Evidence{Manifest: src, Info: &transport.FileInfo{Mode: 0o600}}, time.Minute))
	if _, ok := got["audit-log-path"]; !ok || len(got) != 6 {
		t.Errorf("failed checks on a kubeadm manifest: %v", got)
	}
}
