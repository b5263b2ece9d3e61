package kubeyaml

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hostplan/hostplan/internal/diff"
	"github.com/hostplan/hostplan/internal/golden"
)

// auditEdit is the change of domain.md section 3 (audit logging for the Security Center),
// for cluster id c123.
func auditEdit() PodEdit {
	return PodEdit{
		Container: "kube-apiserver",
		Flags: []Flag{
			{"audit-log-maxbackup", "10"},
			{"audit-log-maxsize", "100"},
			{"audit-log-path", "/var/log/kubernetes/kubernetes.audit"},
			{"audit-log-maxage", "30"},
			{"audit-policy-file", "/etc/kubernetes/audit-policy.yaml"},
		},
		Env: []EnvVar{
			{"aliyun_logs_audit-c123", "/var/log/kubernetes/kubernetes.audit"},
			{"aliyun_logs_audit-c123_tags", "audit=apiserver"},
			{"aliyun_logs_audit-c123_product", "k8s-audit"},
			{"aliyun_logs_audit-c123_jsonfile", "true"},
		},
		VolumeMounts: []VolumeMount{
			{Name: "k8s-audit", MountPath: "/var/log/kubernetes"},
			{Name: "audit-policy", MountPath: "/etc/kubernetes/audit-policy.yaml", ReadOnly: true},
		},
		Volumes: []HostPathVolume{
			{"k8s-audit", "/var/log/kubernetes", "DirectoryOrCreate"},
			{"audit-policy", "/etc/kubernetes/audit-policy.yaml", "FileOrCreate"},
		},
	}
}

// hardenEdit replaces, keeps, adds and removes flags, and sets a numeric env value.
func hardenEdit() PodEdit {
	return PodEdit{
		Container: "kube-apiserver",
		Flags: []Flag{
			{"enable-admission-plugins", "NodeRestriction,PodSecurity"},
			{"authorization-mode", "Node,RBAC"},
			{"profiling", "false"},
			{"tls-min-version", "VersionTLS12"},
		},
		RemoveFlags: []string{"enable-bootstrap-token-auth", "insecure-port"},
		Env:         []EnvVar{{"GOMAXPROCS", "2"}},
	}
}

func auditClusterEdit() ClusterEdit {
	return ClusterEdit{
		ExtraArgs: auditEdit().Flags,
		ExtraVolumes: []ExtraVolume{
			{Name: "k8s-audit", HostPath: "/var/log/kubernetes", MountPath: "/var/log/kubernetes", PathType: "DirectoryOrCreate"},
			{Name: "audit-policy", HostPath: "/etc/kubernetes/audit-policy.yaml", MountPath: "/etc/kubernetes/audit-policy.yaml", PathType: "FileOrCreate", ReadOnly: true},
		},
	}
}

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// removedLines are the lines a unified diff removes, sorted: every other line of the input
// is in the output, byte for byte and in order.
func removedLines(unified string) []string {
	var out []string
	lines := strings.Split(unified, "\n")
	for i, l := range lines {
		if i >= 2 && strings.HasPrefix(l, "-") {
			out = append(out, l[1:])
		}
	}
	slices.Sort(out)
	return out
}

func sorted(s ...string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

var podGoldenCases = []struct {
	input, edit string
	e           PodEdit
	removed     []string // exactly the lines of the input the edit may change
}{
	{"kube-apiserver.v1.32.yaml", "audit", auditEdit(), nil},
	{"kube-apiserver.v1.24.yaml", "audit", auditEdit(), nil},
	{"kube-apiserver.indent4.yaml", "audit", auditEdit(), nil},
	{"kube-apiserver.args.yaml", "audit", auditEdit(), nil},
	{"kube-apiserver.audit-existing.yaml", "audit", auditEdit(), sorted(
		"    - --audit-log-maxage=7",
		`    - "3"`,
		"    - --audit-log-path=/var/log/apiserver/audit.log",
		"      valueFrom:",
		"        configMapKeyRef:",
		"          key: audit-log-path",
		"          name: apiserver-audit",
		"      value: true",
		"    - mountPath: /var/log/apiserver",
		"      readOnly: false",
		"      path: /var/log/apiserver",
	)},
	{"kube-apiserver.v1.32.yaml", "harden", hardenEdit(), sorted(
		"    - --enable-admission-plugins=NodeRestriction",
		"    - --enable-bootstrap-token-auth=true",
	)},
	{"kube-apiserver.indent4.yaml", "harden", hardenEdit(), sorted(
		"              - --enable-admission-plugins=NodeRestriction",
		"              - --enable-bootstrap-token-auth=true",
	)},
	{"kube-apiserver.args.yaml", "harden", hardenEdit(), sorted(
		`    - "--enable-admission-plugins=NodeRestriction"`,
		`    - "--enable-bootstrap-token-auth=true"`,
		`      value: "4"`,
	)},
}

func TestGoldenStaticPod(t *testing.T) {
	for _, tc := range podGoldenCases {
		base := strings.TrimSuffix(tc.input, ".yaml") + "." + tc.edit
		t.Run(base, func(t *testing.T) {
			src := readTestdata(t, tc.input)
			out, err := EditStaticPod(src, tc.e)
			if err != nil {
				t.Fatal(err)
			}
			golden.Check(t, base+".out.yaml", out)
			d := diff.Unified("a/"+tc.input, "b/"+tc.input, src, out, diff.DefaultContext)
			golden.Check(t, base+".diff", []byte(d))
			if got := removedLines(d); !slices.Equal(got, tc.removed) {
				t.Errorf("removed lines:\n%q\nwant:\n%q", got, tc.removed)
			}
			if err := ValidateStaticPod(out, tc.e.Container); err != nil {
				t.Errorf("result does not validate: %v", err)
			}
			checkPodEffect(t, out, tc.e)
			again, err := EditStaticPod(out, tc.e)
			if err != nil {
				t.Fatalf("second run: %v", err)
			}
			if !bytes.Equal(again, out) || &again[0] != &out[0] {
				t.Errorf("second run changed the result or did not return its input")
			}
		})
	}
}

// checkPodEffect reads the result back and checks that it holds the edit.
func checkPodEffect(t testing.TB, out []byte, e PodEdit) {
	t.Helper()
	c, err := ParseContainer(out, e.Container)
	if err != nil {
		t.Fatal(err)
	}
	flags, err := c.Flags()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, f := range flags {
		got[f.Name] = f.Value
	}
	for _, f := range e.Flags {
		if v, ok := got[f.Name]; !ok || v != f.Value {
			t.Errorf("flag --%s = %q (present %v), want %q", f.Name, v, ok, f.Value)
		}
	}
	for _, name := range e.RemoveFlags {
		if _, ok := got[name]; ok {
			t.Errorf("flag --%s still present", name)
		}
	}
	env := map[string]string{}
	for _, ev := range c.Env {
		env[ev.Name] = ev.Value
	}
	for _, ev := range e.Env {
		if v, ok := env[ev.Name]; !ok || v != ev.Value {
			t.Errorf("env %s = %q (present %v), want %q", ev.Name, v, ok, ev.Value)
		}
	}
	// Generic decoding: unrelated fields of a fuzzed manifest may hold any type.
	var pod map[string]any
	if err := yamlUnmarshal(out, &pod); err != nil {
		t.Fatal(err)
	}
	spec, _ := pod["spec"].(map[string]any)
	items := func(v any) []map[string]any {
		var out []map[string]any
		list, _ := v.([]any)
		for _, it := range list {
			if m, ok := it.(map[string]any); ok {
				out = append(out, m)
			}
		}
		return out
	}
	for _, want := range e.VolumeMounts {
		found := false
		for _, c := range items(spec["containers"]) {
			for _, m := range items(c["volumeMounts"]) {
				if c["name"] == e.Container && m["name"] == want.Name {
					ro, _ := m["readOnly"].(bool)
					found = m["mountPath"] == want.MountPath && ro == want.ReadOnly
				}
			}
		}
		if !found {
			t.Errorf("volumeMount %+v missing or different", want)
		}
	}
	for _, want := range e.Volumes {
		found := false
		for _, v := range items(spec["volumes"]) {
			if hp, ok := v["hostPath"].(map[string]any); ok && v["name"] == want.Name {
				typ, _ := hp["type"].(string)
				found = hp["path"] == want.Path && typ == want.Type
			}
		}
		if !found {
			t.Errorf("volume %+v missing or different", want)
		}
	}
}

var clusterGoldenCases = []struct {
	input, edit string
	e           ClusterEdit
	removed     []string
}{
	{"cluster.v1beta3.yaml", "audit", auditClusterEdit(), nil},
	{"cluster.v1beta3-some.yaml", "audit", auditClusterEdit(), sorted(
		`    audit-log-maxage: "7"`,
		"    audit-log-path: /var/log/apiserver/audit.log",
		"  - hostPath: /var/log/apiserver",
		"    mountPath: /var/log/apiserver",
	)},
	{"cluster.v1beta4.yaml", "audit", auditClusterEdit(), sorted("apiServer: {}")},
	{"cluster.v1beta4-some.yaml", "audit", auditClusterEdit(), sorted(
		`    value: "7"`,
		"    value: /var/log/apiserver/audit.log",
	)},
	{"cluster.v1beta3-some.yaml", "remove", ClusterEdit{RemoveArgs: []string{"profiling", "audit-log-path", "not-there"}}, sorted(
		"    audit-log-path: /var/log/apiserver/audit.log",
		`    profiling: "false"`,
	)},
	{"cluster.v1beta4-some.yaml", "remove", ClusterEdit{RemoveArgs: []string{"profiling", "audit-log-path", "not-there"}}, sorted(
		"  - name: audit-log-path",
		"    value: /var/log/apiserver/audit.log",
		"  - name: profiling",
		`    value: "false"`,
	)},
}

func TestGoldenClusterConfiguration(t *testing.T) {
	for _, tc := range clusterGoldenCases {
		base := strings.TrimSuffix(tc.input, ".yaml") + "." + tc.edit
		t.Run(base, func(t *testing.T) {
			src := readTestdata(t, tc.input)
			out, err := EditClusterConfiguration(src, tc.e)
			if err != nil {
				t.Fatal(err)
			}
			golden.Check(t, base+".out.yaml", out)
			d := diff.Unified("a/"+tc.input, "b/"+tc.input, src, out, diff.DefaultContext)
			golden.Check(t, base+".diff", []byte(d))
			if got := removedLines(d); !slices.Equal(got, tc.removed) {
				t.Errorf("removed lines:\n%q\nwant:\n%q", got, tc.removed)
			}
			checkClusterEffect(t, out, tc.e)
			again, err := EditClusterConfiguration(out, tc.e)
			if err != nil {
				t.Fatalf("second run: %v", err)
			}
			if !bytes.Equal(again, out) || &again[0] != &out[0] {
				t.Errorf("second run changed the result or did not return its input")
			}
		})
	}
}

// checkClusterEffect decodes the result as kubeadm would and checks that it holds the edit.
func checkClusterEffect(t testing.TB, out []byte, e ClusterEdit) {
	t.Helper()
	// Generic decoding: unrelated fields of a fuzzed document may hold any type.
	var cfg map[string]any
	if err := yamlUnmarshal(out, &cfg); err != nil {
		t.Fatal(err)
	}
	apiServer, _ := cfg["apiServer"].(map[string]any)
	args := map[string]any{}
	switch a := apiServer["extraArgs"].(type) {
	case map[string]any:
		if cfg["apiVersion"] == kubeadmV1beta4 {
			t.Errorf("v1beta4 extraArgs written as a map")
		}
		args = a
	case []any:
		if cfg["apiVersion"] != kubeadmV1beta4 {
			t.Errorf("%s extraArgs written as a list", cfg["apiVersion"])
		}
		for _, it := range a {
			if m, ok := it.(map[string]any); ok {
				if name, ok := m["name"].(string); ok {
					args[name] = m["value"]
				}
			}
		}
	}
	for _, f := range e.ExtraArgs {
		if v, ok := args[f.Name].(string); !ok || v != f.Value {
			t.Errorf("extraArgs %s = %#v, want the string %q", f.Name, args[f.Name], f.Value)
		}
	}
	for _, name := range e.RemoveArgs {
		if _, ok := args[name]; ok {
			t.Errorf("extraArgs %s still present", name)
		}
	}
	vols, _ := apiServer["extraVolumes"].([]any)
	for _, want := range e.ExtraVolumes {
		found := false
		for _, it := range vols {
			v, _ := it.(map[string]any)
			if v["name"] == want.Name {
				ro, _ := v["readOnly"].(bool)
				pt, _ := v["pathType"].(string)
				found = v["hostPath"] == want.HostPath && v["mountPath"] == want.MountPath && pt == want.PathType && ro == want.ReadOnly
			}
		}
		if !found {
			t.Errorf("extraVolume %+v missing or different", want)
		}
	}
}
