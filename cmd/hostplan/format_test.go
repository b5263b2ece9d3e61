package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestFmt: hostplan fmt lists and rewrites unformatted files, keeping their mode;
// -check changes nothing and exits 3; -diff shows the change; a file that does not
// parse is an error (exit 1) naming its line, and is left alone.
func TestFmt(t *testing.T) {
	dir := t.TempDir()
	const messy, tidy = "task \"t\" {\non = [\"all\"]\n  file \"/etc/x\" {\n    content = \"x\"\n    mode = \"0644\"\n  }\n}\n",
		"task \"t\" {\n  on = [\"all\"]\n  file \"/etc/x\" {\n    content = \"x\"\n    mode    = \"0644\"\n  }\n}\n"
	main, inv, ok := filepath.Join(dir, "main.hcl"), filepath.Join(dir, "inventory", "hosts.hcl"), filepath.Join(dir, "ok.hcl")
	writeFile(t, main, messy, 0o600)
	writeFile(t, inv, "host \"h1\" {\naddress = \"192.0.2.1\"\n}\n", 0o644)
	writeFile(t, ok, tidy, 0o644)

	for _, tc := range []struct {
		args         []string
		code         int
		stdout       []string // lines, in order
		stdoutHas    string
		stderrHas    string
		formatsFiles bool
	}{
		{args: []string{"fmt", "-check", dir}, code: exitUnformatted, stdout: []string{main}},
		{args: []string{"fmt", "-check", "-recursive", dir}, code: exitUnformatted, stdout: []string{inv, main}},
		{args: []string{"fmt", "-check", "-diff", main}, code: exitUnformatted, stdoutHas: "--- " + main + "\n+++ " + main + "\n@@ -1,7 +1,7 @@\n task \"t\" {\n-on = [\"all\"]\n+  on = [\"all\"]\n"},
		{args: []string{"fmt", "-recursive", dir}, code: exitOK, stdout: []string{inv, main}, formatsFiles: true},
		{args: []string{"fmt", "-check", "-recursive", dir}, code: exitOK},
		{args: []string{"fmt", filepath.Join(dir, "missing")}, code: exitError, stderrHas: "no such file or directory"},
	} {
		before, _ := os.ReadFile(main)
		code, stdout, stderr := runCLI(tc.args...)
		lines := strings.Fields(stdout)
		switch {
		case code != tc.code:
			t.Errorf("%q: exit %d, want %d; stdout %q, stderr %q", tc.args, code, tc.code, stdout, stderr)
		case tc.stdoutHas == "" && strings.Join(lines, "\n") != strings.Join(tc.stdout, "\n"):
			t.Errorf("%q: stdout %q, want the lines %q", tc.args, stdout, tc.stdout)
		case !strings.Contains(stdout, tc.stdoutHas) || !strings.Contains(stderr, tc.stderrHas):
			t.Errorf("%q: stdout %q, stderr %q; want %q and %q", tc.args, stdout, stderr, tc.stdoutHas, tc.stderrHas)
		}
		if got, _ := os.ReadFile(main); !tc.formatsFiles && string(got) != string(before) {
			t.Errorf("%q changed %s:\n%s", tc.args, main, got)
		}
	}
	if got, _ := os.ReadFile(main); string(got) != tidy {
		t.Errorf("formatted:\n%s\nwant:\n%s", got, tidy)
	}
	if st, _ := os.Stat(main); st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v after fmt, want 0600", st.Mode())
	}

	broken := filepath.Join(dir, "broken.hcl")
	writeFile(t, broken, "task \"t\" {\n  on = [\"all\"\n}\n", 0o644)
	code, _, stderr := runCLI("fmt", broken)
	if got, _ := os.ReadFile(broken); code != exitError || !strings.Contains(stderr, broken+":3") || !strings.HasPrefix(string(got), "task \"t\" {\n  on") {
		t.Errorf("fmt of a broken file: exit %d, stderr %q, left %q", code, stderr, got)
	}
}

func writeFile(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}
