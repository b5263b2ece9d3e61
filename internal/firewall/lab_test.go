package firewall

import (
	"context"
	"net/netip"
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
	d := transport.NewDialer(transport.DialerOptions{})
	t.Cleanup(func() { d.Close() })
	conn, err := d.Dial(context.Background(), transport.Target{Name: lh.Name, Address: lh.Address, Port: lh.Port,
		User: "root", IdentityFiles: []string{l.UserKey}, KnownHosts: l.KnownHosts})
	if err != nil {
		t.Fatal(err)
	}
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
