package config

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/hostplan/hostplan/tasks"
	"github.com/hostplan/hostplan/templates"
)

// notUTF8 is content a JSON string cannot carry as is.
var notUTF8 = []byte{0xff, 0xfe, 'o', 'k', 0x00, 0xc3, 0x28, '\n'}

const replayPlan = `
variable "greeting" { type = string }
variable "port" { default = 80 }
locals {
  motd     = file("data/motd.txt")
  optional = try(file("data/optional.txt"), "none")
}
task "base" {
  on = ["all"]
  file "/etc/motd" { content = "${local.motd}|${local.optional}" }
  file "/etc/conf" {
    content = templatefile("tpl/conf.tpl", { greeting = var.greeting, name = host.name })
  }
  file "/etc/blob" { source = "files/blob.bin" }
  file "/etc/tmpl" {
    template = "files/tmpl.tpl"
    vars     = { port = var.port }
  }
  audit_policy "/etc/kubernetes/audit-policy.yaml" {
    source             = "files/policy.yaml"
    kubernetes_version = "1.30"
  }
}
`

// writeReplayPlan lays out a plan directory "plan" and a var file beside it under a
// fresh root, the way a user keeps per-environment values outside the plan.
func writeReplayPlan(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	files := map[string][]byte{
		"plan/main.hcl":          []byte(replayPlan),
		"plan/data/motd.txt":     []byte("welcome"),
		"plan/tpl/conf.tpl":      []byte("${greeting} from ${name}\n"),
		"plan/files/blob.bin":    notUTF8,
		"plan/files/tmpl.tpl":    []byte("port=${port}\n"),
		"plan/files/policy.yaml": templates.AuditPolicy("audit.k8s.io/v1"),
		"prod.hpvars":            []byte(`greeting = "hello"` + "\n" + `port = 8080` + "\n"),
	}
	for name, body := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, body, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// describe renders what a plan would do for one host, everything local files fed.
func describe(t *testing.T, p *Plan) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "dir %s\ntasks %s\n", p.Dir, strings.Join(p.TaskNames(), ","))
	for _, v := range p.Variables {
		fmt.Fprintf(&b, "var %s = %#v\n", v.Name, p.VariableValue(v.Name))
	}
	for _, r := range buildAll(t, p, testHost(nil)) {
		switch r := r.(type) {
		case *tasks.File:
			fmt.Fprintf(&b, "file %s %q\n", r.Path, r.Content)
		case *tasks.AuditPolicy:
			// A digest keeps a failure readable; the policy is a few kilobytes.
			fmt.Fprintf(&b, "audit_policy %s sha256:%x\n", r.Path, sha256.Sum256(r.Source))
		default:
			t.Fatalf("unexpected resource %T", r)
		}
	}
	return b.String()
}

func TestSnapshotReplaysPlan(t *testing.T) {
	cases := []struct {
		name string
		// change alters the local files after the plan was saved.
		change func(t *testing.T, root string)
	}{
		{"files edited", func(t *testing.T, root string) {
			edits := map[string]string{
				"plan/main.hcl":          strings.Replace(replayPlan, `task "base"`, `task "renamed"`, 1),
				"plan/data/motd.txt":     "edited",
				"plan/data/optional.txt": "now present",
				"plan/tpl/conf.tpl":      "${greeting}!\n",
				"plan/files/blob.bin":    "text now",
				"plan/files/tmpl.tpl":    "p=${port}\n",
				"plan/files/policy.yaml": string(templates.AuditPolicy("audit.k8s.io/v1")) + "# edited\n",
				"prod.hpvars":            `greeting = "bye"` + "\n",
			}
			for name, body := range edits {
				if err := os.WriteFile(filepath.Join(root, name), []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}},
		{"files deleted", func(t *testing.T, root string) {
			if err := os.RemoveAll(root); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			root := writeReplayPlan(t)
			// Relative paths, so the replay below can only match by the path as asked.
			t.Chdir(root)
			in := Inputs{VarFiles: []string{"prod.hpvars"}}
			rec := NewRecorder(nil)
			in.Source = rec
			p, diags := Load("plan", in)
			if diags.HasErrors() {
				t.Fatal(diags.Error())
			}
			want := describe(t, p)
			if v := p.VariableValue("undeclared"); !v.IsNull() {
				t.Fatalf("undeclared variable: %#v", v)
			}
			for _, s := range []string{`"welcome|none"`, `"hello from m1\n"`, `"port=8080\n"`, fmt.Sprintf("%q", notUTF8)} {
				if !strings.Contains(want, s) {
					t.Fatalf("plan lacks %s:\n%s", s, want)
				}
			}

			saved, err := json.Marshal(rec.Snapshot())
			if err != nil {
				t.Fatal(err)
			}
			tc.change(t, root)
			if _, err := os.Stat(root); err == nil {
				in.Source = nil
				if p, diags := Load("plan", in); !diags.HasErrors() && describe(t, p) == want {
					t.Fatal("the change did not change the plan read from disk; the test proves nothing")
				}
			}

			t.Chdir(t.TempDir())
			snap := &Snapshot{}
			if err := json.Unmarshal(saved, snap); err != nil {
				t.Fatal(err)
			}
			// Var files are not replayed (they may hold secrets): a saved plan gives their
			// values as --var, as this does.
			in = Inputs{Vars: []string{"greeting=hello", "port=8080"}, Source: snap}
			replayed, diags := Load("plan", in)
			if diags.HasErrors() {
				t.Fatal(diags.Error())
			}
			if got := describe(t, replayed); got != want {
				t.Fatalf("replay differs:\n got: %s\nwant: %s", got, want)
			}
		})
	}
}

// fakeSource serves files from memory and counts reads; missing files fail as the
// OS does.
type fakeSource struct {
	mu    sync.Mutex
	files map[string][]byte
	errs  map[string]error
	reads atomic.Int64
}

func (f *fakeSource) PlanFiles(path string) ([]string, string, error) {
	if path == "missing" {
		return nil, "", fmt.Errorf("stat %s: no such file or directory", path)
	}
	return []string{path + "/a.hcl", path + "/b.hcl"}, "/abs/" + path, nil
}

func (f *fakeSource) ReadPrivate(path string) ([]byte, error) { return f.ReadFile(path) }

func (f *fakeSource) ReadFile(path string) ([]byte, error) {
	f.reads.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	if err, ok := f.errs[path]; ok {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	data, ok := f.files[path]
	if !ok {
		return nil, &fs.PathError{Op: "open", Path: path, Err: fs.ErrNotExist}
	}
	return bytes.Clone(data), nil
}

func (f *fakeSource) set(path string, data []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.files[path] = data
}

func TestSnapshotJSONKeepsBytes(t *testing.T) {
	src := &fakeSource{
		files: map[string][]byte{
			"text.txt":  []byte("plain text\n"),
			"empty":     {},
			"html.txt":  []byte("<a href=\"x&y\">\u2028\u2029</a>\t\r\n"),
			"utf8.txt":  []byte("grüße, 日本, 🙂"),
			"binary":    notUTF8,
			"nul.bin":   {0, 0, 0},
			"almost":    append([]byte("valid until "), 0xe2, 0x82),
			"/abs/path": []byte("absolute"),
		},
		errs: map[string]error{"denied": fs.ErrPermission},
	}
	rec := NewRecorder(src)
	paths := []string{"missing.txt", "denied"}
	for p := range src.files {
		paths = append(paths, p)
	}
	for _, p := range paths {
		_, _ = rec.ReadFile(p)
	}
	_, _, _ = rec.PlanFiles("plans")
	_, _, _ = rec.PlanFiles("missing")

	data, err := json.Marshal(rec.Snapshot())
	if err != nil {
		t.Fatal(err)
	}
	var snap Snapshot
	if err := json.Unmarshal(data, &snap); err != nil {
		t.Fatal(err)
	}
	if !snap.Files["binary"].Base64 || snap.Files["text.txt"].Base64 {
		t.Errorf("only bytes that are not UTF-8 need base64: %s", data)
	}
	for _, p := range paths {
		t.Run(p, func(t *testing.T) {
			want, wantErr := src.ReadFile(p)
			got, err := snap.ReadFile(p)
			if (err == nil) != (wantErr == nil) {
				t.Fatalf("error: got %v, want %v", err, wantErr)
			}
			if err != nil {
				if err.Error() != wantErr.Error() {
					t.Errorf("error: got %q, want %q", err, wantErr)
				}
				if errors.Is(err, fs.ErrNotExist) != errors.Is(wantErr, fs.ErrNotExist) {
					t.Errorf("errors.Is(%v, fs.ErrNotExist) changed in the replay", err)
				}
				return
			}
			if !bytes.Equal(got, want) {
				t.Errorf("content: got %q, want %q", got, want)
			}
		})
	}
	for _, p := range []string{"plans", "missing"} {
		wantFiles, wantDir, wantErr := src.PlanFiles(p)
		files, dir, err := snap.PlanFiles(p)
		if fmt.Sprint(files, dir, err) != fmt.Sprint(wantFiles, wantDir, wantErr) {
			t.Errorf("PlanFiles(%s): got %v %s %v, want %v %s %v", p, files, dir, err, wantFiles, wantDir, wantErr)
		}
	}
}

func TestSnapshotRefusesUnrecorded(t *testing.T) {
	root := writeReplayPlan(t)
	plan := filepath.Join(root, "plan")
	// Loading reads the plan files and file(), not resource sources: those are read
	// when a resource is built for a host.
	rec := NewRecorder(OS)
	_, diags := Load(plan, Inputs{Vars: []string{"greeting=hi"}, Source: rec})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	snap := rec.Snapshot()
	blob := filepath.Join(plan, "files/blob.bin")

	cases := []struct {
		name, path string
		err        func() string
	}{
		{"ReadFile", "/nowhere/x.txt", func() string {
			_, err := snap.ReadFile("/nowhere/x.txt")
			if !errors.Is(err, ErrNotSaved) {
				t.Errorf("%v is not ErrNotSaved", err)
			}
			return fmt.Sprint(err)
		}},
		{"PlanFiles", "other-plan", func() string {
			_, _, err := snap.PlanFiles("other-plan")
			return fmt.Sprint(err)
		}},
		{"plan path", "other-plan", func() string {
			_, diags := Load("other-plan", Inputs{Source: snap})
			return diags.Error()
		}},
		{"resource source", blob, func() string {
			replayed, diags := Load(plan, Inputs{Vars: []string{"greeting=hi"}, Source: snap})
			if diags.HasErrors() {
				t.Fatal(diags.Error())
			}
			ctx, diags := replayed.EvalContext(testHost(nil))
			if diags.HasErrors() {
				t.Fatal(diags.Error())
			}
			for _, r := range replayed.Tasks[0].Resources {
				if r.Label == "/etc/blob" {
					_, diags := replayed.Build(r, ctx)
					return diags.Error()
				}
			}
			t.Fatal("no /etc/blob resource")
			return ""
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			msg := tc.err()
			if !strings.Contains(msg, tc.path) || !strings.Contains(msg, "the saved plan does not contain") {
				t.Errorf("want an error naming %s and the saved plan, got %q", tc.path, msg)
			}
		})
	}
}

// Var files may hold sensitive values, so they are never recorded: a replay reads them
// from disk, where the user gives them again.
func TestVarFilesBypassTheSource(t *testing.T) {
	dir := t.TempDir()
	plan := filepath.Join(dir, "main.hcl")
	vars := filepath.Join(dir, "secret.hpvars")
	if err := os.WriteFile(plan, []byte("variable \"token\" {\n  type = string\n  sensitive = true\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(vars, []byte("token = \"from-disk\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	rec := NewRecorder(OS)
	if _, diags := Load(plan, Inputs{VarFiles: []string{vars}, Source: rec}); diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	if _, ok := rec.Snapshot().Files[vars]; ok {
		t.Fatalf("the var file was recorded into the snapshot")
	}
	p, diags := Load(plan, Inputs{VarFiles: []string{vars}, Source: rec.Snapshot()})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	if v, _ := p.VariableValue("token").Unmark(); v.AsString() != "from-disk" {
		t.Errorf("token = %#v", v)
	}
}

func TestRecorderConcurrent(t *testing.T) {
	src := &fakeSource{files: map[string][]byte{}}
	var paths []string
	for i := range 8 {
		p := fmt.Sprintf("f%d", i)
		paths = append(paths, p)
		src.set(p, []byte("content of "+p))
	}
	rec := NewRecorder(src)
	var wg sync.WaitGroup
	for g := range 32 {
		wg.Go(func() {
			for _, p := range paths {
				data, err := rec.ReadFile(p)
				if err != nil || string(data) != "content of "+p {
					t.Errorf("%s: got %q, %v", p, data, err)
				}
				// Callers may scribble on what they get; the record must not see it.
				clear(data)
				_, _, _ = rec.PlanFiles(fmt.Sprint("plan", g%3))
			}
			_ = rec.Snapshot()
		})
	}
	wg.Wait()
	if n := src.reads.Load(); n < int64(len(paths)) || n > int64(32*len(paths)) {
		t.Fatalf("%d reads of the source", n)
	}

	// A file edited mid-plan: every host must see what the first one saw, or the
	// saved plan could not replay them all.
	src.set("f0", []byte("edited"))
	if data, _ := rec.ReadFile("f0"); string(data) != "content of f0" {
		t.Fatalf("second read: got %q", data)
	}
	snap := rec.Snapshot()
	for _, p := range paths {
		if data, err := snap.ReadFile(p); err != nil || string(data) != "content of "+p {
			t.Errorf("snapshot %s: got %q, %v", p, data, err)
		}
	}
	if len(snap.Plans) != 3 || len(snap.Files) != len(paths) {
		t.Errorf("snapshot holds %d plans and %d files", len(snap.Plans), len(snap.Files))
	}
	// A snapshot is a copy: later reads do not reach it.
	_, _ = rec.ReadFile("late")
	if _, ok := snap.Files["late"]; ok {
		t.Error("a snapshot changed after it was taken")
	}
}

// A private read leaves only a salted digest of its path in the snapshot; the replay
// reads that path from disk again and refuses any other.
func TestSnapshotPrivateRead(t *testing.T) {
	dir := t.TempDir()
	secretPath := filepath.Join(dir, "node-secret.pem")
	if err := os.WriteFile(secretPath, []byte("KEY-1"), 0o600); err != nil {
		t.Fatal(err)
	}
	rec := NewRecorder(nil)
	if b, err := rec.ReadPrivate(secretPath); err != nil || string(b) != "KEY-1" {
		t.Fatalf("ReadPrivate: %q, %v", b, err)
	}
	doc, err := json.Marshal(rec.Snapshot())
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(doc, []byte("node-secret")) || bytes.Contains(doc, []byte("KEY-1")) {
		t.Fatalf("the snapshot holds the path or the content: %s", doc)
	}
	var snap Snapshot
	if err := json.Unmarshal(doc, &snap); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(secretPath, []byte("KEY-2"), 0o600); err != nil {
		t.Fatal(err)
	}
	if b, err := snap.ReadPrivate(secretPath); err != nil || string(b) != "KEY-2" {
		t.Errorf("replay: %q, %v; want the file as it is now", b, err)
	}
	for _, p := range []string{filepath.Join(dir, "other.pem"), "node-secret.pem"} {
		if _, err := snap.ReadPrivate(p); !errors.Is(err, ErrNotSaved) {
			t.Errorf("replay of %s: %v, want ErrNotSaved", p, err)
		}
		if _, err := snap.ReadFile(secretPath); !errors.Is(err, ErrNotSaved) {
			t.Errorf("a private path read as a plain one: %v, want ErrNotSaved", err)
		}
	}
}
