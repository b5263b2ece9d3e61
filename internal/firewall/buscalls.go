package firewall

// Changing firewalld over D-Bus with busctl, where the zone was read that way: a call
// is about 20 ms of the host's CPU, a firewall-cmd call a Python start of about 0.3 s
// (measured in the lab, firewalld 1.3.3: 35 to 42 ticks of CPU per firewall-cmd call,
// 6 per busctl call). Each call changes one item, in one configuration, with the
// methods firewall-cmd itself calls: the runtime zone's by the zone's name, the
// permanent zone's on its configuration object, whose path the read found
// (getZoneByName). firewalld numbers those objects as it loads its zones, so the
// commands check first that the object still is the zone the plan read.

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/hostplan/hostplan/internal/allowlist"
	"github.com/hostplan/hostplan/internal/transport"
)

const (
	busName    = "org.fedoraproject.FirewallD1"
	busRuntime = "/org/fedoraproject/FirewallD1"
)

// configZonePath is the form of a permanent zone's object path.
var configZonePath = regexp.MustCompile(`^/org/fedoraproject/FirewallD1/config/zone/[0-9]+$`)

// caller writes the commands that change one configuration of a zone.
type caller interface {
	forward(add bool, f Forward) string
	masquerade() string
	rich(add bool, rules []string) []string
	// check is the command to run before the others, if any.
	check() string
}

// callerFor is the caller of one configuration of zone name as it was read: over
// D-Bus (z.object set) or with firewall-cmd.
func callerFor(name string, permanent bool, z *zone) caller {
	if z.object == "" {
		return cmdCaller{name, permanent}
	}
	return busCaller{name, permanent, z.object}
}

// cmdCaller writes firewall-cmd calls.
type cmdCaller struct {
	zone      string
	permanent bool
}

func (c cmdCaller) forward(add bool, f Forward) string {
	op := "--add-forward-port="
	if !add {
		op = "--remove-forward-port="
	}
	return firewallCmd(c.zone, c.permanent) + " " + op + forwardSpec(f)
}

func (c cmdCaller) masquerade() string { return firewallCmd(c.zone, c.permanent) + " --add-masquerade" }

func (c cmdCaller) rich(add bool, rules []string) []string {
	ch := allowlist.RichRuleChanges{Add: rules}
	if !add {
		ch = allowlist.RichRuleChanges{Remove: rules}
	}
	var out []string
	for _, args := range allowlist.FirewallCmdArgs(c.zone, c.permanent, ch) {
		out = append(out, shellLine(args))
	}
	return out
}

func (cmdCaller) check() string { return "" }

// busCaller writes busctl calls on firewalld's zone interfaces.
type busCaller struct {
	zone      string
	permanent bool
	object    string // the zone's permanent configuration object; busRuntime for the runtime
}

func (c busCaller) forward(add bool, f Forward) string {
	toAddr := ""
	if f.To.IsValid() {
		toAddr = f.To.String()
	}
	spec := []string{fmt.Sprint(f.ListenPort), f.Protocol, fmt.Sprint(f.ToPort), toAddr}
	switch {
	case c.permanent && add:
		return c.call("addForwardPort", "ssss", spec...)
	case c.permanent:
		return c.call("removeForwardPort", "ssss", spec...)
	case add:
		return c.call("addForwardPort", "sssssi", append(append([]string{c.zone}, spec...), "0")...)
	}
	return c.call("removeForwardPort", "sssss", append([]string{c.zone}, spec...)...)
}

func (c busCaller) masquerade() string {
	if c.permanent {
		return c.call("addMasquerade", "")
	}
	return c.call("addMasquerade", "si", c.zone, "0")
}

func (c busCaller) rich(add bool, rules []string) []string {
	var out []string
	for _, r := range rules {
		switch {
		case c.permanent && add:
			out = append(out, c.call("addRichRule", "s", r))
		case c.permanent:
			out = append(out, c.call("removeRichRule", "s", r))
		case add:
			out = append(out, c.call("addRichRule", "ssi", c.zone, r, "0"))
		default:
			out = append(out, c.call("removeRichRule", "ss", c.zone, r))
		}
	}
	return out
}

// check makes sure the permanent configuration object is still the zone's.
func (c busCaller) check() string {
	if !c.permanent {
		return ""
	}
	return fmt.Sprintf(`[ "$(busctl --auto-start=no -- get-property %s %s %s.config.zone name)" = 's "%s"' ] || { echo 'firewalld renumbered its zones since the plan: %s is not zone %s any more; plan again' >&2; exit 1; }`,
		busName, c.object, busName, c.zone, c.object, c.zone)
}

// call is a busctl method call; sig is the D-Bus signature of args.
func (c busCaller) call(method, sig string, args ...string) string {
	iface := busName + ".zone"
	if c.permanent {
		iface = busName + ".config.zone"
	}
	line := []string{"busctl --auto-start=no -- call", busName, c.object, iface, method}
	if sig != "" {
		line = append(line, sig)
	}
	for _, a := range args {
		line = append(line, transport.ShellQuote(a))
	}
	return strings.Join(line, " ")
}
