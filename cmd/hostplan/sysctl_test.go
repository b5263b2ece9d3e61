package main

import (
	"os"
	"strings"
	"testing"
)

// TestLabSysctl: runtime value and persistent file, both shown in the plan, idempotent,
// and state = "absent" removes the file. net.ipv4.* keys are per network namespace, so
// this changes only the lab host, never this machine.
func TestLabSysctl(t *testing.T) {
	t.Parallel()
	l, inv := startLab(t, 1, "root")
	h := l.Host("h1")
	machine, err := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
	if err != nil {
		t.Fatal(err)
	}
	if got := remote(t, h, "cat /proc/sys/net/ipv4/ip_forward"); got != "0" {
		t.Fatalf("a new lab host starts with ip_forward %s", got)
	}
	if err := h.WriteFile("/etc/sysctl.d/10-site.conf", []byte("net.ipv4.ip_forward = 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	planDir := writeFiles(t, map[string]string{"main.hcl": `
task "forwarding" {
  on = ["all"]
  sysctl "net.ipv4.ip_forward" {
    value = "1"
  }
  sysctl "net.ipv4.tcp_rmem" {
    value = "4096 131072 6291456"
    file  = "/etc/sysctl.d/90-tuning.conf"
  }
}
`})
	r := hostplan(t, "plan", "-i", inv, planDir)
	for _, want := range []string{`+ sysctl "net.ipv4.ip_forward" (create)`, `runtime value "0" -> "1"`,
		"+net.ipv4.ip_forward = 1", "note: /etc/sysctl.d/10-site.conf sets net.ipv4.ip_forward = 0"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("plan lacks %q", want)
		}
	}
	if r.code != 2 || t.Failed() {
		t.Fatalf("plan:\n%s", r)
	}
	if r = hostplan(t, "apply", "--auto-approve", "-i", inv, planDir); r.code != 0 {
		t.Fatalf("apply:\n%s", r)
	}
	if got := remote(t, h, "cat /proc/sys/net/ipv4/ip_forward"); got != "1" {
		t.Errorf("runtime ip_forward = %s", got)
	}
	if got := remote(t, h, "cat /proc/sys/net/ipv4/tcp_rmem"); strings.Join(strings.Fields(got), " ") != "4096 131072 6291456" {
		t.Errorf("runtime tcp_rmem = %q", got)
	}
	if got := remote(t, h, "cat /etc/sysctl.d/90-hostplan-net.ipv4.ip_forward.conf"); got != "# Managed by hostplan.\nnet.ipv4.ip_forward = 1" {
		t.Errorf("persistent file: %q", got)
	}
	if after, _ := os.ReadFile("/proc/sys/net/ipv4/ip_forward"); string(after) != string(machine) {
		t.Errorf("this machine's ip_forward changed: %q -> %q", machine, after)
	}
	before := hashAll(t, l)
	if r = hostplan(t, "plan", "-i", inv, planDir); r.code != 0 {
		t.Errorf("second plan must be empty:\n%s", r)
	}
	if r = hostplan(t, "apply", "--auto-approve", "-i", inv, planDir); r.code != 0 || !strings.Contains(r.stdout, "No changes") {
		t.Errorf("second apply:\n%s", r)
	}
	if after := hashAll(t, l); strings.Join(after, ",") != strings.Join(before, ",") {
		t.Errorf("the second apply touched the host")
	}
	// Someone resets the runtime value: the plan notices, though the file is right.
	remote(t, h, "echo 0 > /proc/sys/net/ipv4/ip_forward")
	if r = hostplan(t, "plan", "-i", inv, planDir); r.code != 2 || !strings.Contains(r.stdout, `~ sysctl "net.ipv4.ip_forward" (update)`) {
		t.Errorf("plan after a runtime reset:\n%s", r)
	}

	absent := writeFiles(t, map[string]string{"main.hcl": `
task "forwarding" {
  on = ["all"]
  sysctl "net.ipv4.ip_forward" {
    state = "absent"
  }
}
`})
	if r = hostplan(t, "apply", "--auto-approve", "-i", inv, absent); r.code != 0 {
		t.Fatalf("apply absent:\n%s", r)
	}
	if got := remote(t, h, "test -e /etc/sysctl.d/90-hostplan-net.ipv4.ip_forward.conf && echo present || echo absent"); got != "absent" {
		t.Errorf("state = absent left the file")
	}
}
