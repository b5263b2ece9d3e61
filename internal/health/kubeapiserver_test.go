package health

import (
	"reflect"
	"testing"
	"time"
)

func TestParseProcesses(t *testing.T) {
	out := "123 4567 kube-apiserver\x1f--secure-port=6443\x1f--audit-log-path=/var/log/a b\x1f\n" +
		"garbage line\n" +
		"99 12 kube-apiserver\x1f\n" +
		"x 12 kube-apiserver\x1f\n"
	got := parseProcesses(out)
	want := []Process{
		{PID: 123, Start: 4567, Argv: []string{"kube-apiserver", "--secure-port=6443", "--audit-log-path=/var/log/a b"}},
		{PID: 99, Start: 12, Argv: []string{"kube-apiserver"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
}

func TestFailedChecks(t *testing.T) {
	body := "[+]ping ok\n[-]etcd failed: reason withheld\n[+]log ok\n[-]poststarthook/rbac failed\nreadyz check failed\n"
	if got := failedChecks([]byte(body)); got != "[-]etcd failed: reason withheld; [-]poststarthook/rbac failed" {
		t.Errorf("failedChecks = %q", got)
	}
	if got := failedChecks([]byte("Unauthorized\n")); got != "Unauthorized" {
		t.Errorf("failedChecks without check lines = %q", got)
	}
}

func TestDefaults(t *testing.T) {
	g := &KubeAPIServer{Timeout: 90 * time.Second}
	if g.ManifestPath() != "/etc/kubernetes/manifests/kube-apiserver.yaml" {
		t.Errorf("ManifestPath %q", g.ManifestPath())
	}
	want := "kube-apiserver of /etc/kubernetes/manifests/kube-apiserver.yaml restarted with the new flags, /livez and /readyz OK on 127.0.0.1 at its --secure-port (timeout 1m30s)"
	if d := g.Describe(); d != want {
		t.Errorf("Describe:\n%s\nwant\n%s", d, want)
	}
}
