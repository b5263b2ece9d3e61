package firewall

// A host's iptables rules as one run plans them. They are read once per host, by the
// first step that needs them (one iptables-save and the saved file), and each step's
// planned edits are applied to that copy, so port_forward and allowlist share the read
// and a later step plans against what the earlier ones will leave.

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"

	"github.com/hostplan/hostplan/internal/transport"
)

// Rules is a host's iptables ruleset during planning. The zero value is ready; one per
// host per run, used by one step at a time.
type Rules struct {
	loaded bool
	// running is the ruleset (normalized iptables-save) as the steps planned so far
	// leave it.
	running string
	// The saved file (real path, content, whether it exists) as those steps leave it.
	file   string
	saved  []byte
	exists bool
	// pending are the commands of the steps applied so far that wait for the steps'
	// later work (iptables.finish): their restore batches then run as one process.
	pending []pendingRestore
	// resave is set when a step with no commands left the save for later: its
	// change is the saved file alone.
	resave bool
}

// pendingRestore is one step's commands, waiting to run: input, when each command is a
// restore batch as restoreBatch.command writes it (its lines, in order); else nil, and
// the commands run as they are.
type pendingRestore struct {
	step     string
	commands []string
	input    []string
}

func newPendingRestore(step string, commands []string) pendingRestore {
	p := pendingRestore{step: step, commands: commands}
	for _, c := range commands {
		lines, ok := restoreInput(c)
		if !ok {
			return pendingRestore{step: step, commands: commands}
		}
		p.input = append(p.input, lines...)
	}
	return p
}

// saveCommand reads the running rules.
const saveCommand = "iptables-save"

// load reads the running rules and the saved file, the first time only.
func (r *Rules) load(ctx context.Context, h Host, file string) error {
	if r.loaded {
		return nil
	}
	res, err := h.Conn.Run(ctx, saveCommand, nil)
	if err != nil {
		return err
	}
	switch {
	case res.ExitCode == 127:
		return fmt.Errorf("iptables is not installed on %s", h.Name)
	case res.ExitCode != 0:
		return res.Failure("iptables-save")
	}
	real, old, err := transport.ReadFollowing(ctx, h.Conn, file)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	r.running, r.file, r.saved, r.exists = normalizeSave(string(res.Stdout)), real, old, err == nil
	r.loaded = true
	return nil
}

// restoreBatch is the restore lines of one step, by table.
type restoreBatch struct {
	tables []string
	lines  map[string][]string
}

func (b *restoreBatch) add(table, line string) {
	if b.lines == nil {
		b.lines = map[string][]string{}
	}
	if _, ok := b.lines[table]; !ok {
		b.tables = append(b.tables, table)
	}
	b.lines[table] = append(b.lines[table], line)
}

// command is the one command that makes the batch: iptables-restore --noflush, which
// commits each table's lines all at once or not at all (checked on iptables 1.8.9, nft
// and legacy: a bad line leaves its table as it was). Tables go in the order added, so a
// caller puts the table whose half-done state is harmless first.
func (b *restoreBatch) command() string {
	if len(b.tables) == 0 {
		return ""
	}
	args := []string{"printf", "'%s\\n'"}
	for _, t := range b.tables {
		args = append(args, transport.ShellQuote("*"+t))
		for _, l := range b.lines[t] {
			args = append(args, transport.ShellQuote(l))
		}
		args = append(args, "COMMIT")
	}
	return strings.Join(args, " ") + restorePipe
}

// restorePipe ends a batch's command as the plan shows it.
const restorePipe = " | iptables-restore -w --noflush"

// restoreEnd ends the here-document of a batch as it runs (runnableRestore). No line of
// a batch holds it (each is a table, a rule: -A, -I, -D ..., a chain or COMMIT), and
// a batch with one that did would run in the printf form: bash before 5.2 ends a
// here-document inside $(...) at a line that only starts with the word.
const restoreEnd = "HOSTPLAN_RESTORE_END"

// runnableRestore is the form a batch's command runs in: iptables-restore reading its
// lines from a here-document, not from printf through a pipe. dash writes a here-
// document of up to 4 KiB itself and starts iptables-restore by vfork, where the pipe
// costs it two forks (a few milliseconds of a virtual machine's CPU each, per host);
// bash (RHEL's /bin/sh) writes it to a temp file of its own (O_EXCL, 0600, unlinked at
// once) in $TMPDIR or /tmp, as it does for the host lock's script. The plan shows
// the printf form, one line, as a reviewer reads it; a command that is not exactly
// what command writes (re-rendered byte for byte: a saved plan's, say) runs as it is.
func runnableRestore(cmd string) string {
	lines, ok := restoreInput(cmd)
	if !ok {
		return cmd
	}
	return restoreHereDoc(lines)
}

// restoreInput is the input lines of a batch's command, when the command is exactly
// what restoreBatch.command writes and every line can go in a here-document.
func restoreInput(cmd string) ([]string, bool) {
	words, ok := strings.CutPrefix(cmd, "printf '%s\\n' ")
	if !ok {
		return nil, false
	}
	if words, ok = strings.CutSuffix(words, restorePipe); !ok {
		return nil, false
	}
	lines, ok := transport.ShellUnquote(words)
	if !ok || len(lines) == 0 {
		return nil, false
	}
	quoted := make([]string, len(lines))
	for i, l := range lines {
		if strings.Contains(l, restoreEnd) || strings.ContainsAny(l, "\n\x00") {
			return nil, false
		}
		quoted[i] = transport.ShellQuote(l)
	}
	if strings.Join(quoted, " ") != words {
		return nil, false
	}
	return lines, true
}

// restoreHereDoc is iptables-restore --noflush reading lines from a here-document.
func restoreHereDoc(lines []string) string {
	return "iptables-restore -w --noflush <<'" + restoreEnd + "'\n" + strings.Join(lines, "\n") + "\n" + restoreEnd
}

// plan applies the batch to the running rules and returns the saved file's change: the
// file as the earlier steps leave it to the rules after this one, which the step's
// Apply saves. resave: save even when the batch is empty, should the file differ from
// the running rules; without it an empty batch saves nothing (nil), so rules other
// tools change all the time (kube-proxy's, on a master) do not make the step change.
func (r *Rules) plan(b *restoreBatch, resave bool) (*SavedRules, error) {
	if len(b.tables) == 0 && !resave {
		return nil, nil
	}
	if len(b.tables) > 0 {
		rs := parseSave(r.running)
		for _, t := range b.tables {
			for _, l := range b.lines[t] {
				if err := rs.edit(t, l); err != nil {
					return nil, fmt.Errorf("plan the iptables rules: %w", err)
				}
			}
		}
		r.running = rs.String()
	}
	if r.exists && normalizeSave(string(r.saved)) == r.running {
		return &SavedRules{Path: r.file, Old: r.saved, New: r.saved, OldExists: true}, nil
	}
	s := &SavedRules{Path: r.file, Old: r.saved, New: []byte(r.running), OldExists: r.exists}
	r.saved, r.exists = s.New, true
	return s, nil
}

// ruleset is an iptables-save text as tables of chains of rules, in the order
// iptables-save prints them.
type ruleset []*table

type table struct {
	name   string
	chains []*chain
}

type chain struct {
	name, policy string // policy "-" for a user-defined chain
	rules        []string
}

// parseSave reads a normalized iptables-save text.
func parseSave(s string) ruleset {
	var rs ruleset
	var t *table
	for _, l := range strings.Split(s, "\n") {
		switch {
		case strings.HasPrefix(l, "*"):
			t = &table{name: l[1:]}
			rs = append(rs, t)
		case t == nil:
		case strings.HasPrefix(l, ":"):
			f := strings.Fields(l[1:])
			if len(f) >= 2 {
				t.chains = append(t.chains, &chain{name: f[0], policy: f[1]})
			}
		case strings.HasPrefix(l, "-A "):
			name, rule, _ := strings.Cut(l[3:], " ")
			if c := t.chain(name); c != nil {
				c.rules = append(c.rules, rule)
			}
		}
	}
	return rs
}

// String prints the ruleset as normalizeSave leaves iptables-save's text.
func (rs ruleset) String() string {
	var b strings.Builder
	for _, t := range rs {
		b.WriteString("*" + t.name + "\n")
		for _, c := range t.chains {
			fmt.Fprintf(&b, ":%s %s [0:0]\n", c.name, c.policy)
		}
		for _, c := range t.chains {
			for _, r := range c.rules {
				fmt.Fprintf(&b, "-A %s %s\n", c.name, r)
			}
		}
		b.WriteString("COMMIT\n")
	}
	return b.String()
}

func (t *table) chain(name string) *chain {
	for _, c := range t.chains {
		if c.name == name {
			return c
		}
	}
	return nil
}

// builtinChains are the chains iptables-save declares in a table it lists.
var builtinChains = map[string][]string{
	"filter": {"INPUT", "FORWARD", "OUTPUT"},
	"nat":    {"PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"},
}

// table returns the named table, added with its built-in chains if iptables-save did not
// list it (a table nothing has used yet).
func (rs *ruleset) table(name string) *table {
	for _, t := range *rs {
		if t.name == name {
			return t
		}
	}
	t := &table{name: name}
	for _, c := range builtinChains[name] {
		t.chains = append(t.chains, &chain{name: c, policy: "ACCEPT"})
	}
	*rs = append(*rs, t)
	return t
}

// edit does one restore line, as iptables-restore would: -A, -I CHAIN 1, -D (the first
// rule spelled the same), -N, -F, -X. A user-defined chain is declared after the others,
// where iptables-nft lists a new one.
func (rs *ruleset) edit(tableName, line string) error {
	op, rest, _ := strings.Cut(line, " ")
	name, rule, _ := strings.Cut(rest, " ")
	t := rs.table(tableName)
	c := t.chain(name)
	if c == nil && op != "-N" {
		return fmt.Errorf("%s: no chain %s in table %s", line, name, tableName)
	}
	switch op {
	case "-A":
		c.rules = append(c.rules, rule)
	case "-I":
		pos, spec, _ := strings.Cut(rule, " ")
		if pos != "1" {
			return fmt.Errorf("%s: only inserting at 1 is planned", line)
		}
		c.rules = slices.Insert(c.rules, 0, spec)
	case "-D":
		i := slices.Index(c.rules, rule)
		if i < 0 {
			return fmt.Errorf("%s: no such rule", line)
		}
		c.rules = slices.Delete(c.rules, i, i+1)
	case "-N":
		if c != nil {
			return fmt.Errorf("%s: the chain exists", line)
		}
		t.chains = append(t.chains, &chain{name: name, policy: "-"})
	case "-F":
		c.rules = nil
	case "-X":
		t.chains = slices.DeleteFunc(t.chains, func(x *chain) bool { return x == c })
	default:
		return fmt.Errorf("%s: not a planned restore line", line)
	}
	return nil
}

// taggedRule is a rule of the ruleset.
type taggedRule struct {
	table, chain, spec string
}

// tagged returns the rules that carry tag (a comment match as iptables-save prints it).
func (rs ruleset) tagged(tag string) []taggedRule {
	var out []taggedRule
	for _, t := range rs {
		for _, c := range t.chains {
			for _, r := range c.rules {
				if strings.Contains(r+" ", tag) {
					out = append(out, taggedRule{t.name, c.name, r})
				}
			}
		}
	}
	return out
}

// listing is what `iptables -S NAME` prints for a chain of the table: the policy of a
// built-in chain or the -N of a user-defined one, then its rules; nothing for a chain
// that does not exist.
func (t *table) listing(name string) string {
	c := t.chain(name)
	if c == nil {
		return ""
	}
	var b strings.Builder
	if c.policy == "-" {
		b.WriteString("-N " + name + "\n")
	} else {
		fmt.Fprintf(&b, "-P %s %s\n", name, c.policy)
	}
	for _, r := range c.rules {
		fmt.Fprintf(&b, "-A %s %s\n", name, r)
	}
	return b.String()
}

// restoreLine is an iptables command (argument vector, "iptables -w" first) as a line
// of iptables-restore's input. Hostplan's own rules have no argument that would need
// quoting there; one that did is refused rather than guessed at.
func restoreLine(args []string) (string, error) {
	if len(args) < 3 || args[0] != "iptables" || args[1] != "-w" {
		return "", fmt.Errorf("not an iptables command: %q", args)
	}
	for _, a := range args[2:] {
		if a == "" || strings.ContainsAny(a, " \t\n\"'\\") {
			return "", fmt.Errorf("iptables argument %q cannot go in an iptables-restore line as it is", a)
		}
	}
	return strings.Join(args[2:], " "), nil
}
