package tasks

import (
	"context"
	"fmt"
	"math/big"

	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"

	"github.com/hostplan/hostplan/internal/allowlist"
	"github.com/hostplan/hostplan/internal/ctynum"
	"github.com/hostplan/hostplan/internal/facts"
	"github.com/hostplan/hostplan/internal/firewall"
	"github.com/hostplan/hostplan/internal/transport"
)

func init() {
	register(&Kind{
		Type:      "allowlist",
		LabelName: "name",
		Spec: hcldec.ObjectSpec{
			"region":  &hcldec.AttrSpec{Name: "region", Type: cty.String, Required: true},
			"ports":   &hcldec.AttrSpec{Name: "ports", Type: cty.List(cty.Number), Required: true},
			"public":  &hcldec.AttrSpec{Name: "public", Type: cty.Bool},
			"private": &hcldec.AttrSpec{Name: "private", Type: cty.Bool},
			"method":  &hcldec.AttrSpec{Name: "method", Type: cty.String},
			"zone":    &hcldec.AttrSpec{Name: "zone", Type: cty.String},
			"state":   &hcldec.AttrSpec{Name: "state", Type: cty.String},
		},
		Build: buildAllowlist,
	})
}

// Allowlist lets the Security Center's addresses of one region reach ports of this host
// (the API server behind an access-control policy), through the host's firewall backend
// (firewall.Select): firewalld rich rules when firewalld runs, else accept rules in an
// iptables chain of hostplan's own, HOSTPLAN-ALLOW, jumped to from the top of INPUT. It only adds accepts; the host's policy for everyone
// else stays as it is.
type Allowlist struct {
	Name   string
	Region allowlist.Region
	Allow  allowlist.Allow
	Method string
	Zone   string
	Absent bool
}

func buildAllowlist(label string, a Attrs) (Resource, error) {
	r, err := allowlist.Lookup(a.String("region", ""))
	if err != nil {
		return nil, &AttrError{Attr: "region", Msg: err.Error()}
	}
	l := &Allowlist{Name: label, Region: r, Method: a.String("method", firewall.Auto), Zone: a.String("zone", "public")}
	public, private := a.Bool("public", true), a.Bool("private", true)
	if !public && !private {
		return nil, &AttrError{Attr: "public", Msg: "allow the public addresses, the private range, or both"}
	}
	l.Allow.Sources = allowlist.Sources(r, public, private)
	for it := a.Value.GetAttr("ports").ElementIterator(); it.Next(); {
		_, v := it.Element()
		f := v.AsBigFloat()
		n, acc := f.Int64()
		if acc != big.Exact || n < 1 || n > 65535 {
			return nil, &AttrError{Attr: "ports", Msg: fmt.Sprintf("%s is not a port (1-65535)", ctynum.Describe(f))}
		}
		l.Allow.Ports = append(l.Allow.Ports, int(n))
	}
	if len(l.Allow.Ports) == 0 {
		return nil, &AttrError{Attr: "ports", Msg: "list at least one port, such as [6443]"}
	}
	if err := l.Allow.Validate(); err != nil {
		return nil, &AttrError{Attr: "ports", Msg: err.Error()}
	}
	if err := checkFirewallAttrs(l.Method, l.Zone, firewall.Auto, firewall.Firewalld, firewall.IPTables); err != nil {
		return nil, err
	}

	if l.Absent, err = a.Absent(); err != nil {
		return nil, err
	}
	return l, nil
}

// Type implements Resource.
func (l *Allowlist) Type() string { return "allowlist" }

// Label implements Resource.
func (l *Allowlist) Label() string { return l.Name }

func (l *Allowlist) request() firewall.Allowlist {
	return firewall.Allowlist{Allow: l.Allow, Zone: l.Zone, Absent: l.Absent}
}

// Reads implements Prefetcher.
func (l *Allowlist) Reads(h *Host) []string {
	return firewall.Reads(h.firewallHost(), l.Method, l.Zone)
}

// UsesBus implements BusUser: firewalld may be its method.
func (l *Allowlist) UsesBus() bool { return usesBus(l.Method) }

// SkipGuess implements GuessSkipper: with method auto, the reads of iptables, the
// guess without facts, are not needed where firewalld runs.
func (l *Allowlist) SkipGuess(read string) string {
	if l.Method == firewall.Auto && firewall.IPTablesRead(read) {
		return facts.FirewalldMayRun
	}
	return ""
}

// Looks implements FileLooker.
func (l *Allowlist) Looks(*Host) []transport.Look { return firewall.Looks(l.Method) }

// Plan implements Resource.
func (l *Allowlist) Plan(ctx context.Context, h *Host) (*Change, error) {
	b, why, err := firewall.Select(h.firewallHost(), l.Method)
	if err != nil {
		return nil, err
	}
	fc, err := b.Allow(ctx, h.firewallHost(), l.request())
	if err != nil {
		return nil, err
	}
	c := &Change{Details: []string{fmt.Sprintf("%s; region %s: %d sources, ports %v", why, l.Region.Name, len(l.Allow.Sources), l.Allow.Ports)}}
	c.addCommands(fc.Commands)
	c.Details = append(c.Details, fc.Notes...)
	showSaved(c, fc.Saved)
	c.Action = commandsAction(len(fc.Commands) > 0 || c.File.changes(), l.Absent)
	return c, nil
}

// Apply implements Resource: exactly the commands the plan showed.
func (l *Allowlist) Apply(ctx context.Context, h *Host, c *Change) error {
	b, _, err := firewall.Select(h.firewallHost(), l.Method)
	if err != nil {
		return err
	}
	return b.Apply(ctx, h.firewallHost(), c.Commands)
}

// SharesLater implements LaterSharer: the saved iptables rules, with port_forward.
func (l *Allowlist) SharesLater() {}
