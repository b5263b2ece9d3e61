package config

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/hostplan/hostplan/internal/ctynum"
	"github.com/hostplan/hostplan/tasks"
)

// Numbers out of range are refused where they are written (literals, variables),
// made by functions (boundNumbers) and, with this, made by arithmetic.
func init() { ctynum.BoundArithmetic() }

// HostValue is the `host` object of the plan language. facts may be cty.DynamicVal
// when they are not gathered yet (validate).
func HostValue(name, address string, groups []string, vars map[string]cty.Value, facts cty.Value) cty.Value {
	gs := make([]cty.Value, 0, len(groups))
	for _, g := range groups {
		gs = append(gs, cty.StringVal(g))
	}
	groupList := cty.ListValEmpty(cty.String)
	if len(gs) > 0 {
		groupList = cty.ListVal(gs)
	}
	varObj := cty.EmptyObjectVal
	if len(vars) > 0 {
		varObj = cty.ObjectVal(vars)
	}
	return cty.ObjectVal(map[string]cty.Value{
		"name":    cty.StringVal(name),
		"address": cty.StringVal(address),
		"groups":  groupList,
		"vars":    varObj,
		"facts":   facts,
	})
}

// EvalContext is the evaluation context for one host: var, local and host.
func (p *Plan) EvalContext(host cty.Value) (*hcl.EvalContext, hcl.Diagnostics) {
	return p.evalContext(host)
}

func (p *Plan) evalContext(host cty.Value) (*hcl.EvalContext, hcl.Diagnostics) {
	vars := map[string]cty.Value{"var": cty.EmptyObjectVal, "local": cty.EmptyObjectVal}
	varVals, diags := p.boundedVars()
	if len(varVals) > 0 {
		vars["var"] = cty.ObjectVal(varVals)
	}
	if host != cty.NilVal {
		vars["host"] = host
	}
	ctx := &hcl.EvalContext{Variables: vars, Functions: p.funcs.evalFuncs()}
	locals := map[string]cty.Value{}
	for _, a := range p.locals {
		if host == cty.NilVal && refersTo(a.Expr, "host") {
			// Locals that use host values exist only per host.
			locals[a.Name] = cty.DynamicVal
			ctx.Variables["local"] = cty.ObjectVal(locals)
			continue
		}
		v, d := evalLocal(a, ctx)
		diags = append(diags, d...)
		if d.HasErrors() {
			v = cty.DynamicVal
		}
		locals[a.Name] = v
		ctx.Variables["local"] = cty.ObjectVal(locals)
	}
	return ctx, diags
}

// boundedVars are the variables' values, with an error for each that holds a number
// beyond float64's range (from --var, a var file or the environment), which is unknown
// in its place: HCL prints numbers in full in "${...}", and printing that one would
// take minutes.
func (p *Plan) boundedVars() (map[string]cty.Value, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	out := make(map[string]cty.Value, len(p.vars))
	for name, v := range p.vars {
		out[name] = v
	}
	for _, decl := range p.Variables {
		path, ok := ctynum.Find(p.vars[decl.Name])
		if !ok {
			continue
		}
		out[decl.Name] = cty.DynamicVal
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Number out of range",
			Detail:   fmt.Sprintf("%s is %s; hostplan takes numbers within float64's range.", ctynum.PathString("var."+decl.Name, path), ctynum.Beyond),
			Subject:  decl.DeclRange.Ptr(),
		})
	}
	return out, diags
}

// evalLocal evaluates a local, refusing numbers beyond float64's range written in its
// expression: HCL would print them in full converting them to strings.
func evalLocal(a *hcl.Attribute, ctx *hcl.EvalContext) (cty.Value, hcl.Diagnostics) {
	if n, ok := a.Expr.(hclsyntax.Node); ok {
		if diags := ctynum.Literals(n); diags.HasErrors() {
			return cty.DynamicVal, diags
		}
	}
	return a.Expr.Value(ctx)
}

func refersTo(expr hcl.Expression, root string) bool {
	for _, tr := range expr.Variables() {
		if tr.RootName() == root {
			return true
		}
	}
	return false
}

// orderLocals sorts locals so each comes after the locals it refers to.
func orderLocals(attrs []*hcl.Attribute) ([]*hcl.Attribute, hcl.Diagnostics) {
	byName := map[string]*hcl.Attribute{}
	var diags hcl.Diagnostics
	for _, a := range attrs {
		if prev, dup := byName[a.Name]; dup {
			diags = append(diags, duplicate("local", a.Name, a.NameRange, prev.NameRange))
			continue
		}
		byName[a.Name] = a
	}
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []*hcl.Attribute
	state := map[string]int{} // 1 visiting, 2 done
	var visit func(n string, path []string)
	visit = func(n string, path []string) {
		switch state[n] {
		case 2:
			return
		case 1:
			a := byName[n]
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Cycle in locals",
				Detail: fmt.Sprintf("local.%s refers to itself through %s.", n, strings.Join(append(path, n), " -> ")), Subject: a.NameRange.Ptr()})
			return
		}
		state[n] = 1
		for _, tr := range byName[n].Expr.Variables() {
			if tr.RootName() != "local" || len(tr) < 2 {
				continue
			}
			if ga, ok := tr[1].(hcl.TraverseAttr); ok {
				if _, known := byName[ga.Name]; known {
					visit(ga.Name, append(path, n))
				}
			}
		}
		state[n] = 2
		out = append(out, byName[n])
	}
	for _, n := range names {
		visit(n, nil)
	}
	return out, diags
}

// Build evaluates a resource block in ctx and makes the resource. It returns a nil
// resource without errors when values are not known yet (validate without facts).
func (p *Plan) Build(r *Resource, ctx *hcl.EvalContext) (tasks.Resource, hcl.Diagnostics) {
	if body, ok := r.Body.(*hclsyntax.Body); ok {
		// HCL would print such numbers in full converting them to strings, in minutes.
		if diags := ctynum.Literals(body); diags.HasErrors() {
			return nil, diags
		}
	}
	val, diags := hcldec.Decode(r.Body, r.Kind.Spec, ctx)
	if diags.HasErrors() {
		return nil, diags
	}
	if !val.IsWhollyKnown() {
		return nil, diags
	}
	res, err := r.Kind.Build(r.Label, p.taskAttrs(val))
	if err != nil {
		return nil, append(diags, buildError(r, err))
	}
	return res, diags
}

// taskAttrs are a resource's decoded attributes as its kind's Build takes them: without
// marks, and with the attributes that held sensitive values named.
func (p *Plan) taskAttrs(val cty.Value) tasks.Attrs {
	unmarked, paths := val.UnmarkDeepWithPaths()
	sensitive := map[string]bool{}
	for _, pm := range paths {
		if _, ok := pm.Marks[SensitiveMark]; !ok || len(pm.Path) == 0 {
			continue
		}
		if ga, ok := pm.Path[0].(cty.GetAttrStep); ok {
			sensitive[ga.Name] = true
		}
	}
	return tasks.Attrs{
		Value:       unmarked,
		Sensitive:   sensitive,
		Dir:         p.Dir,
		ReadFile:    p.source().ReadFile,
		ReadPrivate: p.source().ReadPrivate,
		Template: func(path string, vars cty.Value, private bool) (string, error) {
			out, err := p.funcs.RenderTemplate(path, vars, private)
			if err != nil {
				return "", err
			}
			out, _ = out.UnmarkDeep()
			return out.AsString(), nil
		},
	}
}

// buildError is the diagnostic for a resource its kind refused, at the attribute
// that is wrong when the error names one.
func buildError(r *Resource, err error) *hcl.Diagnostic {
	var ae *tasks.AttrError
	subject := r.DefRange
	detail := err.Error()
	if errors.As(err, &ae) {
		if ae.Attr == r.Kind.LabelName {
			subject = r.LabelRange
		} else if rng, ok := attrRange(r.Body, ae.Attr); ok {
			subject = rng
		}
		detail = fmt.Sprintf("%s: %s", ae.Attr, ae.Msg)
	}
	return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid " + r.Address(),
		Detail: detail, Subject: subject.Ptr()}
}

func attrRange(body hcl.Body, name string) (hcl.Range, bool) {
	if sb, ok := body.(*hclsyntax.Body); ok {
		if a, ok := sb.Attributes[name]; ok {
			return a.Expr.Range(), true
		}
	}
	return hcl.Range{}, false
}
