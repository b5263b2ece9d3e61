package inventory

import (
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"
)

func TestParseHostPattern(t *testing.T) {
	tests := []struct {
		in    string
		names string // space separated
		port  int
		err   string
	}{
		{in: "web1", names: "web1"},
		{in: "web1.example.com:2222", names: "web1.example.com", port: 2222},
		{in: "web[01:03].example.com", names: "web01.example.com web02.example.com web03.example.com"},
		{in: "web[1:3]", names: "web1 web2 web3"},
		{in: "web[8:11]", names: "web8 web9 web10 web11"},
		{in: "web[008:011]", names: "web008 web009 web010 web011"},
		{in: "node[1:10:3]", names: "node1 node4 node7 node10"},
		{in: "node[01:10:4]", names: "node01 node05 node09"},
		{in: "db-[a:d]", names: "db-a db-b db-c db-d"},
		{in: "db-[a:e:2]", names: "db-a db-c db-e"},
		{in: "db-[y:B]", names: "db-y db-z db-A db-B"},
		{in: "r[1:2]-n[a:b]", names: "r1-na r1-nb r2-na r2-nb"},
		{in: "web[1:2]:2222", names: "web1 web2", port: 2222},
		{in: "10.0.0.1", names: "10.0.0.1"},
		{in: "10.0.0.1:22", names: "10.0.0.1", port: 22},
		{in: "2001:db8::1", names: "2001:db8::1"},
		{in: "[2001:db8::1]:2222", names: "2001:db8::1", port: 2222},
		{in: "[::1]", names: "::1"},
		{in: "web[1-3]", err: "is malformed"},
		{in: "web[1:]", err: "needs both a begin and an end"},
		{in: "web[01:100]", err: "same number of digits"},
		{in: "web[a:3]", err: "neither numeric nor a single-letter range"},
		{in: "web[1:a]", err: "mixes a number and a letter"},
		{in: "web[aa:bb]", err: "neither numeric"},
		{in: "web[3:1]", err: "begin greater than its end"},
		{in: "web[1:3:x]", err: "step that is not a positive number"},
		{in: "web[1:3", err: "unbalanced brackets"},
		{in: "web1]", err: "unbalanced brackets"},
		{in: "web1:0", err: "from 1 to 65535"},
		{in: "web1:ssh", err: `port "ssh"`},
		{in: "a:b:c", err: "not an IPv6 address"},
		{in: "[fe80::zz]:22", err: "not an IPv6 address"},
		{in: "w[0:99999]x[0:9]", err: "expands to more than 100000 hosts"},
		{in: "w[0:100000]", err: "expands to more than 100000 hosts"},
		{in: "w[0:99999]" + strings.Repeat("x", 250), err: "is 260 bytes long; a host name or pattern has at most 255"},
		// The count of names, end-begin+1, overflows here (found by FuzzYAMLInventory,
		// which ran out of memory expanding it).
		{in: "w[0:9223372036854775807]", err: "expands to more than 100000 hosts"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			names, port, err := parseHostPattern(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(names, " "); got != tt.names || port != tt.port {
				t.Errorf("got %q port %d, want %q port %d", got, port, tt.names, tt.port)
			}
		})
	}
}

// hostVar loads src and returns host's variable.
func TestINIValues(t *testing.T) {
	src := `# comment
; another comment
plain a=1 b=two
quoted s="a b" q='c d' e="say \"hi\"" esc=x\ y
hash h=a#b   # trailing comment
empty e=
  indented i=1
[g]
inner
[g:vars]
sp = spaced value   # comment
dq = "quoted # not a comment"
sq='single'
mixed = "a" "b"
noval=
eq = a=b
`
	inv := mustLoadSrc(t, "hosts", src)
	tests := []struct{ host, key, want string }{
		{"plain", "a", "1"},
		{"plain", "b", "two"},
		{"quoted", "s", "a b"},
		{"quoted", "q", "c d"},
		{"quoted", "e", `say "hi"`},
		{"quoted", "esc", "x y"},
		{"hash", "h", "a#b"},
		{"empty", "e", ""},
		{"indented", "i", "1"},
		{"inner", "sp", "spaced value"},
		{"inner", "dq", "quoted # not a comment"},
		{"inner", "sq", "single"},
		{"inner", "mixed", `"a" "b"`},
		{"inner", "noval", ""},
		{"inner", "eq", "a=b"},
	}
	for _, tt := range tests {
		h := inv.Host(tt.host)
		if h == nil {
			t.Fatalf("no host %q; hosts: %s", tt.host, hostNames(inv.Hosts))
		}
		v, ok := h.Vars[tt.key]
		if !ok {
			t.Errorf("%s: no var %q", tt.host, tt.key)
			continue
		}
		if v.Type() != cty.String || v.AsString() != tt.want {
			t.Errorf("%s.%s = %#v, want %q", tt.host, tt.key, v, tt.want)
		}
	}
	if got := hostNames(inv.GroupHosts("ungrouped")); got != "plain quoted hash empty indented" {
		t.Errorf("ungrouped = %q", got)
	}
	if len(inv.Hosts) != 6 {
		t.Errorf("hosts = %q; comments must not become hosts", hostNames(inv.Hosts))
	}
}

func TestINIConnectionVars(t *testing.T) {
	src := `
a ansible_host=10.0.0.1 ansible_port=2222 ansible_user=deploy ansible_ssh_private_key_file=keys/a ansible_become=Yes ansible_become_user=postgres ansible_connection=ssh
b ansible_ssh_host=10.0.0.2 ansible_ssh_port=2200 ansible_ssh_user=old ansible_become=0 ansible_connection=local
c:2022 ansible_become=TRUE ansible_become_method=sudo ansible_shell_type=sh ansible_python_interpreter=/usr/bin/python3
win ansible_shell_type=cmd
`
	inv := mustLoadSrc(t, "hosts", src)
	a, b, c := inv.Host("a").Conn, inv.Host("b").Conn, inv.Host("c").Conn
	if a.Address != "10.0.0.1" || a.Port != 2222 || a.User != "deploy" || !a.Become || a.BecomeUser != "postgres" || a.Connection != "ssh" {
		t.Errorf("a: %+v", a)
	}
	if len(a.IdentityFile) != 1 || !strings.HasSuffix(a.IdentityFile[0], "/keys/a") || !strings.HasPrefix(a.IdentityFile[0], "/") {
		t.Errorf("a: key %v should be absolute, relative to the inventory's directory", a.IdentityFile)
	}
	if b.Address != "10.0.0.2" || b.Port != 2200 || b.User != "old" || b.Become || b.Connection != "local" {
		t.Errorf("b: %+v", b)
	}
	if c.Port != 2022 || !c.Become || c.Shell != "sh" {
		t.Errorf("c: %+v", c)
	}
	if w := inv.Host("win").Conn; w.Shell != "cmd" {
		t.Errorf("win: shell %q, want cmd", w.Shell)
	}
	for _, h := range inv.Hosts {
		for k := range h.Vars {
			if strings.HasPrefix(k, "ansible_") {
				t.Errorf("%s: connection variable %s left in Vars", h.Name, k)
			}
		}
	}
	if len(inv.Warnings) != 0 {
		t.Errorf("supported and harmless variables warned: %q", inv.Warnings)
	}
}

func TestAnsibleBool(t *testing.T) {
	for _, s := range []string{"yes", "Yes", "YES", "true", "True", "1", "on", "y", "t"} {
		if b, ok := ansibleBool(cty.StringVal(s)); !ok || !b {
			t.Errorf("%q: got %v %v, want true", s, b, ok)
		}
	}
	for _, s := range []string{"no", "NO", "false", "False", "0", "off", "n", "f"} {
		if b, ok := ansibleBool(cty.StringVal(s)); !ok || b {
			t.Errorf("%q: got %v %v, want false", s, b, ok)
		}
	}
	for _, v := range []cty.Value{cty.StringVal("maybe"), cty.StringVal(""), cty.NumberIntVal(2)} {
		if _, ok := ansibleBool(v); ok {
			t.Errorf("%#v accepted as a boolean", v)
		}
	}
	if b, ok := ansibleBool(cty.True); !ok || !b {
		t.Error("cty.True")
	}
	if b, ok := ansibleBool(cty.NumberIntVal(0)); !ok || b {
		t.Error("0")
	}
}

func TestINIWarnings(t *testing.T) {
	src := `[db]
db[1:3] ansible_ssh_pass=secret ansible_become_password=x
db4 ansible_ssh_pass=secret
[db:vars]
ansible_become_method=su
ansible_winrm_transport=ntlm
[web]
web1 ansible_become_method=doas
web2 ansible_custom_thing=1
[empty]
[empty:vars]
ansible_timeout=5
`
	inv := mustLoadSrc(t, "hosts.ini", src)
	want := []string{
		"ansible_become_method is not supported and was ignored (used by 5 hosts); hostplan always becomes root (or ansible_become_user) with sudo",
		"ansible_become_password is not supported and was ignored (used by 3 hosts); hostplan runs sudo without a password",
		"ansible_custom_thing is not an Ansible setting hostplan knows (used by 1 host); it was kept as an ordinary variable",
		"ansible_ssh_pass is not supported and was ignored (used by 4 hosts); hostplan logs in with keys only",
		"ansible_timeout is not supported and was ignored (used by no host)",
		"ansible_winrm_transport is not supported and was ignored (used by 4 hosts); hostplan connects only with ssh or local",
	}
	if len(inv.Warnings) != len(want) {
		t.Fatalf("got %d warnings, want %d:\n%s", len(inv.Warnings), len(want), strings.Join(inv.Warnings, "\n"))
	}
	for i, w := range want {
		got := inv.Warnings[i]
		if !strings.HasPrefix(got, "inventory ") || !strings.Contains(got, "hosts.ini: ") || !strings.Contains(got, w) {
			t.Errorf("warning %d = %q, want it to contain %q", i, got, w)
		}
	}
	if v := inv.Host("web2").Vars["ansible_custom_thing"]; v.IsNull() || v.AsString() != "1" {
		t.Errorf("unknown ansible_ variable not kept: %#v", v)
	}
	if _, ok := inv.Host("db1").Vars["ansible_ssh_pass"]; ok {
		t.Error("password kept in Vars")
	}
}

// A host that overrides an unsupported group setting with a supported one is not
// counted.
func TestWarningOverridden(t *testing.T) {
	src := "[g]\na\nb ansible_become_method=sudo\n[g:vars]\nansible_become_method=su\n"
	inv := mustLoadSrc(t, "hosts.ini", src)
	if len(inv.Warnings) != 1 || !strings.Contains(inv.Warnings[0], "(used by 1 host)") {
		t.Errorf("warnings = %q", inv.Warnings)
	}
}

func TestYAMLTypes(t *testing.T) {
	src := `all:
  hosts:
    h:
      s: text
      q: "yes"
      n: 42
      neg: -7
      f: 1.5
      big: 12345678901234567890
      b: true
      yes_plain: yes
      off_plain: Off
      octal: 0644
      nul: null
      tilde: ~
      date: 2024-01-02
      list: [1, "two", false]
      empty_list: []
      map: {a: 1, b: {c: [x]}}
      empty_map: {}
      anchor: &a {k: v}
      alias: *a
      merged:
        <<: *a
        extra: 1
      block: |
        line1
        line2
`
	inv := mustLoadSrc(t, "hosts.yml", src)
	vars := inv.Host("h").Vars
	tests := []struct{ key, want, typ string }{
		{"s", `"text"`, "string"},
		{"q", `"yes"`, "string"},
		{"n", "42", "number"},
		{"neg", "-7", "number"},
		{"f", "1.5", "number"},
		{"big", "12345678901234567890", "number"},
		{"b", "true", "bool"},
		{"yes_plain", "true", "bool"},
		{"off_plain", "false", "bool"},
		{"octal", "420", "number"},
		{"nul", "null", "dynamic"},
		{"tilde", "null", "dynamic"},
		{"date", `"2024-01-02"`, "string"},
		{"list", `[1, "two", false]`, "tuple"},
		{"empty_list", "[]", "tuple"},
		{"map", `{a = 1, b = {c = ["x"]}}`, "object"},
		{"empty_map", "{}", "object"},
		{"alias", `{k = "v"}`, "object"},
		{"merged", `{extra = 1, k = "v"}`, "object"},
		{"block", `"line1\nline2\n"`, "string"},
	}
	for _, tt := range tests {
		v, ok := vars[tt.key]
		if !ok {
			t.Errorf("no var %q", tt.key)
			continue
		}
		if got := showHCL(v); got != tt.want || v.Type().FriendlyName() != tt.typ {
			t.Errorf("%s = %s (%s), want %s (%s)", tt.key, got, v.Type().FriendlyName(), tt.want, tt.typ)
		}
	}
}

func TestYAMLStructure(t *testing.T) {
	src := `# groups at the top level are children of all, like in Ansible
web:
  hosts:
    web[1:2]:
    web3:
db:
  hosts:
    db1: {ansible_port: 5432}
  children:
    replicas:
      hosts:
        db-[a:b]:
    empty:
ungrouped:
  hosts:
    lonely:
all:
  hosts:
    web1:     # listed again: still only in web
`
	inv := mustLoadSrc(t, "inv.yaml", src)
	checks := []struct{ group, hosts string }{
		{"all", "web1 web2 web3 db1 db-a db-b lonely"},
		{"web", "web1 web2 web3"},
		{"db", "db1 db-a db-b"},
		{"replicas", "db-a db-b"},
		{"empty", ""},
		{"ungrouped", "lonely"},
	}
	for _, c := range checks {
		if got := hostNames(inv.GroupHosts(c.group)); got != c.hosts {
			t.Errorf("group %s: %q, want %q", c.group, got, c.hosts)
		}
	}
	if got := strings.Join(inv.Groups["all"].Children, " "); got != "ungrouped web db" {
		t.Errorf("all's children = %q", got)
	}
	if got := strings.Join(inv.Host("db-a").Groups, " "); got != "all db replicas" {
		t.Errorf("db-a groups = %q", got)
	}
	if inv.Host("db1").Conn.Port != 5432 {
		t.Errorf("db1 port = %d", inv.Host("db1").Conn.Port)
	}
}

func TestEmptyFiles(t *testing.T) {
	for _, name := range []string{"empty.yml", "empty.ini", "empty.hcl"} {
		for _, src := range []string{"", "# only a comment\n"} {
			inv := mustLoadSrc(t, name, src)
			if len(inv.Hosts) != 0 || strings.Join(inv.GroupNames(), " ") != "all ungrouped" {
				t.Errorf("%s %q: hosts %q groups %q", name, src, hostNames(inv.Hosts), inv.GroupNames())
			}
		}
	}
}

func TestINIAllAndUngroupedSections(t *testing.T) {
	src := "top\n[all]\na\n[ungrouped]\nb\n[web]\nb\nc\n[all:vars]\nx=1\n"
	inv := mustLoadSrc(t, "hosts", src)
	if got := hostNames(inv.GroupHosts("ungrouped")); got != "top a" {
		t.Errorf("ungrouped = %q (b is in web, so not ungrouped)", got)
	}
	if got := strings.Join(inv.Host("b").Groups, " "); got != "all web" {
		t.Errorf("b groups = %q", got)
	}
	if got := strings.Join(inv.Groups["ungrouped"].Hosts, " "); got != "top a" {
		t.Errorf("Groups[ungrouped].Hosts = %q", got)
	}
	if inv.Host("c").Vars["x"].AsString() != "1" {
		t.Error("all:vars not applied")
	}
}
