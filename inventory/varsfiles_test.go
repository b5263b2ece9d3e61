package inventory

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hostplan/hostplan/internal/config"
)

// writeTree writes path→content files (paths with '/') under a fresh directory.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func varOf(t *testing.T, inv *Inventory, host, name string) string {
	t.Helper()
	h := inv.Host(host)
	if h == nil {
		t.Fatalf("no host %s", host)
	}
	v, ok := h.Vars[name]
	if !ok {
		return "<unset>"
	}
	return showHCL(v)
}

// The motivating case: connection settings in group_vars/masters.yml.
func TestGroupVarsConnection(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"hosts.ini":               "[masters]\nm1 ansible_host=10.0.0.1\n[workers]\nw1\n",
		"group_vars/masters.yml":  "ansible_user: deploy\nansible_become: true\n",
		"host_vars/w1.json":       `{"ansible_port": 2200, "role": "worker"}`,
		"group_vars/all/conn.yml": "ansible_ssh_private_key_file: /keys/id\n",
	})
	inv := mustLoad(t, filepath.Join(dir, "hosts.ini"))
	m1, w1 := inv.Host("m1").Conn, inv.Host("w1").Conn
	if m1.User != "deploy" || !m1.Become || m1.Address != "10.0.0.1" {
		t.Errorf("m1: want deploy, become, 10.0.0.1; got %+v", m1)
	}
	if w1.Port != 2200 || w1.User != "" || w1.Become {
		t.Errorf("w1: want port 2200 only; got %+v", w1)
	}
	if strings.Join(w1.IdentityFile, ",") != "/keys/id" || strings.Join(m1.IdentityFile, ",") != "/keys/id" {
		t.Errorf("group_vars/all/ key missing: %v %v", m1.IdentityFile, w1.IdentityFile)
	}
	if got := varOf(t, inv, "w1", "role"); got != `"worker"` {
		t.Errorf("w1 role = %s", got)
	}
}

// Every form Ansible's host_group_vars accepts, and which one wins when several exist.
func TestGroupVarsForms(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"hosts.yml": "all:\n  children:\n    a: {hosts: {h1: }}\n    b: {hosts: {h1: }}\n    c: {hosts: {h1: }}\n    d: {hosts: {h1: }}\n    e: {hosts: {h1: }}\n",
		// .yml beats .yaml, .json and the bare name; a directory of that name too.
		"group_vars/a.yml":  "a: yml\n",
		"group_vars/a.yaml": "a: yaml\n",
		"group_vars/a":      "a: bare\n",
		"group_vars/b.json": `{"b": "json"}`,
		"group_vars/b":      "b: bare\n",
		"group_vars/c":      "c: bare\n",
		// A directory: files in name order, later wins; hidden, backup and other
		// extensions skipped; subdirectories without an extension walked.
		"group_vars/d/10.yml":         "d: ten\nd10: yes\n",
		"group_vars/d/20.yaml":        "d: twenty\n",
		"group_vars/d/30.txt":         "d: txt\n",
		"group_vars/d/.40.yml":        "d: hidden\n",
		"group_vars/d/50.yml~":        "d: backup\n",
		"group_vars/d/sub/60":         "d60: sub\n",
		"group_vars/e.yml/vars.yml":   "e: dir named e.yml\n",
		"group_vars/.hidden.yml":      "x: 1\n",
		"group_vars/a.yml~":           "a: backup\n",
		"host_vars/h1/extra.json":     `{"h": "json in a dir"}`,
		"host_vars/h1/README.md":      "not: read\n",
		"host_vars/h1/nested.d/x.yml": "nested: with an extension, so not a subdirectory Ansible walks\n",
	})
	inv := mustLoad(t, filepath.Join(dir, "hosts.yml"))
	for name, want := range map[string]string{
		"a": `"yml"`, "b": `"json"`, "c": `"bare"`, "d": `"twenty"`, "d10": "true", "d60": `"sub"`,
		"e": `"dir named e.yml"`, "h": `"json in a dir"`, "nested": "<unset>", "not": "<unset>",
	} {
		if got := varOf(t, inv, "h1", name); got != want {
			t.Errorf("%s = %s, want %s", name, got, want)
		}
	}
	// The forms Ansible does not read beside the one it does are reported.
	got := strings.Join(inv.Warnings, "\n")
	for _, want := range []string{"group_vars/a: ignored", "group_vars/a.yaml: ignored", "group_vars/b: ignored", `for group "a": a.yml`} {
		if !strings.Contains(got, want) {
			t.Errorf("warnings lack %q:\n%s", want, got)
		}
	}
	if len(inv.Warnings) != 3 {
		t.Errorf("want 3 warnings:\n%s", got)
	}
}

// Ansible's precedence: inventory-file vars (all < parent < child) < group_vars/all
// (beside the inventory < beside the plan) < other groups' group_vars (beside the
// inventory, then beside the plan; parent < child) < the host's inventory vars <
// host_vars beside the inventory < beside the plan.
func TestGroupVarsPrecedence(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"inv/hosts.ini": `[parent:children]
child
[child]
h1 v_host=inv-host
h2
[all:vars]
v_all=inv-all
[child:vars]
v_child=inv-child
v_gvall=inv-child
`,
		"inv/group_vars/all.yml":      "v_all: gv-all\nv_gvall: gv-all\nv_parent: gv-all\nv_planall: gv-all\n",
		"inv/group_vars/parent.yml":   "v_parent: gv-parent\nv_child: gv-parent\n",
		"inv/group_vars/child.yml":    "v_child: gv-child\nv_plan: gv-child\n",
		"inv/host_vars/h1.yml":        "v_host: hv\nv_planhost: hv\n",
		"plan/group_vars/all.yml":     "v_planall: plan-all\nv_child: plan-all\n",
		"plan/group_vars/parent.yaml": "v_plan: plan-parent\n",
		"plan/host_vars/h1":           "v_planhost: plan-hv\n",
	})
	inv, diags := LoadWith([]string{filepath.Join(dir, "inv/hosts.ini")}, LoadOptions{Files: OSFiles(), PlanDir: filepath.Join(dir, "plan")})
	if diags.HasErrors() {
		t.Fatal(renderDiags(inv, diags))
	}
	for _, c := range []struct{ host, name, want string }{
		{"h1", "v_all", `"gv-all"`},       // group_vars/all beats [all:vars]
		{"h1", "v_gvall", `"gv-all"`},     // ... and a child group's [child:vars] too
		{"h1", "v_parent", `"gv-parent"`}, // a group's file beats group_vars/all
		{"h1", "v_planall", `"plan-all"`}, // beside the plan beats beside the inventory
		{"h1", "v_child", `"gv-child"`},   // a child's file beats its parent's and the plan's all
		{"h1", "v_plan", `"plan-parent"`}, // every plan group file follows the inventory's
		{"h1", "v_host", `"hv"`},          // host_vars beat the host line
		{"h1", "v_planhost", `"plan-hv"`}, // host_vars beside the plan win
		{"h2", "v_host", "<unset>"},
	} {
		if got := varOf(t, inv, c.host, c.name); got != c.want {
			t.Errorf("%s %s = %s, want %s", c.host, c.name, got, c.want)
		}
	}
}

func TestGroupVarsUnknownNameWarns(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"hosts.ini":             "[web]\nw1\n",
		"group_vars/wbe.yml":    "x: 1\n",
		"host_vars/w2.yml":      "x: 1\n",
		"group_vars/web.yml~":   "x: 1\n",
		"group_vars/.web.yml":   "x: 1\n",
		"group_vars/web/a.yml":  "x: 2\n",
		"group_vars/ungrouped":  "x: 3\n",
		"host_vars/w1/note.txt": "ignored",
	})
	inv := mustLoad(t, filepath.Join(dir, "hosts.ini"))
	got := strings.Join(inv.Warnings, "\n")
	for _, want := range []string{`group_vars/wbe.yml: no group named "wbe"`, `host_vars/w2.yml: no host named "w2"`} {
		if !strings.Contains(got, want) {
			t.Errorf("warnings lack %q:\n%s", want, got)
		}
	}
	if len(inv.Warnings) != 2 {
		t.Errorf("want 2 warnings, got:\n%s", got)
	}
}

func TestGroupVarsErrors(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"hosts.ini":              "[web]\nw1\n[db]\nd1\n",
		"group_vars/web.yml":     "ok: 1\ndb_password: !vault |\n  $ANSIBLE_VAULT;1.1;AES256\n  6162\n",
		"group_vars/db.yml":      "$ANSIBLE_VAULT;1.1;AES256\n61626364\n",
		"host_vars/w1.yml":       "- a list\n",
		"group_vars/all/bad.yml": "a: [\n",
	})
	inv, diags := Load([]string{filepath.Join(dir, "hosts.ini")})
	out := renderDiags(inv, diags)
	for _, want := range []string{
		"group_vars/web.yml line 2:", "Ansible Vault is not supported",
		"group_vars/db.yml line 1:", "encrypted with ansible-vault",
		"host_vars/w1.yml line 1:", "Invalid variables file",
		"group_vars/all/bad.yml line 1:", "Invalid YAML",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("diagnostics lack %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "6162") || strings.Contains(out, "61626364") {
		t.Errorf("diagnostics show the ciphertext:\n%s", out)
	}
}

// A saved plan replays group_vars and host_vars from its Snapshot.
func TestGroupVarsSnapshot(t *testing.T) {
	t.Setenv("HOME", testHome)
	dir := writeTree(t, map[string]string{
		"hosts.ini":                "[masters]\nm1\n",
		"group_vars/masters/a.yml": "ansible_user: deploy\n",
		"host_vars/m1.yml":         "ansible_port: 2222\n",
	})
	t.Chdir(dir)
	rec := config.NewRecorder(config.OS)
	inv, diags := LoadWith([]string{"hosts.ini"}, LoadOptions{Files: Files{ReadFile: rec.ReadFile, ListDir: rec.ListDir}})
	if diags.HasErrors() {
		t.Fatal(renderDiags(inv, diags))
	}
	want := dump(inv)
	saved, err := json.Marshal(rec.Snapshot())
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(t.TempDir())
	var snap config.Snapshot
	if err := json.Unmarshal(saved, &snap); err != nil {
		t.Fatal(err)
	}
	inv, diags = LoadWith([]string{"hosts.ini"}, LoadOptions{Files: snapshotFiles(&snap)})
	if diags.HasErrors() {
		t.Fatal(renderDiags(inv, diags))
	}
	if got := dump(inv); got != want {
		t.Fatalf("replay differs:\n got: %s\nwant: %s", got, want)
	}
	if c := inv.Host("m1").Conn; c.User != "deploy" || c.Port != 2222 {
		t.Errorf("replayed m1: %+v", c)
	}
}
