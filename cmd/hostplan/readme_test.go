package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/hostplan/hostplan/internal/config"
)

// TestREADMEExamples loads every plan example in the README and builds each resource
// for a sample host, so the documentation cannot drift from the language.
func TestREADMEExamples(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```hcl\n(.*?)```").FindAllStringSubmatch(string(readme), -1)
	fileRef := regexp.MustCompile(`(?m)^\s*(?:source|template)\s*=\s*"([^"]+)"`)
	n := 0
	for i, b := range blocks {
		src := b[1]
		if !strings.Contains(src, "task \"") {
			continue // inventories
		}
		n++
		dir := t.TempDir()
		for _, ref := range fileRef.FindAllStringSubmatch(src, -1) {
			p := filepath.Join(dir, ref[1])
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte("node=${node}\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, "main.hcl"), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		p, diags := config.Load(dir, config.Inputs{})
		if diags.HasErrors() {
			t.Errorf("README hcl block %d does not load: %s\n%s", i, diags.Error(), src)
			continue
		}
		host := config.HostValue("m1", "192.0.2.1", []string{"all", "masters"}, map[string]cty.Value{"node_ip": cty.StringVal("192.0.2.1")},
			cty.ObjectVal(map[string]cty.Value{"distro": cty.StringVal("debian"), "distro_version": cty.StringVal("12")}))
		ctx, diags := p.EvalContext(host)
		if diags.HasErrors() {
			t.Errorf("README hcl block %d: %s", i, diags.Error())
			continue
		}
		for _, task := range p.Tasks {
			for _, r := range task.Resources {
				if _, diags := p.Build(r, ctx); diags.HasErrors() {
					t.Errorf("README hcl block %d, %s: %s", i, r.Address(), diags.Error())
				}
			}
		}
	}
	if n < 5 {
		t.Fatalf("found only %d plan examples in the README", n)
	}
}
