package tasks

import (
	"context"
	"fmt"
	"net/netip"
	"regexp"

	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"

	"github.com/hostplan/hostplan/internal/facts"
	"github.com/hostplan/hostplan/internal/firewall"
	"github.com/hostplan/hostplan/internal/transport"
)

func init() {
	register(&Kind{
		Type:      "port_forward",
		LabelName: "name",
		Spec: hcldec.ObjectSpec{
			"listen_port": &hcldec.AttrSpec{Name: "listen_port", Type: cty.Number, Required: true},
			"to_address":  &hcldec.AttrSpec{Name: "to_address", Type: cty.String, Required: true},
			"to_port":     &hcldec.AttrSpec{Name: "to_port", Type: cty.Number, Required: true},
			"protocol":    &hcldec.AttrSpec{Name: "protocol", Type: cty.String},
			"masquerade":  &hcldec.AttrSpec{Name: "masquerade", Type: cty.Bool},
			"method":      &hcldec.AttrSpec{Name: "method", Type: cty.String},
			"zone":        &hcldec.AttrSpec{Name: "zone", Type: cty.String},
			"state":       &hcldec.AttrSpec{Name: "state", Type: cty.String},
		},
		Build:   buildPortForward,
		Windows: true,
	})
}

// PortForward forwards a port of this host to another address (the forwarder of a
// hybrid cluster: public port -> on-prem API server) through the host's firewall
// backend (firewall.Select), which makes the rule live now and keeps it across reboots.
type PortForward struct {
	Name       string
	ListenPort int
	To         netip.Addr
	ToPort     int
	Protocol   string
	Masquerade bool
	Method     string // a firewall method: auto, firewalld, iptables, netsh
	Zone       string
	Absent     bool
}

// forwardName is what a port forward's label may be: it tags the rules.
var forwardName = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,40}$`)

func buildPortForward(label string, a Attrs) (Resource, error) {
	p := &PortForward{Name: label, Protocol: a.String("protocol", "tcp"), Method: a.String("method", firewall.Auto),
		Zone: a.String("zone", "public"), Masquerade: a.Bool("masquerade", false)}
	if !forwardName.MatchString(label) {
		return nil, &AttrError{Attr: "name", Msg: fmt.Sprintf("%q: use up to 40 letters, digits, '.', '_' or '-' (it tags the rules)", label)}
	}
	var err error
	for _, x := range []struct {
		attr string
		dst  *int
	}{{"listen_port", &p.ListenPort}, {"to_port", &p.ToPort}} {
		if *x.dst, err = a.Int(x.attr, 0); err != nil {
			return nil, err
		}
		if *x.dst < 1 || *x.dst > 65535 {
			return nil, &AttrError{Attr: x.attr, Msg: fmt.Sprintf("%d is not a port (1-65535)", *x.dst)}
		}
	}
	addr := a.String("to_address", "")
	if p.To, err = netip.ParseAddr(addr); err != nil || !p.To.Is4() {
		return nil, &AttrError{Attr: "to_address", Msg: fmt.Sprintf("%q is not an IPv4 address", addr)}
	}
	if p.Protocol != "tcp" && p.Protocol != "udp" {
		return nil, &AttrError{Attr: "protocol", Msg: fmt.Sprintf("%q is not \"tcp\" or \"udp\"", p.Protocol)}
	}
	if err := checkFirewallAttrs(p.Method, p.Zone, firewall.Auto, firewall.Firewalld, firewall.IPTables, firewall.Netsh); err != nil {
		return nil, err
	}

	if p.Absent, err = a.Absent(); err != nil {
		return nil, err
	}
	return p, nil
}

// Type implements Resource.
func (p *PortForward) Type() string { return "port_forward" }

// Label implements Resource.
func (p *PortForward) Label() string { return p.Name }

func (p *PortForward) forward() firewall.Forward {
	return firewall.Forward{Name: p.Name, ListenPort: p.ListenPort, To: p.To, ToPort: p.ToPort,
		Protocol: p.Protocol, Masquerade: p.Masquerade, Zone: p.Zone, Absent: p.Absent}
}

// forwarding is the sysctl a forward through the kernel's own packet filter needs.
func (p *PortForward) forwarding() *Sysctl {
	return &Sysctl{Key: "net.ipv4.ip_forward", Value: "1", File: "/etc/sysctl.d/90-hostplan-net.ipv4.ip_forward.conf"}
}

// Reads implements Prefetcher: the backend's, and the forwarding sysctl's.
func (p *PortForward) Reads(h *Host) []string {
	reads := firewall.Reads(h.firewallHost(), p.Method, p.Zone)
	if b, _, err := firewall.Select(h.firewallHost(), p.Method); err == nil && b.KernelForwarding() && !p.Absent {
		reads = append(reads, p.forwarding().Reads(h)...)
	}
	return reads
}

// UsesBus implements BusUser: firewalld may be its method.
func (p *PortForward) UsesBus() bool { return usesBus(p.Method) }

// SkipGuess implements GuessSkipper: with method auto, the reads of iptables, the
// guess without facts, are not needed where firewalld runs.
func (p *PortForward) SkipGuess(read string) string {
	if p.Method == firewall.Auto && (firewall.IPTablesRead(read) || read == p.forwarding().probeCommand()) {
		return facts.FirewalldMayRun
	}
	return ""
}

// Looks implements FileLooker: the backend's saved rules, and the forwarding sysctl's
// file wherever the backend may need it (the same list with and without facts).
func (p *PortForward) Looks(h *Host) []transport.Look {
	looks := firewall.Looks(p.Method)
	if !p.Absent && p.Method != firewall.Netsh {
		looks = append(looks, p.forwarding().Looks(h)...)
	}
	return looks
}

// Plan implements Resource: the backend's commands, the forwarding sysctl where the
// backend needs it, and the saved ruleset's diff where the backend keeps one.
func (p *PortForward) Plan(ctx context.Context, h *Host) (*Change, error) {
	b, why, err := firewall.Select(h.firewallHost(), p.Method)
	if err != nil {
		return nil, err
	}
	fc, err := b.Forward(ctx, h.firewallHost(), p.forward())
	if err != nil {
		return nil, err
	}
	c := &Change{Action: NoOp, Details: []string{why}}
	c.addCommands(fc.Commands)
	if b.KernelForwarding() && !p.Absent {
		if c.Before, err = p.forwarding().Plan(ctx, h); err != nil {
			return nil, err
		}
		if c.Before.Changed() {
			c.Details = append(c.Details, "net.ipv4.ip_forward = 1, now and in "+p.forwarding().File)
			c.Details = append(c.Details, c.Before.Details...)
		}
	}
	c.Details = append(c.Details, fc.Notes...)
	showSaved(c, fc.Saved)
	c.Action = commandsAction(len(fc.Commands) > 0 || c.Before.Changed() || c.File.changes(), p.Absent)
	return c, nil
}

// Apply implements Resource: the forwarding sysctl first, then exactly the commands
// the plan showed.
func (p *PortForward) Apply(ctx context.Context, h *Host, c *Change) error {
	b, _, err := firewall.Select(h.firewallHost(), p.Method)
	if err != nil {
		return err
	}
	if c.Before.Changed() {
		if err := p.forwarding().Apply(ctx, h, c.Before); err != nil {
			return fmt.Errorf("enable forwarding: %w", err)
		}
	}
	return b.Apply(ctx, h.firewallHost(), c.Commands)
}

// SharesLater implements LaterSharer: the saved iptables rules, with allowlist.
func (p *PortForward) SharesLater() {}
