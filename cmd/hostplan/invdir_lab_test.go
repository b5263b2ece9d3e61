package main

import (
	"fmt"
	"os"
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

// TestLabInventoryRealWorldLayout: an inventory directory laid out as Ansible projects
// keep them (inventories/prod: an INI of masters and workers under a k8s parent group,
// group_vars as files and directories, host_vars, a cloud script adding the
// forwarders). A vault value in it is refused, naming the file and the variable, before
// any host is contacted; once it is gone the plan applies everywhere with the users,
// ports and vars Ansible would use, and plans no change after.
func TestLabInventoryRealWorldLayout(t *testing.T) {
	l := lab.ForTest(t, lab.Options{Hosts: 3})
	m1, w1, fwd := l.Hosts[0], l.Hosts[1], l.Hosts[2]
	files := map[string]string{
		"prod/hosts.ini": fmt.Sprintf("[masters]\nmaster-1 ansible_host=%s\n\n[workers]\nworker-1 ansible_host=%s\n\n[k8s:children]\nmasters\nworkers\n",
			m1.Address, w1.Address),
		"prod/cloud.sh": fmt.Sprintf(`#!/bin/sh
[ "$1" = --list ] || exit 2
echo '{"forwarders": {"hosts": ["fwd-1"]}, "_meta": {"hostvars": {"fwd-1": {"ansible_host": %q, "ansible_port": %d}}}}'
`, fwd.Address, fwd.Port),
		"prod/group_vars/all.yml":            fmt.Sprintf("ansible_ssh_private_key_file: %s\nrole: none\n", l.UserKey),
		"prod/group_vars/k8s/connection.yml": fmt.Sprintf("ansible_user: %s\nansible_become: true\n", lab.SudoUser),
		"prod/group_vars/k8s/cluster.yml":    "cluster_id: c0ffee\n",
		"prod/group_vars/masters.yml":        "role: control-plane\n",
		"prod/group_vars/forwarders":         fmt.Sprintf("ansible_user: %s\nrole: forwarder\n", "root"),
		"prod/host_vars/master-1.yml":        fmt.Sprintf("ansible_port: %d\n", m1.Port),
		"prod/host_vars/worker-1/port.yml":   fmt.Sprintf("ansible_port: %d\n", w1.Port),
		"prod/group_vars/workers/vault.yml":  "db_password: !vault |\n  $ANSIBLE_VAULT;1.1;AES256\n  6332\n",
		"ssh_config":                         fmt.Sprintf("Host *\n  UserKnownHostsFile %s\n", l.KnownHosts),
		"plan/main.hcl": `
task "t" {
  on = ["all"]
  file "/etc/hostplan-layout" {
    content = "${host.name}: ${host.vars.role} in ${join(",", host.groups)}\n"
    mode    = "0600"
  }
}`,
	}
	dir := writeFiles(t, files)
	chmodX(t, dir, "prod/cloud.sh")
	inv, cfg, planDir := filepath.Join(dir, "prod"), filepath.Join(dir, "ssh_config"), filepath.Join(dir, "plan")

	r := hostplan(t, "plan", "--ssh-config", cfg, "-i", inv, planDir)
	if r.code != exitError || !strings.Contains(r.stderr, "vault.yml") || !strings.Contains(r.stderr, "db_password") {
		t.Fatalf("a vault value must be refused, naming its file and variable:\n%s", r)
	}
	if strings.Contains(r.stdout, "connecting") || strings.Contains(r.stderr, "connecting") {
		t.Errorf("hosts were contacted despite the refused inventory:\n%s", r)
	}
	if err := os.Remove(filepath.Join(inv, "group_vars/workers/vault.yml")); err != nil {
		t.Fatal(err)
	}
	r = hostplan(t, "apply", "--auto-approve", "--ssh-config", cfg, "-i", inv, planDir)
	if r.code != exitOK || !strings.Contains(r.stdout, "Apply complete: 3 changed") {
		t.Fatalf("apply:\n%s", r)
	}
	for h, want := range map[*lab.Host]string{
		m1:  "600 root\nmaster-1: control-plane in all,k8s,masters",
		w1:  "600 root\nworker-1: none in all,k8s,workers",
		fwd: "600 root\nfwd-1: forwarder in all,forwarders",
	} {
		if got := remote(t, h, "stat -c '%a %U' /etc/hostplan-layout; cat /etc/hostplan-layout"); got != want {
			t.Errorf("%s after apply:\n%s\nwant\n%s", h.Name, got, want)
		}
	}
	r = hostplan(t, "plan", "--ssh-config", cfg, "-i", inv, planDir)
	if r.code != exitOK || !strings.Contains(r.stdout, "Plan: 3 hosts, 0 to change, 3 unchanged.") {
		t.Fatalf("second plan: want exit 0 and no changes\n%s", r)
	}
}
