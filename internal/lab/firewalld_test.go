package lab

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"
)

// TestFirewalld is the firewalld port forwarding that hostplan sets up on a CentOS-style
// forwarder, done by hand with firewall-cmd: client h1 -> forwarder h2:8443 -> backend
// h3:6443, with real traffic.
func TestFirewalld(t *testing.T) {
	t.Parallel()
	l := ForTest(t, Options{Hosts: 3})
	client, fwd, backend := l.Hosts[0], l.Hosts[1], l.Hosts[2]
	front, err := l.Link(client, fwd)
	if err != nil {
		t.Fatal(err)
	}
	back, err := l.Link(fwd, backend)
	if err != nil {
		t.Fatal(err)
	}
	rootBefore := rootRuleset(t)
	realForward, _ := os.ReadFile("/proc/sys/net/ipv4/ip_forward")

	start := time.Now()
	StartFirewalldForTest(t, fwd)
	t.Logf("StartFirewalld took %v", time.Since(start))
	if !fwd.FirewalldRunning() || client.FirewalldRunning() {
		t.Errorf("FirewalldRunning: forwarder %v, client %v", fwd.FirewalldRunning(), client.FirewalldRunning())
	}
	if err := fwd.StartFirewalld(context.Background()); err == nil {
		t.Error("a second StartFirewalld worked")
	}
	// Over SSH too, as hostplan will run it.
	if got := mustSSH(t, l, fwd, "root", "firewall-cmd --state"); strings.TrimSpace(got) != "running" {
		t.Errorf("firewall-cmd --state over SSH: %q", got)
	}
	if _, err := client.Exec(context.Background(), "firewall-cmd --state"); err == nil {
		t.Error("firewall-cmd --state says running on a host without firewalld")
	}

	ln, err := backend.ListenIn(netip.AddrPortFrom(back.BAddr, 6443).String())
	if err != nil {
		t.Fatal(err)
	}
	clients := greeter(t, ln, "backend")
	target := netip.AddrPortFrom(front.BAddr, 8443).String()
	rule := fmt.Sprintf("port=8443:proto=tcp:toaddr=%s:toport=6443", back.BAddr)

	if got := mustExec(t, fwd, "firewall-cmd --query-forward-port="+rule+"; firewall-cmd --permanent --query-forward-port="+rule+"; true"); got != "no\nno\n" {
		t.Errorf("before: %q", got)
	}
	mustExec(t, fwd, "firewall-cmd --permanent --add-forward-port="+rule)
	// Permanent only: not live until the reload.
	if got := mustExec(t, fwd, "firewall-cmd --query-forward-port="+rule+"; firewall-cmd --permanent --query-forward-port="+rule+"; true"); got != "no\nyes\n" {
		t.Errorf("after --permanent: %q", got)
	}
	start = time.Now()
	mustExec(t, fwd, "firewall-cmd --reload")
	t.Logf("firewall-cmd --reload took %v", time.Since(start))
	if got := mustExec(t, fwd, "firewall-cmd --query-forward-port="+rule+"; firewall-cmd --permanent --query-forward-port="+rule+"; true"); got != "yes\nyes\n" {
		t.Errorf("after --reload: %q", got)
	}
	if got := mustExec(t, fwd, "cat /etc/firewalld/zones/public.xml"); !strings.Contains(got, `<forward-port port="8443" protocol="tcp" to-port="6443" to-addr="`+back.BAddr.String()+`"/>`) {
		t.Errorf("the forwarder's public zone:\n%s", got)
	}
	// firewalld turns forwarding on itself for a forward-port with toaddr.
	t.Logf("forwarder's ip_forward after the reload: %s", strings.TrimSpace(mustExec(t, fwd, "cat /proc/sys/net/ipv4/ip_forward")))

	mustExec(t, fwd, "firewall-cmd --add-masquerade")
	mustGreeting(t, client, target, "hello from backend")
	if c := clientOf(t, clients); c != back.AAddr {
		t.Errorf("the backend saw the client as %v, want the forwarder's %v (masquerade)", c, back.AAddr)
	}

	// The rules are the forwarder's only.
	if got := mustExec(t, client, "nft list ruleset"); strings.Contains(got, "firewalld") {
		t.Errorf("the client host has firewalld's rules:\n%s", got)
	}
	if after := rootRuleset(t); after != rootBefore {
		t.Errorf("the real machine's ruleset changed:\nbefore:\n%s\nafter:\n%s", rootBefore, after)
	}
	if b, _ := os.ReadFile("/proc/sys/net/ipv4/ip_forward"); string(b) != string(realForward) {
		t.Errorf("the real machine's ip_forward changed: %q -> %q", realForward, b)
	}

	// Stopped, firewalld removes its rules; started again, it loads the permanent ones.
	if err := fwd.StopFirewalld(); err != nil {
		t.Fatal(err)
	}
	if fwd.FirewalldRunning() {
		t.Error("FirewalldRunning after StopFirewalld")
	}
	if out, err := fwd.Exec(context.Background(), "firewall-cmd --state"); err == nil {
		t.Errorf("firewall-cmd --state after StopFirewalld: %q", out)
	}
	if got := mustExec(t, fwd, "nft list ruleset"); strings.Contains(got, "firewalld") {
		t.Errorf("firewalld's rules left after it stopped:\n%s", got)
	}
	start = time.Now()
	if err := fwd.StartFirewalld(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Logf("StartFirewalld again took %v", time.Since(start))
	if got := mustExec(t, fwd, "firewall-cmd --query-forward-port="+rule+"; firewall-cmd --query-masquerade || true"); got != "yes\nno\n" {
		t.Errorf("after the restart (forward port permanent, masquerade runtime only): %q", got)
	}
}

// TestFirewalldStopLeavesNothing: Stop ends firewalld and its dbus-daemon.
func TestFirewalldStopLeavesNothing(t *testing.T) {
	t.Parallel()
	l := ForTest(t, Options{Hosts: 2})
	StartFirewalldForTest(t, l.Hosts[0])
	if _, err := l.Link(l.Hosts[0], l.Hosts[1]); err != nil {
		t.Fatal(err)
	}
	inodes := nsInodes(t, l)
	if pids := pidsIn(inodes); len(pids) < 2 {
		t.Fatalf("firewalld and dbus-daemon not found: %v", pids)
	}
	var netns []string
	for _, h := range l.Hosts {
		netns = append(netns, h.NetNS)
	}
	if err := l.Stop(); err != nil {
		t.Fatal(err)
	}
	checkGone(t, l.Dir, netns, inodes)
	if err := l.Hosts[1].StartFirewalld(context.Background()); err == nil {
		t.Error("StartFirewalld after Stop worked")
	}
}
