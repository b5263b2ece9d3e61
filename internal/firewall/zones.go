package firewall

// A host's firewalld zones as one run plans them. A zone's permanent and runtime
// configurations are read once per host, together, by the first step that needs them
// (over D-Bus where it can: busctl.go), and each step's planned changes are applied to
// that copy, so port_forward and allowlist share the reads and a later step plans
// against what the earlier ones will leave.

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/hostplan/hostplan/internal/transport"
)

// Zones are a host's firewalld zones during planning. The zero value is ready; one per
// host per run, used by one step at a time.
type Zones struct {
	read map[string][]*zone // by zone name: its configurations, in configs' order
}

// zone is what hostplan manages of one configuration of a zone.
type zone struct {
	masquerade bool
	forwards   []forwardPort
	rich       []string // as --list-rich-rules prints them
	// object is the D-Bus object that changes this configuration when it was read over
	// D-Bus (the zone's configuration object, or busRuntime); "" when it was listed
	// with firewall-cmd, which then changes it.
	object string
}

// forwardPort is one forward port as firewalld keeps it.
type forwardPort struct {
	port, proto, toPort string
	toAddr              netip.Addr
}

func (f Forward) port() forwardPort {
	return forwardPort{fmt.Sprint(f.ListenPort), f.Protocol, fmt.Sprint(f.ToPort), f.To}
}

// firewallCmd is the start of a firewall-cmd call on one configuration of a zone.
func firewallCmd(name string, permanent bool) string {
	if permanent {
		return "firewall-cmd --permanent --zone=" + name
	}
	return "firewall-cmd --zone=" + name
}

// configs are a zone's two configurations, permanent first: changed in that order, a
// run cut short leaves the rule for the next boot rather than only until it.
var configs = []bool{true, false}

// get returns a zone's configurations in configs' order, read the first time only.
func (zs *Zones) get(ctx context.Context, h Host, name string) ([]*zone, error) {
	if z, ok := zs.read[name]; ok {
		return z, nil
	}
	if h.DialsUnix {
		perm, run, err := readZoneBus(ctx, h, name)
		if err == nil {
			zs.keep(name, perm, run)
			return zs.read[name], nil
		}
		if ctx.Err() != nil || errors.Is(err, transport.ErrUnsafePath) {
			return nil, fmt.Errorf("read firewalld zone %s: %w", name, err)
		}
		// Anything else, the shell's read says better (firewalld not running, too old
		// for these methods, the bus refused).
	}
	res, err := h.Conn.Run(ctx, zoneRead(name), nil)
	what := "read firewalld zone " + name
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	switch {
	case res.ExitCode == 127:
		return nil, fmt.Errorf("firewall-cmd is not installed on %s", h.Name)
	case res.ExitCode != 0:
		return nil, res.Failure(what)
	}
	perm, run, err := parseZoneRead(string(res.Stdout))
	if err != nil {
		return nil, fmt.Errorf("%s on %s: %w", what, h.Name, err)
	}
	zs.keep(name, perm, run)
	return zs.read[name], nil
}

func (zs *Zones) keep(name string, perm, run *zone) {
	if zs.read == nil {
		zs.read = map[string][]*zone{}
	}
	zs.read[name] = []*zone{perm, run}
}

// parseListAll reads the masquerade, forward ports and rich rules of `firewall-cmd
// --list-all`: "  key: value" lines, where forward-ports and rich rules put each item on
// a line of its own that starts with a tab (firewalld 0.6 to 2.x; older ones print the
// first item after the key).
func parseListAll(out string) (*zone, error) {
	z := &zone{}
	var section string
	masquerade := false
	for _, line := range strings.Split(strings.ReplaceAll(out, "\r\n", "\n"), "\n") {
		if strings.HasPrefix(line, "\t") {
			if err := z.addItem(section, strings.TrimSpace(line)); err != nil {
				return nil, err
			}
			continue
		}
		key, value, ok := strings.Cut(line, ":")
		if !ok || !strings.HasPrefix(key, "  ") {
			section = "" // the zone's name line
			continue
		}
		section, value = strings.TrimSpace(key), strings.TrimSpace(value)
		if section == "masquerade" {
			z.masquerade, masquerade = value == "yes", true
			continue
		}
		if err := z.addItem(section, value); err != nil {
			return nil, err
		}
	}
	if !masquerade {
		return nil, fmt.Errorf("no masquerade line in its output")
	}
	return z, nil
}

func (z *zone) addItem(section, item string) error {
	if item == "" {
		return nil
	}
	switch section {
	case "forward-ports":
		p, err := parseForwardPort(item)
		if err != nil {
			return err
		}
		z.forwards = append(z.forwards, p)
	case "rich rules":
		z.rich = append(z.rich, item)
	}
	return nil
}

// parseForwardPort reads "port=P:proto=T:toport=Q:toaddr=A" (toport or toaddr may be
// empty). toaddr comes last and may be an IPv6 address, colons and all.
func parseForwardPort(s string) (forwardPort, error) {
	var p forwardPort
	fields, addr, hasAddr := strings.Cut(s, ":toaddr=")
	if hasAddr && addr != "" {
		a, err := netip.ParseAddr(strings.Trim(addr, "[]"))
		if err != nil {
			return p, fmt.Errorf("forward port %q: %w", s, err)
		}
		p.toAddr = a
	}
	for _, kv := range strings.Split(fields, ":") {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "port":
			p.port = v
		case "proto":
			p.proto = v
		case "toport":
			p.toPort = v
		default:
			return p, fmt.Errorf("forward port %q: unknown field %q", s, k)
		}
	}
	return p, nil
}

func (z *zone) hasForward(p forwardPort) bool { return slices.Contains(z.forwards, p) }

func (z *zone) setForward(p forwardPort, want bool) {
	z.forwards = slices.DeleteFunc(z.forwards, func(x forwardPort) bool { return x == p })
	if want {
		z.forwards = append(z.forwards, p)
	}
}

// editRich applies added and removed rich rules.
func (z *zone) editRich(add, remove []string) {
	z.rich = slices.DeleteFunc(z.rich, func(r string) bool { return slices.Contains(remove, r) })
	z.rich = append(z.rich, add...)
}
