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

func forwardComment(f Forward) string { return "hostplan:" + f.Name }

// savedComment is the comment match as iptables-save prints it.
func savedComment(f Forward) string { return `--comment "` + forwardComment(f) + `" ` }

// forwardRules are the rules of f, each tagged with a comment naming it, spelled as
// iptables-save prints them (and iptables-restore reads them).
func forwardRules(f Forward) []iptRule {
	tag := "-m comment " + strings.TrimSpace(savedComment(f))
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
