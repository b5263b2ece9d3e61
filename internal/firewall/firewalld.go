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
// stay. It reads each configuration once per host (Zones) and changes a resource's
// items of one kind in one firewall-cmd call per configuration.
type firewalld struct{}

func (firewalld) Method() string { return Firewalld }

func (firewalld) KernelForwarding() bool { return false }

func (firewalld) Reads(zone string) []string {
	return []string{zoneRead(zone)}
}

// Forward adds or removes the forward port, and adds masquerade when asked (it is only
// ever added: other rules of the zone may need it), in both configurations.
// firewall-cmd takes one kind of item per call, so these are separate calls.
func (firewalld) Forward(ctx context.Context, h Host, f Forward) (*Changes, error) {
	zs, err := h.zones().get(ctx, h, f.Zone)
	if err != nil {
		return nil, err
	}
	// Nothing fails from here: the shared zones learn what this step will change.
	c := &Changes{}
	p := f.port()
	for i, permanent := range configs {
		z, call := zs[i], firewallCmd(f.Zone, permanent)
		if has := z.hasForward(p); has == f.Absent {
			op := "--add-forward-port="
			if f.Absent {
				op = "--remove-forward-port="
			}
			c.Commands = append(c.Commands, call+" "+op+forwardSpec(f))
			z.setForward(p, !f.Absent)
		}
		if f.Masquerade && !f.Absent && !z.masquerade {
			c.Commands = append(c.Commands, call+" --add-masquerade")
			z.masquerade = true
		}
	}
	return c, nil
}

func forwardSpec(f Forward) string {
	return fmt.Sprintf("port=%d:proto=%s:toaddr=%s:toport=%d", f.ListenPort, f.Protocol, f.To, f.ToPort)
}

// Allow adds the missing rich rules, or removes ours, in one call per configuration.
func (firewalld) Allow(ctx context.Context, h Host, a Allowlist) (*Changes, error) {
	zs, err := h.zones().get(ctx, h, a.Zone)
	if err != nil {
		return nil, err
	}
	diffs := make([]allowlist.RichRuleChanges, len(zs))
	for i, z := range zs {
		if diffs[i], err = a.Allow.DiffRichRules(strings.Join(z.rich, "\n"), a.Absent); err != nil {
			return nil, err
		}
	}
	c := &Changes{}
	for i, permanent := range configs {
		for _, args := range allowlist.FirewallCmdArgs(a.Zone, permanent, diffs[i]) {
			c.Commands = append(c.Commands, shellLine(args))
		}
		zs[i].editRich(diffs[i].Add, diffs[i].Remove)
	}
	return c, nil
}

// Apply runs the calls in one session, stopping at the first that fails. A call with
// several items that fails for only some of them exits 0 and prints "Warning: CODE:
// ..." for each failed one (firewall-cmd's __cmd_sequence, 1.3.3), so a call also fails
// when it printed a warning other than the codes firewall-cmd itself counts as success
// (already so).
func (firewalld) Apply(ctx context.Context, h Host, commands []string) error {
	checked := make([]string, len(commands))
	for i, c := range commands {
		checked[i] = "{ ( " + c + "\n) 2>&1; echo \"" + exitLine + " $?\"; } | awk " + transport.ShellQuote(warningCheck)
	}
	return transport.RunAllShown(ctx, h.Conn, checked, commands)
}

// exitLine carries the call's exit status through the pipe to warningCheck. It may
// share a line with output that did not end in a newline.
const exitLine = "hostplan-exit"

// benignWarnings are the warnings firewall-cmd maps to exit 0 for a single item.
const benignWarnings = `^Warning: (ALREADY_ENABLED|NOT_ENABLED|ZONE_ALREADY_SET|ALREADY_SET):`

// warningCheck passes a call's output through and exits with its status, or 1 when it
// printed a warning that is not one of the already-so codes, or when the status never
// came.
const warningCheck = `{ line = $0; last = 0 }
match(line, /` + exitLine + ` [0-9]+$/) {
	code = substr(line, RSTART); sub(/^` + exitLine + ` /, "", code); code += 0
	seen = 1; line = substr(line, 1, RSTART - 1); last = 1
}
last && line == "" { next }
{ print line }
line ~ /^Warning: / && line !~ /` + benignWarnings + `/ { failed = 1 }
END { if (!seen) exit 1; if (code != 0) exit code; exit failed }`

func shellLine(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = transport.ShellQuote(a)
	}
	return strings.Join(q, " ")
}
