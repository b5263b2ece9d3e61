package inventory

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hostplan/hostplan/internal/config"
)

// A saved plan replays its inventory from a Snapshot, whatever became of the files.
func TestLoadWithSnapshot(t *testing.T) {
	t.Setenv("HOME", testHome)
	root := t.TempDir()
	names := []string{"hosts.ini", "override.yml", "extra.hcl"}
	for _, name := range names {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Relative paths, as given with -i, so the replay matches from anywhere.
	t.Chdir(root)
	want := dump(mustLoad(t, names...))

	rec := config.NewRecorder(config.OS)
	inv, diags := LoadWith(names, LoadOptions{Files: Files{ReadFile: rec.ReadFile, ListDir: rec.ListDir}})
	if diags.HasErrors() {
		t.Fatalf("LoadWith through a Recorder: %s", renderDiags(inv, diags))
	}
	if got := dump(inv); got != want {
		t.Fatalf("a Recorder changed the inventory:\n got: %s\nwant: %s", got, want)
	}
	saved, err := json.Marshal(rec.Snapshot())
	if err != nil {
		t.Fatal(err)
	}

	if err := os.RemoveAll(root); err != nil {
		t.Fatal(err)
	}
	t.Chdir(t.TempDir())
	var snap config.Snapshot
	if err := json.Unmarshal(saved, &snap); err != nil {
		t.Fatal(err)
	}
	inv, diags = LoadWith(names, LoadOptions{Files: Files{ReadFile: snap.ReadFile, ListDir: snap.ListDir}})
	if diags.HasErrors() {
		t.Fatalf("LoadWith a Snapshot: %s", renderDiags(inv, diags))
	}
	if got := dump(inv); got != want {
		t.Fatalf("replay differs:\n got: %s\nwant: %s", got, want)
	}
	for _, name := range names {
		if inv.Files[name] == nil {
			t.Errorf("no source of %s to print diagnostics with", name)
		}
	}
}

func TestLoadWithUnreadable(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name    string
		files   Files
		path    string
		want    []string
		notWant string
	}{
		{"not in the saved plan", snapshotFiles(&config.Snapshot{}), "hosts.ini",
			[]string{"hosts.ini", "the saved plan does not contain"}, "is a directory"},
		// The Snapshot has no directories: the local disk must play no part.
		{"directory on disk, not in the saved plan", snapshotFiles(&config.Snapshot{}), dir,
			[]string{dir, "the saved plan does not contain"}, "is a directory; list"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, diags := LoadWith([]string{tc.path}, LoadOptions{Files: tc.files})
			if len(diags) != 1 || diags[0].Summary != "Cannot read inventory file" {
				t.Fatalf("want one read error, got %v", diags)
			}
			for _, w := range tc.want {
				if !strings.Contains(diags[0].Detail, w) {
					t.Errorf("detail %q lacks %q", diags[0].Detail, w)
				}
			}
			if tc.notWant != "" && strings.Contains(diags[0].Detail, tc.notWant) {
				t.Errorf("detail %q has %q", diags[0].Detail, tc.notWant)
			}
		})
	}
}

func snapshotFiles(s *config.Snapshot) Files {
	return Files{ReadFile: s.ReadFile, ListDir: s.ListDir}
}
