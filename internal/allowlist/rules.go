package allowlist

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// Allow is an allowlist to enforce: TCP from Sources to Ports is accepted.
//
// It only ever adds accept rules in front of whatever policy the host has;
// it never adds a drop for other sources. The Security Center's addresses
// "must be allowed" where an access-control policy guards the API server,
// and deciding that everyone else is refused is that policy's job: a drop
// added here would lock out the cluster's own users.
type Allow struct {
	Sources []netip.Prefix
	Ports   []int
}

// Validate checks that a has at least one IPv4 source and one port in
// 1-65535.
func (a Allow) Validate() error {
	if len(a.Sources) == 0 {
		return fmt.Errorf("allowlist has no sources")
	}
	if len(a.Ports) == 0 {
		return fmt.Errorf("allowlist has no ports")
	}
	for _, s := range a.Sources {
		if !s.IsValid() || !s.Addr().Is4() {
			return fmt.Errorf("allowlist source %v: not an IPv4 prefix (the rules are family ipv4)", s)
		}
	}
	for _, p := range a.Ports {
		if p < 1 || p > 65535 {
			return fmt.Errorf("allowlist port %d: must be between 1 and 65535", p)
		}
	}
	return nil
}

// norm returns the sources masked (iptables prints 10.0.0.5/24 back as
// 10.0.0.0/24, so an unmasked prefix would never compare equal) and without
// duplicates, in their order, and the ports sorted without duplicates.
func (a Allow) norm() ([]netip.Prefix, []int) {
	var srcs []netip.Prefix
	for _, s := range a.Sources {
		if m := s.Masked(); !slices.Contains(srcs, m) {
			srcs = append(srcs, m)
		}
	}
	ports := slices.Clone(a.Ports)
	slices.Sort(ports)
	return srcs, slices.Compact(ports)
}

// RichRule returns the firewalld rich rule accepting TCP from src to port,
// in the form `firewall-cmd --list-rich-rules` prints it back. firewalld
// (src/firewall/core/rich.py, Rich_Rule.__str__) always writes
// `rule family="..." source address="..." port port="..." protocol="..."
// accept`, every value double-quoted, elements in that order whatever the
// order they were added in; the address is kept exactly as given (neither
// masked nor given a /32), so our own spelling is what comes back.
func RichRule(src netip.Prefix, port int) string {
	return fmt.Sprintf(`rule family="ipv4" source address="%s" port port="%d" protocol="tcp" accept`, src.Masked(), port)
}

// RichRules returns a's rich rules, port by port, sources in a's order.
func (a Allow) RichRules() ([]string, error) {
	if err := a.Validate(); err != nil {
		return nil, err
	}
	srcs, ports := a.norm()
	var out []string
	for _, p := range ports {
		for _, s := range srcs {
			out = append(out, RichRule(s, p))
		}
	}
	return out, nil
}

// RichRuleChanges are the rich rules to add to and remove from one firewalld
// configuration (runtime or permanent).
type RichRuleChanges struct {
	Add, Remove []string
}

// Empty reports whether nothing needs to change.
func (c RichRuleChanges) Empty() bool { return len(c.Add) == 0 && len(c.Remove) == 0 }

// DiffRichRules compares a with the output of `firewall-cmd [--permanent]
// [--zone=Z] --list-rich-rules` (one rule per line). Rich rules carry no
// comment to mark them as ours, so ours are exactly the rules RichRules
// returns: a rule someone else wrote for the same source and port in another
// spelling (say without /32) is left alone, and so is a rule of ours from an
// earlier, different allowlist (another region or port): declare that one
// absent to remove it. With absent, the rules of a that exist are removed.
func (a Allow) DiffRichRules(listed string, absent bool) (RichRuleChanges, error) {
	want, err := a.RichRules()
	if err != nil {
		return RichRuleChanges{}, err
	}
	current := map[string]bool{}
	for i, line := range strings.Split(strings.ReplaceAll(listed, "\r\n", "\n"), "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if line != "rule" && !strings.HasPrefix(line, "rule ") {
			return RichRuleChanges{}, fmt.Errorf("--list-rich-rules output line %d is not a rich rule: %q", i+1, line)
		}
		current[line] = true
	}
	var c RichRuleChanges
	for _, r := range want {
		switch {
		case absent && current[r]:
			c.Remove = append(c.Remove, r)
		case !absent && !current[r]:
			c.Add = append(c.Add, r)
		}
	}
	return c, nil
}

// FirewallCmdArgs returns the firewall-cmd argument vectors that apply c to
// zone (the default zone when empty), in the permanent configuration when
// permanent is set and at runtime otherwise: one call adding all of c.Add and
// one removing all of c.Remove (firewall-cmd refuses both in one call).
// Diffing and changing both configurations, rather than changing the permanent
// one and reloading, leaves alone any runtime-only rules other tools (fail2ban,
// container runtimes) hold.
func FirewallCmdArgs(zone string, permanent bool, c RichRuleChanges) [][]string {
	base := []string{"firewall-cmd"}
	if permanent {
		base = append(base, "--permanent")
	}
	if zone != "" {
		base = append(base, "--zone="+zone)
	}
	var out [][]string
	for _, op := range []struct {
		flag  string
		rules []string
	}{{"--add-rich-rule=", c.Add}, {"--remove-rich-rule=", c.Remove}} {
		if len(op.rules) == 0 {
			continue
		}
		args := slices.Clone(base)
		for _, r := range op.rules {
			args = append(args, op.flag+r)
		}
		out = append(out, args)
	}
	return out
}

// Chain is the iptables chain (filter table) hostplan owns: every rule in it
// and every INPUT rule that jumps to it is hostplan's, so unlike rich rules
// it can be made exactly right, stale entries included.
const Chain = "HOSTPLAN-ALLOW"

// ChainRules returns `iptables -S HOSTPLAN-ALLOW` as it prints when the
// chain is exactly right: the -N line, then one accept per source and port.
// iptables prints a host address with /32 and adds the implicit "-m tcp" of
// "-p tcp --dport" (checked against iptables 1.8.9, nft and legacy), so the
// rules are written that way to compare equal.
func (a Allow) ChainRules() ([]string, error) {
	if err := a.Validate(); err != nil {
		return nil, err
	}
	srcs, ports := a.norm()
	out := []string{"-N " + Chain}
	for _, p := range ports {
		for _, s := range srcs {
			out = append(out, fmt.Sprintf("-A %s -s %s -p tcp -m tcp --dport %d -j ACCEPT", Chain, s, p))
		}
	}
	return out, nil
}

// JumpRules returns the INPUT rules, as `iptables -S INPUT` prints them,
// that send traffic for a's ports through the chain. Traffic the chain does
// not accept returns to INPUT and meets the host's own policy.
func (a Allow) JumpRules() ([]string, error) {
	if err := a.Validate(); err != nil {
		return nil, err
	}
	_, ports := a.norm()
	var out []string
	for _, p := range ports {
		out = append(out, fmt.Sprintf("-A INPUT -p tcp -m tcp --dport %d -j %s", p, Chain))
	}
	return out, nil
}

// DiffIPTables returns the iptables commands (argument vectors) that make
// the chain and its INPUT jumps exactly what a asks for, given the output of
// `iptables -S HOSTPLAN-ALLOW` (empty when the chain does not exist: the
// command then fails and prints nothing on stdout) and of `iptables -S
// INPUT`. Nothing is returned when both are already right.
//
// Missing accepts are appended before anything is deleted, so the allowed
// sources never lose access midway. A missing jump is inserted at the top of
// INPUT, ahead of the host's policy; a jump that exists further down is left
// where it is, as kube-proxy does with its own jumps, so that two tools that
// both want to be first do not move each other's rules on every run.
//
// With absent, the jumps are deleted and the chain flushed and removed (a
// reference to the chain from another chain makes the last step fail, which
// is left to iptables to report).
func (a Allow) DiffIPTables(chainOut, inputOut string, absent bool) ([][]string, error) {
	exists, chainRules, err := parseChainS(chainOut)
	if err != nil {
		return nil, err
	}
	jumps, err := parseInputJumps(inputOut)
	if err != nil {
		return nil, err
	}
	if absent {
		return removeCommands(exists, jumps)
	}
	var c iptCommands
	wantChain, err := a.ChainRules()
	if err != nil {
		return nil, err
	}
	wantJumps, err := a.JumpRules()
	if err != nil {
		return nil, err
	}
	if !exists {
		c.add("-N", Chain)
	}
	addRules, delRules := MultisetDiff(wantChain[1:], chainRules)
	addJumps, delJumps := MultisetDiff(wantJumps, jumps)
	for _, r := range addRules {
		tok, _ := splitRule(r) // our own text: always splits
		c.add(tok...)
	}
	// Inserting at 1 in reverse keeps the jumps in port order at the top.
	for i := len(addJumps) - 1; i >= 0; i-- {
		tok, _ := splitRule(addJumps[i])
		c.add(append([]string{"-I", "INPUT", "1"}, tok[2:]...)...)
	}
	for _, r := range append(delRules, delJumps...) {
		if err := c.deleteLine(r); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// removeCommands delete the jumps to the chain, then flush and remove it.
func removeCommands(exists bool, jumps []string) (iptCommands, error) {
	var c iptCommands
	for _, j := range jumps {
		if err := c.deleteLine(j); err != nil {
			return nil, err
		}
	}
	if exists {
		c.add("-F", Chain)
		c.add("-X", Chain)
	}
	return c, nil
}

// iptCommands are iptables argument vectors, in the order they are to run.
type iptCommands [][]string

func (c *iptCommands) add(args ...string) {
	*c = append(*c, append([]string{"iptables", "-w"}, args...))
}

// deleteLine adds the -D of a rule as `iptables -S` printed it.
func (c *iptCommands) deleteLine(line string) error {
	tok, err := splitRule(line)
	if err != nil {
		return err
	}
	c.add(append([]string{"-D"}, tok[1:]...)...)
	return nil
}

// MultisetDiff returns the lines of want missing from have, and the lines of
// have beyond what want asks for, duplicates counted: of a rule listed twice
// the first is kept and the second deleted. The port forwards' rules are
// diffed the same way.
func MultisetDiff(want, have []string) (missing, extra []string) {
	keep := map[string]int{}
	for _, w := range want {
		keep[w]++
	}
	for _, h := range have {
		if keep[h] > 0 {
			keep[h]--
		} else {
			extra = append(extra, h)
		}
	}
	for _, w := range want {
		if keep[w] > 0 {
			keep[w]--
			missing = append(missing, w)
		}
	}
	return missing, extra
}

// parseChainS reads `iptables -S HOSTPLAN-ALLOW`. Any line that is not about
// the chain means the caller passed the wrong output, which must not be
// mistaken for an empty chain.
func parseChainS(out string) (exists bool, rules []string, err error) {
	for i, line := range outputLines(out) {
		switch {
		case line == "-N "+Chain:
			exists = true
		case strings.HasPrefix(line, "-A "+Chain+" "):
			rules = append(rules, line)
		default:
			return false, nil, fmt.Errorf("iptables -S %s output line %d is not about %s: %q", Chain, i+1, Chain, line)
		}
	}
	if len(rules) > 0 && !exists {
		return false, nil, fmt.Errorf("iptables -S %s output has rules but no -N %s line", Chain, Chain)
	}
	return exists, rules, nil
}

// parseInputJumps reads `iptables -S INPUT` and returns the rules that jump
// (or go) to the chain. INPUT always exists, so empty output is an error.
func parseInputJumps(out string) ([]string, error) {
	lines := outputLines(out)
	if len(lines) == 0 {
		return nil, fmt.Errorf("iptables -S INPUT output is empty (INPUT always has a policy line)")
	}
	var jumps []string
	for i, line := range lines {
		if strings.HasPrefix(line, "-P INPUT ") {
			continue
		}
		if !strings.HasPrefix(line, "-A INPUT ") {
			return nil, fmt.Errorf("iptables -S INPUT output line %d is not about INPUT: %q", i+1, line)
		}
		tok, err := splitRule(line)
		if err != nil {
			return nil, fmt.Errorf("iptables -S INPUT output line %d: %w", i+1, err)
		}
		for k := 0; k+1 < len(tok); k++ {
			if (tok[k] == "-j" || tok[k] == "-g") && tok[k+1] == Chain {
				jumps = append(jumps, line)
				break
			}
		}
	}
	return jumps, nil
}

func outputLines(out string) []string {
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

// splitRule splits an `iptables -S` line into arguments. iptables quotes an
// argument with spaces or shell metacharacters in double quotes and escapes
// `"`, `\` and `'` inside with a backslash (e.g. a comment: --comment "it\'s").
func splitRule(line string) ([]string, error) {
	var out []string
	var cur strings.Builder
	inTok, inQuote := false, false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == '\\' && i+1 < len(line):
			i++
			cur.WriteByte(line[i])
			inTok = true
		case c == '"':
			inQuote = !inQuote
			inTok = true
		case (c == ' ' || c == '\t') && !inQuote:
			if inTok {
				out = append(out, cur.String())
				cur.Reset()
				inTok = false
			}
		default:
			cur.WriteByte(c)
			inTok = true
		}
	}
	if inQuote {
		return nil, fmt.Errorf("unterminated quote in iptables rule %q", line)
	}
	if inTok {
		out = append(out, cur.String())
	}
	if len(out) < 2 {
		return nil, fmt.Errorf("iptables rule %q has no chain", line)
	}
	return out, nil
}
