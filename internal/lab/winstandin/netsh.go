package winstandin

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// What netsh prints, in English and with the line endings of the console.
// netsh writes its errors to stdout too.
const (
	msgParamIncorrect = "The parameter is incorrect.\r\n\r\n"
	msgFileNotFound   = "The system cannot find the file specified.\r\n\r\n"
	msgNoRules        = "\r\nNo rules match the specified criteria.\r\n\r\n"
	msgOk             = "Ok.\r\n\r\n"
	msgMissingParams  = "One or more essential parameters were not entered.\r\nVerify the required parameters, and reenter them.\r\n\r\n"
	msgBadValue       = "A specified value is not valid.\r\n\r\n"

	proxyHeader = "\r\nListen on ipv4:             Connect to ipv4:\r\n\r\n" +
		"Address         Port        Address         Port\r\n" +
		"--------------- ----------  --------------- ----------\r\n"
	proxyEmpty = "\r\n\r\n"
)

// netsh runs netsh.exe with args (without the program name). Keywords and
// tags are case-insensitive, values are kept as typed. Abbreviated keywords
// ("int" for "interface"), which real netsh accepts, are not: hostplan
// always spells them out, and an abbreviation is only unambiguous among
// contexts this stand-in does not know.
func (sh shell) netsh(args []string) int {
	if len(args) == 0 {
		io.WriteString(sh.stderr, "winstandin: netsh's interactive mode is not supported by the Windows stand-in\r\n")
		return 1
	}
	if len(args) >= 4 {
		verb, object := strings.ToLower(args[2]), strings.ToLower(args[3])
		params := args[4:]
		switch strings.ToLower(args[0]) + " " + strings.ToLower(args[1]) {
		case "interface portproxy":
			switch {
			case verb == "show" && (object == "v4tov4" || object == "all"):
				// With only v4tov4 entries, `show all` prints the same single table.
				return sh.proxyShow(params)
			case object != "v4tov4":
			case verb == "add", verb == "set":
				return sh.proxySet(verb, params)
			case verb == "delete":
				return sh.proxyDelete(params)
			}
		case "advfirewall firewall":
			switch {
			case object != "rule":
			case verb == "show":
				return sh.ruleShow(params)
			case verb == "add":
				return sh.ruleAdd(params)
			case verb == "delete":
				return sh.ruleDelete(params)
			}
		}
	}
	fmt.Fprintf(sh.stdout, "The following command was not found: %s.\r\n", strings.Join(args, " "))
	return 1
}

// fail reports a broken state file. It is the lab's failure, not netsh's,
// so it goes to stderr with an exit code netsh never uses.
func (sh shell) fail(err error) int {
	fmt.Fprintf(sh.stderr, "winstandin: %v\r\n", err)
	return exitRefused
}

// parseParams parses netsh's tag=value arguments into a map keyed by the
// lower-cased tag. It fails on an argument without "=", a tag not in
// allowed, or a tag given twice.
func parseParams(args []string, allowed ...string) (map[string]string, bool) {
	p := map[string]string{}
	for _, a := range args {
		tag, value, ok := strings.Cut(a, "=")
		tag = strings.ToLower(tag)
		if !ok || !slices.Contains(allowed, tag) {
			return nil, false
		}
		if _, dup := p[tag]; dup {
			return nil, false
		}
		p[tag] = value
	}
	return p, true
}

// parsePort accepts a decimal port number, 1 to 65535.
func parsePort(s string) (int, bool) {
	if s == "" || len(s) > 5 || strings.Trim(s, "0123456789") != "" {
		return 0, false
	}
	p, _ := strconv.Atoi(s)
	return p, p >= 1 && p <= 65535
}

// validAddress accepts what may be an IPv4 address or a host name. netsh
// would also take names it cannot resolve; the character set keeps every
// stored address one field of `show` output.
func validAddress(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func (sh shell) proxyShow(params []string) int {
	if len(params) > 0 {
		io.WriteString(sh.stdout, msgParamIncorrect)
		return 1
	}
	st, err := sh.store.load()
	if err != nil {
		return sh.fail(err)
	}
	if len(st.PortProxy) == 0 {
		io.WriteString(sh.stdout, proxyEmpty)
		return 0
	}
	entries := slices.Clone(st.PortProxy)
	slices.SortStableFunc(entries, func(a, b proxyEntry) int { return strings.Compare(a.key(), b.key()) })
	var b strings.Builder
	b.WriteString(proxyHeader)
	for _, e := range entries {
		fmt.Fprintf(&b, "%-15s %-11d %-15s %d\r\n", e.ListenAddress, e.ListenPort, e.ConnectAddress, e.ConnectPort)
	}
	b.WriteString("\r\n")
	io.WriteString(sh.stdout, b.String())
	return 0
}

// listener parses the listen address and port that name an entry.
func listener(p map[string]string) (proxyEntry, bool) {
	var e proxyEntry
	var ok bool
	if e.ListenPort, ok = parsePort(p["listenport"]); !ok {
		return e, false
	}
	e.ListenAddress = "*"
	if a, given := p["listenaddress"]; given {
		if a != "*" && !validAddress(a) {
			return e, false
		}
		e.ListenAddress = a
	}
	if proto, given := p["protocol"]; given && !strings.EqualFold(proto, "tcp") {
		return e, false
	}
	return e, true
}

// proxySet runs `add v4tov4` and `set v4tov4`. Both write the registry value
// of the listener; add creates it if need be, set insists that it exists.
// An existing value keeps the spelling of its name, as a registry value
// does when it is overwritten under another case.
func (sh shell) proxySet(verb string, args []string) int {
	p, ok := parseParams(args, "listenport", "listenaddress", "connectaddress", "connectport", "protocol")
	if !ok {
		io.WriteString(sh.stdout, msgParamIncorrect)
		return 1
	}
	e, ok := listener(p)
	connectAddress, hasAddress := p["connectaddress"]
	switch {
	case hasAddress:
		ok = ok && validAddress(connectAddress)
	case verb == "add":
		ok = false // set may keep the address, add has none to keep
	}
	e.ConnectAddress = connectAddress
	e.ConnectPort = e.ListenPort
	connectPort, hasPort := p["connectport"]
	if hasPort {
		var valid bool
		e.ConnectPort, valid = parsePort(connectPort)
		ok = ok && valid
	}
	if !ok {
		io.WriteString(sh.stdout, msgParamIncorrect)
		return 1
	}
	found := false
	err := sh.store.update(func(st *state) bool {
		i := slices.IndexFunc(st.PortProxy, func(c proxyEntry) bool { return c.key() == e.key() })
		found = i >= 0
		switch {
		case found:
			cur := &st.PortProxy[i]
			if hasAddress {
				cur.ConnectAddress = e.ConnectAddress
			}
			if hasPort || verb == "add" {
				cur.ConnectPort = e.ConnectPort
			}
		case verb == "add":
			st.PortProxy = append(st.PortProxy, e)
		default:
			return false
		}
		return true
	})
	if err != nil {
		return sh.fail(err)
	}
	if !found && verb == "set" {
		io.WriteString(sh.stdout, msgFileNotFound)
		return 1
	}
	io.WriteString(sh.stdout, "\r\n")
	return 0
}

func (sh shell) proxyDelete(args []string) int {
	p, ok := parseParams(args, "listenport", "listenaddress", "protocol")
	var e proxyEntry
	if ok {
		e, ok = listener(p)
	}
	if !ok {
		io.WriteString(sh.stdout, msgParamIncorrect)
		return 1
	}
	found := false
	err := sh.store.update(func(st *state) bool {
		n := len(st.PortProxy)
		st.PortProxy = slices.DeleteFunc(st.PortProxy, func(c proxyEntry) bool { return c.key() == e.key() })
		found = len(st.PortProxy) < n
		return found
	})
	if err != nil {
		return sh.fail(err)
	}
	if !found {
		io.WriteString(sh.stdout, msgFileNotFound)
		return 1
	}
	io.WriteString(sh.stdout, "\r\n")
	return 0
}

// ruleFilter is the rule selection of `show rule` and `delete rule`: a name
// ("all" for every rule; names compare case-insensitively) and an optional
// direction.
type ruleFilter struct {
	name, dir string
}

func parseRuleFilter(args []string) (ruleFilter, string) {
	p, ok := parseParams(args, "name", "dir")
	if !ok {
		return ruleFilter{}, msgBadValue
	}
	f := ruleFilter{name: p["name"]}
	if f.name == "" {
		return f, msgMissingParams
	}
	if d, given := p["dir"]; given {
		if f.dir, ok = oneOf(d, "In", "Out"); !ok {
			return f, msgBadValue
		}
	}
	return f, ""
}

func (f ruleFilter) match(r rule) bool {
	return (strings.EqualFold(f.name, "all") || strings.EqualFold(f.name, r.Name)) && (f.dir == "" || f.dir == r.Direction)
}

// oneOf returns the choice that s names, spelled as netsh prints it.
func oneOf(s string, choices ...string) (string, bool) {
	for _, c := range choices {
		if strings.EqualFold(s, c) {
			return c, true
		}
	}
	return "", false
}

func (sh shell) ruleShow(args []string) int {
	f, msg := parseRuleFilter(args)
	if msg != "" {
		io.WriteString(sh.stdout, msg)
		return 1
	}
	st, err := sh.store.load()
	if err != nil {
		return sh.fail(err)
	}
	var b strings.Builder
	for _, r := range st.Rules {
		if f.match(r) {
			writeRule(&b, r)
		}
	}
	if b.Len() == 0 {
		io.WriteString(sh.stdout, msgNoRules)
		return 1
	}
	b.WriteString("Ok.\r\n")
	io.WriteString(sh.stdout, b.String())
	return 0
}

// writeRule writes one block of `show rule` output, with the fields Windows
// prints for a rule made by `add rule` with default options. As in Windows,
// a rule for any protocol has no port lines.
func writeRule(b *strings.Builder, r rule) {
	field := func(label, value string) { fmt.Fprintf(b, "%-38s%s\r\n", label+":", value) }
	b.WriteString("\r\n")
	field("Rule Name", r.Name)
	b.WriteString(strings.Repeat("-", 70) + "\r\n")
	field("Enabled", r.Enabled)
	field("Direction", r.Direction)
	field("Profiles", "Domain,Private,Public")
	field("Grouping", "")
	field("LocalIP", "Any")
	field("RemoteIP", "Any")
	field("Protocol", r.Protocol)
	if r.Protocol != "Any" {
		field("LocalPort", r.LocalPort)
		field("RemotePort", "Any")
	}
	field("Edge traversal", "No")
	field("Action", r.Action)
}

func (sh shell) ruleAdd(args []string) int {
	r, msg := parseRule(args)
	if msg != "" {
		io.WriteString(sh.stdout, msg)
		return 1
	}
	err := sh.store.update(func(st *state) bool {
		st.Rules = append(st.Rules, r)
		return true
	})
	if err != nil {
		return sh.fail(err)
	}
	io.WriteString(sh.stdout, msgOk)
	return 0
}

// parseRule parses the arguments of `add rule`, or returns netsh's message
// for why it cannot. Only the options hostplan uses and a few neighbours are
// known; any other is refused rather than ignored.
func parseRule(args []string) (rule, string) {
	p, ok := parseParams(args, "name", "dir", "action", "protocol", "localport", "enable")
	if !ok {
		return rule{}, msgBadValue
	}
	if p["name"] == "" || p["dir"] == "" || p["action"] == "" {
		return rule{}, msgMissingParams
	}
	r := rule{Name: p["name"], Enabled: "Yes", Protocol: "Any", LocalPort: "Any"}
	if strings.EqualFold(r.Name, "all") {
		return rule{}, msgBadValue // "all" would select every rule
	}
	valid := func(v string, ok bool) string {
		if !ok {
			return ""
		}
		return v
	}
	r.Direction = valid(oneOf(p["dir"], "In", "Out"))
	r.Action = valid(oneOf(p["action"], "Allow", "Block", "Bypass"))
	if v, given := p["enable"]; given {
		r.Enabled = valid(oneOf(v, "Yes", "No"))
	}
	if v, given := p["protocol"]; given {
		r.Protocol = valid(oneOf(v, "TCP", "UDP", "Any"))
	}
	if v, given := p["localport"]; given {
		// Ports only mean something for TCP and UDP.
		if r.Protocol == "Any" || !validPorts(v) {
			return rule{}, msgBadValue
		}
		r.LocalPort = v
		if strings.EqualFold(v, "any") {
			r.LocalPort = "Any"
		}
	}
	if r.Direction == "" || r.Action == "" || r.Enabled == "" || r.Protocol == "" {
		return rule{}, msgBadValue
	}
	return r, ""
}

// validPorts accepts a local port list as netsh takes one: "any", or
// comma-separated ports and port ranges.
func validPorts(s string) bool {
	if strings.EqualFold(s, "any") {
		return true
	}
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, ok := parsePort(lo)
		if !ok {
			return false
		}
		if isRange {
			b, ok := parsePort(hi)
			if !ok || b < a {
				return false
			}
		}
	}
	return true
}

func (sh shell) ruleDelete(args []string) int {
	f, msg := parseRuleFilter(args)
	if msg != "" {
		io.WriteString(sh.stdout, msg)
		return 1
	}
	deleted := 0
	err := sh.store.update(func(st *state) bool {
		n := len(st.Rules)
		st.Rules = slices.DeleteFunc(st.Rules, f.match)
		deleted = n - len(st.Rules)
		return deleted > 0
	})
	if err != nil {
		return sh.fail(err)
	}
	if deleted == 0 {
		io.WriteString(sh.stdout, msgNoRules)
		return 1
	}
	fmt.Fprintf(sh.stdout, "\r\nDeleted %d rule(s).\r\nOk.\r\n\r\n", deleted)
	return 0
}
