package firewall

// The iptables rules of a port forward, and the iptables-save text they read back as.

import (
	"fmt"
	"regexp"
	"strings"
)

type iptRule struct {
	table, chain, spec string
}

// command is the iptables command that does op ("-A", "-C", "-D") with r.
func (r iptRule) command(op string) string {
	return fmt.Sprintf("iptables -w -t %s %s %s %s", r.table, op, r.chain, r.spec)
}

func forwardComment(f Forward) string { return "hostplan:" + f.Name }

// savedComment is the comment match as iptables-save prints it.
func savedComment(f Forward) string { return `--comment "` + forwardComment(f) + `" ` }

// forwardRules are the rules of f, each tagged with a comment naming it.
func forwardRules(f Forward) []iptRule {
	tag := "-m comment --comment " + forwardComment(f)
	proto := fmt.Sprintf("-p %s -m %s", f.Protocol, f.Protocol)
	rules := []iptRule{
		{"nat", "PREROUTING", fmt.Sprintf("%s --dport %d %s -j DNAT --to-destination %s:%d", proto, f.ListenPort, tag, f.To, f.ToPort)},
		{"filter", "FORWARD", fmt.Sprintf("-d %s/32 %s --dport %d %s -j ACCEPT", f.To, proto, f.ToPort, tag)},
		{"filter", "FORWARD", fmt.Sprintf("-s %s/32 %s --sport %d %s -j ACCEPT", f.To, proto, f.ToPort, tag)},
	}
	if f.Masquerade {
		rules = append(rules, iptRule{"nat", "POSTROUTING", fmt.Sprintf("-d %s/32 %s --dport %d %s -j MASQUERADE", f.To, proto, f.ToPort, tag)})
	}
	return rules
}

var saveCounters = regexp.MustCompile(`\[\d+:\d+\]`)

// normalizeSave drops what changes between two iptables-save runs of the same rules:
// comment lines (they carry a timestamp) and packet counters.
func normalizeSave(s string) string {
	var b strings.Builder
	for _, line := range strings.SplitAfter(s, "\n") {
		if strings.HasPrefix(line, "#") || line == "" {
			continue
		}
		b.WriteString(saveCounters.ReplaceAllString(line, "[0:0]"))
	}
	return b.String()
}

// withoutForward is a saved ruleset without f's rules.
func withoutForward(save string, f Forward) string {
	var out []string
	for _, l := range strings.SplitAfter(save, "\n") {
		if !strings.Contains(l, savedComment(f)) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "")
}

// withRules is a saved ruleset with rules appended to their chains (-A), spelled as
// iptables-save prints them. It is exact as long as the rules read back as we write
// them, which the idempotence test checks.
func withRules(save string, rules []iptRule) string {
	if len(rules) == 0 {
		return save
	}
	out := strings.SplitAfter(save, "\n")
	for _, r := range rules {
		out = insertRule(out, r.table, r.chain, "-A "+r.chain+" "+quoteComments(r.spec)+"\n")
	}
	return strings.Join(out, "")
}

var commentArg = regexp.MustCompile(`--comment (\S+) `)

// quoteComments quotes comment arguments as iptables-save does.
func quoteComments(spec string) string {
	return commentArg.ReplaceAllString(spec, `--comment "$1" `)
}

// insertRule puts an appended rule where iptables-save prints it: after the rules of
// its chain and of the chains declared before it, creating the table's section when
// iptables-save had none.
func insertRule(lines []string, table, chain, rule string) []string {
	start := -1
	for i, l := range lines {
		if l == "*"+table+"\n" {
			start = i
			break
		}
	}
	if start < 0 {
		return append(newTable(lines, table), rule, "COMMIT\n")
	}
	order := map[string]int{}
	at := start
	for i := start + 1; i < len(lines) && lines[i] != "COMMIT\n"; i++ {
		l := lines[i]
		switch {
		case strings.HasPrefix(l, ":"):
			order[strings.Fields(l[1:])[0]] = i
			at = i
		case strings.HasPrefix(l, "-A "):
			c := strings.Fields(l)[1]
			oc, ok1 := order[c]
			ours, ok2 := order[chain]
			if c == chain || (ok1 && ok2 && oc < ours) {
				at = i
			}
		}
	}
	out := append([]string{}, lines[:at+1]...)
	out = append(out, rule)
	return append(out, lines[at+1:]...)
}

// newTable appends the section header of a table iptables-save did not print, with its
// built-in chains.
func newTable(lines []string, table string) []string {
	decls := map[string][]string{
		"nat":    {":PREROUTING ACCEPT [0:0]\n", ":INPUT ACCEPT [0:0]\n", ":OUTPUT ACCEPT [0:0]\n", ":POSTROUTING ACCEPT [0:0]\n"},
		"filter": {":INPUT ACCEPT [0:0]\n", ":FORWARD ACCEPT [0:0]\n", ":OUTPUT ACCEPT [0:0]\n"},
	}
	out := append(lines, "*"+table+"\n")
	return append(out, decls[table]...)
}
