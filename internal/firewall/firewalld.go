package firewall

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/hostplan/hostplan/internal/allowlist"
	"github.com/hostplan/hostplan/internal/transport"
)

// firewalld changes the permanent and the runtime configuration separately, never
// with --reload, so runtime-only rules other tools hold (fail2ban, container runtimes)
// stay. It reads each configuration once per host (Zones) and changes it over D-Bus
// with busctl where it read it that way (buscalls.go), else with firewall-cmd, a
// resource's items of one kind in one call per configuration.
type firewalld struct{}

func (firewalld) Method() string { return Firewalld }

func (firewalld) KernelForwarding() bool { return false }

func (firewalld) Reads(zone string) []string {
	return []string{zoneRead(zone)}
}

// Forward adds or removes the forward port, and adds masquerade when asked (it is only
// ever added: other rules of the zone may need it), in both configurations.
func (firewalld) Forward(ctx context.Context, h Host, f Forward) (*Changes, error) {
	zs, err := h.zones().get(ctx, h, f.Zone)
	if err != nil {
		return nil, err
	}
	// Nothing fails from here: the shared zones learn what this step will change.
	c := &Changes{}
	p := f.port()
	for i, permanent := range configs {
		z := zs[i]
		call := callerFor(f.Zone, permanent, z)
		var cmds []string
		if has := z.hasForward(p); has == f.Absent {
			cmds = append(cmds, call.forward(!f.Absent, f))
			z.setForward(p, !f.Absent)
		}
		if f.Masquerade && !f.Absent && !z.masquerade {
			cmds = append(cmds, call.masquerade())
			z.masquerade = true
		}
		c.add(call, cmds)
	}
	return c, nil
}

func forwardSpec(f Forward) string {
	return fmt.Sprintf("port=%d:proto=%s:toaddr=%s:toport=%d", f.ListenPort, f.Protocol, f.To, f.ToPort)
}

// Allow adds the missing rich rules, or removes ours, in each configuration.
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
		call := callerFor(a.Zone, permanent, zs[i])
		var cmds []string
		if len(diffs[i].Add) > 0 {
			cmds = append(cmds, call.rich(true, diffs[i].Add)...)
		}
		if len(diffs[i].Remove) > 0 {
			cmds = append(cmds, call.rich(false, diffs[i].Remove)...)
		}
		c.add(call, cmds)
		zs[i].editRich(diffs[i].Add, diffs[i].Remove)
	}
	return c, nil
}

// add appends one configuration's commands, after the caller's check when there are
// any, and says once what a busctl call is.
func (c *Changes) add(call caller, cmds []string) {
	if len(cmds) == 0 {
		return
	}
	if chk := call.check(); chk != "" {
		c.Commands = append(c.Commands, chk)
	}
	c.Commands = append(c.Commands, cmds...)
	if _, bus := call.(busCaller); bus && !slices.Contains(c.Notes, busNote) {
		c.Notes = append(c.Notes, busNote)
	}
}

// busNote explains the busctl calls to a reviewer who knows firewall-cmd.
const busNote = "busctl calls firewalld's D-Bus API, as firewall-cmd does (about 20 ms of the host's CPU a call, where firewall-cmd starts Python, about 0.3 s): " +
	"org.fedoraproject.FirewallD1.zone changes the runtime configuration, like firewall-cmd --zone=Z; " +
	"org.fedoraproject.FirewallD1.config.zone, on the zone's object (checked first to still be zone Z), the permanent one, like firewall-cmd --permanent --zone=Z"

// Apply runs the calls in one session, stopping at the first that fails. A
// firewall-cmd call with several items that fails for only some of them exits 0 and
// prints "Warning: CODE: ..." for each failed one (firewall-cmd's __cmd_sequence,
// 1.3.3), so such a call also fails when it printed a warning other than the codes
// firewall-cmd itself counts as success (already so). busctl exits non-zero on any
// error firewalld answers. Where every line is a busctl call, hostplan makes the calls
// itself over the host's system bus when it can reach it (busdirect.go).
func (firewalld) Apply(ctx context.Context, h Host, commands []string) error {
	if calls, ok := parseBusCalls(commands); ok {
		if err := callBus(ctx, h, calls); !errors.Is(err, errNoBus) {
			return err
		}
	}
	checked := make([]string, len(commands))
	for i, c := range commands {
		checked[i] = c
		if !strings.HasPrefix(c, "busctl ") {
			checked[i] = "{ ( " + c + "\n) 2>&1; echo \"" + exitLine + " $?\"; } | awk " + transport.ShellQuote(warningCheck)
		}
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
