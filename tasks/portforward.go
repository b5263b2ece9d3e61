package tasks

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"path"
	"regexp"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"

	"github.com/hostplan/hostplan/internal/netsh"
	"github.com/hostplan/hostplan/internal/transport"
)

func init() {
	register(&Kind{
		Type:      "port_forward",
		LabelName: "name",
		Spec: hcldec.ObjectSpec{
			"listen_port": &hcldec.AttrSpec{Name: "listen_port", Type: cty.Number, Required: true},
			"to_address":  &hcldec.AttrSpec{Name: "to_address", Type: cty.String, Required: true},
			"to_port":     &hcldec.AttrSpec{Name: "to_port", Type: cty.Number, Required: true},
			"protocol":    &hcldec.AttrSpec{Name: "protocol", Type: cty.String},
			"masquerade":  &hcldec.AttrSpec{Name: "masquerade", Type: cty.Bool},
			"method":      &hcldec.AttrSpec{Name: "method", Type: cty.String},
			"zone":        &hcldec.AttrSpec{Name: "zone", Type: cty.String},
			"state":       &hcldec.AttrSpec{Name: "state", Type: cty.String},
		},
		Build:   buildPortForward,
		Windows: true,
	})
}

// PortForward forwards a port of this host to another address (the forwarder of a
// hybrid cluster: public port -> on-prem API server). Linux hosts use firewalld when it
// runs, else iptables; both make the rule live now and keep it across reboots.
type PortForward struct {
	Name       string
	ListenPort int
	To         netip.Addr
	ToPort     int
	Protocol   string
	Masquerade bool
	Method     string // "auto", "firewalld", "iptables", "netsh"
	Zone       string
	Absent     bool

	chosen string // the method Plan chose, for Apply
}

var zoneName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,17}$`)

func buildPortForward(label string, a Attrs) (Resource, error) {
	p := &PortForward{Name: label, Protocol: a.String("protocol", "tcp"), Method: a.String("method", "auto"),
		Zone: a.String("zone", "public"), Masquerade: a.Bool("masquerade", false)}
	if !regexp.MustCompile(`^[A-Za-z0-9_.-]{1,40}$`).MatchString(label) {
		return nil, &AttrError{Attr: "name", Msg: fmt.Sprintf("%q: use up to 40 letters, digits, '.', '_' or '-' (it tags the rules)", label)}
	}
	var err error
	for _, x := range []struct {
		attr string
		dst  *int
	}{{"listen_port", &p.ListenPort}, {"to_port", &p.ToPort}} {
		if *x.dst, err = a.Int(x.attr, 0); err != nil {
			return nil, err
		}
		if *x.dst < 1 || *x.dst > 65535 {
			return nil, &AttrError{Attr: x.attr, Msg: fmt.Sprintf("%d is not a port (1-65535)", *x.dst)}
		}
	}
	addr := a.String("to_address", "")
	if p.To, err = netip.ParseAddr(addr); err != nil || !p.To.Is4() {
		return nil, &AttrError{Attr: "to_address", Msg: fmt.Sprintf("%q is not an IPv4 address", addr)}
	}
	if p.Protocol != "tcp" && p.Protocol != "udp" {
		return nil, &AttrError{Attr: "protocol", Msg: fmt.Sprintf("%q is not \"tcp\" or \"udp\"", p.Protocol)}
	}
	if err := checkFirewallAttrs(p.Method, p.Zone, "auto", "firewalld", "iptables", "netsh"); err != nil {
		return nil, err
	}

	if p.Absent, err = a.Absent(); err != nil {
		return nil, err
	}
	return p, nil
}

// Type implements Resource.
func (p *PortForward) Type() string { return "port_forward" }

// Label implements Resource.
func (p *PortForward) Label() string { return p.Name }

// choose picks the method for this host and says why.
func (p *PortForward) choose(h *Host) (string, string, error) {
	windows := h.Facts != nil && h.Facts.OSFamily == "windows"
	switch {
	case p.Method == "netsh" && !windows:
		return "", "", fmt.Errorf("method \"netsh\" needs a Windows host; %s runs %s", h.Name, h.Facts.OSFamily)
	case windows && p.Method != "auto" && p.Method != "netsh":
		return "", "", fmt.Errorf("method %q on Windows host %s; use \"netsh\" (or \"auto\")", p.Method, h.Name)
	case windows && p.Protocol != "tcp":
		return "", "", fmt.Errorf("protocol %q on Windows host %s: the netsh port proxy forwards TCP only", p.Protocol, h.Name)
	case p.Method == "netsh":
		return "netsh", "method netsh (as set)", nil
	case windows:
		return "netsh", "method netsh (auto: Windows host)", nil
	}
	return linuxFirewall(h, p.Method)
}

// checkFirewallAttrs checks the method and zone attributes of a firewall resource.
func checkFirewallAttrs(method, zone string, methods ...string) error {
	if !slices.Contains(methods, method) {
		return &AttrError{Attr: "method", Msg: fmt.Sprintf("%q is not a method; use one of %q", method, methods)}
	}
	if !zoneName.MatchString(zone) {
		return &AttrError{Attr: "zone", Msg: fmt.Sprintf("%q is not a firewalld zone name", zone)}
	}
	return nil
}

// linuxFirewall resolves method "auto", "firewalld" or "iptables" for a Linux host:
// firewalld when it runs (rules made behind its back would be lost at its next
// reload), else iptables. The second value says why, for the plan.
func linuxFirewall(h *Host, method string) (string, string, error) {
	firewalld := h.Facts != nil && h.Facts.Firewalld
	switch {
	case method == "firewalld" && !firewalld:
		return "", "", fmt.Errorf("method \"firewalld\", but firewalld is not running on %s (firewall-cmd --state); start it or use method = \"iptables\"", h.Name)
	case method == "firewalld", method == "iptables":
		return method, "method " + method + " (as set)", nil
	case firewalld:
		return "firewalld", "method firewalld (auto: firewalld is running)", nil
	}
	return "iptables", "method iptables (auto: firewalld is not running)", nil
}

// Plan implements Resource.
func (p *PortForward) Plan(ctx context.Context, h *Host) (*Change, error) {
	method, why, err := p.choose(h)
	if err != nil {
		return nil, err
	}
	p.chosen = method
	var c *Change
	switch method {
	case "firewalld":
		c, err = p.planFirewalld(ctx, h)
	case "netsh":
		c, err = p.planNetsh(ctx, h)
	default:
		c, err = p.planIptables(ctx, h)
	}
	if err != nil {
		return nil, err
	}
	c.Details = append([]string{why}, c.Details...)
	return c, nil
}

// Apply implements Resource.
func (p *PortForward) Apply(ctx context.Context, h *Host, c *Change) error {
	switch p.chosen {
	case "firewalld":
		return p.applyFirewalld(ctx, h)
	case "netsh":
		return p.applyNetsh(ctx, h)
	}
	return p.applyIptables(ctx, h, c)
}

// --- firewalld

func (p *PortForward) forwardSpec() string {
	return fmt.Sprintf("port=%d:proto=%s:toaddr=%s:toport=%d", p.ListenPort, p.Protocol, p.To, p.ToPort)
}

// runChecks runs checks in one command (one SSH round trip, not one per check) and
// returns each one's exit code and output on one line.
func runChecks(ctx context.Context, h *Host, checks []string) ([]string, []string, error) {
	var script strings.Builder
	for _, q := range checks {
		fmt.Fprintf(&script, "o=$(%s 2>&1); c=$?; printf '%%s %%s\\n' \"$c\" \"$(printf '%%s' \"$o\" | tr '\\n' ' ')\"\n", q)
	}
	res, err := run(ctx, h, script.String())
	if err != nil {
		return nil, nil, err
	}
	lines := strings.Split(strings.TrimSuffix(string(res.Stdout), "\n"), "\n")
	if res.ExitCode != 0 || len(lines) != len(checks) {
		return nil, nil, toolError("checks", res)
	}
	codes, msgs := make([]string, len(lines)), make([]string, len(lines))
	for i, line := range lines {
		codes[i], msgs[i], _ = strings.Cut(line, " ")
	}
	return codes, msgs, nil
}

// queryAll reads checks that exit 0 for yes and 1 for no (firewall-cmd --query-*,
// iptables -C); anything else is an error quoting the tool.
func queryAll(ctx context.Context, h *Host, tool string, checks []string) ([]bool, error) {
	codes, msgs, err := runChecks(ctx, h, checks)
	if err != nil {
		return nil, err
	}
	answers := make([]bool, len(checks))
	for i, code := range codes {
		switch code {
		case "0":
			answers[i] = true
		case "1":
		case "127":
			return nil, fmt.Errorf("%s is not installed on %s", tool, h.Name)
		default:
			return nil, fmt.Errorf("%s: exit %s: %s", checks[i], code, strings.TrimSpace(msgs[i]))
		}
	}
	return answers, nil
}

// firewalldSteps are the firewall-cmd commands that bring the host to the wanted state.
func (p *PortForward) firewalldSteps(ctx context.Context, h *Host) ([]string, error) {
	type item struct {
		query, add, remove string
		want               bool
		permanent          bool
	}
	var items []item
	for _, permanent := range []bool{true, false} {
		items = append(items, item{"--query-forward-port=" + p.forwardSpec(), "--add-forward-port=" + p.forwardSpec(), "--remove-forward-port=" + p.forwardSpec(), !p.Absent, permanent})
		// Masquerade is only ever added: other rules of the zone may need it.
		if p.Masquerade && !p.Absent {
			items = append(items, item{"--query-masquerade", "--add-masquerade", "", true, permanent})
		}
	}
	cmd := func(it item, arg string) string {
		c := "firewall-cmd --zone=" + p.Zone
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
	var steps []string
	for i, it := range items {
		switch {
		case it.want && !has[i]:
			steps = append(steps, cmd(it, it.add))
		case !it.want && has[i]:
			steps = append(steps, cmd(it, it.remove))
		}
	}
	return steps, nil
}

func (p *PortForward) planFirewalld(ctx context.Context, h *Host) (*Change, error) {
	// Permanent and runtime are changed separately (no --reload), so runtime-only rules
	// others added stay.
	steps, err := p.firewalldSteps(ctx, h)
	if err != nil {
		return nil, err
	}
	return p.commandsChange(steps), nil
}

func (p *PortForward) applyFirewalld(ctx context.Context, h *Host) error {
	steps, err := p.firewalldSteps(ctx, h)
	if err != nil {
		return err
	}
	return runAll(ctx, h, steps)
}

// commandsChange is the change of a method that runs commands: update (or delete for
// absent) listing them, or no-op when there are none.
func (p *PortForward) commandsChange(commands []string) *Change {
	c := &Change{Action: NoOp}
	if len(commands) > 0 {
		c.Action = Update
		if p.Absent {
			c.Action = Delete
		}
		for _, s := range commands {
			c.Details = append(c.Details, "would run: "+s)
		}
	}
	return c
}

// --- netsh (Windows)

// netshSteps reads the port proxy entries and hostplan's firewall rule for this forward
// and returns the netsh commands that bring both to the wanted state: the proxy first
// and the port opened after it, or, for absent, the port closed first.
func (p *PortForward) netshSteps(ctx context.Context, h *Host) ([]string, error) {
	show := netsh.ShowV4ToV4Command()
	res, err := run(ctx, h, show.Text)
	if err != nil {
		return nil, err
	}
	if res.ExitCode != 0 {
		return nil, toolError(show.Text, res)
	}
	entries, err := netsh.ParseShowV4ToV4(string(res.Stdout))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", show.Text, err)
	}
	want := netsh.Entry{ListenAddress: "*", ListenPort: p.ListenPort, ConnectAddress: p.To.String(), ConnectPort: p.ToPort}
	proxy, err := netsh.Plan(entries, want, p.Absent)
	if err != nil {
		return nil, err
	}

	showRule, err := netsh.ShowRuleCommand(p.Name)
	if err != nil {
		return nil, err
	}
	if res, err = run(ctx, h, showRule.Text); err != nil {
		return nil, err
	}
	rules, err := netsh.ParseShowRule(string(res.Stdout), res.ExitCode)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", showRule.Text, err)
	}
	rule, err := netsh.PlanRule(rules, p.Name, p.ListenPort, p.Absent)
	if err != nil {
		return nil, err
	}
	first, then := proxy, rule
	if p.Absent {
		first, then = rule, proxy
	}
	var texts []string
	for _, c := range slices.Concat(first, then) {
		texts = append(texts, c.Text)
	}
	return texts, nil
}

func (p *PortForward) planNetsh(ctx context.Context, h *Host) (*Change, error) {
	steps, err := p.netshSteps(ctx, h)
	if err != nil {
		return nil, err
	}
	c := p.commandsChange(steps)
	if p.Masquerade && !p.Absent {
		// The port proxy opens its own connection to the target, from this host.
		c.Details = append(c.Details, "masquerade: nothing to do (the port proxy connects from this host's own address)")
	}
	return c, nil
}

func (p *PortForward) applyNetsh(ctx context.Context, h *Host) error {
	steps, err := p.netshSteps(ctx, h)
	if err != nil {
		return err
	}
	return runAll(ctx, h, steps)
}

// --- iptables

type iptRule struct {
	table, chain, spec string
}

func (p *PortForward) comment() string { return "hostplan:" + p.Name }

// savedComment is the comment match as iptables-save prints it.
func (p *PortForward) savedComment() string { return `--comment "` + p.comment() + `" ` }

// iptablesRules are the rules of this forward, each tagged with a comment naming it.
func (p *PortForward) iptablesRules() []iptRule {
	tag := "-m comment --comment " + p.comment()
	proto := fmt.Sprintf("-p %s -m %s", p.Protocol, p.Protocol)
	rules := []iptRule{
		{"nat", "PREROUTING", fmt.Sprintf("%s --dport %d %s -j DNAT --to-destination %s:%d", proto, p.ListenPort, tag, p.To, p.ToPort)},
		{"filter", "FORWARD", fmt.Sprintf("-d %s/32 %s --dport %d %s -j ACCEPT", p.To, proto, p.ToPort, tag)},
		{"filter", "FORWARD", fmt.Sprintf("-s %s/32 %s --sport %d %s -j ACCEPT", p.To, proto, p.ToPort, tag)},
	}
	if p.Masquerade {
		rules = append(rules, iptRule{"nat", "POSTROUTING", fmt.Sprintf("-d %s/32 %s --dport %d %s -j MASQUERADE", p.To, proto, p.ToPort, tag)})
	}
	return rules
}

func (p *PortForward) forwarding() *Sysctl {
	return &Sysctl{Key: "net.ipv4.ip_forward", Value: "1", File: "/etc/sysctl.d/90-hostplan-net.ipv4.ip_forward.conf"}
}

// rulesFile is where the distro's boot scripts restore saved rules from.
func rulesFile(h *Host) string {
	if h.Facts != nil && h.Facts.DistroFamily == "rhel" {
		return "/etc/sysconfig/iptables"
	}
	return "/etc/iptables/rules.v4"
}

// iptablesSteps are the iptables commands that bring the ruleset to the wanted state:
// -C before -A, so rules are never doubled; with absent, -D while -C finds one.
func (p *PortForward) iptablesSteps(ctx context.Context, h *Host) ([]string, error) {
	var steps []string
	rules := p.iptablesRules()
	if p.Absent {
		// Remove with or without masquerade, whatever the plan says now.
		q := *p
		q.Masquerade = true
		rules = q.iptablesRules()
	}
	checks := make([]string, len(rules))
	for i, r := range rules {
		checks[i] = fmt.Sprintf("iptables -w -t %s -C %s %s", r.table, r.chain, r.spec)
	}
	present, err := queryAll(ctx, h, "iptables", checks)
	if err != nil {
		return nil, err
	}
	for i, r := range rules {
		switch {
		case !p.Absent && !present[i]:
			steps = append(steps, fmt.Sprintf("iptables -w -t %s -A %s %s", r.table, r.chain, r.spec))
		case p.Absent && present[i]:
			steps = append(steps, fmt.Sprintf("while iptables -w -t %s -C %[2]s %[3]s 2>/dev/null; do iptables -w -t %[1]s -D %[2]s %[3]s || exit 1; done", r.table, r.chain, r.spec))
		}
	}
	return steps, nil
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

// plannedSave is the iptables-save output after steps: our -A lines appended to their
// chains, our rules removed. It is exact as long as the rules read back as we write
// them, which the idempotence test checks.
func (p *PortForward) plannedSave(current string, steps []string) string {
	if len(steps) == 0 {
		return current
	}
	lines := strings.SplitAfter(current, "\n")
	var out []string
	for _, l := range lines {
		if p.Absent && strings.Contains(l, p.savedComment()) {
			continue
		}
		out = append(out, l)
	}
	if p.Absent {
		return strings.Join(out, "")
	}
	for _, r := range p.iptablesRules() {
		// iptables-save quotes comments.
		add := fmt.Sprintf("-A %s %s\n", r.chain, strings.Replace(r.spec, "--comment "+p.comment()+" ", p.savedComment(), 1))
		if !containsStep(steps, r) {
			continue
		}
		out = insertRule(out, r.table, r.chain, add)
	}
	return strings.Join(out, "")
}

func containsStep(steps []string, r iptRule) bool {
	want := fmt.Sprintf("iptables -w -t %s -A %s %s", r.table, r.chain, r.spec)
	for _, s := range steps {
		if s == want {
			return true
		}
	}
	return false
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
		decls := map[string][]string{
			"nat":    {":PREROUTING ACCEPT [0:0]\n", ":INPUT ACCEPT [0:0]\n", ":OUTPUT ACCEPT [0:0]\n", ":POSTROUTING ACCEPT [0:0]\n"},
			"filter": {":INPUT ACCEPT [0:0]\n", ":FORWARD ACCEPT [0:0]\n", ":OUTPUT ACCEPT [0:0]\n"},
		}
		out := append(lines, "*"+table+"\n")
		out = append(out, decls[table]...)
		return append(out, rule, "COMMIT\n")
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

func (p *PortForward) planIptables(ctx context.Context, h *Host) (*Change, error) {
	steps, err := p.iptablesSteps(ctx, h)
	if err != nil {
		return nil, err
	}
	c := &Change{Action: NoOp}
	for _, s := range steps {
		c.Details = append(c.Details, "would run: "+s)
	}
	if !p.Absent {
		sc, err := p.forwarding().Plan(ctx, h)
		if err != nil {
			return nil, err
		}
		if sc.Changed() {
			c.Details = append(c.Details, "net.ipv4.ip_forward = 1, now and in "+p.forwarding().File)
			c.Details = append(c.Details, sc.Details...)
		}
		if sc.Changed() && c.Action == NoOp {
			c.Action = Update
		}
	}
	var note string
	if c.File, note, err = p.planSavedRules(ctx, h, steps); err != nil {
		return nil, err
	}
	if note != "" {
		c.Details = append(c.Details, note)
	}
	if len(steps) > 0 || !c.File.OldExists || string(c.File.Old) != string(c.File.New) {
		if c.Action == NoOp {
			c.Action = Update
		}
	}
	if p.Absent && c.Action != NoOp {
		c.Action = Delete
	}
	return c, nil
}

// planSavedRules is the change of the saved ruleset, what boot restores: the running
// rules as iptables-save prints them, with steps applied. note says when the rules file
// is a link that is followed.
func (p *PortForward) planSavedRules(ctx context.Context, h *Host, steps []string) (*FileChange, string, error) {
	save, err := run(ctx, h, "iptables-save")
	if err != nil {
		return nil, "", err
	}
	if save.ExitCode != 0 {
		return nil, "", toolError("iptables-save", save)
	}
	file, note, old, err := readFollowing(ctx, h, rulesFile(h))
	exists := err == nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, "", err
	}
	planned := p.plannedSave(normalizeSave(string(save.Stdout)), steps)
	if exists && normalizeSave(string(old)) == planned {
		planned = string(old) // saved already; keep it byte for byte
	}
	fc := &FileChange{Path: file, Old: old, New: []byte(planned), OldExists: exists, NewExists: true}
	if note != "" {
		fc.Link = rulesFile(h)
	}
	return fc, note, nil
}

func (p *PortForward) applyIptables(ctx context.Context, h *Host, c *Change) error {
	if !p.Absent {
		fwd := p.forwarding()
		sc, err := fwd.Plan(ctx, h)
		if err != nil {
			return err
		}
		if sc.Changed() {
			if err := fwd.Apply(ctx, h, sc); err != nil {
				return fmt.Errorf("enable forwarding: %w", err)
			}
		}
	}
	steps, err := p.iptablesSteps(ctx, h)
	if err != nil {
		return err
	}
	if err := runAll(ctx, h, steps); err != nil {
		return err
	}
	return saveRules(ctx, h)
}

// saveRules writes the running ruleset where the distro restores it at boot, unless it
// is saved there already.
func saveRules(ctx context.Context, h *Host) error {
	save, err := run(ctx, h, "iptables-save")
	if err != nil {
		return err
	}
	if save.ExitCode != 0 {
		return toolError("iptables-save", save)
	}
	file, _, old, err := readFollowing(ctx, h, rulesFile(h))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err == nil && normalizeSave(string(old)) == normalizeSave(string(save.Stdout)) {
		return nil
	}
	if err := mkdirAll(ctx, h, path.Dir(file), transport.FileAttrs{Mode: 0o755, UID: -1, GID: -1}); err != nil {
		return err
	}
	return h.Conn.WriteFile(ctx, file, []byte(normalizeSave(string(save.Stdout))), transport.FileAttrs{Mode: 0o600, UID: -1, GID: -1})
}
