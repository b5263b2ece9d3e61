package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hostplan/hostplan/internal/lab"
)

// TestLabSSHConfigMatch (issue 15): a lab host whose User, Port and IdentityFile come
// only from a Match block (originalhost, a negated localuser and an exec test, ANDed),
// planned and applied through the CLI. Decoys: an earlier Match whose exec fails and a
// later one that matches too, whose values the first-obtained ones beat. A control
// config whose exec fails must not connect, so the Match block is what made it work.
func TestLabSSHConfigMatch(t *testing.T) {
	l := lab.ForTest(t, lab.Options{Hosts: 1})
	h := l.Hosts[0]
	config := func(test string) string {
		return fmt.Sprintf(`Host *
  UserKnownHostsFile %[1]s
Match originalhost %[2]s exec false
  User nobody
  Port 1
Match originalhost %[2]s !localuser no-such-local-user exec "%[5]s"
  User %[3]s
  Port %[4]d
  IdentityFile %[6]s
Match user %[3]s
  Port 2
  IdentityFile /nonexistent/key
`, l.KnownHosts, h.Address, lab.SudoUser, h.Port, test, l.UserKey)
	}
	files := map[string]string{
		// Only the address: user, port and key must come from ssh_config.
		"inv.hcl": fmt.Sprintf("host %q {\n  address = %q\n}\n", h.Name, h.Address),
		"plan/main.hcl": `
task "t" {
  on = ["all"]
  file "/home/` + lab.SudoUser + `/hostplan-match" {
    content = "from a Match block\n"
  }
}`,
		"match_config":   config(fmt.Sprintf("test %%n = %s -a %%h = %s", h.Address, h.Address)),
		"control_config": config("test %n = not-this-host"),
	}
	d := writeFiles(t, files)
	inv, planDir := filepath.Join(d, "inv.hcl"), filepath.Join(d, "plan")
	cfg := filepath.Join(d, "match_config")

	r := hostplan(t, "inventory", "-i", inv, "--ssh-config", cfg)
	if want := fmt.Sprintf("%s@%s:%d", lab.SudoUser, h.Address, h.Port); r.code != exitOK || !strings.Contains(r.stdout, want) || !strings.Contains(r.stdout, l.UserKey) {
		t.Fatalf("inventory does not show %s with key %s:\n%s", want, l.UserKey, r)
	}
	r = hostplan(t, "plan", "--ssh-config", filepath.Join(d, "control_config"), "-i", inv, planDir)
	if r.code == exitOK || r.code == exitChanges || !strings.Contains(r.stdout, fmt.Sprintf("@%s:22)", h.Address)) {
		t.Fatalf("control: without the Match block the host is tried on port 22 and fails:\n%s", r)
	}
	r = hostplan(t, "plan", "--ssh-config", cfg, "-i", inv, planDir)
	if r.code != exitChanges {
		t.Fatalf("plan: want changes\n%s", r)
	}
	r = hostplan(t, "apply", "--auto-approve", "--ssh-config", cfg, "-i", inv, planDir)
	if r.code != exitOK || !strings.Contains(r.stdout, "Apply complete: 1 changed") {
		t.Fatalf("apply:\n%s", r)
	}
	if got := remote(t, h, "cat /home/"+lab.SudoUser+"/hostplan-match"); got != "from a Match block" {
		t.Errorf("after apply: %q", got)
	}
	r = hostplan(t, "plan", "--ssh-config", cfg, "-i", inv, planDir)
	if r.code != exitOK || !strings.Contains(r.stdout, "0 to change, 1 unchanged") {
		t.Fatalf("second plan: want no changes\n%s", r)
	}
}
