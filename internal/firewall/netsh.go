package firewall

import (
	"context"
	"fmt"
	"slices"

	"github.com/hostplan/hostplan/internal/netsh"
	"github.com/hostplan/hostplan/internal/transport"
)

// netshBackend forwards with the Windows port proxy and opens the listening port in Windows
// Firewall, with rules named after the resource. Its commands run in cmd.exe.
type netshBackend struct{}

func (netshBackend) Method() string { return Netsh }

func (netshBackend) KernelForwarding() bool { return false }

func (netshBackend) Reads(string) []string { return nil }

func (netshBackend) Apply(ctx context.Context, h Host, commands []string) error {
	return transport.RunAll(ctx, h.Conn, commands)
}

func (netshBackend) Allow(context.Context, Host, Allowlist) (*Changes, error) {
	return nil, fmt.Errorf("allowlists on Windows hosts are not supported yet")
}

// Forward reads the port proxy entries and hostplan's firewall rule for f and returns
// the netsh commands that bring both to the wanted state: the proxy first and the port
// opened after it, or, for absent, the port closed first.
func (netshBackend) Forward(ctx context.Context, h Host, f Forward) (*Changes, error) {
	if f.Protocol != "tcp" {
		return nil, fmt.Errorf("protocol %q on Windows host %s: the netsh port proxy forwards TCP only", f.Protocol, h.Name)
	}
	proxy, err := proxySteps(ctx, h, f)
	if err != nil {
		return nil, err
	}
	rule, err := ruleSteps(ctx, h, f)
	if err != nil {
		return nil, err
	}
	first, then := proxy, rule
	if f.Absent {
		first, then = rule, proxy
	}
	c := &Changes{}
	for _, cmd := range slices.Concat(first, then) {
		c.Commands = append(c.Commands, cmd.Text)
	}
	if f.Masquerade && !f.Absent {
		// The port proxy opens its own connection to the target, from this host.
		c.Notes = append(c.Notes, "masquerade: nothing to do (the port proxy connects from this host's own address)")
	}
	return c, nil
}

func proxySteps(ctx context.Context, h Host, f Forward) ([]netsh.Command, error) {
	show := netsh.ShowV4ToV4Command()
	out, err := output(ctx, h, show.Text)
	if err != nil {
		return nil, err
	}
	entries, err := netsh.ParseShowV4ToV4(out)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", show.Text, err)
	}
	want := netsh.Entry{ListenAddress: "*", ListenPort: f.ListenPort, ConnectAddress: f.To.String(), ConnectPort: f.ToPort}
	return netsh.Plan(entries, want, f.Absent)
}

func ruleSteps(ctx context.Context, h Host, f Forward) ([]netsh.Command, error) {
	show, err := netsh.ShowRuleCommand(f.Name)
	if err != nil {
		return nil, err
	}
	// netsh exits 1 when no rule has the name; ParseShowRule tells that from a failure.
	res, err := h.Conn.Run(ctx, show.Text, nil)
	if err != nil {
		return nil, err
	}
	rules, err := netsh.ParseShowRule(string(res.Stdout), res.ExitCode)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", show.Text, err)
	}
	return netsh.PlanRule(rules, f.Name, f.ListenPort, f.Absent)
}

// output runs a command that must succeed and returns what it printed.
func output(ctx context.Context, h Host, cmd string) (string, error) {
	res, err := h.Conn.Run(ctx, cmd, nil)
	if err != nil {
		return "", err
	}
	if res.ExitCode != 0 {
		return "", res.Failure(cmd)
	}
	return string(res.Stdout), nil
}
