package planfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hostplan/hostplan/internal/config"
	"github.com/hostplan/hostplan/internal/report"
)

func sample() *File {
	return &File{
		Hostplan: "test", Created: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC),
		Inputs: Inputs{PlanPath: "plan", Plan: &config.Snapshot{}, Inventories: []string{"inv.hcl"}, Inventory: &config.Snapshot{},
			Vars: []string{"greeting=hello"}, Sensitive: map[string]Digest{"token": NewDigest([]byte(`"secret"`))}},
		Plan: &report.Plan{FormatVersion: report.FormatVersion, Kind: "plan", Hosts: []report.Host{{Name: "h1", Steps: []report.Step{
			{Task: "t", Type: "file", Label: "/etc/a", Action: "update", Fingerprint: strings.Repeat("a", 64),
				Before: &report.FileState{Path: "/etc/a", Exists: true, SHA256: strings.Repeat("1", 64), Mode: "0644"}},
		}}}},
	}
}

func TestWriteRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "change.plan")
	if err := Write(path, sample()); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, %v", st.Mode(), err)
	}
	f, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if f.Plan.Hosts[0].Steps[0].Fingerprint != strings.Repeat("a", 64) || f.Inputs.Vars[0] != "greeting=hello" || !f.Created.Equal(sample().Created) {
		t.Errorf("round trip lost data: %+v", f)
	}
	if d := f.Inputs.Sensitive["token"]; !d.Matches([]byte(`"secret"`)) || d.Matches([]byte(`"other"`)) {
		t.Errorf("digest does not tell the value: %+v", d)
	}
	data, _ := os.ReadFile(path)
	if strings.Contains(string(data), "secret") {
		t.Errorf("the sensitive value is in the file")
	}
}

func TestParseRefuses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "change.plan")
	if err := Write(path, sample()); err != nil {
		t.Fatal(err)
	}
	good, _ := os.ReadFile(path)
	for _, tc := range []struct {
		name, data, want string
	}{
		{"hcl", "task \"x\" {}\n", "not a hostplan plan file"},
		{"truncated", string(good[:len(good)/2]), "truncated or corrupt"},
		{"edited", strings.Replace(string(good), "greeting=hello", "greeting=HELLO", 1), "checksum does not match"},
		{"newer", strings.Replace(string(good), `"format_version": 1`, `"format_version": 2`, 1), "plan format version 2 was written by hostplan test"},
		{"other format", strings.Replace(string(good), `"format": "hostplan-plan"`, `"format": "terraform"`, 1), "not a hostplan plan file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Parse("x.plan", []byte(tc.data)); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want %q", err, tc.want)
			}
		})
	}
}

func TestStale(t *testing.T) {
	reviewed := sample().Plan
	for _, tc := range []struct {
		name string
		edit func(s *report.Step)
		want string
	}{
		{"unchanged", func(*report.Step) {}, ""},
		{"content", func(s *report.Step) { s.Before.SHA256 = strings.Repeat("2", 64) },
			"/etc/a changed since the plan was made (sha256 111111111111… → 222222222222…)"},
		{"removed", func(s *report.Step) { s.Before.Exists = false }, "/etc/a was removed since the plan was made"},
		{"mode", func(s *report.Step) { s.Before.Mode = "0600" }, "/etc/a mode changed since the plan was made (0644 → 0600)"},
		{"owner", func(s *report.Step) { s.Before.UID = 1000 }, "/etc/a owner changed since the plan was made (0:0 → 1000:0)"},
		{"action", func(s *report.Step) { s.Before = nil; s.Action = "no-op" }, `file "/etc/a": the plan was to update, now it would no-op`},
		{"sensitive content", func(s *report.Step) { s.Sensitive = true; s.Before.SHA256 = strings.Repeat("2", 64) },
			"/etc/a changed since the plan was made (sensitive content)"},
		{"details", func(s *report.Step) { s.Before = nil; s.Details = []string{"would run: x"} },
			`file "/etc/a": its state changed since the plan was made (planned "(nothing)", now "would run: x")`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fresh := sample().Plan
			st := &fresh.Hosts[0].Steps[0]
			tc.edit(st)
			if tc.want != "" {
				st.Fingerprint = strings.Repeat("b", 64)
			}
			got := Stale(reviewed, fresh)["h1"]
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
	fresh := sample().Plan
	fresh.Hosts[0].Steps = append(fresh.Hosts[0].Steps, report.Step{Task: "t", Type: "file", Label: "/etc/b"})
	if got := Stale(reviewed, fresh)["h1"]; got != "it now has 2 resources, the plan had 1" {
		t.Errorf("extra step: %q", got)
	}
}
