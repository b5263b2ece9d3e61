package firewall

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"net"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/hostplan/hostplan/internal/allowlist"
	"github.com/hostplan/hostplan/internal/facts"
	"github.com/hostplan/hostplan/internal/lab"
	"github.com/hostplan/hostplan/internal/transport"
)

// TestLabFirewalldBatches runs the firewalld backend over SSH against a real firewalld,
// both ways it changes it: over D-Bus (zone "public", read over D-Bus) and with
// firewall-cmd (zone "work", read with busctl out of PATH). The plan reads each
// configuration once, the result plans nothing more, either way reads the other's
// changes, and a firewall-cmd call with several items that fails for only one of them
// (which firewall-cmd reports with exit 0) fails Apply.
func TestLabFirewalldBatches(t *testing.T) {
	t.Parallel()
	l := lab.ForTest(t, lab.Options{Hosts: 1})
	lh := l.Hosts[0]
	lab.StartFirewalldForTest(t, lh)
	if out, err := lh.Exec(context.Background(), "mkdir -p /tmp/nobus && ln -sf \"$(command -v firewall-cmd)\" /tmp/nobus/"); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	conn := dialRoot(t, l, lh)
	for _, way := range []struct {
		zone, calls string
		bus         bool
	}{{"public", "busctl ", true}, {"work", "firewall-cmd ", false}} {
		fresh := func(bus bool) Host {
			c := conn
			if !bus {
				c = noBusReads{conn}
			}
			return Host{Name: lh.Name, Conn: c, Facts: &facts.Facts{OSFamily: "linux", Firewalld: true}, Zones: &Zones{}}
		}
		b, _, err := Select(fresh(way.bus), Auto)
		if err != nil || b.Method() != Firewalld {
			t.Fatalf("Select: %v, %v", b, err)
		}
		a := Allowlist{Zone: way.zone, Allow: allowlist.Allow{
			Sources: []netip.Prefix{netip.MustParsePrefix("192.0.2.7/32"), netip.MustParsePrefix("198.51.100.0/26")}, Ports: []int{6443, 16443}}}
		f := Forward{Name: "api", ListenPort: 16443, To: netip.MustParseAddr("10.0.0.5"), ToPort: 6443, Protocol: "tcp", Masquerade: true, Zone: way.zone}
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
		h := fresh(way.bus)
		cmds := plan(h)
		want := 6 // firewall-cmd: the allowlist's 4 rules in one call per configuration, the forward's 4
		if way.bus {
			want = 14 // a check and a call per rule and configuration, a check and the forward's 4
		}
		if len(cmds) != want || !strings.HasPrefix(cmds[1], way.calls) {
			t.Fatalf("%s: planned %d calls, want %d %s calls:\n%s", way.zone, len(cmds), want, way.calls, strings.Join(cmds, "\n"))
		}
		if err := b.Apply(context.Background(), h, cmds); err != nil {
			t.Fatal(err)
		}
		for _, bus := range []bool{true, false} {
			if again := plan(fresh(bus)); len(again) != 0 {
				t.Errorf("%s: planned again after apply, read over D-Bus %v:\n%s", way.zone, bus, strings.Join(again, "\n"))
			}
		}
	}

	b := firewalld{}
	h := Host{Name: lh.Name, Conn: conn}
	// zone/1 is another zone (dmz, as firewalld 1.3.3 numbers them): nothing runs, be
	// the calls hostplan's own (root) or busctl's (through sudo).
	other := busCaller{zone: "public", permanent: true, object: "/org/fedoraproject/FirewallD1/config/zone/1"}
	for _, c := range []transport.Conn{conn, dial(t, l, lh, lab.SudoUser, true)} {
		err := b.Apply(context.Background(), Host{Name: lh.Name, Conn: c}, []string{other.check(), other.rich(true, []string{`rule family="ipv4" source address="203.0.113.7/32" accept`})[0]})
		if err == nil || !strings.Contains(err.Error(), "firewalld renumbered its zones since the plan: /org/fedoraproject/FirewallD1/config/zone/1 is not zone public any more") {
			t.Errorf("calls on another zone's object: %v", err)
		}
		if out, _ := lh.Exec(context.Background(), "firewall-cmd --permanent --list-all-zones | grep -c 203.0.113.7"); strings.TrimSpace(string(out)) != "0" {
			t.Errorf("the call after the failed check ran: %s", out)
		}
	}
	partial := "firewall-cmd --zone=public '--add-rich-rule=rule family=\"ipv4\" source address=\"203.0.113.9/32\" accept' '--add-rich-rule=rule bogus'"
	err := b.Apply(context.Background(), h, []string{partial, "firewall-cmd --zone=public --add-port=1234/tcp"})
	if err == nil || !strings.Contains(err.Error(), "INVALID_RULE") {
		t.Errorf("a call whose second rule is bad: %v, want an error quoting INVALID_RULE", err)
	}
	if out, _ := lh.Exec(context.Background(), "firewall-cmd --zone=public --query-port=1234/tcp"); strings.TrimSpace(string(out)) != "no" {
		t.Errorf("the call after the failed one ran: query-port says %q", out)
	}
}

// TestLabZoneReadBothWays reads the zones of a real firewalld over D-Bus (with busctl,
// and by hostplan itself) and, on the same host with busctl out of PATH, with
// firewall-cmd --list-all: all reads give the same zones (IPv4 and IPv6 forwards, one without an address, masquerade, a rich rule
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
		if !strings.HasPrefix(out, "hostplan-zone permanent "+format) {
			t.Fatalf("read %s, want it in format %s", out, format)
		}
		perm, run, err := parseZoneRead(out)
		if err != nil {
			t.Fatal(err)
		}
		return []*zone{perm, run}
	}
	bus, listed := read("", "dbus /org/fedoraproject/FirewallD1/config/zone/"), read("PATH=/tmp/nobus\n", "list-all\n")
	perm, run, err := readZoneBus(context.Background(), Host{Name: lh.Name, Conn: conn}, "public")
	if err != nil {
		t.Fatal(err)
	}
	direct := []*zone{perm, run}
	if !configZonePath.MatchString(bus[0].object) || bus[1].object != busRuntime || listed[0].object != "" || listed[1].object != "" ||
		direct[0].object != bus[0].object || direct[1].object != busRuntime {
		t.Errorf("objects to change the zones through: %q, %q with busctl; %q, %q by hostplan over D-Bus; %q, %q listed",
			bus[0].object, bus[1].object, direct[0].object, direct[1].object, listed[0].object, listed[1].object)
	}
	bus[0].object, bus[1].object, direct[0].object, direct[1].object = "", "", "", ""
	for i, config := range []string{"permanent", "runtime"} {
		for _, z := range []*zone{bus[i], listed[i], direct[i]} {
			slices.SortFunc(z.forwards, func(a, b forwardPort) int { return strings.Compare(a.port, b.port) })
		}
		if !reflect.DeepEqual(bus[i], listed[i]) || !reflect.DeepEqual(direct[i], bus[i]) {
			t.Errorf("%s: with busctl %+v, by hostplan over D-Bus %+v, listed %+v", config, bus[i], direct[i], listed[i])
		}
	}
	if len(bus[0].forwards) != 3 || len(bus[1].forwards) != 1 || !bus[1].masquerade || len(bus[1].rich) != 1 {
		t.Errorf("read %+v, %+v; want the 3 permanent forwards, and the runtime forward, masquerade and rule", bus[0], bus[1])
	}
}

// noBusReads reads zones with busctl out of PATH (as on a host without it), so they
// change with firewall-cmd.
type noBusReads struct{ transport.Conn }

func (c noBusReads) Run(ctx context.Context, cmd string, stdin io.Reader) (*transport.Result, error) {
	if strings.Contains(cmd, "hostplan-zone") {
		cmd = "PATH=/tmp/nobus\n" + cmd
	}
	return c.Conn.Run(ctx, cmd, stdin)
}

// TestLabBusDirect: logged in as root, hostplan makes a firewalld step's calls itself
// over the host's system bus (no busctl line goes to the shell); through sudo it runs
// busctl, since the bus would see the login user. Either way the calls change what
// the plan said, and plan nothing more. DialUnix follows the path rule and only
// connects to a socket.
func TestLabBusDirect(t *testing.T) {
	t.Parallel()
	l := lab.ForTest(t, lab.Options{Hosts: 1})
	lh := l.Hosts[0]
	lab.StartFirewalldForTest(t, lh)
	a := Allowlist{Zone: "public", Allow: allowlist.Allow{
		Sources: []netip.Prefix{netip.MustParsePrefix("192.0.2.7/32")}, Ports: []int{6443}}}
	f := Forward{Name: "api", ListenPort: 16443, To: netip.MustParseAddr("10.0.0.5"), ToPort: 6443, Protocol: "tcp", Zone: "public"}
	for _, login := range []struct {
		name   string
		conn   transport.Conn
		direct bool
	}{
		{"root", dialRoot(t, l, lh), true},
		{"labuser through sudo", dial(t, l, lh, lab.SudoUser, true), false},
	} {
		for _, absent := range []bool{false, true} {
			a.Absent, f.Absent = absent, absent
			rec := &recordRuns{Conn: login.conn}
			h := Host{Name: lh.Name, Conn: rec, Facts: &facts.Facts{OSFamily: "linux", Firewalld: true}, Zones: &Zones{}}
			cmds := planBoth(t, h, a, f)
			if len(cmds) != 6 || !strings.HasPrefix(cmds[1], "busctl ") {
				t.Fatalf("%s, absent %v: planned\n%s\nwant per resource a check and a busctl call per configuration", login.name, absent, strings.Join(cmds, "\n"))
			}
			rec.runs = nil
			if err := (firewalld{}).Apply(context.Background(), h, cmds); err != nil {
				t.Fatalf("%s, absent %v: %v", login.name, absent, err)
			}
			shell := slices.ContainsFunc(rec.runs, func(r string) bool { return strings.Contains(r, "-- call "+busName) })
			if shell == login.direct {
				t.Errorf("%s, absent %v: busctl calls in the shell %v, want %v; commands run:\n%s", login.name, absent, shell, !login.direct, strings.Join(rec.runs, "\n---\n"))
			}
			if again := planBoth(t, Host{Name: lh.Name, Conn: login.conn, Facts: h.Facts, Zones: &Zones{}}, a, f); len(again) != 0 {
				t.Errorf("%s, absent %v: planned again after apply:\n%s", login.name, absent, strings.Join(again, "\n"))
			}
		}
	}

	// firewalld's answer to a call it refuses is the step's error, quoting the line.
	conn := dialRoot(t, l, lh)
	masq := []string{busCaller{zone: "public", object: busRuntime}.masquerade()}
	h := Host{Name: lh.Name, Conn: conn}
	if err := (firewalld{}).Apply(context.Background(), h, masq); err != nil {
		t.Fatal(err)
	}
	if err := (firewalld{}).Apply(context.Background(), h, masq); err == nil || !strings.Contains(err.Error(), masq[0]+": call failed: ALREADY_ENABLED") {
		t.Errorf("masquerade added twice: %v, want firewalld's ALREADY_ENABLED after the line", err)
	}

	if out, err := lh.Exec(context.Background(), "mkdir -p /run/hostplan-test && ln -sf /run/dbus/system_bus_socket /run/hostplan-test/bus"); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	for _, tc := range []struct {
		path string
		is   error
		err  string
	}{
		{"/etc/hostname", nil, "not a socket"},
		{"/run/hostplan-test/bus", nil, "not a socket (L"}, // a link, never followed
		{"/tmp/bus", transport.ErrUnsafePath, ""},
		{"/run/hostplan-test/none", fs.ErrNotExist, ""},
	} {
		nc, err := conn.DialUnix(context.Background(), tc.path)
		if err == nil {
			nc.Close()
		}
		if err == nil || tc.is != nil && !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("DialUnix(%s): %v, want an error %v %q", tc.path, err, tc.is, tc.err)
		}
	}
	if _, err := dial(t, l, lh, lab.SudoUser, true).DialUnix(context.Background(), systemBus); !errors.Is(err, transport.ErrNotAsCommands) {
		t.Errorf("DialUnix through sudo: %v, want ErrNotAsCommands", err)
	}
}

// TestLabBusDirectRefused: where sshd refuses to forward to a socket, the zone is read
// and the same lines run in the shell with busctl, and the apply does what they say.
func TestLabBusDirectRefused(t *testing.T) {
	t.Parallel()
	l := lab.ForTest(t, lab.Options{Hosts: 1, SSHDConfig: "AllowStreamLocalForwarding no\n"})
	lh := l.Hosts[0]
	lab.StartFirewalldForTest(t, lh)
	conn := dialRoot(t, l, lh)
	rec := &recordRuns{Conn: conn}
	h := Host{Name: lh.Name, Conn: rec, Facts: &facts.Facts{OSFamily: "linux", Firewalld: true}, Zones: &Zones{}, DialsUnix: true}
	a := Allowlist{Zone: "public", Allow: allowlist.Allow{Sources: []netip.Prefix{netip.MustParsePrefix("192.0.2.7/32")}, Ports: []int{6443}}}
	f := Forward{Name: "api", ListenPort: 16443, To: netip.MustParseAddr("10.0.0.5"), ToPort: 6443, Protocol: "tcp", Zone: "public"}
	cmds := planBoth(t, h, a, f)
	if !slices.ContainsFunc(rec.runs, func(r string) bool { return strings.Contains(r, "hostplan-zone") }) {
		t.Errorf("the zone was not read in the shell; commands run:\n%s", strings.Join(rec.runs, "\n---\n"))
	}
	rec.runs = nil
	if err := (firewalld{}).Apply(context.Background(), h, cmds); err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(rec.runs, func(r string) bool { return strings.Contains(r, "-- call "+busName) }) {
		t.Errorf("no busctl call ran in the shell; commands run:\n%s", strings.Join(rec.runs, "\n---\n"))
	}
	if again := planBoth(t, Host{Name: lh.Name, Conn: conn, Facts: h.Facts, Zones: &Zones{}}, a, f); len(again) != 0 {
		t.Errorf("planned again after apply:\n%s", strings.Join(again, "\n"))
	}
}

// planBoth plans a and f on h with firewalld and returns their commands.
func planBoth(t *testing.T, h Host, a Allowlist, f Forward) []string {
	t.Helper()
	ac, err := (firewalld{}).Allow(context.Background(), h, a)
	if err != nil {
		t.Fatal(err)
	}
	fc, err := (firewalld{}).Forward(context.Background(), h, f)
	if err != nil {
		t.Fatal(err)
	}
	return append(ac.Commands, fc.Commands...)
}

// recordRuns keeps the commands run through it (and, having no below, takes them out
// of the kept shell).
type recordRuns struct {
	transport.Conn
	runs []string
}

func (c *recordRuns) Run(ctx context.Context, cmd string, stdin io.Reader) (*transport.Result, error) {
	c.runs = append(c.runs, cmd)
	return c.Conn.Run(ctx, cmd, stdin)
}

// dialRoot connects to a lab host as root, until the test ends.
func dialRoot(t *testing.T, l *lab.Lab, lh *lab.Host) transport.Conn {
	return dial(t, l, lh, "root", false)
}

// dial connects to a lab host as user, through sudo to root if become, until the
// test ends.
func dial(t *testing.T, l *lab.Lab, lh *lab.Host, user string, become bool) transport.Conn {
	t.Helper()
	d := transport.NewDialer(transport.DialerOptions{})
	t.Cleanup(func() { d.Close() })
	conn, err := d.Dial(context.Background(), transport.Target{Name: lh.Name, Address: lh.Address, Port: lh.Port,
		User: user, Become: become, IdentityFiles: []string{l.UserKey}, KnownHosts: l.KnownHosts})
	if err != nil {
		t.Fatal(err)
	}
	return conn
}

// FirewalldRunning says what the facts' busctl check says, on a host where firewalld
// runs and on one without a system bus (ErrNoBus, for the engine to ask in the
// shell). With a Bus, the state, the zone read and the steps' calls share one
// connection, which ends with Close.
func TestLabFirewalldRunning(t *testing.T) {
	t.Parallel()
	l := lab.ForTest(t, lab.Options{Hosts: 2})
	lh := l.Hosts[1]
	lab.StartFirewalldForTest(t, lh)
	ctx := context.Background()
	for _, tc := range []struct {
		host    *lab.Host
		running bool
		noBus   bool
	}{{l.Hosts[0], false, true}, {lh, true, false}} {
		conn := &countDials{Conn: dialRoot(t, l, tc.host)}
		shell, err := facts.AskFirewalld(ctx, conn)
		if err != nil || shell != tc.running {
			t.Fatalf("%s: the facts' check says running %v (%v), want %v", tc.host.Name, shell, err, tc.running)
		}
		bus := &Bus{}
		h := Host{Name: tc.host.Name, Conn: conn, Facts: &facts.Facts{OSFamily: "linux", Firewalld: true}, Zones: &Zones{}, DialsUnix: true, Bus: bus}
		running, err := FirewalldRunning(ctx, h)
		if tc.noBus {
			if !errors.Is(err, ErrNoBus) {
				t.Errorf("%s: without a bus: %v, %v; want ErrNoBus", tc.host.Name, running, err)
			}
			continue
		}
		if err != nil || !running {
			t.Fatalf("%s: running %v, %v", tc.host.Name, running, err)
		}
		a := Allowlist{Zone: "public", Allow: allowlist.Allow{
			Sources: []netip.Prefix{netip.MustParsePrefix("192.0.2.9/32")}, Ports: []int{6443}}}
		f := Forward{Name: "api", ListenPort: 16443, To: netip.MustParseAddr("10.0.0.5"), ToPort: 6443, Protocol: "tcp", Zone: "public"}
		if err := (firewalld{}).Apply(ctx, h, planBoth(t, h, a, f)); err != nil {
			t.Fatal(err)
		}
		if n := conn.dials.Load(); n != 1 {
			t.Errorf("the state, the zone read and the calls made %d bus connections, want 1", n)
		}
		bus.Close()
		if _, err := FirewalldRunning(ctx, h); !errors.Is(err, errBusClosed) {
			t.Errorf("after Close: %v", err)
		}
	}
}

// countDials counts the Unix socket connections made through it.
type countDials struct {
	transport.Conn
	dials atomic.Int32
}

func (c *countDials) DialUnix(ctx context.Context, p string) (net.Conn, error) {
	c.dials.Add(1)
	return c.Conn.DialUnix(ctx, p)
}
