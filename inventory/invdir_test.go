package inventory

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// testdata/ansible-prod is an inventory directory in the shape of Ansible's layout
// guide: an INI file and a YAML file in a subdirectory, files Ansible skips (.retry,
// .orig, .md, .cfg), group_vars as files and directories, host_vars, and a !vault
// value, which must be refused where it is while everything else still loads.
func TestInventoryDirectory(t *testing.T) {
	t.Setenv("HOME", testHome)
	dir := filepath.Join("testdata", "ansible-prod")
	inv, diags := Load([]string{dir})
	if len(diags) != 1 || !strings.Contains(diags[0].Subject.String(), filepath.Join(dir, "group_vars/all/vault.yml")+":2,") ||
		!strings.Contains(diags[0].Detail, "vault_db_password") {
		t.Fatalf("want only the vault value refused, naming it:\n%s", renderDiags(inv, diags))
	}
	if got := hostNames(inv.Hosts); got != "lb1.example.com www01.example.com www02.example.com db1.example.com db2.example.com" {
		t.Errorf("hosts: %s (in name order: cloud/ first; the skipped files add none)", got)
	}
	for _, c := range []struct {
		host, want string
	}{
		{"www01.example.com", "deploy@:0 become=true/ key=" + testHome + "/.ssh/deploy_ed25519"},
		{"db1.example.com", "postgres-admin@10.0.2.11:2222 become=true/postgres key=" + testHome + "/.ssh/deploy_ed25519"},
		{"db2.example.com", "postgres-admin@10.0.2.12:2222 become=false/ key=" + testHome + "/.ssh/deploy_ed25519"},
		{"lb1.example.com", "deploy@203.0.113.10:8022 become=false/ key=" + testHome + "/.ssh/deploy_ed25519"},
	} {
		h := inv.Host(c.host)
		if h == nil {
			t.Errorf("no host %s", c.host)
			continue
		}
		cs := h.Conn
		got := fmt.Sprintf("%s@%s:%d become=%t/%s key=%s", cs.User, cs.Address, cs.Port, cs.Become, cs.BecomeUser, strings.Join(cs.IdentityFile, ","))
		if got != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.host, got, c.want)
		}
	}
	for _, c := range []struct{ host, name, want string }{
		{"www01.example.com", "ntp_server", `"ntp.atlanta.example.com"`}, // group_vars/atlanta beats [dc:vars] and all
		{"www02.example.com", "ntp_server", `"ntp.example.com"`},         // group_vars/all beats [dc:vars]
		{"db2.example.com", "db_port", "5432"},
		{"www01.example.com", "http_port", "80"},
	} {
		if got := varOf(t, inv, c.host, c.name); got != c.want {
			t.Errorf("%s %s = %s, want %s", c.host, c.name, got, c.want)
		}
	}
	if len(inv.Warnings) != 0 {
		t.Errorf("warnings: %q", inv.Warnings)
	}
}
