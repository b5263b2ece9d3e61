package config

import (
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/hostplan/hostplan/tasks"
)

// validatePlan does what validate does with a plan: load it, then build every resource
// for a host. It returns the first errors met, or the file resources' contents.
func validatePlan(t *testing.T, files map[string]string, vars ...string) (contents []string, diags hcl.Diagnostics) {
	t.Helper()
	p, diags := Load(writePlan(t, files), Inputs{Vars: vars})
	if diags.HasErrors() {
		return nil, diags
	}
	ctx, diags := p.EvalContext(testHost(nil))
	if diags.HasErrors() {
		return nil, diags
	}
	for _, task := range p.Tasks {
		for _, r := range task.Resources {
			res, d := p.Build(r, ctx)
			diags = append(diags, d...)
			if f, ok := res.(*tasks.File); ok {
				contents = append(contents, string(f.Content))
			}
		}
	}
	return contents, diags
}

// fileTask is a plan with one file whose content is the expression content.
func fileTask(content string) map[string]string {
	return map[string]string{"main.hcl": "task \"t\" {\n  on = [\"all\"]\n  file \"/x\" { content = " + content + " }\n}\n"}
}

// Every case printed a number in full before: from seconds (1e10000000) to 10+ minutes
// and 1.2 GB (1e100000000), ignoring signals. They run under the test's timeout, and
// each must fail with its message at once.
func TestHostileNumbers(t *testing.T) {
	long := strings.Repeat("9", 400) // beyond float64, and quick to read
	for _, tc := range []struct {
		name  string
		files map[string]string
		vars  []string
		err   string
	}{
		{"port literal", map[string]string{"main.hcl": `
task "t" {
  on = ["all"]
  port_forward "x" {
    listen_port = 1e100000000
    to_port     = 80
    to_address  = "10.0.0.1"
  }
}`}, nil, "main.hcl:5,19-30: Number out of range; This is a number beyond float64's range (about ±1e308)"},
		{"interpolated", fileTask(`"port ${1e100000000}"`), nil, "main.hcl:3,33-44: Number out of range"},
		{"tiny", fileTask(`"${1e-100000000}"`), nil, "Number out of range"},
		{"negative", fileTask(`"${-1e100000000}"`), nil, "Number out of range"},
		{"local literal", map[string]string{"main.hcl": "locals {\n  n = 1e100000000\n}\n" + fileTask(`"${local.n}"`)["main.hcl"]}, nil,
			"main.hcl:2,7-18: Number out of range"},
		{"local made", map[string]string{"main.hcl": "locals {\n  n = [1e300 * 1e300]\n}\n" + fileTask(`"${local.n[0]}"`)["main.hcl"]}, nil,
			"main.hcl:2,8-21: Operation failed; Error during operation: the result would be a number beyond float64's range"},
		{"var", map[string]string{"main.hcl": "variable \"n\" {\n  type = number\n}\n" + fileTask(`"${var.n}"`)["main.hcl"]}, []string{"n=1e100000000"},
			"main.hcl:1,1-13: Number out of range; --var n: var.n is a number beyond float64's range"},
		{"var map", map[string]string{"main.hcl": "variable \"m\" {\n  type = map(number)\n}\n" + fileTask(`"${var.m.a}"`)["main.hcl"]}, []string{"m={ a = 1e100000000 }"},
			`--var m: var.m.a is a number beyond float64's range`},
		// Converted to strings, the number was printed in full first (minutes).
		{"var list of strings", map[string]string{"main.hcl": "variable \"l\" {\n  type = list(string)\n}\n" + fileTask(`"${var.l[0]}"`)["main.hcl"]}, []string{"l=[1e100000000]"},
			`--var l: var.l[0] is a number beyond float64's range`},
		{"string default", map[string]string{"main.hcl": "variable \"s\" {\n  type    = string\n  default = 1e100000000\n}\n" + fileTask(`"${var.s}"`)["main.hcl"]}, nil,
			`main.hcl:3,13-24: Number out of range`},
		{"tonumber", fileTask(`tostring(tonumber("1e100000000"))`), nil, "the result would be a number beyond float64's range"},
		{"string made a number", map[string]string{"main.hcl": "variable \"s\" {\n  type = string\n}\n" + fileTask(`"${var.s * 1}"`)["main.hcl"]}, []string{"s=1e100000000"},
			"the result would be a number beyond float64's range"},
		{"product of many", fileTask(`"${1e-300 * 1e-300 * 1e-300 * 1e-300 * 1e-300 * 1e-300 * 1e-300 * 1e-300 * 1e-300 * 1e-300 * 1e-300 * 1e-300 * 1e-300 * 1e-300 * 1e-300 * 1e-300 * 1e-300 * 1e-300 * 1e-300 * 1e-300 * 1e-300 * 1e-300 * 1e-300 * 1e-300 * 1e-300 * 1e-300 * 1e-300 * 1e-300 * 1e-300 * 1e-300 * 1e-300 * 1e-300 * 1e-300 * 1e-300 * 1e-300 * 1e-300 * 1e-300 * 1e-300 * 1e-300 * 1e-300}"`), nil,
			"the result would be a number beyond float64's range"},
		{"sum", fileTask(`"${1.7e308 + 1.7e308}"`), nil, "the result would be a number beyond float64's range"},
		{"tonumber long text", fileTask(`tonumber("` + strings.Repeat("1", 5000) + `")`), nil, "a number written with more than 4096 characters is not read"},
		{"parseint", fileTask(`tostring(parseint("` + long + `", 10))`), nil, "the result would be a number beyond float64's range"},
		{"parseint long text", fileTask(`tostring(parseint("` + strings.Repeat("1", 5000) + `", 2))`), nil, "more than 4096 characters"},
		{"jsondecode", fileTask(`jsonencode(jsondecode("[1e100000000]"))`), nil, "the result would be a number beyond float64's range"},
		{"jsondecode long number", fileTask(`jsonencode(jsondecode("{\"a\": 0.` + strings.Repeat("1", 5000) + `}"))`), nil, "more than 4096 characters"},
		{"made by arithmetic, then printed", fileTask(`tostring(1e300 * 1e300)`), nil, `Operation failed`},
		{"set of a huge number", fileTask(`tostring(length(toset([1e300 * 1e300])))`), nil, "a number beyond float64's range"},
		{"format width", fileTask(`format("%999999999s", "x")`), nil, "a width or precision in the format is above 1024"},
		{"format precision", fileTask(`format("%.999999f", 1.5)`), nil, "a width or precision in the format is above 1024"},
		{"format width overflow", fileTask(`format("%99999999999999999999999s", "x")`), nil, "above 1024"},
		{"formatlist width", fileTask(`join("", formatlist("%-999999999s", ["a"]))`), nil, "above 1024"},
		{"indent", fileTask(`indent(1000000000, "a\nb")`), nil, "indent adds a whole number of spaces from 0 to 1024"},
		{"indent huge", fileTask(`indent(1e300, "a\nb")`), nil, "indent adds a whole number of spaces from 0 to 1024"},
		// Found by FuzzNumberFunctions: go-cty panicked, and the message held a stack trace.
		{"indent negative", fileTask(`indent(-1, "a\nb")`), nil, "indent adds a whole number of spaces from 0 to 1024"},
		{"range", fileTask(`join(",", range(1e9))`), nil, "more than 1024 values were generated"},
		{"template literal", map[string]string{"main.hcl": fileTask(`templatefile("t.tpl", {})`)["main.hcl"], "t.tpl": "port ${1e100000000}\n"}, nil,
			"t.tpl:1,8-19: Number out of range"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, diags := validatePlan(t, tc.files, tc.vars...)
			if !strings.Contains(diags.Error(), tc.err) {
				t.Errorf("got %v\nwant an error with %q", diags, tc.err)
			}
		})
	}
}

// The limits leave ordinary numbers alone.
func TestOrdinaryNumbers(t *testing.T) {
	for _, tc := range []struct{ content, want string }{
		{`"${1.7976931348623157e308 > 0} ${1e-300 * 10} ${6443}"`, "true 0." + strings.Repeat("0", 298) + "1 6443"},
		{`format("%-6s|%5.2f|%04d|%v", "ab", 3.14159, 7, 1.5)`, "ab    | 3.14|0007|1.5"},
		{`format("%1024s", "")`, strings.Repeat(" ", 1024)},
		{`format("100%% %d", 5)`, "100% 5"},
		{`indent(4, "a\nb")`, "a\n    b"},
		{`"${parseint("ff", 16)} ${tonumber("42.5")} ${jsondecode("{\"a\": [1, \"1e100000000\"]}").a[1]}"`, "255 42.5 1e100000000"},
		{`yamlencode({ n = 1e308 })`, "n: !!int 1" + strings.Repeat("0", 308) + "\n"},
	} {
		contents, diags := validatePlan(t, fileTask(tc.content))
		if diags.HasErrors() || len(contents) != 1 || contents[0] != tc.want {
			t.Errorf("%s: got %q, %v; want %q", tc.content, contents, diags, tc.want)
		}
	}
}

func TestLongestJSONNumber(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
	}{
		{`[]`, 0},
		{`[12, -3.5e+10]`, 8},
		{`{"12345678": 1}`, 1},
		{`["a\"123456", 12]`, 2},
		{`"\\" 1234`, 4},
		{`true`, 1},
	} {
		if got := longestJSONNumber(tc.in); got != tc.want {
			t.Errorf("longestJSONNumber(%s) = %d, want %d", tc.in, got, tc.want)
		}
	}
}
