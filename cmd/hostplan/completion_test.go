package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// TestComplete: what __complete, the helper of the completion scripts, offers for a
// command line: commands, flags, fixed values, the inventory's host and group names,
// or ":files" for the shell's own file name completion.
func TestComplete(t *testing.T) {
	dir := t.TempDir()
	inv := filepath.Join(dir, "hosts.hcl")
	writeFile(t, inv, `host "web1" {
  address = "192.0.2.1"
  groups  = ["web"]
}
host "web2" {
  address = "192.0.2.2"
  groups  = ["web"]
}
host "db1" {
  address = "192.0.2.3"
  groups  = ["db"]
}
`, 0o644)
	ini := filepath.Join(dir, "hosts.ini")
	writeFile(t, ini, "[masters]\nm1 ansible_host=192.0.2.10\n", 0o644)
	for _, tc := range []struct {
		words []string
		env   string // HOSTPLAN_INVENTORY
		want  string // the lines printed, joined by spaces
	}{
		{words: []string{""}, want: "plan apply show history check validate inventory fmt completion version help"},
		{words: []string{"ap"}, want: "apply"},
		{words: []string{"plan", "--li"}, want: "--limit"},
		{words: []string{"plan", "-o"}, want: "-out"},
		{words: []string{"fmt", "-"}, want: "-check -diff -recursive"},
		{words: []string{"plan", "-i", inv, "--limit", ""}, want: "web1 web2 db1 all db ungrouped web"},
		{words: []string{"plan", "-i", inv, "--limit", "w"}, want: "web1 web2 web"},
		{words: []string{"plan", "-i", inv, "--limit", "web:!d"}, want: "web:!db1 web:!db"},
		{words: []string{"plan", "-i", inv, "--limit", "web,&w"}, want: "web,&web1 web,&web2 web,&web"},
		{words: []string{"plan", "--inventory=" + inv, "--limit=d"}, want: "--limit=db1 --limit=db"},
		// several inventories merge
		{words: []string{"apply", "-i", inv, "-i", ini, "-limit", "m"}, want: "m1 masters"},
		{words: []string{"check", "--limit", "m"}, env: ini, want: "m1 masters"},
		{words: []string{"history", "-i", inv, "--host", ""}, want: "web1 web2 db1"},
		// an inventory that does not load completes nothing (and says nothing)
		{words: []string{"plan", "-i", filepath.Join(dir, "missing.hcl"), "--limit", ""}, want: ""},
		{words: []string{"plan", "--limit", ""}, want: ""},
		{words: []string{"show", "-format", ""}, want: "human json markdown"},
		{words: []string{"completion", ""}, want: "bash zsh fish"},
		{words: []string{"help", "in"}, want: "inventory"},
		// file names: the shell completes them
		{words: []string{"plan", ""}, want: ":files"},
		{words: []string{"plan", "-i", ""}, want: ":files"},
		{words: []string{"plan", "--var-file="}, want: ":files"},
		{words: []string{"apply", "--auto-approve", ""}, want: ":files"}, // a bool flag takes no value
		{words: []string{"plan", "--parallel", ""}, want: ""},
		{words: []string{"nosuch", ""}, want: ""},
	} {
		var out, errOut strings.Builder
		var environ []string
		if tc.env != "" {
			environ = []string{"HOSTPLAN_INVENTORY=" + tc.env}
		}
		code := run(context.Background(), append([]string{"__complete"}, tc.words...), strings.NewReader(""), &out, &errOut, environ)
		if got := strings.Join(strings.Fields(out.String()), " "); code != exitOK || got != tc.want || errOut.Len() > 0 {
			t.Errorf("__complete %q: exit %d, %q (stderr %q), want %q", tc.words, code, got, errOut.String(), tc.want)
		}
	}
}

func TestCompletionScripts(t *testing.T) {
	for _, sh := range shells {
		code, stdout, _ := runCLI("completion", sh)
		if code != exitOK || !strings.Contains(stdout, "__complete") {
			t.Errorf("completion %s: exit %d, %q", sh, code, stdout)
		}
	}
	if code, _, stderr := runCLI("completion", "tcsh"); code != exitError || !strings.Contains(stderr, "bash, zsh, fish") {
		t.Errorf("completion tcsh: exit %d, %q", code, stderr)
	}
}
