package facts

import (
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"
)

func TestParse(t *testing.T) {
	out := `kernel=6.1.0-18-amd64
arch=x86_64
os=Linux
hostname=m1
id=uid=1000(ops) gid=1000(ops) groups=1000(ops),27(sudo)
systemd=1
--- os-release
PRETTY_NAME="Rocky Linux 9.3 (Blue Onyx)"
ID="rocky"
ID_LIKE="rhel centos fedora"
VERSION_ID="9.3"
--- passwd
root:x:0:0:root:/root:/bin/bash
toor:x:0:0:second root:/root:/bin/sh
ops:x:1000:1000::/home/ops:/bin/bash
broken line
--- group
root:x:0:
wheel:x:10:ops
`
	f := Parse([]byte(out))
	want := Facts{OSFamily: "linux", Distro: "rocky", DistroVersion: "9.3", DistroFamily: "rhel", Kernel: "6.1.0-18-amd64",
		Arch: "x86_64", Hostname: "m1", User: "ops", UID: 1000, Systemd: true}
	got := *f
	got.users, got.groups, got.userNames, got.groupNames = nil, nil, nil, nil
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	if id, ok := f.UserID("ops"); !ok || id != 1000 {
		t.Errorf("UserID(ops) = %d, %v", id, ok)
	}
	if _, ok := f.UserID("broken line"); ok {
		t.Errorf("a malformed passwd line became a user")
	}
	if n := f.UserName(0); n != "root" {
		t.Errorf("UserName(0) = %q, want the first listed name", n)
	}
	if n := f.GroupName(4242); n != "4242" {
		t.Errorf("unknown gid prints as %q", n)
	}
	if id, ok := f.GroupID("wheel"); !ok || id != 10 {
		t.Errorf("GroupID(wheel) = %d, %v", id, ok)
	}
	v := f.Value()
	if v.GetAttr("distro_family") != cty.StringVal("rhel") || v.GetAttr("firewalld") != cty.False {
		t.Errorf("Value: %#v", v)
	}
}

// Firewalld's state: known (Script), or left open (ScriptAskingNotFirewalld) until the
// caller answers it; the two scripts differ in that alone.
func TestFirewalldFact(t *testing.T) {
	for _, tc := range []struct {
		line             string
		running, unasked bool
	}{{"", false, false}, {"firewalld=1\n", true, false}, {"firewalld=unasked\n", false, true}} {
		f := Parse([]byte("os=Linux\n" + tc.line))
		if f.Firewalld != tc.running || f.FirewalldUnasked() != tc.unasked {
			t.Errorf("%q: running %v, unasked %v", tc.line, f.Firewalld, f.FirewalldUnasked())
		}
		if tc.unasked {
			f.SetFirewalld(true)
			if !f.Firewalld || f.FirewalldUnasked() || f.Value().GetAttr("firewalld") != cty.True {
				t.Errorf("answered: %+v", *f)
			}
		}
	}
	asking := strings.Replace(ScriptAskingNotFirewalld, "if "+FirewalldMayRun+"; then echo firewalld=unasked; fi", FirewalldCheck, 1)
	if asking != Script || strings.Contains(ScriptAskingNotFirewalld, "busctl") {
		t.Errorf("the scripts differ in more than firewalld's check:\n%s\n---\n%s", ScriptAskingNotFirewalld, Script)
	}
}

func TestFamily(t *testing.T) {
	for _, tc := range []struct{ id, like, want string }{
		{"debian", "", "debian"},
		{"ubuntu", "debian", "debian"},
		{"centos", "rhel fedora", "rhel"},
		{"almalinux", "rhel centos fedora", "rhel"},
		{"opensuse-leap", "suse opensuse", "suse"},
		{"alpine", "", "alpine"},
	} {
		if got := family(tc.id, tc.like); got != tc.want {
			t.Errorf("family(%q, %q) = %q, want %q", tc.id, tc.like, got, tc.want)
		}
	}
}

func TestKubernetesVersion(t *testing.T) {
	for _, tc := range []struct{ out, want string }{
		{"kube_image=registry.k8s.io/kube-apiserver:v1.32.13\n", "v1.32.13"},
		{"kube_image=\"registry.k8s.io/kube-apiserver:v1.28.3\"\nkube_binary=Kubernetes v1.27.0\n", "v1.28.3"},
		{"kube_image=myreg:5000/kube-apiserver:v1.30.1@sha256:abc\n", "v1.30.1"},
		{"kube_image=myreg:5000/kube-apiserver\nkube_binary=Kubernetes v1.27.0\n", "v1.27.0"},
		{"kube_image=registry.k8s.io/kube-apiserver:latest\n", ""},
		{"kube_binary=Kubernetes v1.31.2\n", "v1.31.2"},
		{"kube_binary=garbage\n", ""},
		{"", ""},
	} {
		f := Parse([]byte(tc.out))
		if f.KubernetesVersion != tc.want {
			t.Errorf("%q: KubernetesVersion %q, want %q", tc.out, f.KubernetesVersion, tc.want)
		}
		if got := f.Value().GetAttr("kubernetes_version").AsString(); got != tc.want {
			t.Errorf("%q: host.facts.kubernetes_version %q", tc.out, got)
		}
	}
}

// The script itself, run here: every fact it promises comes out, in few processes.
func TestScriptRunsHere(t *testing.T) {
	out, err := exec.Command("/bin/sh", "-c", Script).Output()
	if err != nil {
		t.Fatal(err)
	}
	f := Parse(out)
	if f.OSFamily != "linux" || f.Kernel == "" || f.Arch == "" || f.Hostname == "" || f.User == "" || f.Distro == "" {
		t.Errorf("facts of this machine: %+v", *f)
	}
	if u, err := user.Current(); err != nil || f.User != u.Username || strconv.Itoa(f.UID) != u.Uid {
		t.Errorf("user %q uid %d; want %v", f.User, f.UID, u)
	}
	if _, ok := f.UserID("root"); !ok {
		t.Errorf("passwd section not read")
	}
	if _, ok := f.GroupID("root"); !ok {
		t.Errorf("group section not read")
	}
	// Without the arch file (kernels before 6.1), uname says the same.
	old, err := exec.Command("/bin/sh", "-c", strings.ReplaceAll(Script, archFile, "/nonexistent/arch")).Output()
	if err != nil {
		t.Fatal(err)
	}
	if o := Parse(old); o.OSFamily != f.OSFamily || o.Kernel != f.Kernel || o.Arch != f.Arch {
		t.Errorf("from uname: %q %q %q; from /proc: %q %q %q", o.OSFamily, o.Kernel, o.Arch, f.OSFamily, f.Kernel, f.Arch)
	}
}

// The script's awk: the manifest's image, and the user where /etc/passwd does not hold
// it (a directory service's user), from id itself.
func TestScriptAwk(t *testing.T) {
	dir := t.TempDir()
	manifest := filepath.Join(dir, "kube-apiserver.yaml")
	if err := os.WriteFile(manifest, []byte("spec:\n  containers:\n  - command:\n    - kube-apiserver\n    image: registry.k8s.io/kube-apiserver:v1.32.13\n    name: kube-apiserver\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "passwd")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	here := Parse(mustRun(t, Script))
	for _, tc := range []struct {
		name, script, version string
	}{
		{"manifest", strings.Replace(Script, "/etc/kubernetes/manifests/kube-apiserver.yaml", manifest, 1), "v1.32.13"},
		{"manifest with no image", strings.Replace(Script, "/etc/kubernetes/manifests/kube-apiserver.yaml", empty, 1), ""},
		{"user not in passwd", strings.Replace(Script, "/etc/passwd", empty, 1), ""},
		{"no /proc/self/status", strings.Replace(Script, "/proc/self/status", "/nonexistent", 1), ""},
	} {
		f := Parse(mustRun(t, tc.script))
		if f.KubernetesVersion != tc.version || f.User != here.User || f.UID != here.UID || f.Distro != here.Distro {
			t.Errorf("%s: version %q user %q uid %d distro %q; want %q %q %d %q", tc.name, f.KubernetesVersion, f.User, f.UID, f.Distro,
				tc.version, here.User, here.UID, here.Distro)
		}
	}
}

func mustRun(t *testing.T, script string) []byte {
	t.Helper()
	out, err := exec.Command("/bin/sh", "-c", script).Output()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestParseWindows(t *testing.T) {
	for _, tc := range []struct {
		name, out string
		want      Facts
	}{
		{"english", "hostname=WINFWD01\r\nuser=Administrator\r\narch=AMD64\r\n\r\nMicrosoft Windows [Version 10.0.20348.2227]\r\n",
			Facts{OSFamily: "windows", Distro: "windows", DistroFamily: "windows", DistroVersion: "10.0.20348.2227",
				Hostname: "WINFWD01", User: "Administrator", Arch: "amd64"}},
		{"spanish ver", "hostname=FWD\r\nuser=admin\r\narch=ARM64\r\n\r\nMicrosoft Windows [Versión 10.0.17763.5458]\r\n",
			Facts{OSFamily: "windows", Distro: "windows", DistroFamily: "windows", DistroVersion: "10.0.17763.5458",
				Hostname: "FWD", User: "admin", Arch: "arm64"}},
		// A profile script that prints extra text must not make up facts.
		{"noise", "Welcome!\r\nhostname=H\r\n", Facts{OSFamily: "windows", Distro: "windows", DistroFamily: "windows", Hostname: "H"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := *parseWindows([]byte(tc.out))
			got.users, got.groups, got.userNames, got.groupNames = nil, nil, nil, nil
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}
