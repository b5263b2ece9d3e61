package firewall

import (
	"cmp"
	"context"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/hostplan/hostplan/internal/allowlist"
	"github.com/hostplan/hostplan/internal/transport"
)

// listed is `firewall-cmd --zone=public --list-all` of firewalld 1.3.3 after a forward,
// masquerade and two rich rules were added (captured from a lab host).
const listed = `public (active)
  target: default
  icmp-block-inversion: no
  interfaces: 
  sources: 
  services: dhcpv6-client ssh
  ports: 
  protocols: 
  forward: yes
  masquerade: yes
  forward-ports: 
	port=16443:proto=tcp:toport=6443:toaddr=10.0.0.5
  source-ports: 
  icmp-blocks: 
  rich rules: 
	rule family="ipv4" source address="1.2.3.4/32" port port="6443" protocol="tcp" accept
	rule family="ipv4" source address="1.2.3.5/32" port port="6443" protocol="tcp" accept
`

// empty is the same zone before any of it, as --permanent lists it.
const empty = "public\n  target: default\n  services: dhcpv6-client ssh\n  masquerade: no\n  forward-ports: \n  source-ports: \n  rich rules: \n"

// listedZone is the zone of listed (and listedBus): a forward, masquerade, two rules.
func listedZone() *zone {
	rule := `rule family="ipv4" source address="1.2.3.4/32" port port="6443" protocol="tcp" accept`
	return &zone{masquerade: true, forwards: []forwardPort{{"16443", "tcp", "6443", netip.MustParseAddr("10.0.0.5")}},
		rich: []string{rule, strings.Replace(rule, "1.2.3.4", "1.2.3.5", 1)}}
}

func TestParseListAll(t *testing.T) {
	want := listedZone()
	fwd, rule := want.forwards[0], want.rich[0]
	for _, tc := range []struct {
		name, out string
		want      *zone
		err       string
	}{
		{"1.3.3 with items", listed, want, ""},
		{"1.3.3 empty", empty, &zone{}, ""},
		// Older firewalld prints the first item after the key.
		{"first item after the key", "public\n  masquerade: no\n  forward-ports: port=16443:proto=tcp:toport=6443:toaddr=10.0.0.5\n" +
			"  rich rules: " + rule + "\n", &zone{forwards: []forwardPort{fwd}, rich: []string{rule}}, ""},
		{"no toaddr", "public\n  masquerade: no\n  forward-ports: \n\tport=80:proto=tcp:toport=8080:toaddr=\n",
			&zone{forwards: []forwardPort{{port: "80", proto: "tcp", toPort: "8080"}}}, ""},
		// Another tool's IPv6 forward, as firewalld prints it.
		{"IPv6 target", "public\n  masquerade: no\n  forward-ports: \n\tport=80:proto=tcp:toport=8080:toaddr=fd00::1\n\tport=81:proto=tcp:toport=8081:toaddr=[fd00::2]\n",
			&zone{forwards: []forwardPort{{"80", "tcp", "8080", netip.MustParseAddr("fd00::1")}, {"81", "tcp", "8081", netip.MustParseAddr("fd00::2")}}}, ""},
		{"not a listing", "success\n", nil, "no masquerade line"},
		{"bad forward", "public\n  masquerade: no\n  forward-ports: \n\tport=80:proto=tcp:color=red\n", nil, `unknown field "color"`},
	} {
		got, err := parseListAll(tc.out)
		checkZone(t, tc.name, got, err, tc.want, tc.err)
	}
}

// checkZone checks a parsed zone against want, or the error against wantErr.
func checkZone(t *testing.T, name string, got *zone, err error, want *zone, wantErr string) {
	t.Helper()
	if wantErr != "" {
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Errorf("%s: err %v, want %q", name, err, wantErr)
		}
		return
	}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("%s: %+v, %v; want %+v", name, got, err, want)
	}
}

// listingConn answers the read of zone public with a listing per configuration, in
// format ("list-all" when empty), and counts the calls; any other use panics (nil Conn).
type listingConn struct {
	transport.Conn
	permanent, runtime, format string
	ran                        []string
}

func (c *listingConn) Run(_ context.Context, cmd string, _ io.Reader) (*transport.Result, error) {
	c.ran = append(c.ran, cmd)
	if cmd != zoneRead("public") {
		return &transport.Result{ExitCode: 2, Stderr: []byte("unexpected")}, nil
	}
	format := cmp.Or(c.format, "list-all")
	object := ""
	if format == "dbus" {
		object = " " + testZoneObject
	}
	out := "hostplan-zone permanent " + format + object + "\n" + c.permanent + "\nhostplan-zone runtime " + format + "\n" + c.runtime
	return &transport.Result{Stdout: []byte(out)}, nil
}

// TestZonesShared: an allowlist and a forward on one host plan against one read of each
// configuration, in one call per kind of item and configuration, and the forward plans
// against what the allowlist leaves. Planned again on what they leave: nothing to do.
func TestZonesShared(t *testing.T) {
	conn := &listingConn{permanent: empty, runtime: empty}
	h := Host{Name: "h", Conn: conn, Zones: &Zones{}}
	a := Allowlist{Zone: "public", Allow: allowlist.Allow{
		Sources: []netip.Prefix{netip.MustParsePrefix("1.2.3.4/32"), netip.MustParsePrefix("1.2.3.5/32")}, Ports: []int{6443}}}
	f := Forward{Name: "api", ListenPort: 16443, To: netip.MustParseAddr("10.0.0.5"), ToPort: 6443, Protocol: "tcp", Masquerade: true, Zone: "public"}
	ac, err := firewalld{}.Allow(context.Background(), h, a)
	if err != nil {
		t.Fatal(err)
	}
	rules := `'--add-rich-rule=rule family="ipv4" source address="1.2.3.4/32" port port="6443" protocol="tcp" accept' ` +
		`'--add-rich-rule=rule family="ipv4" source address="1.2.3.5/32" port port="6443" protocol="tcp" accept'`
	if want := []string{"firewall-cmd --permanent '--zone=public' " + rules, "firewall-cmd '--zone=public' " + rules}; !slices.Equal(ac.Commands, want) {
		t.Errorf("allowlist:\n%q\nwant\n%q", ac.Commands, want)
	}
	fc, err := firewalld{}.Forward(context.Background(), h, f)
	if err != nil {
		t.Fatal(err)
	}
	spec := "port=16443:proto=tcp:toaddr=10.0.0.5:toport=6443"
	want := []string{
		"firewall-cmd --permanent --zone=public --add-forward-port=" + spec, "firewall-cmd --permanent --zone=public --add-masquerade",
		"firewall-cmd --zone=public --add-forward-port=" + spec, "firewall-cmd --zone=public --add-masquerade",
	}
	if !slices.Equal(fc.Commands, want) {
		t.Errorf("forward:\n%q\nwant\n%q", fc.Commands, want)
	}
	if len(conn.ran) != 1 {
		t.Errorf("read %d times, want once: %q", len(conn.ran), conn.ran)
	}
	// A second forward needing masquerade plans against the first's: no second add.
	g := f
	g.ListenPort = 16444
	gc, err := firewalld{}.Forward(context.Background(), h, g)
	if err != nil || len(gc.Commands) != 2 || slices.ContainsFunc(gc.Commands, func(c string) bool { return strings.Contains(c, "masquerade") }) {
		t.Errorf("second forward: %q, %v", gc.Commands, err)
	}

	// On a host that holds them (read over D-Bus): nothing to do; absent removes them in
	// one call each.
	done := Host{Name: "h", Conn: &listingConn{permanent: listedBus, runtime: listedBus, format: "dbus"}, Zones: &Zones{}}
	if c, err := (firewalld{}).Allow(context.Background(), done, a); err != nil || len(c.Commands) != 0 {
		t.Errorf("allowlist again: %q, %v", c.Commands, err)
	}
	if c, err := (firewalld{}).Forward(context.Background(), done, f); err != nil || len(c.Commands) != 0 {
		t.Errorf("forward again: %q, %v", c.Commands, err)
	}
	a.Absent, f.Absent = true, true
	goneBus := Host{Name: "h", Conn: &listingConn{permanent: listedBus, runtime: listedBus, format: "dbus"}, Zones: &Zones{}}
	if c, err := (firewalld{}).Allow(context.Background(), goneBus, a); err != nil || len(c.Commands) != 5 || !strings.Contains(c.Commands[4], " removeRichRule ss public ") {
		t.Errorf("allowlist absent over D-Bus: %q, %v", c.Commands, err)
	}
	gone := Host{Name: "h", Conn: &listingConn{permanent: listed, runtime: listed}, Zones: &Zones{}}
	c, err := firewalld{}.Allow(context.Background(), gone, a)
	if err != nil || len(c.Commands) != 2 || strings.Count(c.Commands[1], "--remove-rich-rule=") != 2 {
		t.Errorf("allowlist absent: %q, %v", c.Commands, err)
	}
	if c, err = (firewalld{}).Forward(context.Background(), gone, f); err != nil ||
		!slices.Equal(c.Commands, []string{"firewall-cmd --permanent --zone=public --remove-forward-port=" + spec, "firewall-cmd --zone=public --remove-forward-port=" + spec}) {
		t.Errorf("forward absent: %q, %v", c.Commands, err)
	}
}

const testZoneObject = "/org/fedoraproject/FirewallD1/config/zone/6"

// TestZonesOverBus: where the zones were read over D-Bus, they change over D-Bus: one
// busctl call per item and configuration, the permanent ones on the zone's object
// after a check that it still is the zone, and a note for the reviewer.
func TestZonesOverBus(t *testing.T) {
	h := Host{Name: "h", Conn: &listingConn{permanent: emptyBus, runtime: emptyBus, format: "dbus"}, Zones: &Zones{}}
	a := Allowlist{Zone: "public", Allow: allowlist.Allow{
		Sources: []netip.Prefix{netip.MustParsePrefix("1.2.3.4/32"), netip.MustParsePrefix("1.2.3.5/32")}, Ports: []int{6443}}}
	f := Forward{Name: "api", ListenPort: 16443, To: netip.MustParseAddr("fd00::5"), ToPort: 6443, Protocol: "tcp", Masquerade: true, Zone: "public"}
	ac, err := firewalld{}.Allow(context.Background(), h, a)
	if err != nil {
		t.Fatal(err)
	}
	fc, err := firewalld{}.Forward(context.Background(), h, f)
	if err != nil {
		t.Fatal(err)
	}
	const (
		call  = "busctl --auto-start=no -- call org.fedoraproject.FirewallD1 "
		perm  = call + testZoneObject + " org.fedoraproject.FirewallD1.config.zone "
		run   = call + "/org/fedoraproject/FirewallD1 org.fedoraproject.FirewallD1.zone "
		rule1 = `'rule family="ipv4" source address="1.2.3.4/32" port port="6443" protocol="tcp" accept'`
		rule2 = `'rule family="ipv4" source address="1.2.3.5/32" port port="6443" protocol="tcp" accept'`
	)
	check := `[ "$(busctl --auto-start=no -- get-property org.fedoraproject.FirewallD1 ` + testZoneObject +
		` org.fedoraproject.FirewallD1.config.zone name)" = 's "public"' ] || { echo 'firewalld renumbered its zones since the plan: ` +
		testZoneObject + ` is not zone public any more; plan again' >&2; exit 1; }`
	for _, tc := range []struct {
		what      string
		got, want []string
	}{
		{"allowlist", ac.Commands, []string{check, perm + "addRichRule s " + rule1, perm + "addRichRule s " + rule2,
			run + "addRichRule ssi public " + rule1 + " 0", run + "addRichRule ssi public " + rule2 + " 0"}},
		{"forward", fc.Commands, []string{check, perm + "addForwardPort ssss 16443 tcp 6443 fd00::5", perm + "addMasquerade",
			run + "addForwardPort sssssi public 16443 tcp 6443 fd00::5 0", run + "addMasquerade si public 0"}},
	} {
		if !slices.Equal(tc.got, tc.want) {
			t.Errorf("%s:\n%s\nwant\n%s", tc.what, strings.Join(tc.got, "\n"), strings.Join(tc.want, "\n"))
		}
	}
	if !slices.Equal(ac.Notes, []string{busNote}) || !slices.Equal(fc.Notes, []string{busNote}) {
		t.Errorf("notes %q, %q; want the note on busctl once each", ac.Notes, fc.Notes)
	}
}

// A step that fails to plan leaves the shared zones as they were: later steps do not
// count on its changes.
func TestZonesUntouchedByFailedStep(t *testing.T) {
	h := Host{Name: "h", Conn: &listingConn{permanent: empty, runtime: empty + "\tnot a rich rule\n"}, Zones: &Zones{}}
	a := Allowlist{Zone: "public", Allow: allowlist.Allow{Sources: []netip.Prefix{netip.MustParsePrefix("192.0.2.7/32")}, Ports: []int{6443}}}
	if _, err := (firewalld{}).Allow(context.Background(), h, a); err == nil {
		t.Fatal("a runtime listing with a line that is not a rich rule was accepted")
	}
	var z *zone // the permanent configuration
	if zs := h.Zones.read["public"]; zs != nil {
		z = zs[0]
	}
	if z == nil || len(z.rich) != 0 {
		t.Errorf("the permanent configuration after the failed step: %+v", z)
	}
}

// TestFirewalldApplyWarnings runs Apply's checked calls through this machine's sh and
// awk, with stand-ins printing what firewall-cmd 1.3.3 prints (captured on a lab host):
// a call with several items exits 0 when only some failed, saying so in a warning.
func TestFirewalldApplyWarnings(t *testing.T) {
	conn, err := transport.NewDialer(transport.DialerOptions{}).Dial(context.Background(), transport.Target{Local: true})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	after := filepath.Join(t.TempDir(), "after")
	for _, tc := range []struct {
		name, call, err string
	}{
		{"success", `echo success`, ""},
		{"already so", `printf 'Warning: ALREADY_ENABLED: rule A already in public\nsuccess\n'`, ""},
		{"one item of two failed", `printf 'Warning: ALREADY_ENABLED: rule A\nWarning: INVALID_RULE: unknown element bogus\nsuccess\n'`,
			"exit 1: Warning: ALREADY_ENABLED: rule A\nWarning: INVALID_RULE: unknown element bogus\nsuccess"},
		{"all items failed", `printf 'Warning: INVALID_RULE: a\nWarning: INVALID_RULE: b\n'; exit 122`, "exit 122: Warning: INVALID_RULE: a"},
		{"one item failed", `echo 'Error: INVALID_ZONE: nosuch'; exit 112`, "exit 112: Error: INVALID_ZONE: nosuch"},
		// Output cut short, without its last newline.
		{"failed mid-line", `printf 'Traceback'; exit 3`, "exit 3: Traceback"},
		{"a warning mid-line", `printf 'Warning: INVALID_RULE: x'`, "exit 1: Warning: INVALID_RULE: x"},
	} {
		os.Remove(after)
		err := firewalld{}.Apply(context.Background(), Host{Name: "h", Conn: conn}, []string{tc.call, "touch " + after})
		_, statErr := os.Stat(after)
		if tc.err == "" {
			if err != nil || statErr != nil {
				t.Errorf("%s: %v; the next call ran: %v", tc.name, err, statErr == nil)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.call+": "+tc.err) {
			t.Errorf("%s: err %v, want it to quote the call and %q", tc.name, err, tc.err)
		}
		if statErr == nil {
			t.Errorf("%s: the call after the failed one ran", tc.name)
		}
	}
}
