package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hostplan/hostplan/internal/lab"
)

// forwardTopology links client h1 to forwarder h2 to backend h3 (veth pairs inside the
// lab) and starts a TCP service on the backend. It returns the forwarder's address the
// client dials, and the backend's.
func forwardTopology(t *testing.T, l *lab.Lab) (front, back string) {
	t.Helper()
	h1, h2, h3 := l.Host("h1"), l.Host("h2"), l.Host("h3")
	l1, err := l.Link(h1, h2)
	if err != nil {
		t.Fatal(err)
	}
	l2, err := l.Link(h2, h3)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := h3.ListenIn(net.JoinHostPort(l2.BAddr.String(), "6443"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			fmt.Fprintf(c, "api server on h3\n")
			c.Close()
		}
	}()
	return l1.BAddr.String(), l2.BAddr.String()
}

// reaches reports whether a client on h1 gets the backend's greeting through addr.
func reaches(h *lab.Host, addr string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	c, err := h.DialIn(ctx, addr)
	if err != nil {
		return false
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(3 * time.Second))
	line, _ := bufio.NewReader(c).ReadString('\n')
	return line == "api server on h3\n"
}

func forwardPlan(back, method, state string) string {
	return fmt.Sprintf(`
task "forwarder" {
  on = ["h2"]
  port_forward "apiserver" {
    listen_port = 8443
    to_address  = %q
    to_port     = 6443
    masquerade  = true
    method      = %q
    state       = %q
  }
}
`, back, method, state)
}

func TestLabPortForwardIptables(t *testing.T) {
	t.Parallel()
	for _, backend := range []string{"nft", "legacy"} {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			testPortForwardIptables(t, backend)
		})
	}
}

// testPortForwardIptables runs the iptables method against the forwarder's iptables
// switched (by Debian's alternatives, in the host's own /etc) to backend.
func testPortForwardIptables(t *testing.T, backend string) {
	l, inv := startLab(t, 3, "root")
	front, back := forwardTopology(t, l)
	h2 := l.Host("h2")
	// iptables-save and iptables-restore follow as slaves of the iptables alternative.
	remote(t, h2, "update-alternatives --quiet --set iptables /usr/sbin/iptables-"+backend)
	if v := remote(t, h2, "iptables --version"); !strings.Contains(v, map[string]string{"nft": "(nf_tables)", "legacy": "(legacy)"}[backend]) {
		t.Fatalf("iptables in h2 is %q, want the %s backend", v, backend)
	}
	other := map[string]string{"nft": "legacy", "legacy": "nft"}[backend]
	target := net.JoinHostPort(front, "8443")
	if reaches(l.Host("h1"), target) {
		t.Fatal("the forward works before any rule")
	}
	before := hashAll(t, l)
	netsh := writeFiles(t, map[string]string{"main.hcl": forwardPlan(back, "netsh", "present")})
	if r := hostplan(t, "apply", "--auto-approve", "-i", inv, netsh); r.code != 1 || !strings.Contains(r.stdout, `method "netsh" needs a Windows host; h2 runs linux`) {
		t.Errorf("netsh on Linux must fail the plan:\n%s", r)
	}
	if after := hashAll(t, l); strings.Join(after, ",") != strings.Join(before, ",") {
		t.Errorf("a refused plan changed a host")
	}
	planDir := writeFiles(t, map[string]string{"main.hcl": forwardPlan(back, "auto", "present")})
	r := hostplan(t, "plan", "-i", inv, planDir)
	if r.code != 2 || !strings.Contains(r.stdout, "method iptables (auto: firewalld is not running)") || !strings.Contains(r.stdout, "+++ h2:/etc/iptables/rules.v4 (planned)") {
		t.Fatalf("plan:\n%s", r)
	}
	planned := r.stdout
	for i := range 3 {
		if r = hostplan(t, "apply", "--auto-approve", "-i", inv, planDir); r.code != 0 {
			t.Fatalf("apply %d:\n%s", i, r)
		}
	}
	if !reaches(l.Host("h1"), target) {
		t.Errorf("h1 -> h2:8443 does not reach h3:6443 after apply")
	}
	nat := remote(t, h2, "iptables -t nat -S PREROUTING")
	if n := strings.Count(nat, "-j DNAT"); n != 1 {
		t.Errorf("%d DNAT rules after three applies:\n%s", n, nat)
	}
	if o := remote(t, h2, "iptables-"+other+"-save"); strings.Contains(o, "hostplan:apiserver") {
		t.Errorf("rules went to the %s backend, not %s:\n%s", other, backend, o)
	}
	if got := remote(t, h2, "cat /proc/sys/net/ipv4/ip_forward"); got != "1" {
		t.Errorf("ip_forward %s", got)
	}
	// The saved rules are what the plan said they would be.
	saved := remote(t, h2, "cat /etc/iptables/rules.v4")
	for _, line := range strings.Split(saved, "\n") {
		if strings.Contains(line, "hostplan:apiserver") && !strings.Contains(planned, "+"+line) {
			t.Errorf("saved rule %q was not in the plan's diff of rules.v4", line)
		}
	}
	if r = hostplan(t, "plan", "-i", inv, planDir); r.code != 0 {
		t.Errorf("plan after apply must be empty:\n%s", r)
	}
	absent := writeFiles(t, map[string]string{"main.hcl": forwardPlan(back, "iptables", "absent")})
	if r = hostplan(t, "apply", "--auto-approve", "-i", inv, absent); r.code != 0 {
		t.Fatalf("apply absent:\n%s", r)
	}
	if reaches(l.Host("h1"), target) {
		t.Errorf("the forward still works after state = absent")
	}
	if all := remote(t, h2, "iptables-save"); strings.Contains(all, "hostplan:apiserver") {
		t.Errorf("rules left after absent:\n%s", all)
	}
	if r = hostplan(t, "plan", "-i", inv, absent); r.code != 0 {
		t.Errorf("plan after absent must be empty:\n%s", r)
	}
}

func TestLabPortForwardFirewalld(t *testing.T) {
	t.Parallel()
	l, inv := startLab(t, 3, "root")
	front, back := forwardTopology(t, l)
	h2 := l.Host("h2")
	lab.StartFirewalldForTest(t, h2)
	target := net.JoinHostPort(front, "8443")
	planDir := writeFiles(t, map[string]string{"main.hcl": forwardPlan(back, "auto", "present")})
	r := hostplan(t, "plan", "-i", inv, planDir)
	if r.code != 2 || !strings.Contains(r.stdout, "method firewalld (auto: firewalld is running)") {
		t.Fatalf("plan:\n%s", r)
	}
	if r = hostplan(t, "apply", "--auto-approve", "-i", inv, planDir); r.code != 0 {
		t.Fatalf("apply:\n%s", r)
	}
	spec := fmt.Sprintf("port=8443:proto=tcp:toaddr=%s:toport=6443", back)
	for _, q := range []string{"", "--permanent "} {
		if got := remote(t, h2, "firewall-cmd "+q+"--query-forward-port="+spec); got != "yes" {
			t.Errorf("firewall-cmd %s--query-forward-port: %s", q, got)
		}
	}
	if !reaches(l.Host("h1"), target) {
		t.Errorf("h1 -> h2:8443 does not reach h3:6443 through firewalld")
	}
	remote(t, h2, "firewall-cmd --reload")
	if !reaches(l.Host("h1"), target) {
		t.Errorf("the forward is gone after firewall-cmd --reload")
	}
	if r = hostplan(t, "plan", "-i", inv, planDir); r.code != 0 {
		t.Errorf("plan after apply must be empty:\n%s", r)
	}
	absent := writeFiles(t, map[string]string{"main.hcl": forwardPlan(back, "firewalld", "absent")})
	if r = hostplan(t, "apply", "--auto-approve", "-i", inv, absent); r.code != 0 {
		t.Fatalf("apply absent:\n%s", r)
	}
	if reaches(l.Host("h1"), target) {
		t.Errorf("the forward still works after state = absent")
	}
}

// TestLabFirewalldPlanSessions: with method auto, the plan of a forward and an
// allowlist on a firewalld host reads the zone over the system bus, the socket's path
// looked at in the facts' session: one session in all (no file is read, so no SFTP);
// the apply too, and busctl makes no call. The reads of iptables, guessed before the
// facts, are skipped there: iptables-save never runs on it.
func TestLabFirewalldPlanSessions(t *testing.T) {
	t.Parallel()
	l := lab.ForTest(t, lab.Options{Hosts: 2, SSHDConfig: "LogLevel DEBUG1\n"})
	inv := filepath.Join(t.TempDir(), "inventory.hcl")
	if err := l.WriteInventory(inv, "root"); err != nil {
		t.Fatal(err)
	}
	h2 := l.Host("h2")
	lab.StartFirewalldForTest(t, h2)
	planDir := writeFiles(t, map[string]string{"main.hcl": forwardPlan("10.0.0.5", "auto", "present") + `
task "allow" {
  on = ["h2"]
  allowlist "security-center" {
    region = "cn-hangzhou"
    ports  = [6443]
  }
  # A file, whose look the plan reads with the facts as the bus socket's.
  file "/etc/hostplan-sessions.conf" {
    content = "x\n"
  }
}
`})
	// busctl, found first in PATH, notes its calls.
	remote(t, h2, `mkdir -p /usr/local/bin && printf '#!/bin/sh\necho "$*" >> /run/busctl-runs\nexec /usr/bin/busctl "$@"\n' > /usr/local/bin/busctl && chmod 755 /usr/local/bin/busctl`)
	// iptables-save too.
	remote(t, h2, `printf '#!/bin/sh\necho >> /run/iptables-save-runs\nexec `+remote(t, h2, "command -v iptables-save")+` "$@"\n' > /usr/local/bin/iptables-save && chmod 755 /usr/local/bin/iptables-save`)
	defer func() {
		if runs := remote(t, h2, "cat /run/iptables-save-runs 2>/dev/null | wc -l"); runs != "0" {
			t.Errorf("iptables-save ran %s times on the firewalld host", runs)
		}
	}()
	before, buses := sessions(t, h2), busConnections(t, h2)
	r := hostplan(t, "plan", "-i", inv, planDir)
	if r.code != 2 || !strings.Contains(r.stdout, "method firewalld (auto: firewalld is running)") {
		t.Fatalf("plan:\n%s", r)
	}
	if n := sessions(t, h2) - before; n != 1 {
		t.Errorf("the plan opened %d command sessions on the firewalld host, want 1", n)
	}
	// Logged in as root, hostplan asks firewalld's state, reads the zone and changes it
	// over the bus itself, in one connection per run: busctl never runs.
	if n := busConnections(t, h2) - buses; n != 1 {
		t.Errorf("the plan made %d connections to the system bus, want 1", n)
	}
	defer func() {
		if runs := remote(t, h2, "cat /run/busctl-runs 2>/dev/null || true"); runs != "" {
			t.Errorf("busctl ran:\n%s", runs)
		}
	}()
	// The apply makes firewalld's calls over the SSH connection (a root login): no
	// session beside the facts' one, which goes on as the SFTP session for the lock.
	before, buses = sessions(t, h2), busConnections(t, h2)
	if r := hostplan(t, "apply", "--auto-approve", "-i", inv, planDir); r.code != 0 || !strings.Contains(r.stdout, "3 changed") {
		t.Fatalf("apply:\n%s", r)
	}
	if n := sessions(t, h2) - before; n != 1 {
		t.Errorf("the apply opened %d sessions on the firewalld host, want 1", n)
	}
	if n := busConnections(t, h2) - buses; n != 1 {
		t.Errorf("the apply made %d connections to the system bus, want 1", n)
	}
	if r := hostplan(t, "plan", "-i", inv, planDir); r.code != 0 {
		t.Errorf("plan after apply must be empty:\n%s", r)
	}
}

// sessions counts the sessions the host's sshd started, of any kind (LogLevel VERBOSE):
// an SFTP session counts too.
func sessions(t *testing.T, h *lab.Host) int {
	t.Helper()
	return logCount(t, h, "Starting session: ")
}

// busConnections counts the connections to a Unix socket the host's sshd made for its
// clients (LogLevel DEBUG1): hostplan's to the system bus.
func busConnections(t *testing.T, h *lab.Host) int {
	t.Helper()
	return logCount(t, h, "server_request_direct_streamlocal: originator")
}

// logCount counts what in the host's sshd log.
func logCount(t *testing.T, h *lab.Host, what string) int {
	t.Helper()
	log, err := os.ReadFile(h.LogPath())
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	return strings.Count(string(log), what)
}
