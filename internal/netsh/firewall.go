package netsh

import (
	"fmt"
	"strconv"
	"strings"
)

// RulePrefix starts the name of every firewall rule hostplan creates, so an
// administrator can tell them apart in wf.msc and so that a user-supplied
// name can never be "all", which netsh reads as every rule.
const RulePrefix = "hostplan "

// Rule is one block of `netsh advfirewall firewall show rule` output.
type Rule struct {
	Name      string
	Enabled   string // "Yes" / "No"
	Direction string // "In" / "Out"
	Protocol  string // "TCP", "UDP", "Any", ...
	LocalPort string // "6443", "Any", "80,443", ...
	Action    string // "Allow" / "Block" / "Bypass"

	// Localized is set when the labels are not English. Only Name and
	// Values are filled then: values such as "Yes", "In" and "Allow" are
	// translated too, but the protocol and port numbers are not, which is
	// what Matches falls back to.
	Localized bool

	// Values holds every field value of the block in output order.
	Values []string
}

// Matches reports whether r is the rule AddRuleCommand creates for port:
// enabled, inbound, allowing TCP to exactly that local port. For a Localized
// rule only the protocol and port can be checked (they are not translated);
// a rule someone renamed into our prefix with another direction or action
// would pass, which the "hostplan " prefix makes unlikely.
func (r Rule) Matches(port int) bool {
	p := strconv.Itoa(port)
	if r.Localized {
		var tcp, hasPort bool
		for _, v := range r.Values {
			tcp = tcp || strings.EqualFold(v, "TCP")
			hasPort = hasPort || v == p
		}
		return tcp && hasPort
	}
	return strings.EqualFold(r.Enabled, "Yes") && strings.EqualFold(r.Direction, "In") &&
		strings.EqualFold(r.Action, "Allow") && strings.EqualFold(r.Protocol, "TCP") && r.LocalPort == p
}

// RuleName is the full firewall rule name for hostplan's rule called name.
func RuleName(name string) (string, error) {
	if strings.TrimSpace(name) == "" {
		return "", fmt.Errorf("firewall rule name is empty")
	}
	full := RulePrefix + name
	if err := checkCmdSafe("firewall rule name", full); err != nil {
		return "", err
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune(" -_.:()", r)) {
			return "", fmt.Errorf("firewall rule name %q: character %q is not allowed (use letters, digits, space and -_.:())", name, r)
		}
	}
	return full, nil
}

// ShowRuleCommand lists the firewall rules named RuleName(name); parse its
// output and exit code with ParseShowRule.
func ShowRuleCommand(name string) (Command, error) {
	full, err := RuleName(name)
	if err != nil {
		return Command{}, err
	}
	return newCommand("advfirewall", "firewall", "show", "rule", "name="+full)
}

// AddRuleCommand creates the inbound rule that lets TCP traffic reach port.
func AddRuleCommand(name string, port int) (Command, error) {
	full, err := RuleName(name)
	if err != nil {
		return Command{}, err
	}
	if err := checkPort("firewall rule port", port); err != nil {
		return Command{}, err
	}
	return newCommand("advfirewall", "firewall", "add", "rule", "name="+full,
		"dir=in", "action=allow", "protocol=TCP", "localport="+strconv.Itoa(port))
}

// DeleteRuleCommand deletes every rule named RuleName(name); netsh deletes
// all rules matching a name, which also clears duplicates.
func DeleteRuleCommand(name string) (Command, error) {
	full, err := RuleName(name)
	if err != nil {
		return Command{}, err
	}
	return newCommand("advfirewall", "firewall", "delete", "rule", "name="+full)
}

// PlanRule returns the commands that leave exactly one rule named
// RuleName(name) allowing TCP to port (or none, with absent), given the rules
// of that name that exist now. A rule that differs, or a duplicate (netsh
// accepts several rules with one name), is replaced by delete and add:
// `set rule` cannot collapse duplicates, and delete+add is what an
// administrator would type.
func PlanRule(current []Rule, name string, port int, absent bool) ([]Command, error) {
	if _, err := RuleName(name); err != nil {
		return nil, err
	}
	if absent {
		if len(current) == 0 {
			return nil, nil
		}
		c, err := DeleteRuleCommand(name)
		if err != nil {
			return nil, err
		}
		return []Command{c}, nil
	}
	if len(current) == 1 && current[0].Matches(port) {
		return nil, nil
	}
	var cmds []Command
	if len(current) > 0 {
		c, err := DeleteRuleCommand(name)
		if err != nil {
			return nil, err
		}
		cmds = append(cmds, c)
	}
	c, err := AddRuleCommand(name, port)
	if err != nil {
		return nil, err
	}
	return append(cmds, c), nil
}

// englishLabels maps the labels `show rule` prints on an English system to
// the Rule field they fill.
var englishLabels = map[string]func(*Rule, string){
	"Enabled":   func(r *Rule, v string) { r.Enabled = v },
	"Direction": func(r *Rule, v string) { r.Direction = v },
	"Protocol":  func(r *Rule, v string) { r.Protocol = v },
	"LocalPort": func(r *Rule, v string) { r.LocalPort = v },
	"Action":    func(r *Rule, v string) { r.Action = v },
}

// ParseShowRule parses the output and exit code of ShowRuleCommand. A
// non-zero exit code means no rule has that name: netsh's "No rules match
// the specified criteria." is translated, and its exit code 1 is the one
// language-independent signal. (The same exit code covers a stopped firewall
// service; the add that Plan then issues fails with netsh's own message.)
// Rules are found by their dash line, whatever the language of the labels.
func ParseShowRule(out string, exitCode int) ([]Rule, error) {
	lines := textLines(out)
	var rules []Rule
	var cur *Rule
	for i, line := range lines {
		trimmed := strings.TrimSpace(line)
		if isDashLine(trimmed) && len(trimmed) >= 10 && i > 0 && strings.TrimSpace(lines[i-1]) != "" {
			rules = append(rules, Rule{Name: fieldValue(strings.TrimSpace(lines[i-1]))})
			cur = &rules[len(rules)-1]
			continue
		}
		if cur == nil {
			continue
		}
		if trimmed == "" {
			cur = nil
			continue
		}
		label, value, ok := strings.Cut(trimmed, ":")
		if !ok {
			continue // "Ok." and the like
		}
		label, value = strings.TrimSpace(label), strings.TrimSpace(value)
		cur.Values = append(cur.Values, value)
		if set, ok := englishLabels[label]; ok {
			set(cur, value)
		}
	}
	for i := range rules {
		rules[i].Localized = rules[i].Enabled == ""
	}
	if exitCode != 0 {
		if len(rules) > 0 {
			return nil, fmt.Errorf("netsh show rule exited %d but printed %d rule(s)", exitCode, len(rules))
		}
		return nil, nil
	}
	if len(rules) == 0 {
		first := ""
		for _, l := range lines {
			if first = strings.TrimSpace(l); first != "" {
				break
			}
		}
		return nil, fmt.Errorf("netsh show rule exited 0 but printed no rule: %q", clip(first))
	}
	return rules, nil
}

// fieldValue returns what follows the label of a "Label:   value" line, or
// the whole line if it has no colon (a language whose colon is not ASCII).
func fieldValue(line string) string {
	if _, v, ok := strings.Cut(line, ":"); ok {
		return strings.TrimSpace(v)
	}
	return line
}
