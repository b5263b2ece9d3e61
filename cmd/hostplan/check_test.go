package main

import (
	"strings"
	"testing"
)

// TestLabCheckDrift: check reports drift from the plan as failing findings (exit 3) and
// passes once applied (exit 0); hosts without a kube-apiserver manifest get no CIS
// checks; an unreachable host makes it exit 1. check changes nothing.
func TestLabCheckDrift(t *testing.T) {
	t.Parallel()
	l, inv := startLab(t, 2, "root")
	dir := writeFiles(t, map[string]string{"main.hcl": `
task "motd" {
  on = ["lab"]
  file "/etc/motd" {
    content = "managed\n"
  }
}
`})
	before := hashAll(t, l)
	r := hostplan(t, "check", "-i", inv, dir)
	if r.code != exitCheckFailed || !strings.Contains(r.stdout, `h1    drift                 FAIL    file "/etc/motd" would`) ||
		!strings.Contains(r.stdout, "not a control-plane node") {
		t.Errorf("check with drift:\n%s", r)
	}
	if after := hashAll(t, l); strings.Join(after, ",") != strings.Join(before, ",") {
		t.Errorf("check changed a host")
	}
	if r = hostplan(t, "apply", "--auto-approve", "-i", inv, dir); r.code != 0 {
		t.Fatalf("apply:\n%s", r)
	}
	if r = hostplan(t, "check", "--json", "-i", inv, dir); r.code != 0 {
		t.Errorf("check after apply:\n%s", r)
	}
	schemaCheck(t, []byte(r.stdout))
	if err := l.Host("h2").SetReachable(false); err != nil {
		t.Fatal(err)
	}
	if r = hostplan(t, "check", "--timeout", "2s", "-i", inv, dir); r.code != exitError || !strings.Contains(r.stdout, "h2    (host)") {
		t.Errorf("check with an unreachable host:\n%s", r)
	}
}
