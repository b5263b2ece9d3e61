package firewall

import (
	"context"
	"fmt"
	"strings"

	"github.com/hostplan/hostplan/internal/allowlist"
	"github.com/hostplan/hostplan/internal/transport"
)

// firewalld changes the permanent and the runtime configuration separately, never
// with --reload, so runtime-only rules other tools hold (fail2ban, container runtimes)
// stay.
type firewalld struct{}

func (firewalld) Method() string { return Firewalld }

func (firewalld) KernelForwarding() bool { return false }

func (firewalld) Reads() []string { return nil }

func (firewalld) Apply(ctx context.Context, h Host, commands []string) error {
	return transport.RunAll(ctx, h.Conn, commands)
}

// forwardItem is one thing firewalld must hold, or not, for a forward.
type forwardItem struct {
	query, add, remove string
	want, permanent    bool
}

func forwardSpec(f Forward) string {
	return fmt.Sprintf("port=%d:proto=%s:toaddr=%s:toport=%d", f.ListenPort, f.Protocol, f.To, f.ToPort)
}

func forwardItems(f Forward) []forwardItem {
	var items []forwardItem
	for _, permanent := range []bool{true, false} {
		spec := forwardSpec(f)
		items = append(items, forwardItem{"--query-forward-port=" + spec, "--add-forward-port=" + spec, "--remove-forward-port=" + spec, !f.Absent, permanent})
		// Masquerade is only ever added: other rules of the zone may need it.
		if f.Masquerade && !f.Absent {
			items = append(items, forwardItem{"--query-masquerade", "--add-masquerade", "", true, permanent})
		}
	}
	return items
}

func (firewalld) Forward(ctx context.Context, h Host, f Forward) (*Changes, error) {
	items := forwardItems(f)
	cmd := func(it forwardItem, arg string) string {
		c := "firewall-cmd --zone=" + f.Zone
		if it.permanent {
			c += " --permanent"
		}
		return c + " " + arg
	}
	queries := make([]string, len(items))
	for i, it := range items {
		queries[i] = cmd(it, it.query)
	}
	has, err := queryAll(ctx, h, "firewall-cmd", queries)
	if err != nil {
		return nil, err
	}
	c := &Changes{}
	for i, it := range items {
		switch {
		case it.want && !has[i]:
			c.Commands = append(c.Commands, cmd(it, it.add))
		case !it.want && has[i]:
			c.Commands = append(c.Commands, cmd(it, it.remove))
		}
	}
	return c, nil
}

// Allow lists the permanent and the runtime rich rules in one session.
func (firewalld) Allow(ctx context.Context, h Host, a Allowlist) (*Changes, error) {
	lists := []string{
		"firewall-cmd --permanent --zone=" + a.Zone + " --list-rich-rules",
		"firewall-cmd --zone=" + a.Zone + " --list-rich-rules",
	}
	got, stderr, err := transport.RunSections(ctx, h.Conn, lists)
	if err != nil {
		return nil, err
	}
	c := &Changes{}
	for i, permanent := range []bool{true, false} {
		if got[i].Code != 0 {
			return nil, fmt.Errorf("%s: exit %d: %s", lists[i], got[i].Code, strings.TrimSpace(stderr))
		}
		changes, err := a.Allow.DiffRichRules(got[i].Out, a.Absent)
		if err != nil {
			return nil, err
		}
		for _, args := range allowlist.FirewallCmdArgs(a.Zone, permanent, changes) {
			c.Commands = append(c.Commands, shellLine(args))
		}
	}
	return c, nil
}

func shellLine(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = transport.ShellQuote(a)
	}
	return strings.Join(q, " ")
}
