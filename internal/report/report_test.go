package report

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
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
	// Rollouts per cluster: the plan's groups, the apply's per-group outcome and spans.
	at := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	zero := 0
	perPlan := FromPlan(&engine.Plan{Hosts: samplePlan().Hosts, Rollouts: []engine.Rollout{{Task: "audit", Serial: "1", Per: "host.vars.cluster",
		OncePerGroup: true, MaxFailPercent: zero, Groups: []engine.RolloutGroup{{Key: "a", Hosts: []string{"m1"}}, {Key: "b", Hosts: []string{"m2"}}}}}}, Options{})
	if perPlan.Rollouts[0].MaxFailPercentage == nil || *perPlan.Rollouts[0].MaxFailPercentage != 0 {
		t.Errorf("max_fail_percentage 0 must be kept, not dropped as unset")
	}
	validate(t, s, perPlan)
	validate(t, s, FromApply(perPlan, &engine.ApplyResult{
		Hosts: []*engine.HostResult{{Host: "m1", Changed: []string{`file "/etc/a"`}, Spans: []engine.Span{{Task: "audit", Start: at, End: at.Add(time.Second)}}}},
		Groups: []*engine.GroupResult{{Task: "audit", Key: "a", Hosts: []string{"m1"}, Start: at, End: at.Add(time.Second)},
			{Task: "audit", Key: "b", Hosts: []string{"m2"}, Failed: []string{"m2"}, Start: at, End: at, Stopped: "m2 failed"}},
	}, Options{}))
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

// A plain SHA-256 of short sensitive content ("token=...") can be guessed offline, so
// every digest of sensitive content (before, after, fingerprint) is keyed: the same key
// (a saved plan's, at apply) gives the same digests, another key others.
func TestSensitiveDigestsAreKeyed(t *testing.T) {
	plain := func(s string) string {
		sum := sha256.Sum256([]byte(s))
		return hex.EncodeToString(sum[:])
	}
	key := NewContentKey()
	p := FromPlan(samplePlan(), Options{ContentKey: key})
	if !bytes.Equal(p.ContentKey, key) {
		t.Fatalf("the plan does not keep the key it was made with")
	}
	doc, _ := json.Marshal(p)
	if bytes.Contains(doc, []byte(hex.EncodeToString(key))) || bytes.Contains(doc, []byte(base64.StdEncoding.EncodeToString(key))) {
		t.Errorf("the content key is in the JSON document")
	}
	tok := p.Hosts[0].Steps[1]
	for name, got := range map[string]string{"before": tok.Before.SHA256, "after": tok.After.SHA256} {
		if got == plain("a\ntoken=old\nb\n") || got == plain("a\ntoken=new\nb\n") || len(got) != 64 {
			t.Errorf("%s digest of sensitive content is %q: plain SHA-256 or malformed", name, got)
		}
	}
	if file := p.Hosts[0].Steps[0]; file.Before.SHA256 != plain("x\n") || file.After.SHA256 != plain("y\n") {
		t.Errorf("a non-sensitive file's digests are not its plain SHA-256")
	}
	again := FromPlan(samplePlan(), Options{ContentKey: key}).Hosts[0].Steps[1]
	if again.Before.SHA256 != tok.Before.SHA256 || again.Fingerprint != tok.Fingerprint {
		t.Errorf("the same key gave other digests: the stale check of a saved plan would fail")
	}
	other := FromPlan(samplePlan(), Options{}).Hosts[0].Steps[1]
	if other.Before.SHA256 == tok.Before.SHA256 || other.Fingerprint == tok.Fingerprint {
		t.Errorf("another key gave the same digests")
	}
}

func TestNewCheck(t *testing.T) {
	plan := &Plan{Hosts: []Host{
		{Name: "h1"},
		{Name: "h2", Error: "unreachable"},
		{Name: "h3", Steps: []Step{{Type: "file", Label: "/x", Error: "refused"}}},
	}}
	doc := NewCheck(plan)
	if len(doc.Hosts) != 3 || doc.Hosts[0].Error != "" || doc.Hosts[1].Error != "unreachable" || doc.Hosts[2].Error != `file "/x": refused` {
		t.Fatalf("NewCheck: %+v", doc.Hosts)
	}
	doc.Host("h1").AddCIS(nil)
	if !doc.Hosts[0].Master || doc.Host("h9") != nil {
		t.Errorf("Host/AddCIS: %+v", doc.Hosts)
	}
}
