package hclfmt

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/hostplan/hostplan/internal/golden"
)

func TestFormat(t *testing.T) {
	src, err := os.ReadFile("testdata/unformatted.hcl")
	if err != nil {
		t.Fatal(err)
	}
	out, diags := Format(src, "unformatted.hcl")
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	golden.Check(t, "formatted.golden", out)
	if again, _ := Format(out, "formatted.hcl"); string(again) != string(out) {
		t.Errorf("formatting is not idempotent:\n%s", again)
	}
}

// A file that does not parse is left alone: formatting it could garble it.
func TestFormatRefusesSyntaxErrors(t *testing.T) {
	out, diags := Format([]byte("task \"t\" {\n  on = [\"all\"\n}\n"), "broken.hcl")
	if !diags.HasErrors() || out != nil {
		t.Fatalf("%q, %v", out, diags)
	}
	if rng := diags[0].Subject; rng == nil || rng.Filename != "broken.hcl" || rng.Start.Line != 3 {
		t.Errorf("diagnostic at %v, want broken.hcl:3 (where the list is left open)", rng)
	}
}

func TestFiles(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"b.hcl", "a.hcl", "notes.txt", ".hidden.hcl", "inventory/hosts.hcl", "inventory/deep/x.hcl", ".git/config.hcl"} {
		write(t, filepath.Join(dir, f), "x = 1\n", 0o644)
	}
	write(t, filepath.Join(dir, "prod.hpvars"), "x = 1\n", 0o644)
	rel := func(files []string) []string {
		var out []string
		for _, f := range files {
			r, _ := filepath.Rel(dir, f)
			out = append(out, r)
		}
		return out
	}
	for _, tc := range []struct {
		paths     []string
		recursive bool
		want      []string
	}{
		{[]string{dir}, false, []string{"a.hcl", "b.hcl"}},
		{[]string{dir}, true, []string{"a.hcl", "b.hcl", "inventory/deep/x.hcl", "inventory/hosts.hcl"}},
		// a file named on the command line is formatted whatever its extension
		{[]string{filepath.Join(dir, "prod.hpvars"), filepath.Join(dir, "inventory")}, false, []string{"prod.hpvars", "inventory/hosts.hcl"}},
	} {
		got, err := Files(tc.paths, tc.recursive)
		if err != nil || !slices.Equal(rel(got), tc.want) {
			t.Errorf("Files(%v, %v) = %v, %v; want %v", rel(tc.paths), tc.recursive, rel(got), err, tc.want)
		}
	}
	if _, err := Files([]string{filepath.Join(dir, "missing")}, false); err == nil {
		t.Error("a missing path is not an error")
	}
}

// WriteFile keeps the mode, rewrites what a symlink points to, and leaves no temp file.
func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "plan.hcl")
	write(t, target, "x=1\n", 0o640)
	if err := os.Chmod(target, 0o640|os.ModeSetgid); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.hcl")
	if err := os.Symlink("plan.hcl", link); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(link, []byte("x = 1\n")); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(target); string(got) != "x = 1\n" {
		t.Errorf("content %q", got)
	}
	if st, _ := os.Stat(target); st.Mode() != 0o640|os.ModeSetgid {
		t.Errorf("mode %v, want %v", st.Mode(), 0o640|os.ModeSetgid)
	}
	if st, _ := os.Lstat(link); st.Mode()&os.ModeSymlink == 0 {
		t.Error("the symlink was replaced by a file")
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".tmp") {
			t.Errorf("temp file %s left behind", e.Name())
		}
	}
}

func write(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}

// As root, WriteFile keeps the owner of someone else's file (root's temp file would
// otherwise take its place).
func TestWriteFileKeepsOwner(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to own a file as another user")
	}
	path := filepath.Join(t.TempDir(), "plan.hcl")
	write(t, path, "x=1\n", 0o644)
	if err := os.Chown(path, 1234, 5678); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(path, []byte("x = 1\n")); err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(path)
	if sys := st.Sys().(*syscall.Stat_t); sys.Uid != 1234 || sys.Gid != 5678 {
		t.Errorf("owner %d:%d, want 1234:5678", sys.Uid, sys.Gid)
	}
}
