package firewall

import (
	"context"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/hostplan/hostplan/internal/allowlist"
	"github.com/hostplan/hostplan/internal/facts"
	"github.com/hostplan/hostplan/internal/lab"
	"github.com/hostplan/hostplan/internal/transport"
)

// TestLabFirewalldBatches runs the firewalld backend over SSH against a real firewalld:
// the plan reads each configuration once, an allowlist's rules go in one call per
// configuration, the result plans nothing more, and a call with several items that
// fails for only one of them (which firewall-cmd reports with exit 0) fails Apply.
func TestLabFirewalldBatches(t *testing.T) {
	t.Parallel()
	l := lab.ForTest(t, lab.Options{Hosts: 1})
	lh := l.Hosts[0]
	lab.StartFirewalldForTest(t, lh)
	conn := dialRoot(t, l, lh)
	fresh := func() Host {
		return Host{Name: lh.Name, Conn: conn, Facts: &facts.Facts{OSFamily: "linux", Firewalld: true}, Zones: &Zones{}}
	}
	b, _, err := Select(fresh(), Auto)
	if err != nil || b.Method() != Firewalld {
		t.Fatalf("Select: %v, %v", b, err)
	}
	a := Allowlist{Zone: "public", Allow: allowlist.Allow{
		Sources: []netip.Prefix{netip.MustParsePrefix("192.0.2.7/32"), netip.MustParsePrefix("198.51.100.0/26")}, Ports: []int{6443, 16443}}}
	f := Forward{Name: "api", ListenPort: 16443, To: netip.MustParseAddr("10.0.0.5"), ToPort: 6443, Protocol: "tcp", Masquerade: true, Zone: "public"}
	plan := func(h Host) []string {
		t.Helper()
		ac, err := b.Allow(context.Background(), h, a)
		if err != nil {
			t.Fatal(err)
		}
		fc, err := b.Forward(context.Background(), h, f)
		if err != nil {
			t.Fatal(err)
		}
		return append(ac.Commands, fc.Commands...)
	}
	h := fresh()
	cmds := plan(h)
	if len(cmds) != 6 || strings.Count(cmds[0], "--add-rich-rule=") != 4 || strings.Count(cmds[1], "--add-rich-rule=") != 4 {
		t.Fatalf("planned %d calls, want the allowlist's 4 rules in one per configuration, then the forward's 4:\n%s", len(cmds), strings.Join(cmds, "\n"))
	}
	if err := b.Apply(context.Background(), h, cmds); err != nil {
		t.Fatal(err)
	}
	if again := plan(fresh()); len(again) != 0 {
		t.Errorf("planned again after apply:\n%s", strings.Join(again, "\n"))
	}

	partial := "firewall-cmd --zone=public '--add-rich-rule=rule family=\"ipv4\" source address=\"203.0.113.9/32\" accept' '--add-rich-rule=rule bogus'"
	err = b.Apply(context.Background(), h, []string{partial, "firewall-cmd --zone=public --add-port=1234/tcp"})
	if err == nil || !strings.Contains(err.Error(), "INVALID_RULE") {
		t.Errorf("a call whose second rule is bad: %v, want an error quoting INVALID_RULE", err)
	}
	if out, _ := lh.Exec(context.Background(), "firewall-cmd --zone=public --query-port=1234/tcp"); strings.TrimSpace(string(out)) != "no" {
		t.Errorf("the call after the failed one ran: query-port says %q", out)
	}
}

// TestLabZoneReadBothWays reads the zones of a real firewalld over D-Bus and, on the
// same host with busctl out of PATH, with firewall-cmd --list-all: both reads give the
// same zones (IPv4 and IPv6 forwards, one without an address, masquerade, a rich rule
// with quotes in it).
func TestLabZoneReadBothWays(t *testing.T) {
	t.Parallel()
	l := lab.ForTest(t, lab.Options{Hosts: 1})
	lh := l.Hosts[0]
	lab.StartFirewalldForTest(t, lh)
	for _, c := range []string{
		"firewall-cmd --zone=public --add-forward-port=port=16443:proto=tcp:toport=6443:toaddr=10.0.0.5",
		"firewall-cmd --zone=public --add-masquerade",
		`firewall-cmd --zone=public --add-rich-rule='rule family="ipv4" source address="192.0.2.7/32" port port="6443" protocol="tcp" accept'`,
		"firewall-cmd --permanent --zone=public --add-forward-port='port=80:proto=tcp:toport=8080:toaddr=[fd00::5]'",
		"firewall-cmd --permanent --zone=public --add-forward-port=port=82:proto=tcp:toport=8082:toaddr=fd00::6",
		"firewall-cmd --permanent --zone=public --add-forward-port=port=81:proto=udp:toport=8081",
		"mkdir -p /tmp/nobus && ln -sf \"$(command -v firewall-cmd)\" /tmp/nobus/",
	} {
		if out, err := lh.Exec(context.Background(), c); err != nil {
			t.Fatalf("%s: %v: %s", c, err, out)
		}
	}
	conn := dialRoot(t, l, lh)
	read := func(prefix, format string) []*zone {
		t.Helper()
		res, err := conn.Run(context.Background(), prefix+zoneRead("public"), nil)
		if err != nil || res.ExitCode != 0 {
			t.Fatalf("read: %v, %+v", err, res)
		}
		out := string(res.Stdout)
		if !strings.HasPrefix(out, "hostplan-zone permanent "+format+"\n") {
			t.Fatalf("read %s, want it in format %s", out, format)
		}
		perm, run, err := parseZoneRead(out)
		if err != nil {
			t.Fatal(err)
		}
		return []*zone{perm, run}
	}
	bus, listed := read("", "dbus"), read("PATH=/tmp/nobus\n", "list-all")
	for i, config := range []string{"permanent", "runtime"} {
		for _, z := range []*zone{bus[i], listed[i]} {
			slices.SortFunc(z.forwards, func(a, b forwardPort) int { return strings.Compare(a.port, b.port) })
		}
		if !reflect.DeepEqual(bus[i], listed[i]) {
			t.Errorf("%s: over D-Bus %+v, listed %+v", config, bus[i], listed[i])
		}
	}
	if len(bus[0].forwards) != 3 || len(bus[1].forwards) != 1 || !bus[1].masquerade || len(bus[1].rich) != 1 {
		t.Errorf("read %+v, %+v; want the 3 permanent forwards, and the runtime forward, masquerade and rule", bus[0], bus[1])
	}
}

// dialRoot connects to a lab host as root, until the test ends.
func dialRoot(t *testing.T, l *lab.Lab, lh *lab.Host) transport.Conn {
	t.Helper()
	d := transport.NewDialer(transport.DialerOptions{})
	t.Cleanup(func() { d.Close() })
	conn, err := d.Dial(context.Background(), transport.Target{Name: lh.Name, Address: lh.Address, Port: lh.Port,
		User: "root", IdentityFiles: []string{l.UserKey}, KnownHosts: l.KnownHosts})
	if err != nil {
		t.Fatal(err)
	}
	return conn
}
