package inventory

import (
	"strings"
	"testing"
)

// `ansible-inventory --list` output, saved as .json: read as such, not as INI.
func TestJSONListInventory(t *testing.T) {
	inv, diags := loadSrc(t, "prod.json", `{
  "_meta": {"hostvars": {
    "web1": {"ansible_host": "10.0.0.1", "ansible_user": "deploy", "role": "web"},
    "gone": {"ansible_host": "10.0.0.9"}
  }},
  "all": {"children": ["ungrouped", "web", "db"]},
  "web": {"hosts": ["web1"], "vars": {"http_port": 80}},
  "db": ["db1"],
  "ungrouped": {}
}`)
	if len(diags) != 1 || diags[0].Summary != "Variables of an unlisted host" || diags.HasErrors() {
		t.Fatalf("want one warning about gone's hostvars:\n%s", renderDiags(inv, diags))
	}
	if got := hostNames(inv.Hosts); got != "web1 db1" {
		t.Errorf("hosts: %s", got)
	}
	if c := inv.Host("web1").Conn; c.Address != "10.0.0.1" || c.User != "deploy" {
		t.Errorf("web1: %+v", c)
	}
	if got := varOf(t, inv, "web1", "http_port"); got != "80" {
		t.Errorf("http_port = %s", got)
	}
	if !inv.Host("db1").InGroup("db") {
		t.Errorf("db1 groups: %v", inv.Host("db1").Groups)
	}
}

// A .json file in the YAML inventory's shape is read like YAML, as Ansible's yaml
// plugin does.
func TestJSONYAMLShape(t *testing.T) {
	inv := mustLoadSrc(t, "hosts.json", `{"all": {"children": {"web": {"hosts": {"web1": {"ansible_port": 2222}}}}}}`)
	if c := inv.Host("web1").Conn; c.Port != 2222 {
		t.Errorf("web1: %+v", c)
	}
}

func TestJSONListErrors(t *testing.T) {
	inv, diags := loadSrc(t, "bad.json", "{\n  \"web\": {\"hosts\": [\"w1\"], \"childs\": []},\n  \"db\": {\"hosts\": [{\"a\": 1}]}\n}\n")
	out := renderDiags(inv, diags)
	for _, want := range []string{"bad.json line 2:", `has a key "childs"`, "bad.json line 3:", "Invalid name"} {
		if !strings.Contains(out, want) {
			t.Errorf("diagnostics lack %q:\n%s", want, out)
		}
	}
}
