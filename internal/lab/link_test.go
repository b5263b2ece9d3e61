package lab

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// greeter answers every connection on ln with "hello from NAME\n" and reports each
// client's address on the returned channel (the latest 16).
func greeter(t *testing.T, ln net.Listener, name string) <-chan netip.Addr {
	t.Helper()
	ch := make(chan netip.Addr, 16)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			select {
			case ch <- c.RemoteAddr().(*net.TCPAddr).AddrPort().Addr().Unmap():
			default:
			}
			fmt.Fprintf(c, "hello from %s\n", name)
			c.Close()
		}
	}()
	return ch
}

// greeting connects to addr from inside h and returns the first line it reads.
func greeting(h *Host, addr string, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c, err := h.DialIn(ctx, addr)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(timeout))
	line, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(line), err
}

func mustGreeting(t *testing.T, h *Host, addr, want string) {
	t.Helper()
	got, err := greeting(h, addr, 10*time.Second)
	if err != nil || got != want {
		t.Fatalf("from %s to %s: got %q, %v; want %q", h.Name, addr, got, err, want)
	}
}

func clientOf(t *testing.T, ch <-chan netip.Addr) netip.Addr {
	t.Helper()
	select {
	case a := <-ch:
		return a
	case <-time.After(5 * time.Second):
		t.Fatal("the listener saw no client")
		return netip.Addr{}
	}
}

func mustExec(t *testing.T, h *Host, command string) string {
	t.Helper()
	out, err := h.Exec(context.Background(), command)
	if err != nil {
		t.Fatalf("%s: %s: %v\n%s", h.Name, command, err, out)
	}
	return string(out)
}

// rootNetCheck asserts that the real machine's network namespace has no link address
// and no route into addr's link (a route lookup only: no packet is sent, since the
// real machine's default route leads off this machine).
func rootNetCheck(t *testing.T, addr netip.Addr) {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil && LinkNet.Overlaps(p) {
			t.Errorf("the real machine has the link address %v", a)
		}
	}
	c, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(addr, 9)))
	if err != nil {
		return // no route at all
	}
	defer c.Close()
	if src := c.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap(); LinkNet.Contains(src) {
		t.Errorf("the real machine routes to %v from %v", addr, src)
	}
}

func rootRuleset(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("nft", "list", "ruleset").CombinedOutput()
	if err != nil {
		t.Fatalf("nft list ruleset: %v\n%s", err, out)
	}
	return string(out)
}

// interfacesIn lists the interfaces of the network namespace held open by f.
func interfacesIn(t *testing.T, f *os.File) []string {
	t.Helper()
	type result struct {
		names []string
		err   error
	}
	resc := make(chan result, 1)
	onThrowawayThread(func() {
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			resc <- result{err: err}
			return
		}
		ifs, err := net.Interfaces()
		var r result
		for _, i := range ifs {
			r.names = append(r.names, i.Name)
		}
		r.err = err
		resc <- r
	})
	r := <-resc
	if r.err != nil {
		t.Fatal(r.err)
	}
	return r.names
}

func TestLink(t *testing.T) {
	t.Parallel()
	l := ForTest(t, Options{Hosts: 3})
	h1, h2, h3 := l.Hosts[0], l.Hosts[1], l.Hosts[2]

	// A new network namespace does not forward (hostplan must turn it on).
	for _, h := range l.Hosts {
		if got := strings.TrimSpace(mustExec(t, h, "cat /proc/sys/net/ipv4/ip_forward")); got != "0" {
			t.Errorf("%s: ip_forward = %s at start, want 0", h.Name, got)
		}
	}

	start := time.Now()
	l12, err := l.Link(h1, h2)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Link(h1, h2) took %v", time.Since(start))
	want := LinkInfo{A: h1, B: h2, AName: "eth0", BName: "eth0",
		AAddr: netip.MustParseAddr("198.18.0.1"), BAddr: netip.MustParseAddr("198.18.0.2"),
		Prefix: netip.MustParsePrefix("198.18.0.0/24")}
	if *l12 != want {
		t.Errorf("link h1-h2 = %+v, want %+v", *l12, want)
	}
	start = time.Now()
	l23, err := l.Link(h2, h3)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Link(h2, h3) took %v", time.Since(start))
	want = LinkInfo{A: h2, B: h3, AName: "eth1", BName: "eth0",
		AAddr: netip.MustParseAddr("198.18.1.1"), BAddr: netip.MustParseAddr("198.18.1.2"),
		Prefix: netip.MustParsePrefix("198.18.1.0/24")}
	if *l23 != want {
		t.Errorf("link h2-h3 = %+v, want %+v", *l23, want)
	}
	if l23.Addr(h2) != l23.AAddr || l23.Peer(h2) != l23.BAddr || l23.Addr(h1).IsValid() {
		t.Errorf("Addr/Peer of %+v wrong", *l23)
	}
	if got := mustExec(t, h2, "ip -4 -o addr show"); !strings.Contains(got, "eth0    inet 198.18.0.2/24") || !strings.Contains(got, "eth1    inet 198.18.1.1/24") {
		t.Errorf("h2's addresses:\n%s", got)
	}
	if _, err := l.Link(h1, h1); err == nil {
		t.Error("Link(h1, h1) worked")
	}

	t.Run("direct", func(t *testing.T) {
		ln, err := h2.ListenIn(netip.AddrPortFrom(l12.BAddr, 6443).String())
		if err != nil {
			t.Fatal(err)
		}
		clients := greeter(t, ln, "h2")
		mustGreeting(t, h1, ln.Addr().String(), "hello from h2")
		if c := clientOf(t, clients); c != l12.AAddr {
			t.Errorf("h2 saw the client as %v, want %v", c, l12.AAddr)
		}
		// h3 is on another link, with no route to it: unreachable, at once.
		if got, err := greeting(h3, ln.Addr().String(), time.Second); err == nil {
			t.Errorf("h3 reached h2 at %s without a route: %q", ln.Addr(), got)
		} else {
			t.Logf("from h3: %v", err)
		}
		// Neither is the real machine (checked without sending anything).
		rootNetCheck(t, l12.BAddr)
	})

	t.Run("routed", func(t *testing.T) {
		ln, err := h3.ListenIn(netip.AddrPortFrom(l23.BAddr, 7000).String())
		if err != nil {
			t.Fatal(err)
		}
		clients := greeter(t, ln, "h3")
		if err := h1.SetDefaultRoute(l12.BAddr); err != nil {
			t.Fatal(err)
		}
		if err := h3.AddRoute(l12.Prefix, l23.AAddr); err != nil {
			t.Fatal(err)
		}
		// h2 does not forward yet: "no route to host" from h2.
		if got, err := greeting(h1, ln.Addr().String(), time.Second); err == nil {
			t.Fatalf("h1 reached h3 through h2 with ip_forward=0: %q", got)
		} else {
			t.Logf("with ip_forward=0 on h2: %v", err)
		}
		mustExec(t, h2, "echo 1 > /proc/sys/net/ipv4/ip_forward")
		mustGreeting(t, h1, ln.Addr().String(), "hello from h3")
		if c := clientOf(t, clients); c != l12.AAddr {
			t.Errorf("h3 saw the client as %v, want %v (routed, not NATed)", c, l12.AAddr)
		}
		if got := mustExec(t, h1, "ip route show default"); !strings.Contains(got, "default via 198.18.0.2 dev eth0") {
			t.Errorf("h1's default route: %q", got)
		}
		if err := h1.SetDefaultRoute(netip.MustParseAddr("198.18.9.9")); err == nil {
			t.Error("a default route via an address on no link worked")
		}
	})
}

// TestLinkDNAT is the iptables port forwarding that hostplan sets up on a forwarder,
// done by hand: client h1 -> forwarder h2:8443 -> backend h3:6443.
func TestLinkDNAT(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("iptables"); err != nil {
		t.Skip("no iptables (apt-get install iptables)")
	}
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

	ln, err := backend.ListenIn(netip.AddrPortFrom(back.BAddr, 6443).String())
	if err != nil {
		t.Fatal(err)
	}
	clients := greeter(t, ln, "backend")
	target := netip.AddrPortFrom(front.BAddr, 8443).String()

	mustExec(t, fwd, "echo 1 > /proc/sys/net/ipv4/ip_forward")
	mustExec(t, fwd, fmt.Sprintf("iptables -t nat -A PREROUTING -p tcp --dport 8443 -j DNAT --to-destination %s", ln.Addr()))
	// DNAT alone: the backend has no route back to the client, the handshake never ends.
	if got, err := greeting(client, target, time.Second); err == nil {
		t.Fatalf("reached the backend without masquerading: %q", got)
	} else {
		t.Logf("DNAT without masquerade: %v", err)
	}
	mustExec(t, fwd, "iptables -t nat -A POSTROUTING -j MASQUERADE")
	mustGreeting(t, client, target, "hello from backend")
	// The first client address may be the handshake that never ended.
	var c netip.Addr
	for c = clientOf(t, clients); len(clients) > 0; c = <-clients {
	}
	if c != back.AAddr {
		t.Errorf("the backend saw the client as %v, want the forwarder's %v (masquerade)", c, back.AAddr)
	}

	// The rules are the forwarder's only.
	if got := mustExec(t, fwd, "iptables -t nat -S"); !strings.Contains(got, "--to-destination "+ln.Addr().String()) {
		t.Errorf("forwarder's nat table:\n%s", got)
	}
	if got := mustExec(t, client, "nft list ruleset"); strings.Contains(got, "8443") || strings.Contains(got, "masquerade") {
		t.Errorf("the client host has the forwarder's rules:\n%s", got)
	}
	if after := rootRuleset(t); after != rootBefore {
		t.Errorf("the real machine's ruleset changed:\nbefore:\n%s\nafter:\n%s", rootBefore, after)
	}
	if b, _ := os.ReadFile("/proc/sys/net/ipv4/ip_forward"); string(b) != string(realForward) {
		t.Errorf("the real machine's ip_forward changed: %q -> %q", realForward, b)
	}
}

// TestLinksGoWithStop: Stop deletes the links, even while the namespaces are held.
func TestLinksGoWithStop(t *testing.T) {
	t.Parallel()
	l := ForTest(t, Options{Hosts: 2})
	h1, h2 := l.Hosts[0], l.Hosts[1]
	for range 3 {
		if _, err := l.Link(h1, h2); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(l.Links()); n != 3 {
		t.Fatalf("%d links, want 3", n)
	}
	var held []*os.File
	for _, h := range l.Hosts {
		f, err := os.Open(fmt.Sprintf("/proc/self/fd/%d", h.ns.net.Fd()))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		held = append(held, f)
		if got := strings.Join(interfacesIn(t, f), " "); got != "lo eth0 eth1 eth2" {
			t.Errorf("%s: interfaces %q", h.Name, got)
		}
	}
	if err := l.Stop(); err != nil {
		t.Fatal(err)
	}
	for i, f := range held {
		if got := strings.Join(interfacesIn(t, f), " "); got != "lo" {
			t.Errorf("%s after Stop: interfaces %q, want lo", l.Hosts[i].Name, got)
		}
	}
	if _, err := l.Link(h1, h2); err == nil {
		t.Error("Link after Stop worked")
	}
}
