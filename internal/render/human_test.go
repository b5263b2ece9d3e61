package render

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/hostplan/hostplan/internal/engine"
	"github.com/hostplan/hostplan/internal/golden"
	"github.com/hostplan/hostplan/internal/report"
	"github.com/hostplan/hostplan/tasks"
)

func samplePlan() *engine.Plan {
	return &engine.Plan{Hosts: []*engine.HostPlan{
		{Host: "m1", Steps: []*engine.Step{
			{Task: "audit", Type: "directory", Label: "/var/log/kubernetes", Change: &tasks.Change{Action: tasks.Create, Details: []string{"mode 0755"}}},
			{Task: "audit", Type: "file", Label: "/etc/kubernetes/audit-policy.yaml", Change: &tasks.Change{
				Action: tasks.Update, Details: []string{"mode 0644 -> 0600"},
				File: &tasks.FileChange{Path: "/etc/kubernetes/audit-policy.yaml", OldExists: true, NewExists: true,
					Old: []byte("apiVersion: audit.k8s.io/v1beta1\nkind: Policy\nomitStages:\n- RequestReceived\nrules:\n- level: Metadata\n"),
					New: []byte("apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages:\n- RequestReceived\nrules:\n- level: Metadata\n")},
			}},
			{Task: "audit", Type: "file", Label: "/etc/token", Change: &tasks.Change{Action: tasks.Update,
				File: &tasks.FileChange{Path: "/etc/token", OldExists: true, NewExists: true, Old: []byte("token=old\n"), New: []byte("token=new\n"), Sensitive: true}}},
			{Task: "audit", Type: "file", Label: "/etc/stale", Change: &tasks.Change{Action: tasks.Delete,
				File: &tasks.FileChange{Path: "/etc/stale", OldExists: true, Old: []byte("old\n")}}},
			{Task: "audit", Type: "file", Label: "/etc/same", Change: &tasks.Change{Action: tasks.NoOp}},
			{Task: "other", Type: "command", Label: "reload", Change: &tasks.Change{Action: tasks.Run, Details: []string{"no guard (creates, unless, only_if): runs on every apply", "would run: systemctl reload x"}}},
		}},
		{Host: "m2", Steps: []*engine.Step{
			{Task: "audit", Type: "file", Label: "/etc/same", Change: &tasks.Change{Action: tasks.NoOp}},
		}},
		{Host: "m3", Err: errors.New("dial 192.0.2.3:22: connection refused")},
		{Host: "m4", Steps: []*engine.Step{
			{Task: "audit", Type: "file", Label: "/etc/x", Err: errors.New(`owner: user "app" does not exist on m4`)},
		}},
	}}
}

func TestPlanGolden(t *testing.T) {
	var b bytes.Buffer
	(&Human{W: &b}).Plan(report.FromPlan(samplePlan(), report.Options{DiffContext: 3}))
	out := b.String()
	if strings.Contains(out, "token=") {
		t.Fatalf("sensitive content leaked into the plan output:\n%s", out)
	}
	if strings.Contains(out, "\x1b[") {
		t.Fatalf("colour codes without Color")
	}
	golden.Check(t, "plan.golden", []byte(out))
}

func TestPlanColor(t *testing.T) {
	var b bytes.Buffer
	(&Human{W: &b, Color: true}).Plan(report.FromPlan(samplePlan(), report.Options{DiffContext: 3}))
	if !strings.Contains(b.String(), green+"+apiVersion: audit.k8s.io/v1"+reset) {
		t.Fatalf("added lines are not green:\n%q", b.String())
	}
}

func TestApplyGolden(t *testing.T) {
	res := &engine.ApplyResult{Hosts: []*engine.HostResult{
		{Host: "m1", Changed: []string{`directory "/var/log/kubernetes"`, `file "/etc/kubernetes/audit-policy.yaml"`}, Unchanged: 3},
		{Host: "m2", Unchanged: 5},
		{Host: "m3", Err: errors.New("not applied: dial 192.0.2.3:22: connection refused")},
		{Host: "m4", Changed: []string{`file "/etc/a"`}, Failed: `command "reload"`, FailedErr: errors.New(`command "reload" exited 1: unit x not found`), Skipped: []string{`file "/etc/b"`}},
	}}
	var b bytes.Buffer
	(&Human{W: &b}).Apply(report.FromApply(nil, res, report.Options{}))
	golden.Check(t, "apply.golden", b.Bytes())
}

func TestDiagnosticsSnippet(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "main.hcl")
	src := "task \"t\" {\n\ton = [\"mastrs\"]\n}\n"
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	start := strings.Index(src, `["mastrs"]`)
	rng := hcl.Range{Filename: path, Start: hcl.Pos{Line: 2, Column: 7, Byte: start}, End: hcl.Pos{Line: 2, Column: 17, Byte: start + 10}}
	var b bytes.Buffer
	(&Human{W: &b}).Diagnostics(hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Unknown group", Detail: "Groups: all, masters.", Subject: &rng}})
	want := "Error: Unknown group\n  --> " + path + ":2:7\n   |\n 2 | \ton = [\"mastrs\"]\n   | \t     ^^^^^^^^^^\nGroups: all, masters.\n"
	if b.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", b.String(), want)
	}
}

// Var files and inventories hold secrets: a diagnostic in a var file never prints its
// line, one in an inventory not when the line looks like it sets a credential.
func TestDiagnosticsHideSecretLines(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"prod.vars":  "port = \"x\"\n",
		"hosts.ini":  "h1 ansible_ssh_pass=hunter2 ansible_port=x\nh2 ansible_port=x\n",
		"hosts.yml":  "all:\n  vars:\n    ansible_become_password: hunter2\n",
		"inv.hcl":    "host \"a\" { vars = { db_token = \"hunter2\" } }\n",
		"main.hcl":   "token = var.token\n",
		"other.vars": "db_password = \"hunter2\"\n",
	}
	for name, src := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p := func(name string) string { return filepath.Join(dir, name) }
	hide := PrivateLines([]string{p("prod.vars"), p("other.vars")}, []string{p("hosts.ini"), p("hosts.yml"), p("inv.hcl")})
	for _, tc := range []struct {
		file  string
		line  int
		shown bool
	}{
		{"prod.vars", 1, false},
		{"other.vars", 1, false},
		{"hosts.ini", 1, false},
		{"hosts.ini", 2, true},
		{"hosts.yml", 3, false},
		{"hosts.yml", 2, true},
		{"inv.hcl", 1, false},
		{"main.hcl", 1, true}, // plan files are code, reviewed as such
	} {
		src := files[tc.file]
		start := 0
		for i := 1; i < tc.line; i++ {
			start += strings.IndexByte(src[start:], '\n') + 1
		}
		rng := hcl.Range{Filename: p(tc.file), Start: hcl.Pos{Line: tc.line, Column: 1, Byte: start}, End: hcl.Pos{Line: tc.line, Column: 2, Byte: start + 1}}
		var b bytes.Buffer
		(&Human{W: &b, HideLine: hide}).Diagnostics(hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "S", Subject: &rng}})
		out := b.String()
		if !strings.Contains(out, fmt.Sprintf("--> %s:%d:1", p(tc.file), tc.line)) {
			t.Errorf("%s:%d: no location:\n%s", tc.file, tc.line, out)
		}
		if strings.Contains(out, "hunter2") || tc.shown == strings.Contains(out, "not shown") {
			t.Errorf("%s:%d: shown %v wanted:\n%s", tc.file, tc.line, tc.shown, out)
		}
	}
}

func TestJSONGolden(t *testing.T) {
	var b bytes.Buffer
	// A fixed key: sensitive content is digested under the run's key, random otherwise.
	key := bytes.Repeat([]byte{7}, 32)
	if err := JSON(&b, report.FromPlan(samplePlan(), report.Options{DiffContext: 3, ContentKey: key})); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "token=") {
		t.Fatalf("sensitive content leaked into JSON:\n%s", b.String())
	}
	for _, content := range []string{"token=old\n", "token=new\n"} {
		if sum := sha256.Sum256([]byte(content)); strings.Contains(b.String(), hex.EncodeToString(sum[:])) {
			t.Errorf("the plain SHA-256 of sensitive content %q is in JSON", content)
		}
	}
	golden.Check(t, "plan.json.golden", b.Bytes())
}

func TestMarkdownGolden(t *testing.T) {
	var b bytes.Buffer
	if err := Markdown(&b, report.FromPlan(samplePlan(), report.Options{DiffContext: 3}), false); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "token=") {
		t.Fatalf("sensitive content leaked into Markdown:\n%s", b.String())
	}
	golden.Check(t, "plan.md.golden", b.Bytes())
}

func TestFenceOutlastsBackticks(t *testing.T) {
	got := fence("a ``` b ```` c", "diff")
	if !strings.HasPrefix(got, "`````diff\n") || !strings.HasSuffix(got, "\n`````\n") {
		t.Errorf("fence %q: must be longer than the longest backtick run", got)
	}
}
