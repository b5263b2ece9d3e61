// Package ctynum keeps the numbers of the plan and inventory languages cheap to print.
//
// A cty number is a big.Float with any exponent: HCL reads 1e100000000 at once, but its
// decimal form has a hundred million digits, and big.Float takes minutes and a gigabyte
// to write it out (a tiny one is worse: 1e-100000 takes seconds). Go-cty and HCL write
// that form whenever a number becomes a string: in "${...}", as a string argument, in a
// message. hostplan takes numbers within float64's range only, where it has a few
// hundred digits at most, and describes the others instead of printing them: literals
// out of range are errors (Literals), arithmetic fails rather than make such a number
// (BoundArithmetic), and values from elsewhere are checked (Find).
package ctynum

import (
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
)

// maxExp bounds the binary exponent (big.Float's MantExp) of a number hostplan takes:
// float64's largest is just below 2^1024. The same bound below one keeps the digits of
// tiny numbers to about 1,100.
const maxExp = 1024

// Beyond names a number outside that range in messages.
const Beyond = "a number beyond float64's range (about ±1e308)"

// ErrBeyond is the error of a function or operator whose result would be such a number.
var ErrBeyond = errors.New("the result would be " + Beyond + ", whose decimal form takes minutes to write")

// InRange reports whether f is zero, infinite, or within float64's range of magnitudes
// (about 1e-308 to 1e308), where its decimal form is short.
func InRange(f *big.Float) bool {
	if f.IsInf() || f.Sign() == 0 {
		return true
	}
	exp := f.MantExp(nil)
	return exp >= -maxExp && exp <= maxExp
}

// Describe is f for a message: its digits (all of a whole number up to 2^256, else 20
// significant ones), or the words Beyond when f is out of range.
func Describe(f *big.Float) string {
	if !InRange(f) {
		return Beyond
	}
	if f.IsInt() && f.MantExp(nil) <= 256 {
		return f.Text('f', 0)
	}
	return f.Text('g', 20)
}

// Find returns the path to the first number out of range in v, a value of any type
// (marks and unknowns allowed), and whether there is one.
func Find(v cty.Value) (cty.Path, bool) {
	v, _ = v.UnmarkDeep()
	var found cty.Path
	stop := errors.New("found")
	_ = cty.Walk(v, func(p cty.Path, e cty.Value) (bool, error) {
		if e.IsKnown() && !e.IsNull() && e.Type() == cty.Number && !InRange(e.AsBigFloat()) {
			found = p.Copy()
			return false, stop
		}
		return true, nil
	})
	return found, found != nil
}

// PathString writes a path found in a value for a message: root.a["k"][0].
func PathString(root string, p cty.Path) string {
	var b strings.Builder
	b.WriteString(root)
	for _, step := range p {
		switch s := step.(type) {
		case cty.GetAttrStep:
			b.WriteString("." + s.Name)
		case cty.IndexStep:
			switch {
			case s.Key.Type() == cty.String:
				b.WriteString("[" + strconv.Quote(s.Key.AsString()) + "]")
			case s.Key.Type() == cty.Number:
				b.WriteString("[" + Describe(s.Key.AsBigFloat()) + "]")
			default: // an element of a set of lists or objects
				b.WriteString("[...]")
			}
		}
	}
	return b.String()
}

var boundOnce sync.Once

// BoundArithmetic makes HCL's arithmetic operators (+ - * / %) fail rather than make a
// number out of range, in the whole program; call it from an init function. No caller
// sees inside an expression, where "${1e300 * 1e300 * ...}" or "${"1e100000000" * 1}"
// would be printed in full, and hclsyntax shares one Operation per operator among all
// parsed expressions, so its Impl is the one place to check.
func BoundArithmetic() {
	boundOnce.Do(func() {
		for _, op := range []*hclsyntax.Operation{hclsyntax.OpAdd, hclsyntax.OpSubtract, hclsyntax.OpMultiply, hclsyntax.OpDivide, hclsyntax.OpModulo} {
			op.Impl = boundResult(op.Impl)
		}
	})
}

// boundResult wraps f, a function of numbers, with a range check of its result. Its
// parameters take unknown and marked values so that f handles those as before.
func boundResult(f function.Function) function.Function {
	params := f.Params()
	for i := range params {
		params[i].AllowUnknown, params[i].AllowMarked = true, true
	}
	return function.New(&function.Spec{
		Description: f.Description(),
		Params:      params,
		Type:        f.ReturnTypeForValues,
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			v, err := f.Call(args)
			if err != nil {
				return v, err
			}
			if _, out := Find(v); out {
				return cty.UnknownVal(cty.Number), ErrBeyond
			}
			return v, nil
		},
	})
}

// Literals reports every number written in node's source (a file body, an expression,
// a template) that is out of range. Checking the literals keeps such numbers from being
// made at all, since HCL and go-cty convert numbers to strings where no caller can see.
func Literals(node hclsyntax.Node) hcl.Diagnostics {
	var diags hcl.Diagnostics
	_ = hclsyntax.VisitAll(node, func(n hclsyntax.Node) hcl.Diagnostics {
		lit, ok := n.(*hclsyntax.LiteralValueExpr)
		if ok && lit.Val.Type() == cty.Number && lit.Val.IsKnown() && !lit.Val.IsNull() && !InRange(lit.Val.AsBigFloat()) {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Number out of range",
				Detail:   fmt.Sprintf("This is %s, or closer to zero than about ±1e-308. hostplan takes numbers within float64's range: the decimal form of others takes minutes to write.", Beyond),
				Subject:  lit.SrcRange.Ptr(),
			})
		}
		return nil
	})
	// A body keeps its attributes in a map: report in source order.
	slices.SortFunc(diags, func(a, b *hcl.Diagnostic) int { return a.Subject.Start.Byte - b.Subject.Start.Byte })
	return diags
}
