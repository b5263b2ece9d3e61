package ctynum

import (
	"fmt"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// The hostile numbers run under the test's timeout: printed in full, each takes from
// seconds to minutes.
func TestDescribe(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    string
		inRange bool
	}{
		{"0", "0", true},
		{"-0", "-0", true},
		{"6443", "6443", true},
		{"1.5", "1.5", true},
		{"1e70", "10000000000000000000000000000000000000000000000000000000000000000000000", true}, // all digits up to 2^256
		{"1e100", "1e+100", true},
		{"1e300", "1e+300", true},
		{"1.7976931348623157e308", "1.7976931348623157e+308", true},
		{"1e-300", "1e-300", true},
		{"1e309", Beyond, false},
		{"1e-309", Beyond, false},
		{"1e100000000", Beyond, false},
		{"-1e100000000", Beyond, false},
		{"1e-100000000", Beyond, false},
	} {
		f := cty.MustParseNumberVal(tc.in).AsBigFloat()
		if got := InRange(f); got != tc.inRange {
			t.Errorf("InRange(%s) = %v", tc.in, got)
		}
		if got := Describe(f); got != tc.want {
			t.Errorf("Describe(%s) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if !InRange(cty.PositiveInfinity.AsBigFloat()) || Describe(cty.NegativeInfinity.AsBigFloat()) != "-Inf" {
		t.Errorf("infinities are short to print and in range")
	}
}

func TestFind(t *testing.T) {
	huge := cty.MustParseNumberVal("1e100000000")
	for _, tc := range []struct {
		name string
		v    cty.Value
		path string // "" when none
	}{
		{"small number", cty.NumberIntVal(22), ""},
		{"string", cty.StringVal("1e100000000"), ""},
		{"unknown", cty.UnknownVal(cty.Number), ""},
		{"null", cty.NullVal(cty.Number), ""},
		{"number", huge, "v"},
		{"marked", huge.Mark("sensitive"), "v"},
		{"in an object", cty.ObjectVal(map[string]cty.Value{"a": cty.ObjectVal(map[string]cty.Value{"port": huge})}), "v.a.port"},
		{"in a map", cty.MapVal(map[string]cty.Value{"k": huge}), `v["k"]`},
		{"in a list", cty.ListVal([]cty.Value{cty.NumberIntVal(1), huge}), "v[1]"},
		// go-cty hashes a set's numbers by their text: 1e400 is slightly out of range but
		// quick to print, where 1e100000000 would take minutes to put into a set.
		{"in a set", cty.SetVal([]cty.Value{cty.MustParseNumberVal("1e400")}), "v[" + Beyond + "]"},
		{"marked inside", cty.TupleVal([]cty.Value{huge.Mark("sensitive")}), "v[0]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, ok := Find(tc.v)
			if ok != (tc.path != "") {
				t.Fatalf("Find = %v, %v; want %q", p, ok, tc.path)
			}
			if ok && PathString("v", p) != tc.path {
				t.Errorf("path %q, want %q", PathString("v", p), tc.path)
			}
		})
	}
}

func TestLiterals(t *testing.T) {
	src := "a = 1e100000000\nb = \"port ${1e-100000000}\"\nc = [1, 1e308, -1e309]\nd { e = { f = 0.5 } }\n"
	f, diags := hclsyntax.ParseConfig([]byte(src), "t.hcl", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	diags = Literals(f.Body.(*hclsyntax.Body))
	var at []string
	for _, d := range diags {
		if d.Summary != "Number out of range" || !strings.Contains(d.Detail, Beyond) {
			t.Errorf("diagnostic %q: %s", d.Summary, d.Detail)
		}
		at = append(at, string(d.Subject.SliceBytes([]byte(src))))
	}
	if got, want := strings.Join(at, " "), "1e100000000 1e-100000000 1e309"; got != want {
		t.Errorf("reported %q, want %q", got, want)
	}
}

func TestBoundArithmetic(t *testing.T) {
	BoundArithmetic()
	BoundArithmetic() // once only: a second call must not wrap twice
	ctx := &hcl.EvalContext{Variables: map[string]cty.Value{
		"unknown": cty.UnknownVal(cty.Number),
		"secret":  cty.NumberIntVal(3).Mark("sensitive"),
		"text":    cty.StringVal("1e100000000"),
	}}
	for _, tc := range []struct {
		expr, want, err string
	}{
		{expr: "2 * 3 + 1 - 0.5", want: "6.5"},
		{expr: "7 % 4 / 2", want: "1.5"},
		{expr: "1e300 * 1e8", want: "1e+308"},
		{expr: "1e300 * 1e300", err: "the result would be " + Beyond},
		{expr: "1e-300 / 1e300", err: "the result would be " + Beyond},
		{expr: "1.7e308 + 1.7e308", err: "the result would be " + Beyond},
		{expr: "-1.7e308 - 1.7e308", err: "the result would be " + Beyond},
		{expr: "text * 1", err: "the result would be " + Beyond},
		{expr: "secret * 2", want: "6 (marked)"},
		{expr: "unknown * 2 == null", want: "false"}, // the result stays refined as not null
	} {
		expr, diags := hclsyntax.ParseExpression([]byte(tc.expr), "t.hcl", hcl.InitialPos)
		if diags.HasErrors() {
			t.Fatal(diags)
		}
		v, diags := expr.Value(ctx)
		if tc.err != "" {
			if !strings.Contains(diags.Error(), tc.err) {
				t.Errorf("%s: got %#v, %v; want error %q", tc.expr, v, diags, tc.err)
			}
			continue
		}
		if diags.HasErrors() {
			t.Errorf("%s: %v", tc.expr, diags)
			continue
		}
		got := ""
		switch u, marks := v.Unmark(); {
		case u.Type() == cty.Bool:
			got = fmt.Sprint(u.True())
		case len(marks) > 0:
			got = Describe(u.AsBigFloat()) + " (marked)"
		default:
			got = Describe(u.AsBigFloat())
		}
		if got != tc.want {
			t.Errorf("%s = %s, want %s", tc.expr, got, tc.want)
		}
	}
}
