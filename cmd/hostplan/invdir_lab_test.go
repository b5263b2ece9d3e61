package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hostplan/hostplan/internal/lab"
)

// TestLabInventoryGroupVars: an Ansible inventory directory whose INI file names only
// the hosts and their addresses, and whose group_vars/lab/ directory and host_vars set
// how to connect (user, key, become; each lab host's port). Before issue 15 the
// group_vars were ignored and hostplan logged in as the local user on port 22.
func TestLabInventoryGroupVars(t *testing.T) {
	l := lab.ForTest(t, lab.Options{Hosts: 2})
	files := map[string]string{
		"inv/hosts.ini":                     "[lab]\n",
		"inv/hosts.retry":                   "not an inventory: Ansible skips *.retry\n",
		"inv/group_vars/all":                "greeting: hello\n",
		"inv/group_vars/lab/10-user.yml":    fmt.Sprintf("ansible_user: %s\nansible_ssh_private_key_file: %s\n", lab.SudoUser, l.UserKey),
		"inv/group_vars/lab/20-become.yaml": "ansible_become: true\n",
		"ssh_config":                        fmt.Sprintf("Host *\n  UserKnownHostsFile %s\n", l.KnownHosts),
		"plan/main.hcl": `
task "t" {
  on = ["lab"]
  file "/etc/hostplan-group-vars" {
    content = "${host.vars.greeting} from ${host.name}\n"
    mode    = "0600"
  }
}`,
	}
	for _, h := range l.Hosts {
		files["inv/hosts.ini"] += fmt.Sprintf("%s ansible_host=%s\n", h.Name, h.Address)
		files["inv/host_vars/"+h.Name+".yml"] = fmt.Sprintf("ansible_port: %d\n", h.Port)
	}
	dir := writeFiles(t, files)
	inv, cfg, planDir := filepath.Join(dir, "inv"), filepath.Join(dir, "ssh_config"), filepath.Join(dir, "plan")

	r := hostplan(t, "inventory", "-i", inv, "--ssh-config", cfg)
	for _, h := range l.Hosts {
		if want := fmt.Sprintf("%s@%s:%d", lab.SudoUser, h.Address, h.Port); r.code != exitOK || !strings.Contains(r.stdout, want) {
			t.Fatalf("inventory does not show %s:\n%s", want, r)
		}
	}
	if !strings.Contains(r.stdout, "become:     sudo to root") {
		t.Fatalf("inventory does not show become:\n%s", r)
	}

	r = hostplan(t, "apply", "--auto-approve", "--ssh-config", cfg, "-i", inv, planDir)
	if r.code != exitOK || !strings.Contains(r.stdout, "Apply complete: 2 changed") {
		t.Fatalf("apply:\n%s", r)
	}
	for _, h := range l.Hosts {
		if got := remote(t, h, "stat -c '%a %U' /etc/hostplan-group-vars; cat /etc/hostplan-group-vars"); got != "600 root\nhello from "+h.Name {
			t.Errorf("%s after apply:\n%s", h.Name, got)
		}
	}
	r = hostplan(t, "plan", "--ssh-config", cfg, "-i", inv, planDir)
	if r.code != exitOK || !strings.Contains(r.stdout, "Plan: 2 hosts, 0 to change, 2 unchanged.") {
		t.Fatalf("second plan: want exit 0 and no changes\n%s", r)
	}
}
