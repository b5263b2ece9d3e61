package tasks

import (
	"context"
	"fmt"
	"math/big"
	"strings"

	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"

	"github.com/hostplan/hostplan/internal/allowlist"
	"github.com/hostplan/hostplan/internal/ctynum"
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
// (the API server behind an access-control policy): firewalld rich rules when firewalld
// runs, else accept rules in an iptables chain of hostplan's own, HOSTPLAN-ALLOW,
// jumped to from the top of INPUT. It only adds accepts; the host's policy for everyone
// else stays as it is.
type Allowlist struct {
	Name   string
	Region allowlist.Region
	Allow  allowlist.Allow
	Method string
	Zone   string
	Absent bool

	chosen string
}

func buildAllowlist(label string, a Attrs) (Resource, error) {
	r, err := allowlist.Lookup(a.String("region", ""))
	if err != nil {
		return nil, &AttrError{Attr: "region", Msg: err.Error()}
	}
	l := &Allowlist{Name: label, Region: r, Method: a.String("method", "auto"), Zone: a.String("zone", "public")}
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
	if err := checkFirewallAttrs(l.Method, l.Zone, "auto", "firewalld", "iptables"); err != nil {
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

func (l *Allowlist) choose(h *Host) (string, string, error) {
	if h.Facts != nil && h.Facts.OSFamily == "windows" {
		return "", "", fmt.Errorf("allowlists on Windows hosts are not supported yet")
	}
	return linuxFirewall(h, l.Method)
}

func shellLine(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = transport.ShellQuote(a)
	}
	return strings.Join(q, " ")
}

// steps are the commands that make the host's rules exactly right.
func (l *Allowlist) steps(ctx context.Context, h *Host) ([]string, error) {
	var out []string
	if l.chosen == "firewalld" {
		for _, permanent := range []bool{true, false} {
			cmd := "firewall-cmd --zone=" + l.Zone + " --list-rich-rules"
			if permanent {
				cmd = "firewall-cmd --permanent --zone=" + l.Zone + " --list-rich-rules"
			}
			res, err := run(ctx, h, cmd)
			if err != nil {
				return nil, err
			}
			if res.ExitCode != 0 {
				return nil, toolError(cmd, res)
			}
			changes, err := l.Allow.DiffRichRules(string(res.Stdout), l.Absent)
			if err != nil {
				return nil, err
			}
			for _, args := range allowlist.FirewallCmdArgs(l.Zone, permanent, changes) {
				out = append(out, shellLine(args))
			}
		}
		return out, nil
	}
	chain, err := run(ctx, h, "iptables -w -S "+allowlist.Chain)
	if err != nil {
		return nil, err
	}
	if chain.ExitCode == 127 {
		return nil, fmt.Errorf("iptables is not installed on %s", h.Name)
	}
	input, err := run(ctx, h, "iptables -w -S INPUT")
	if err != nil {
		return nil, err
	}
	if input.ExitCode != 0 {
		return nil, toolError("iptables -S INPUT", input)
	}
	cmds, err := l.Allow.DiffIPTables(string(chain.Stdout), string(input.Stdout), l.Absent)
	if err != nil {
		return nil, fmt.Errorf("read the iptables rules of %s: %w", h.Name, err)
	}
	for _, args := range cmds {
		out = append(out, shellLine(args))
	}
	return out, nil
}

// Plan implements Resource.
func (l *Allowlist) Plan(ctx context.Context, h *Host) (*Change, error) {
	method, why, err := l.choose(h)
	if err != nil {
		return nil, err
	}
	l.chosen = method
	steps, err := l.steps(ctx, h)
	if err != nil {
		return nil, err
	}
	c := &Change{Action: NoOp, Details: []string{fmt.Sprintf("%s; region %s: %d sources, ports %v", why, l.Region.Name, len(l.Allow.Sources), l.Allow.Ports)}}
	if len(steps) == 0 {
		return c, nil
	}
	c.Action = Update
	if l.Absent {
		c.Action = Delete
	}
	for _, s := range steps {
		c.Details = append(c.Details, "would run: "+s)
	}
	if method == "iptables" {
		c.Details = append(c.Details, "then save the ruleset to "+rulesFile(h)+" (iptables-save), where boot restores it from")
	}
	return c, nil
}

// Apply implements Resource.
func (l *Allowlist) Apply(ctx context.Context, h *Host, c *Change) error {
	steps, err := l.steps(ctx, h)
	if err != nil {
		return err
	}
	if err := runAll(ctx, h, steps); err != nil {
		return err
	}
	if l.chosen == "iptables" {
		return saveRules(ctx, h)
	}
	return nil
}
