package config

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"
)

// TestJSONVarFile: a --var-file named *.json is a JSON object of variable values, as
// Terraform's .tfvars.json; values convert to the declared types, strings are taken
// verbatim, and a mistake is reported at its file and line.
func TestJSONVarFile(t *testing.T) {
	dir := writePlan(t, map[string]string{
		"p.hcl": `
variable "motd" { type = string }
variable "replicas" { type = number }
variable "ports" { type = list(number) }
variable "labels" { type = map(string) }
variable "debug" { default = false }
task "t" { on = ["all"] }`,
		"prod.json": `{
  "motd": "hello ${host.name}",
  "replicas": 3,
  "ports": [80, 443],
  "labels": {"tier": "web"},
  "debug": true
}`,
		"undeclared.json": "{\n  \"motd\": \"x\",\n  \"motdd\": \"y\"\n}",
		"badtype.json":    "{\n  \"replicas\": \"three\"\n}",
		"syntax.json":     "{\n  \"motd\": \"x\",\n}",
		"array.json":      "[1, 2]",
	})
	p, diags := Load(dir, Inputs{VarFiles: []string{filepath.Join(dir, "prod.json")}})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	for name, want := range map[string]cty.Value{
		"motd":     cty.StringVal("hello ${host.name}"),
		"replicas": cty.NumberIntVal(3),
		"ports":    cty.ListVal([]cty.Value{cty.NumberIntVal(80), cty.NumberIntVal(443)}),
		"labels":   cty.MapVal(map[string]cty.Value{"tier": cty.StringVal("web")}),
		"debug":    cty.True,
	} {
		if got := p.VariableValue(name); !got.RawEquals(want) {
			t.Errorf("var.%s = %#v, want %#v", name, got, want)
		}
	}

	base := []string{"motd=x", "replicas=1", "ports=[]", "labels={}"}
	for _, tc := range []struct {
		file string
		line int
		want string
	}{
		{"undeclared.json", 3, `The plan declares no variable "motdd"`},
		{"badtype.json", 2, `Variable "replicas" must be number`},
		{"syntax.json", 2, "Trailing comma"},
		{"array.json", 1, "A JSON object is required"},
	} {
		path := filepath.Join(dir, tc.file)
		// --var sets every variable, so only the file's mistake is reported.
		_, diags := Load(dir, Inputs{VarFiles: []string{path}, Vars: base})
		if !diags.HasErrors() || diags[0].Subject == nil {
			t.Errorf("%s: %v", tc.file, diags)
			continue
		}
		d := diags[0]
		if d.Subject.Filename != path || d.Subject.Start.Line != tc.line || !strings.Contains(d.Summary+": "+d.Detail, tc.want) {
			t.Errorf("%s: %s at %s, want %q at line %d", tc.file, d.Summary+": "+d.Detail, d.Subject, tc.want, tc.line)
		}
	}
}
