package tasks

import (
	"context"
	"errors"
	"io/fs"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/zclconf/go-cty/cty"
)

// The plan names every guard of a command, so a reviewer of a saved plan sees what
// decides whether it runs, and a sensitive guard or creates path shows as (sensitive),
// in the reason line as well.
func TestCommandPlanShowsGuards(t *testing.T) {
	h := localHost(t)
	missing := filepath.Join(t.TempDir(), "secret-marker-path")
	for _, tc := range []struct {
		name      string
		attrs     map[string]string
		sensitive []string
		action    Action
		want      []string
	}{
		{"no guard", map[string]string{"run": "echo hi"}, nil, Run,
			[]string{"no guard (creates, unless, only_if): runs on every apply", "would run: echo hi"}},
		{"all guards", map[string]string{"run": "echo hi", "creates": missing, "unless": "false", "only_if": "true"}, nil, Run,
			[]string{missing + " is missing, unless failed, only_if succeeded", "would run: echo hi",
				"guard creates: " + missing, "guard unless: false", "guard only_if: true"}},
		{"skipped by unless", map[string]string{"run": "echo hi", "unless": "true"}, nil, NoOp,
			[]string{"unless succeeded", "guard unless: true"}},
		{"sensitive creates", map[string]string{"run": "echo hi", "creates": missing}, []string{"creates"}, Run,
			[]string{"(sensitive) is missing", "would run: echo hi", "guard creates: (sensitive)"}},
		{"sensitive guard", map[string]string{"run": "echo hi", "only_if": "true"}, []string{"only_if"}, Run,
			[]string{"only_if succeeded", "would run: echo hi", "guard only_if: (sensitive)"}},
		{"sensitive run", map[string]string{"run": "echo token", "unless": "false"}, []string{"run"}, Run,
			[]string{"unless failed", "would run: (sensitive)", "guard unless: false"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCommand(t, tc.attrs, tc.sensitive)
			ch, err := c.Plan(context.Background(), h)
			if err != nil {
				t.Fatal(err)
			}
			if ch.Action != tc.action || strings.Join(ch.Details, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("got %s %q\nwant %s %q", ch.Action, ch.Details, tc.action, tc.want)
			}
		})
	}
}

func newCommand(t *testing.T, attrs map[string]string, sensitive []string) *Command {
	t.Helper()
	vals := map[string]cty.Value{}
	for _, n := range []string{"run", "creates", "unless", "only_if"} {
		vals[n] = cty.NullVal(cty.String)
		if v, ok := attrs[n]; ok {
			vals[n] = cty.StringVal(v)
		}
	}
	hidden := map[string]bool{}
	for _, n := range sensitive {
		hidden[n] = true
	}
	r, err := buildCommand("x", Attrs{Value: cty.ObjectVal(vals), Sensitive: hidden})
	if err != nil {
		t.Fatal(err)
	}
	return r.(*Command)
}

// A failed creates check (permission denied, I/O error) names the path only when it is
// not sensitive; the cause is kept either way.
func TestCommandSensitiveCreatesError(t *testing.T) {
	err := &fs.PathError{Op: "stat", Path: "/etc/secret-marker", Err: syscall.EACCES}
	for _, sensitive := range []bool{false, true} {
		var hidden []string
		if sensitive {
			hidden = []string{"creates"}
		}
		c := newCommand(t, map[string]string{"run": "true", "creates": "/etc/secret-marker"}, hidden)
		got := c.pathError(err)
		if strings.Contains(got.Error(), "secret-marker") == sensitive || !errors.Is(got, syscall.EACCES) {
			t.Errorf("sensitive=%v: error %q", sensitive, got)
		}
	}
}
