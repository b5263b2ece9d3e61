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
	Name      string
	Run       string
	Creates   string
	Unless    string
	OnlyIf    string
	Sensitive bool
}

func buildCommand(label string, a Attrs) (Resource, error) {
	c := &Command{
		Name:      label,
		Run:       a.String("run", ""),
		Creates:   a.String("creates", ""),
		Unless:    a.String("unless", ""),
		OnlyIf:    a.String("only_if", ""),
		Sensitive: a.sensitiveAny("run", "unless", "only_if"),
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
		return &Change{Action: NoOp, Details: []string{why}}, nil
	}
	return &Change{Action: Run, Details: []string{why, "would run: " + c.shown()}}, nil
}

func (c *Command) shown() string {
	if c.Sensitive {
		return "(sensitive)"
	}
	return c.Run
}

// guard decides whether the command is needed, and says why.
func (c *Command) guard(ctx context.Context, h *Host) (skip bool, why string, err error) {
	if c.Creates != "" {
		_, err := h.Conn.Stat(ctx, c.Creates)
		switch {
		case err == nil:
			return true, c.Creates + " exists", nil
		case !errors.Is(err, fs.ErrNotExist):
			return false, "", fmt.Errorf("creates: %w", err)
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
		reasons = append(reasons, c.Creates+" is missing")
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

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}
