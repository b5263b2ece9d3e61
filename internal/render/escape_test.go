package render

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/hostplan/hostplan/internal/cis"
	"github.com/hostplan/hostplan/internal/engine"
	"github.com/hostplan/hostplan/internal/golden"
	"github.com/hostplan/hostplan/internal/report"
	"github.com/hostplan/hostplan/tasks"
)

func TestVisible(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"plain text, tabs\tand\nnewlines", "plain text, tabs\tand\nnewlines"},
		{"ünïcödé ✓ 日本", "ünïcödé ✓ 日本"},
		{"\x1b[2J\x1b]0;owned\x07", `\x1b[2J\x1b]0;owned\x07`},
		{"rm -rf /\r# harmless", `rm -rf /\x0d# harmless`},
		{"ab\b\bcd\x00\x7f", `ab\x08\x08cd\x00\x7f`},
		{"csi \u009b2J nel \u0085", `csi \u009b2J nel \u0085`},
		{"bad \xff\xfe utf-8 \xe2\x82", `bad \xff\xfe utf-8 \xe2\x82`},
		{"ok \ufffd replacement", "ok \ufffd replacement"},
		{"admin\u202e\u2066", `admin\u202e\u2066`},
	} {
		if got := Visible(tc.in); got != tc.want {
			t.Errorf("Visible(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// hostilePlan changes a file whose old content, read from the host, carries terminal
// control sequences, and fails a command whose output does.
func hostilePlan() *engine.Plan {
	old := "Welcome\x1b[2J\x1b]0;pwned\x07\n" +
		"PermitRootLogin yes\r# PermitRootLogin no\n" +
		"\u009b31mred\x1b[0m \xff\n" +
		"tab\tstays\n"
	return &engine.Plan{Hosts: []*engine.HostPlan{
		{Host: "m1", Notes: []string{"lock held by \x1b[8mnobody"}, Steps: []*engine.Step{
			{Task: "t", Type: "file", Label: "/etc/motd", Change: &tasks.Change{
				Action: tasks.Update, Details: []string{"runtime value \x1b[1mbold\x1b[0m"},
				File: &tasks.FileChange{Path: "/etc/motd", OldExists: true, NewExists: true,
					Old: []byte(old), New: []byte("Welcome\nPermitRootLogin no\nred\ntab\tstays\n")},
			}},
			{Task: "t", Type: "command", Label: "reload", Err: errors.New("exit 1: \x1b[31mfailed\x1b[0m\r\x1b[Kall good")},
		}},
	}}
}

// The human and Markdown renderings show the control characters escaped; JSON keeps
// the host's exact text, and so does the diff text patch would apply.
func TestHostContentEscaped(t *testing.T) {
	rep := report.FromPlan(hostilePlan(), report.Options{DiffContext: 3})
	for _, c := range []struct {
		name   string
		render func(*bytes.Buffer)
	}{
		{"plan-escape.golden", func(b *bytes.Buffer) { (&Human{W: b}).Plan(rep) }},
		{"plan-escape.md.golden", func(b *bytes.Buffer) {
			if err := Markdown(b, rep, false); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		var b bytes.Buffer
		c.render(&b)
		if i := strings.IndexFunc(b.String(), func(r rune) bool { return r != '\n' && r != '\t' && escapedRune(r) }); i >= 0 {
			t.Errorf("%s: a control character reaches the terminal at byte %d:\n%q", c.name, i, b.String())
		}
		golden.Check(t, c.name, b.Bytes())
	}

	var b bytes.Buffer
	if err := JSON(&b, rep); err != nil {
		t.Fatal(err)
	}
	var back report.Plan
	if err := json.Unmarshal(b.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	// encoding/json writes a byte that is not UTF-8 as U+FFFD; all else is exact.
	want := strings.ToValidUTF8(rep.Hosts[0].Steps[0].Diff, "\ufffd")
	if got := back.Hosts[0].Steps[0].Diff; got != want || !strings.Contains(got, "\x1b[2J\x1b]0;pwned\x07") {
		t.Errorf("JSON diff %q, want the exact %q", got, want)
	}
}

// Apply errors and check findings quote the host too.
func TestApplyAndCheckEscaped(t *testing.T) {
	var b bytes.Buffer
	h := &Human{W: &b}
	h.Apply(report.FromApply(nil, &engine.ApplyResult{Hosts: []*engine.HostResult{
		{Host: "m1", Failed: `command "x"`, FailedErr: errors.New("exit 2: \x1b]0;title\x07")},
		{Host: "m2", Err: errors.New("sudo: \x1b[2Jpassword")},
	}}, report.Options{}))
	h.Check(&report.Check{Hosts: []report.CheckHost{
		{Name: "m1", Master: true, Findings: []cis.Finding{{Check: "1.2.1", Why: "flag is \x1b[32mset\x1b[0m"}}},
		{Name: "m2", Error: "cat: \x9b\x07"},
	}})
	out := b.String()
	for _, want := range []string{`exit 2: \x1b]0;title\x07`, `sudo: \x1b[2Jpassword`, `flag is \x1b[32mset\x1b[0m`, `cat: \x9b\x07`} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.ContainsAny(out, "\x1b\x07") {
		t.Errorf("a control character reaches the terminal:\n%q", out)
	}
}
