package tasks

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"
)

func init() {
	register(&Kind{
		Type:      "command",
		LabelName: "name",
		Spec: hcldec.ObjectSpec{
			"run":     &hcldec.AttrSpec{Name: "run", Type: cty.String, Required: true},
			"creates": &hcldec.AttrSpec{Name: "creates", Type: cty.String},
			"unless":  &hcldec.AttrSpec{Name: "unless", Type: cty.String},
			"only_if": &hcldec.AttrSpec{Name: "only_if", Type: cty.String},
		},
		Build: buildCommand,
	})
}

// Command runs a shell command, guarded so that it runs only when needed. Guards
// (unless, only_if) run during plan too, so they must only look, never change.
type Command struct {
	Name    string
	Run     string
	Creates string
	Unless  string
	OnlyIf  string
	// Sensitive: run, unless or only_if derives from a sensitive value, so the command's
	// output is never shown.
	Sensitive bool
	// hidden are the attributes whose text derives from a sensitive value: shown as
	// (sensitive) wherever the plan prints them.
	hidden map[string]bool
}

// sensitiveText stands for a sensitive attribute in the plan and in messages.
const sensitiveText = "(sensitive)"

func buildCommand(label string, a Attrs) (Resource, error) {
	c := &Command{
		Name:      label,
		Run:       a.String("run", ""),
		Creates:   a.String("creates", ""),
		Unless:    a.String("unless", ""),
		OnlyIf:    a.String("only_if", ""),
		Sensitive: a.sensitiveAny("run", "unless", "only_if"),
		hidden:    map[string]bool{},
	}
	for _, n := range []string{"run", "creates", "unless", "only_if"} {
		c.hidden[n] = a.sensitiveAny(n)
	}
	if strings.TrimSpace(c.Run) == "" {
		return nil, &AttrError{Attr: "run", Msg: "the command is empty"}
	}
	if c.Creates != "" {
		if err := checkAbsPath(c.Creates); err != nil {
			return nil, &AttrError{Attr: "creates", Msg: err.(*AttrError).Msg}
		}
	}
	return c, nil
}

// Type implements Resource.
func (c *Command) Type() string { return "command" }

// Label implements Resource.
func (c *Command) Label() string { return c.Name }

// Plan implements Resource.
func (c *Command) Plan(ctx context.Context, h *Host) (*Change, error) {
	skip, why, err := c.guard(ctx, h)
	if err != nil {
		return nil, err
	}
	if skip {
		return &Change{Action: NoOp, Details: append([]string{why}, c.guardLines()...)}, nil
	}
	return &Change{Action: Run, Details: append([]string{why, "would run: " + c.shown("run", c.Run)}, c.guardLines()...)}, nil
}

// guardLines name every guard in the plan, so that a reviewer sees what decides whether
// the command runs (apply checks them again just before it would run), and a guard
// changed in a saved plan changes the step's fingerprint.
func (c *Command) guardLines() []string {
	var out []string
	for _, g := range []struct{ attr, text string }{{"creates", c.Creates}, {"unless", c.Unless}, {"only_if", c.OnlyIf}} {
		if g.text != "" {
			out = append(out, "guard "+g.attr+": "+c.shown(g.attr, g.text))
		}
	}
	return out
}

// shown is an attribute's text as the plan prints it.
func (c *Command) shown(attr, text string) string {
	if c.hidden[attr] {
		return sensitiveText
	}
	return text
}

// guard decides whether the command is needed, and says why.
func (c *Command) guard(ctx context.Context, h *Host) (skip bool, why string, err error) {
	creates := c.shown("creates", c.Creates)
	if c.Creates != "" {
		_, err := h.Conn.Stat(ctx, c.Creates)
		switch {
		case err == nil:
			return true, creates + " exists", nil
		case !errors.Is(err, fs.ErrNotExist):
			return false, "", fmt.Errorf("creates: %w", c.pathError(err))
		}
	}
	if c.Unless != "" {
		res, err := h.Conn.Run(ctx, c.Unless, nil)
		if err != nil {
			return false, "", fmt.Errorf("unless: %w", err)
		}
		if res.ExitCode == 0 {
			return true, "unless succeeded", nil
		}
	}
	if c.OnlyIf != "" {
		res, err := h.Conn.Run(ctx, c.OnlyIf, nil)
		if err != nil {
			return false, "", fmt.Errorf("only_if: %w", err)
		}
		if res.ExitCode != 0 {
			return true, fmt.Sprintf("only_if failed (exit %d)", res.ExitCode), nil
		}
	}
	var reasons []string
	if c.Creates != "" {
		reasons = append(reasons, creates+" is missing")
	}
	if c.Unless != "" {
		reasons = append(reasons, "unless failed")
	}
	if c.OnlyIf != "" {
		reasons = append(reasons, "only_if succeeded")
	}
	if len(reasons) == 0 {
		return false, "no guard (creates, unless, only_if): runs on every apply", nil
	}
	return false, strings.Join(reasons, ", "), nil
}

// Apply implements Resource. Guards are checked again: an earlier resource in the same
// run may have done the command's work already.
func (c *Command) Apply(ctx context.Context, h *Host, _ *Change) error {
	skip, _, err := c.guard(ctx, h)
	if err != nil || skip {
		return err
	}
	res, err := h.Conn.Run(ctx, c.Run, nil)
	if err != nil {
		return err
	}
	if res.ExitCode != 0 {
		msg := strings.TrimSpace(string(res.Stderr))
		if msg == "" {
			msg = strings.TrimSpace(string(res.Stdout))
		}
		if c.Sensitive {
			msg = "(output hidden: the command is sensitive)"
		}
		return fmt.Errorf("command %q exited %d: %s", c.Name, res.ExitCode, tail(msg, 2000))
	}
	return nil
}

// pathError keeps a sensitive creates path out of an error: the cause stays, the path
// goes.
func (c *Command) pathError(err error) error {
	var pe *fs.PathError
	if c.hidden["creates"] && errors.As(err, &pe) {
		return fmt.Errorf("%s %s: %w", pe.Op, sensitiveText, pe.Err)
	}
	if c.hidden["creates"] {
		return errors.New(sensitiveText + ": the check failed")
	}
	return err
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}
