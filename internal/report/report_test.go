package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/hostplan/hostplan/internal/engine"
	"github.com/hostplan/hostplan/tasks"
)

func samplePlan() *engine.Plan {
	return &engine.Plan{
		Rollouts: []engine.Rollout{{Task: "audit", Serial: "1", Gate: "kube-apiserver /livez and /readyz"}},
		Hosts: []*engine.HostPlan{
			{Host: "m1", Steps: []*engine.Step{
				{Task: "audit", Type: "file", Label: "/etc/a", Change: &tasks.Change{Action: tasks.Update, Details: []string{"mode 0644 -> 0600"},
					File: &tasks.FileChange{Path: "/etc/a", OldExists: true, NewExists: true, Old: []byte("x\n"), New: []byte("y\n"), OldMode: 0o644}}},
				{Task: "audit", Type: "file", Label: "/etc/token", Change: &tasks.Change{Action: tasks.Update,
					File: &tasks.FileChange{Path: "/etc/token", OldExists: true, NewExists: true, Old: []byte("a\ntoken=old\nb\n"), New: []byte("a\ntoken=new\nb\n"), Sensitive: true}}},
				{Task: "audit", Type: "command", Label: "x", Err: errors.New("boom")},
				{Task: "audit", Type: "file", Label: "/etc/same", Change: &tasks.Change{Action: tasks.NoOp}},
			}},
			{Host: "m2", Err: errors.New("unreachable")},
		},
	}
}

func schema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(Schema))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("schema.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("schema.json")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func validate(t *testing.T, s *jsonschema.Schema, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Validate(inst); err != nil {
		t.Errorf("document does not fit the schema: %v\n%s", err, b)
	}
}

func TestDocumentsFitSchema(t *testing.T) {
	s := schema(t)
	plan := FromPlan(samplePlan(), Options{DiffContext: 3})
	validate(t, s, plan)
	res := &engine.ApplyResult{Stopped: "m1 failed", Hosts: []*engine.HostResult{
		{Host: "m1", Changed: []string{`file "/etc/a"`}, Failed: `file "/etc/token"`, FailedErr: errors.New("disk full"),
			Health: []*engine.HealthCheck{{Task: "audit", Gate: "g", Waited: 3 * time.Second, Err: errors.New("timeout"),
				Rollback: &engine.Rollback{Restored: []string{`file "/etc/a"`}, Healthy: true, Waited: time.Second}}}},
		{Host: "m2", Err: errors.New("unreachable")},
	}}
	validate(t, s, FromApply(plan, res, Options{}))
	// The schema must catch what it promises: a step with neither action nor error.
	bad := FromPlan(samplePlan(), Options{})
	bad.Hosts[0].Steps[0].Action = ""
	b, _ := json.Marshal(bad)
	inst, _ := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if s.Validate(inst) == nil {
		t.Errorf("a step without action or error passed the schema")
	}
}

func TestSensitiveDiffKeepsShapeNotText(t *testing.T) {
	plan := FromPlan(samplePlan(), Options{DiffContext: 3})
	st := plan.Hosts[0].Steps[1]
	if !st.Sensitive || strings.Contains(st.Diff, "token=") || strings.Contains(st.Diff, " a\n") {
		t.Fatalf("sensitive diff leaks or is not marked:\n%s", st.Diff)
	}
	want := "--- m1:/etc/token\n+++ m1:/etc/token (planned)\n@@ -1,3 +1,3 @@\n (sensitive)\n-(sensitive)\n+(sensitive)\n (sensitive)\n"
	if st.Diff != want {
		t.Errorf("diff\n%s\nwant\n%s", st.Diff, want)
	}
}

func TestFingerprint(t *testing.T) {
	a := FromPlan(samplePlan(), Options{}).Hosts[0].Steps[0].Fingerprint
	if b := FromPlan(samplePlan(), Options{}).Hosts[0].Steps[0].Fingerprint; a != b || len(a) != 64 {
		t.Fatalf("the same plan made twice has fingerprints %q and %q", a, b)
	}
	for name, edit := range map[string]func(c *tasks.Change){
		"old content": func(c *tasks.Change) { c.File.Old = []byte("z\n") },
		"new content": func(c *tasks.Change) { c.File.New = []byte("z\n") },
		"mode":        func(c *tasks.Change) { c.File.OldMode = 0o600 },
		"owner":       func(c *tasks.Change) { c.File.OldUID = 1 },
		"details":     func(c *tasks.Change) { c.Details = nil },
		"action":      func(c *tasks.Change) { c.Action = tasks.Create },
	} {
		p := samplePlan()
		edit(p.Hosts[0].Steps[0].Change)
		if FromPlan(p, Options{}).Hosts[0].Steps[0].Fingerprint == a {
			t.Errorf("%s changed, the fingerprint did not", name)
		}
	}
}
