package firewall

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"

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

// Forward checks each rule of f with -C (-C before -A, so rules are never doubled;
// with absent, -D while -C finds one) and reads the ruleset, in one session.
func (b iptables) Forward(ctx context.Context, h Host, f Forward) (*Changes, error) {
	rules := forwardRules(f)
	if f.Absent {
		// Remove with or without masquerade, whatever the plan says now.
		g := f
		g.Masquerade = true
		rules = forwardRules(g)
	}
	checks := make([]string, len(rules))
	for i, r := range rules {
		checks[i] = r.command("-C")
	}
	present, save, err := queryAll(ctx, h, "iptables", checks, "iptables-save")
	if err != nil {
		return nil, err
	}
	c := &Changes{}
	var added []iptRule
	for i, r := range rules {
		switch {
		case !f.Absent && !present[i]:
			c.Commands = append(c.Commands, r.command("-A"))
			added = append(added, r)
		case f.Absent && present[i]:
			c.Commands = append(c.Commands, fmt.Sprintf("while %s 2>/dev/null; do %s || exit 1; done", r.command("-C"), r.command("-D")))
		}
	}
	if c.Saved, err = b.plannedSaved(ctx, h, save, f, added, len(c.Commands) > 0); err != nil {
		return nil, err
	}
	return c, nil
}

// plannedSaved is the change of the saved ruleset: the running rules as iptables-save
// printed them (save), with added appended and, for an absent forward that changes, its rules
// removed.
func (b iptables) plannedSaved(ctx context.Context, h Host, save string, f Forward, added []iptRule, changes bool) (*SavedRules, error) {
	real, old, err := transport.ReadFollowing(ctx, h.Conn, b.rulesFile)
	exists := err == nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	planned := normalizeSave(save)
	switch {
	case f.Absent && changes:
		planned = withoutForward(planned, f)
	case !f.Absent:
		planned = withRules(planned, added)
	}
	if exists && normalizeSave(string(old)) == planned {
		planned = string(old) // saved already; keep it byte for byte
	}
	s := &SavedRules{Path: real, Old: old, New: []byte(planned), OldExists: exists}
	if real != b.rulesFile && real != "" {
		s.Link = b.rulesFile
	}
	return s, nil
}

// Allow reads hostplan's chain and INPUT's jumps to it in one session.
func (b iptables) Allow(ctx context.Context, h Host, a Allowlist) (*Changes, error) {
	got, stderr, err := runSections(ctx, h, []string{"iptables -w -S " + allowlist.Chain + " 2>/dev/null", "iptables -w -S INPUT"})
	if err != nil {
		return nil, err
	}
	chain, input := got[0], got[1]
	if chain.code == 127 || input.code == 127 {
		return nil, fmt.Errorf("iptables is not installed on %s", h.Name)
	}
	if input.code != 0 {
		return nil, fmt.Errorf("iptables -S INPUT: exit %d: %s", input.code, strings.TrimSpace(stderr))
	}
	cmds, err := a.Allow.DiffIPTables(chain.out, input.out, a.Absent)
	if err != nil {
		return nil, fmt.Errorf("read the iptables rules of %s: %w", h.Name, err)
	}
	c := &Changes{}
	for _, args := range cmds {
		c.Commands = append(c.Commands, shellLine(args))
	}
	if len(c.Commands) > 0 {
		c.Notes = append(c.Notes, "then save the ruleset to "+b.rulesFile+" (iptables-save), where boot restores it from")
	}
	return c, nil
}

// Apply runs the commands and reads the ruleset they leave in one session, then saves
// it where boot restores it, unless it is saved there already.
func (b iptables) Apply(ctx context.Context, h Host, commands []string) error {
	save, err := transport.RunAllThen(ctx, h.Conn, commands, "iptables-save")
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
