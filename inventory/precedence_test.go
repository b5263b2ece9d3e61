package inventory

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

func TestPrecedence(t *testing.T) {
	src := `[all:vars]
v=all
only_all=1
ansible_user=from_all
ansible_become=true

[outer:children]
parent

[parent:children]
child

[parent:vars]
v=parent
ansible_user=from_parent
ansible_port=1000

[child]
h1
h2 v=host ansible_user=from_host ansible_become=no

[child:vars]
v=child
ansible_port=2000

; same depth as outer (1): the later name wins
[zeta]
h1
[zeta:vars]
tie=zeta
[alpha]
h1
[alpha:vars]
tie=alpha

; depth beats name: aaa (depth 2) wins over zzz (depth 1)
[zzz]
h1
[zzz:vars]
deep=zzz
[top:children]
aaa
[aaa]
h1
[aaa:vars]
deep=aaa
`
	inv := mustLoadSrc(t, "hosts.ini", src)
	tests := []struct {
		host, what, want string
	}{
		{"h1", "v", "child"},
		{"h1", "only_all", "1"},
		{"h1", "tie", "zeta"},
		{"h1", "deep", "aaa"},
		{"h1", "user", "from_parent"},
		{"h1", "port", "2000"},
		{"h1", "become", "true"},
		{"h2", "v", "host"},
		{"h2", "user", "from_host"},
		{"h2", "port", "2000"},
		{"h2", "become", "false"},
	}
	for _, tt := range tests {
		h := inv.Host(tt.host)
		var got string
		switch tt.what {
		case "user":
			got = h.Conn.User
		case "port":
			got = itoa(h.Conn.Port)
		case "become":
			got = map[bool]string{true: "true", false: "false"}[h.Conn.Become]
		default:
			got = h.Vars[tt.what].AsString()
		}
		if got != tt.want {
			t.Errorf("%s %s = %q, want %q", tt.host, tt.what, got, tt.want)
		}
	}
	if got := strings.Join(inv.Host("h1").Groups, " "); got != "aaa all alpha child outer parent top zeta zzz" {
		t.Errorf("h1 groups = %q", got)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func TestHCLPrecedence(t *testing.T) {
	t.Setenv("HOME", testHome)
	inv := mustLoad(t, "testdata/cluster.hcl")
	cwd, _ := os.Getwd()
	m1, fwd, ws := inv.Host("master-1"), inv.Host("forwarder"), inv.Host("workstation")
	tests := []struct{ name, got, want string }{
		{"defaults user", m1.Conn.User, "ops"},
		{"host user beats defaults", fwd.Conn.User, "centos"},
		{"host port beats defaults", itoa(fwd.Conn.Port), "2222"},
		{"host become=false beats defaults", map[bool]string{true: "true", false: "false"}[fwd.Conn.Become], "false"},
		{"defaults bastion", m1.Conn.Bastion, "jump@bastion.example.com:2222"},
		{"bastion = \"\" clears it", fwd.Conn.Bastion, ""},
		{"identity list, relative to the file, ~ expanded", strings.Join(fwd.Conn.IdentityFile, " "), cwd + "/testdata/keys/forwarder /home/tester/.ssh/id_rsa"},
		{"known_hosts relative to the file", m1.Conn.KnownHosts, cwd + "/testdata/keys/known_hosts"},
		{"child group var beats parent", m1.Vars["role"].AsString(), "control-plane"},
		{"host var beats groups", showHCL(m1.Vars["weight"]), "10"},
		{"group var beats parent", showHCL(inv.Host("master-2").Vars["weight"]), "1"},
		{"parent var inherited", m1.Vars["cluster"].AsString(), "prod"},
		{"ungrouped", strings.Join(ws.Groups, " "), "all ungrouped"},
		{"etcd inside k8s", strings.Join(m1.Groups, " "), "all etcd k8s masters"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, tt.got, tt.want)
		}
	}
	if !fwd.noBastion || m1.noBastion {
		t.Errorf("noBastion: forwarder %v, master-1 %v", fwd.noBastion, m1.noBastion)
	}
}

func TestMerge(t *testing.T) {
	t.Setenv("HOME", testHome)
	files := map[string]string{
		"a.hcl": `defaults {
  user = "a-default"
}
host "x" {
  port   = 2201
  groups = ["g1"]
  vars   = { k = "a", only_a = true }
}
`,
		"b.hcl": `host "x" {
  port   = 2202
  groups = ["g2"]
  vars   = { k = "b" }
}
host "y" {
}
`,
		"c.ini": "[g3]\nx ansible_user=from-ini k=c\n[g1:vars]\ngv=1\n",
	}
	paths := writeFiles(t, []string{"a.hcl", "b.hcl", "c.ini"}, files)
	inv := mustLoad(t, paths...)
	x, y := inv.Host("x"), inv.Host("y")
	if x.Conn.Port != 2202 {
		t.Errorf("later file's port: %d", x.Conn.Port)
	}
	if x.Conn.User != "from-ini" {
		t.Errorf("host setting beats defaults: user %q", x.Conn.User)
	}
	if y.Conn.User != "" {
		t.Errorf("a.hcl's defaults leaked into b.hcl's host y: user %q", y.Conn.User)
	}
	if got := strings.Join(x.Groups, " "); got != "all g1 g2 g3" {
		t.Errorf("groups union: %q", got)
	}
	if x.Vars["k"].AsString() != "c" || !x.Vars["only_a"].True() || x.Vars["gv"].AsString() != "1" {
		t.Errorf("vars: %#v", x.Vars)
	}
	if got := hostNames(inv.Hosts); got != "x y" {
		t.Errorf("order: %q", got)
	}
	// Load order matters: the other way round, a.hcl wins.
	inv = mustLoad(t, paths[2], paths[1], paths[0])
	if x := inv.Host("x"); x.Conn.Port != 2201 || x.Vars["k"].AsString() != "a" {
		t.Errorf("reversed: port %d k %#v", x.Conn.Port, x.Vars["k"])
	}
	// A duplicate host in two files is not an error; in one file it is (see
	// TestHCLDiagnostics).
	if got := strings.Join(inv.Groups["all"].Hosts, " "); got != "x y" {
		t.Errorf("all hosts: %q", got)
	}
}

// A child group defined in another file is fine.
func TestChildDefinedElsewhere(t *testing.T) {
	paths := writeFiles(t, []string{"groups.hcl", "hosts.ini"}, map[string]string{
		"groups.hcl": "group \"k8s\" {\n  children = [\"masters\"]\n  vars = { cluster = \"prod\" }\n}\n",
		"hosts.ini":  "[masters]\nm1\n",
	})
	inv := mustLoad(t, paths...)
	if got := strings.Join(inv.Host("m1").Groups, " "); got != "all k8s masters" {
		t.Errorf("groups = %q", got)
	}
	if inv.Host("m1").Vars["cluster"].AsString() != "prod" {
		t.Error("parent group vars not applied")
	}
}
