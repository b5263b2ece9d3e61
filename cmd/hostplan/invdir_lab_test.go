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

// TestLabInventoryScript: an inventory directory whose hosts come from a dynamic
// inventory script, as a cloud provider's: --list names the lab hosts and a group
// variable, --host NAME gives each one's address and port (no _meta, so hostplan asks
// per host, as Ansible does), and the directory's group_vars say how to log in. The
// plan applies on every host the script named, then plans no change.
func TestLabInventoryScript(t *testing.T) {
	l := lab.ForTest(t, lab.Options{Hosts: 2})
	var names, cases []string
	for _, h := range l.Hosts {
		names = append(names, fmt.Sprintf("%q", h.Name))
		cases = append(cases, fmt.Sprintf("%q) echo '{\"ansible_host\": %q, \"ansible_port\": %d}' ;;", "--host "+h.Name, h.Address, h.Port))
	}
	files := map[string]string{
		"inv/cloud.py": fmt.Sprintf(`#!/bin/sh
case "$*" in
--list) echo '{"lab": {"hosts": [%s], "vars": {"greeting": "hello"}}}' ;;
%s
*) echo "unexpected arguments: $*" >&2; exit 2 ;;
esac
`, strings.Join(names, ", "), strings.Join(cases, "\n")),
		"inv/group_vars/lab.yml": fmt.Sprintf("ansible_user: %s\nansible_ssh_private_key_file: %s\nansible_become: true\n", lab.SudoUser, l.UserKey),
		"ssh_config":             fmt.Sprintf("Host *\n  UserKnownHostsFile %s\n", l.KnownHosts),
		"plan/main.hcl": `
task "t" {
  on = ["lab"]
  file "/etc/hostplan-dynamic" {
    content = "${host.vars.greeting} from ${host.name}\n"
    mode    = "0600"
  }
}`,
	}
	dir := writeFiles(t, files)
	chmodX(t, dir, "inv/cloud.py")
	inv, cfg, planDir := filepath.Join(dir, "inv"), filepath.Join(dir, "ssh_config"), filepath.Join(dir, "plan")

	r := hostplan(t, "inventory", "-i", inv, "--ssh-config", cfg)
	for _, h := range l.Hosts {
		if want := fmt.Sprintf("%s\n  connect:    %s@%s:%d", h.Name, lab.SudoUser, h.Address, h.Port); r.code != exitOK || !strings.Contains(r.stdout, want) {
			t.Fatalf("inventory does not show %q:\n%s", want, r)
		}
	}
	r = hostplan(t, "apply", "--auto-approve", "--ssh-config", cfg, "-i", inv, planDir)
	if r.code != exitOK || !strings.Contains(r.stdout, "Apply complete: 2 changed") {
		t.Fatalf("apply:\n%s", r)
	}
	for _, h := range l.Hosts {
		if got := remote(t, h, "stat -c '%a %U' /etc/hostplan-dynamic; cat /etc/hostplan-dynamic"); got != "600 root\nhello from "+h.Name {
			t.Errorf("%s after apply:\n%s", h.Name, got)
		}
	}
	r = hostplan(t, "plan", "--ssh-config", cfg, "-i", inv, planDir)
	if r.code != exitOK || !strings.Contains(r.stdout, "Plan: 2 hosts, 0 to change, 2 unchanged.") {
		t.Fatalf("second plan: want exit 0 and no changes\n%s", r)
	}
}
