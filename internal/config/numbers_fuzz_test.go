package config

import (
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	ctyjson "github.com/zclconf/go-cty/cty/json"

	"github.com/hostplan/hostplan/internal/ctynum"
)

// edgeNumbers sit on a limit or at the ends of float64's range; numbers beyond it never
// reach a function or an operator (literals and variables out of range are refused).
var edgeNumbers = []string{
	"0", "-1", "1.5", "16", "36", "1024", "1025", "1e9", "1.7976931348623157e308",
	"-1.7976931348623157e308", "2.2250738585072014e-308", "1e-300", strings.Repeat("9", 300),
}

// funcCall is a call of a plan function with the fuzzer's text s and number n.
type funcCall struct {
	name string
	args func(s, n cty.Value) []cty.Value
}

func list(v cty.Value) cty.Value { return cty.ListVal([]cty.Value{v}) }

// numberCalls are the functions that take or make numbers, and those that turn text
// into values or values into text.
var numberCalls = []funcCall{
	{"format", func(s, n cty.Value) []cty.Value { return []cty.Value{s, n} }},
	{"format", func(s, n cty.Value) []cty.Value { return []cty.Value{s, s, n} }},
	{"formatlist", func(s, n cty.Value) []cty.Value { return []cty.Value{s, list(n)} }},
	{"indent", func(s, n cty.Value) []cty.Value { return []cty.Value{n, s} }},
	{"tonumber", func(s, n cty.Value) []cty.Value { return []cty.Value{s} }},
	{"tostring", func(s, n cty.Value) []cty.Value { return []cty.Value{n} }},
	{"tobool", func(s, n cty.Value) []cty.Value { return []cty.Value{s} }},
	{"parseint", func(s, n cty.Value) []cty.Value { return []cty.Value{s, n} }},
	{"parseint", func(s, n cty.Value) []cty.Value { return []cty.Value{s, cty.NumberIntVal(10)} }},
	{"jsondecode", func(s, n cty.Value) []cty.Value { return []cty.Value{s} }},
	{"jsonencode", func(s, n cty.Value) []cty.Value { return []cty.Value{n} }},
	{"yamlencode", func(s, n cty.Value) []cty.Value { return []cty.Value{n} }},
	{"range", func(s, n cty.Value) []cty.Value { return []cty.Value{n} }},
	{"range", func(s, n cty.Value) []cty.Value { return []cty.Value{cty.NumberIntVal(0), cty.NumberIntVal(1), n} }},
	{"abs", func(s, n cty.Value) []cty.Value { return []cty.Value{n} }},
	{"ceil", func(s, n cty.Value) []cty.Value { return []cty.Value{n} }},
	{"floor", func(s, n cty.Value) []cty.Value { return []cty.Value{n} }},
	{"max", func(s, n cty.Value) []cty.Value { return []cty.Value{n, cty.NumberIntVal(1)} }},
	{"min", func(s, n cty.Value) []cty.Value { return []cty.Value{n, cty.NumberIntVal(-1)} }},
	{"substr", func(s, n cty.Value) []cty.Value { return []cty.Value{s, n, n} }},
	{"element", func(s, n cty.Value) []cty.Value { return []cty.Value{list(s), n} }},
	{"slice", func(s, n cty.Value) []cty.Value { return []cty.Value{list(s), cty.NumberIntVal(0), n} }},
	{"length", func(s, n cty.Value) []cty.Value { return []cty.Value{s} }},
	{"base64decode", func(s, n cty.Value) []cty.Value { return []cty.Value{s} }},
	{"toset", func(s, n cty.Value) []cty.Value { return []cty.Value{cty.TupleVal([]cty.Value{n, s})} }},
}

// checkResult fails on a number out of range in v, or text far longer than the inputs
// can ask for (a width, precision or indent is at most maxPad per character).
func checkResult(t *testing.T, what string, v cty.Value, inputLen int) {
	t.Helper()
	if _, out := ctynum.Find(v); out {
		t.Fatalf("%s made a number beyond float64's range", what)
	}
	limit := (inputLen + 1) * 4 * (maxPad + maxNumberText)
	_ = cty.Walk(v, func(_ cty.Path, e cty.Value) (bool, error) {
		if e.IsKnown() && !e.IsNull() && e.Type() == cty.String && len(e.AsString()) > limit {
			t.Fatalf("%s made %d bytes of text from %d bytes of input", what, len(e.AsString()), inputLen)
		}
		return true, nil
	})
}

// FuzzNumberFunctions calls the plan's functions of numbers and text with the fuzzer's
// text and number (text such as "1e100000000" is where hostile numbers come from; a
// number argument is within range, as in a plan). Each returns at once (the fuzzer reports a call that hangs), with no
// number out of range and no runaway text.
func FuzzNumberFunctions(f *testing.F) {
	for i := range numberCalls {
		for _, n := range edgeNumbers {
			f.Add(uint8(i), "%v", n)
		}
	}
	for _, s := range []string{"%999999999s", "%.999999f", "%1024d", "%-1025s", "1e100000000", "1e-100000000", "[1e100000000]",
		`{"a": 0.` + strings.Repeat("1", 5000) + `}`, strings.Repeat("1", 5000), "ff", "a\nb\nc", "%[2]d", "%%"} {
		f.Add(uint8(0), s, "1")
		f.Add(uint8(3), s, "1000000000")
		f.Add(uint8(7), s, "16")
		f.Add(uint8(9), s, "1")
	}
	fns := newFuncTable("/nonexistent", nil).pure()
	f.Fuzz(func(t *testing.T, which uint8, text, num string) {
		n, err := cty.ParseNumberVal(num)
		if err != nil || !ctynum.InRange(n.AsBigFloat()) {
			t.Skip()
		}
		call := numberCalls[int(which)%len(numberCalls)]
		v, err := fns[call.name].Call(call.args(cty.StringVal(text), n))
		if err != nil {
			if strings.Contains(err.Error(), "panic") {
				t.Fatalf("%s: %v", call.name, err)
			}
			return
		}
		checkResult(t, call.name, v, len(text)+len(num))
	})
}

// FuzzExpression evaluates the fuzzer's expression as the plan evaluates a local, with
// a number and a string variable, then turns the value into the text of a string
// attribute and into JSON, as resources and saved plans do. None of that may hang or
// carry a number out of range.
func FuzzExpression(f *testing.F) {
	for _, e := range []string{
		`"${1e100000000}"`, `"port ${var.n}"`, `1e300 * 1e300`, `var.s * 1`, `"${var.s + 0}"`, `-1e-400`,
		`1e-300 * 1e-300 * 1e-300 * 1e-300`, `1.7e308 + 1.7e308`, `tostring(tonumber("1e100000000"))`,
		`jsondecode("[1e999]")`, `parseint("zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz", 36)`, `format("%999999999s", "")`,
		`format("%.999999f", var.n)`, `indent(2000, "a\nb")`, `range(1e9)`, `toset([1e308 * 10])`,
		`{ (var.n) = 1 }`, `[for i in range(3): i * var.n]`, `var.n == 1e-300 / 10`, `yamlencode({ n = var.n * 1e300 })`,
		`max(var.n, 1e308) * 10`, `"%{ for i in range(2) }${i / 3}%{ endfor }"`,
	} {
		f.Add(e, "1.7e308", "1e100000000")
	}
	fns := newFuncTable("/nonexistent", nil).pure()
	f.Fuzz(func(t *testing.T, src, num, text string) {
		n, err := cty.ParseNumberVal(num)
		if err != nil || !ctynum.InRange(n.AsBigFloat()) {
			t.Skip() // variables out of range are refused before any expression runs
		}
		expr, diags := hclsyntax.ParseExpression([]byte(src), "fuzz.hcl", hcl.InitialPos)
		if diags.HasErrors() {
			return
		}
		ctx := &hcl.EvalContext{Functions: fns, Variables: map[string]cty.Value{
			"var": cty.ObjectVal(map[string]cty.Value{"n": n, "s": cty.StringVal(text)}),
		}}
		v, diags := evalLocal(&hcl.Attribute{Name: "x", Expr: expr}, ctx)
		if diags.HasErrors() || !v.IsWhollyKnown() {
			return
		}
		checkResult(t, src, v, len(src)+len(num)+len(text))
		v, _ = v.UnmarkDeep()
		if v.Type().IsPrimitiveType() {
			if _, err := convert.Convert(v, cty.String); err != nil {
				return
			}
		}
		_, _ = ctyjson.Marshal(v, v.Type())
	})
}
