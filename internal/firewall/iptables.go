package firewall

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"

	"github.com/hostplan/hostplan/internal/allowlist"
	"github.com/hostplan/hostplan/internal/facts"
	"github.com/hostplan/hostplan/internal/transport"
)

// iptables changes the running rules with iptables and then saves the whole ruleset
// (iptables-save) to the file the distro's boot scripts restore it from.
type iptables struct {
	rulesFile string
}

func newIPTables(f *facts.Facts) iptables {
	if f != nil && f.DistroFamily == "rhel" {
		return iptables{rulesFile: "/etc/sysconfig/iptables"} // iptables-services
	}
	return iptables{rulesFile: "/etc/iptables/rules.v4"} // iptables-persistent
}

func (iptables) Method() string { return IPTables }

func (iptables) KernelForwarding() bool { return true }

func (iptables) Reads(string) []string { return []string{saveCommand} }

// Forward makes the rules tagged with f's name exactly f's rules: missing ones are
// appended, stale and doubled ones deleted, in one iptables-restore batch. Adding, the
// filter table goes first (its accepts alone forward nothing); removing, nat goes first
// (no more DNAT), so a batch cut short between the tables leaves a harmless half.
func (b iptables) Forward(ctx context.Context, h Host, f Forward) (*Changes, error) {
	rules := h.rules()
	if err := rules.load(ctx, h, b.rulesFile); err != nil {
		return nil, err
	}
	var want []iptRule
	if !f.Absent {
		want = forwardRules(f)
	}
	have := parseSave(rules.running).tagged(savedComment(f))
	batch := &restoreBatch{}
	tables := []string{"filter", "nat"}
	if f.Absent {
		tables = []string{"nat", "filter"}
	}
	for _, t := range tables {
		var wantT, haveT []string
		for _, r := range want {
			if r.table == t {
				wantT = append(wantT, r.chain+" "+r.spec)
			}
		}
		for _, r := range have {
			if r.table == t {
				haveT = append(haveT, r.chain+" "+r.spec)
			}
		}
		missing, extra := allowlist.MultisetDiff(wantT, haveT)
		for _, r := range missing {
			batch.add(t, "-A "+r)
		}
		for _, r := range extra {
			batch.add(t, "-D "+r)
		}
	}
	return b.changes(rules, batch, true)
}

// changes are a step's batch and the saved file after it (see Rules.plan for resave).
func (b iptables) changes(rules *Rules, batch *restoreBatch, resave bool) (*Changes, error) {
	c := &Changes{}
	if cmd := batch.command(); cmd != "" {
		c.Commands = []string{cmd}
	}
	saved, err := rules.plan(batch, resave)
	if err != nil {
		return nil, err
	}
	if saved == nil {
		return c, nil
	}
	if saved.Path != b.rulesFile && saved.Path != "" {
		saved.Link = b.rulesFile
	}
	c.Saved = saved
	return c, nil
}

// Allow makes hostplan's chain and INPUT's jumps to it what a asks for, in one
// iptables-restore batch (filter table: all at once or not at all).
func (b iptables) Allow(ctx context.Context, h Host, a Allowlist) (*Changes, error) {
	rules := h.rules()
	if err := rules.load(ctx, h, b.rulesFile); err != nil {
		return nil, err
	}
	rs := parseSave(rules.running)
	filter := rs.table("filter")
	cmds, err := a.Allow.DiffIPTables(filter.listing(allowlist.Chain), filter.listing("INPUT"), a.Absent)
	if err != nil {
		return nil, fmt.Errorf("read the iptables rules of %s: %w", h.Name, err)
	}
	batch := &restoreBatch{}
	for _, args := range cmds {
		line, err := restoreLine(args)
		if err != nil {
			return nil, err
		}
		batch.add("filter", line)
	}
	// Only a change of its own saves: the chain is hostplan's, the rest of a master's
	// ruleset kube-proxy's, which changes under it.
	return b.changes(rules, batch, false)
}

// Apply runs the commands (a step's restore batch), then saves the ruleset where boot
// restores it from. Where it can (Later, with the run's shared Rules), it leaves both
// for after the host's last firewall step of the task: the batches of port_forward and
// allowlist then run as one iptables-restore, followed by one iptables-save, one read
// and one write (finish); else at once.
func (b iptables) Apply(ctx context.Context, h Host, commands []string) error {
	if h.Later == nil || h.Rules == nil {
		return b.save(ctx, h, commands)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	rules := h.Rules
	if len(commands) > 0 {
		rules.pending = append(rules.pending, newPendingRestore(h.Step, commands))
	} else {
		rules.resave = true
	}
	return h.Later(ctx, "iptables "+b.rulesFile, func(ctx context.Context) error {
		return b.finish(ctx, h, rules)
	})
}

// runnable is commands as they run: restore batches in runnableRestore's form.
func runnable(commands []string) []string {
	run := make([]string, len(commands))
	for i, c := range commands {
		run[i] = runnableRestore(c)
	}
	return run
}

// save runs commands and reads the ruleset they leave in one session, then saves it
// where boot restores it, unless it is saved there already.
func (b iptables) save(ctx context.Context, h Host, commands []string) error {
	save, err := transport.RunPrograms(ctx, h.Conn, runnable(commands), commands, "iptables-save")
	if err != nil {
		return err
	}
	file, old, err := transport.ReadFollowing(ctx, h.Conn, b.rulesFile)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err == nil && normalizeSave(string(old)) == normalizeSave(save) {
		return nil
	}
	if err := transport.MkdirAll(ctx, h.Conn, path.Dir(file), transport.FileAttrs{Mode: 0o755, UID: -1, GID: -1}); err != nil {
		return err
	}
	return h.Conn.WriteFile(ctx, file, []byte(normalizeSave(save)), transport.FileAttrs{Mode: 0o600, UID: -1, GID: -1})
}
