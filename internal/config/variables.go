package config

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"

	"github.com/hostplan/hostplan/internal/ctynum"
)

// SensitiveMark marks values that must never be shown (from variables with sensitive = true).
const SensitiveMark = sensitiveMark("sensitive")

type sensitiveMark string

// Variable is a declared input of the plan.
type Variable struct {
	Name        string
	Type        cty.Type
	Default     cty.Value // cty.NilVal when the variable is required
	Description string
	Sensitive   bool
	DeclRange   hcl.Range
	validations []validation
}

type validation struct {
	condition hcl.Expression
	message   string
	rng       hcl.Range
}

var variableSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "type"}, {Name: "default"}, {Name: "description"}, {Name: "sensitive"},
	},
	Blocks: []hcl.BlockHeaderSchema{{Type: "validation"}},
}

var validationSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "condition", Required: true}, {Name: "error_message", Required: true},
	},
}

func decodeVariable(b *hcl.Block) (*Variable, hcl.Diagnostics) {
	v := &Variable{Name: b.Labels[0], Type: cty.DynamicPseudoType, DeclRange: b.DefRange}
	if !hclsyntax.ValidIdentifier(v.Name) {
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Invalid variable name",
			Detail: "A variable name must start with a letter and contain only letters, digits, underscores and dashes.", Subject: b.LabelRanges[0].Ptr()}}
	}
	content, diags := b.Body.Content(variableSchema)
	if diags.HasErrors() {
		return nil, diags
	}
	if a, ok := content.Attributes["type"]; ok {
		t, d := typeexpr.TypeConstraint(a.Expr)
		diags = append(diags, d...)
		v.Type = t
	}
	if a, ok := content.Attributes["description"]; ok {
		diags = append(diags, decodeLiteral(a, cty.String, func(val cty.Value) { v.Description = val.AsString() })...)
	}
	if a, ok := content.Attributes["sensitive"]; ok {
		diags = append(diags, decodeLiteral(a, cty.Bool, func(val cty.Value) { v.Sensitive = val.True() })...)
	}
	if a, ok := content.Attributes["default"]; ok && !diags.HasErrors() {
		diags = append(diags, v.decodeDefault(a)...)
	}
	for _, vb := range content.Blocks {
		diags = append(diags, v.decodeValidation(vb)...)
	}
	return v, diags
}

// decodeDefault sets the default, converted to the variable's type, which must be
// decoded first.
func (v *Variable) decodeDefault(a *hcl.Attribute) hcl.Diagnostics {
	val, diags := a.Expr.Value(nil)
	if diags.HasErrors() {
		return diags
	}
	conv, err := convert.Convert(val, v.Type)
	if err != nil {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid default value for variable",
			Detail: fmt.Sprintf("The default for variable %q does not fit its type %s: %s.", v.Name, typeexpr.TypeString(v.Type), err), Subject: a.Expr.Range().Ptr()})
	}
	v.Default = conv
	return diags
}

// decodeValidation adds the validation block vb, whose condition may refer to no
// variable but v.
func (v *Variable) decodeValidation(vb *hcl.Block) hcl.Diagnostics {
	vc, diags := vb.Body.Content(validationSchema)
	if diags.HasErrors() {
		return diags
	}
	val := validation{condition: vc.Attributes["condition"].Expr, rng: vb.DefRange}
	diags = append(diags, decodeLiteral(vc.Attributes["error_message"], cty.String, func(m cty.Value) { val.message = m.AsString() })...)
	for _, tr := range val.condition.Variables() {
		if tr.RootName() != "var" || len(tr) < 2 {
			continue
		}
		if ga, ok := tr[1].(hcl.TraverseAttr); ok && ga.Name != v.Name {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid validation condition",
				Detail: fmt.Sprintf("A validation of variable %q may only refer to var.%s.", v.Name, v.Name), Subject: tr.SourceRange().Ptr()})
		}
	}
	v.validations = append(v.validations, val)
	return diags
}

func decodeLiteral(a *hcl.Attribute, want cty.Type, set func(cty.Value)) hcl.Diagnostics {
	val, diags := a.Expr.Value(nil)
	if diags.HasErrors() {
		return diags
	}
	conv, err := convert.Convert(val, want)
	if err != nil || conv.IsNull() {
		return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: fmt.Sprintf("Invalid %s", a.Name),
			Detail: fmt.Sprintf("%s must be a %s.", a.Name, want.FriendlyName()), Subject: a.Expr.Range().Ptr()}}
	}
	set(conv)
	return nil
}

// resolveVariables gives each variable its value: default < HOSTPLAN_VAR_name <
// --var-file < --var, as Terraform orders them.
func (p *Plan) resolveVariables(in Inputs) (map[string]cty.Value, hcl.Diagnostics) {
	r := &varResolver{p: p, byName: map[string]*Variable{}, vals: map[string]cty.Value{}, ranges: map[string]hcl.Range{}}
	for _, v := range p.Variables {
		r.byName[v.Name] = v
	}
	// Lowest precedence first: each source overrides the ones before.
	r.fromEnviron(in.Environ)
	for _, path := range in.VarFiles {
		r.fromFile(path)
	}
	r.fromVars(in.Vars)
	for _, v := range p.Variables {
		r.settle(v)
	}
	return r.vals, r.diags
}

// varResolver gathers the variables' values from their sources.
type varResolver struct {
	p      *Plan
	byName map[string]*Variable
	vals   map[string]cty.Value
	ranges map[string]hcl.Range // where a var file set a value
	diags  hcl.Diagnostics
}

func (r *varResolver) fromEnviron(environ []string) {
	for _, kv := range environ {
		name, raw, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, "HOSTPLAN_VAR_") {
			continue
		}
		name = strings.TrimPrefix(name, "HOSTPLAN_VAR_")
		v, known := r.byName[name]
		if !known {
			continue // the environment is shared with other plans
		}
		val, d := parseRaw(v, raw, "environment variable HOSTPLAN_VAR_"+name)
		r.diags = append(r.diags, d...)
		r.vals[name] = val
	}
}

func (r *varResolver) fromFile(path string) {
	file, d := r.p.parseVarFile(path)
	r.diags = append(r.diags, d...)
	if file == nil {
		return
	}
	attrs, d := file.Body.JustAttributes()
	r.diags = append(r.diags, d...)
	for name, a := range attrs {
		v, known := r.byName[name]
		if !known {
			r.diags = append(r.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Undeclared variable",
				Detail: fmt.Sprintf("The plan declares no variable %q. %s", name, declaredList(r.byName)), Subject: a.NameRange.Ptr()})
			continue
		}
		val, d := a.Expr.Value(nil)
		r.diags = append(r.diags, d...)
		if d.HasErrors() {
			continue
		}
		conv, err := convert.Convert(val, v.Type)
		if err != nil {
			r.diags = append(r.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid value for variable",
				Detail: fmt.Sprintf("Variable %q must be %s: %s.", name, typeexpr.TypeString(v.Type), err), Subject: a.Expr.Range().Ptr()})
			continue
		}
		r.vals[name] = conv
		r.ranges[name] = a.Expr.Range()
	}
}

// parseVarFile parses a --var-file: HCL, or for a name ending in .json a JSON object of
// variable names and values, as Terraform reads .tfvars.json (its strings are taken
// verbatim, "${" included). Var files are read from disk, never through the Source:
// they may hold sensitive values, and a saved plan keeps each variable's value (or its
// digest) instead.
func (p *Plan) parseVarFile(path string) (*hcl.File, hcl.Diagnostics) {
	if !strings.EqualFold(filepath.Ext(path), ".json") {
		return p.parseFrom(OS, path)
	}
	src, diags := readSource(OS, path)
	if diags.HasErrors() {
		return nil, diags
	}
	return p.parser.ParseJSON(src, path)
}

func (r *varResolver) fromVars(vars []string) {
	for _, kv := range vars {
		name, raw, ok := strings.Cut(kv, "=")
		if !ok {
			r.diags = append(r.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid --var",
				Detail: fmt.Sprintf("%q: write it as --var name=value.", kv)})
			continue
		}
		v, known := r.byName[name]
		if !known {
			r.diags = append(r.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Undeclared variable",
				Detail: fmt.Sprintf("--var %s: the plan declares no variable %q. %s", name, name, declaredList(r.byName))})
			continue
		}
		val, d := parseRaw(v, raw, "--var "+name)
		r.diags = append(r.diags, d...)
		r.vals[name] = val
	}
}

// settle gives v its default when nothing set it, marks it sensitive and validates it.
func (r *varResolver) settle(v *Variable) {
	val, set := r.vals[v.Name]
	if !set {
		if v.Default == cty.NilVal {
			r.diags = append(r.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "No value for required variable",
				Detail:  fmt.Sprintf("Variable %q has no default. Set it with --var %s=..., a --var-file, or HOSTPLAN_VAR_%s.", v.Name, v.Name, v.Name),
				Subject: v.DeclRange.Ptr()})
			return
		}
		val = v.Default
	}
	if v.Sensitive {
		val = val.Mark(SensitiveMark)
	}
	r.vals[v.Name] = val
	r.diags = append(r.diags, v.validate(val, r.ranges[v.Name], r.p.funcs.evalFuncs())...)
}

func (v *Variable) validate(val cty.Value, valRange hcl.Range, funcs funcMap) hcl.Diagnostics {
	var diags hcl.Diagnostics
	ctx := &hcl.EvalContext{
		Variables: map[string]cty.Value{"var": cty.ObjectVal(map[string]cty.Value{v.Name: val})},
		Functions: funcs,
	}
	for _, check := range v.validations {
		res, d := check.condition.Value(ctx)
		diags = append(diags, d...)
		if d.HasErrors() {
			continue
		}
		res, _ = res.Unmark()
		if res.Type() != cty.Bool || res.IsNull() {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid validation condition",
				Detail: "The condition must be true or false.", Subject: check.condition.Range().Ptr()})
			continue
		}
		if res.False() {
			subject := check.rng
			if valRange != (hcl.Range{}) {
				subject = valRange
			}
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid value for variable",
				Detail: fmt.Sprintf("var.%s: %s", v.Name, check.message), Subject: subject.Ptr()})
		}
	}
	return diags
}

// VariableValue is a declared variable's final value, sensitive ones still marked with
// SensitiveMark. A name the plan does not declare gives a null value rather than a
// panic, since callers ask with names from outside the plan (a saved plan's).
func (p *Plan) VariableValue(name string) cty.Value {
	if v, ok := p.vars[name]; ok {
		return v
	}
	return cty.NullVal(cty.DynamicPseudoType)
}

// parseRaw reads a value given on the command line or in the environment: verbatim for
// string variables, as an HCL expression for any other type.
func parseRaw(v *Variable, raw, where string) (cty.Value, hcl.Diagnostics) {
	if v.Type == cty.String {
		return cty.StringVal(raw), nil
	}
	val, err := parseValue(raw, where)
	if err != nil {
		if v.Type == cty.DynamicPseudoType {
			return cty.StringVal(raw), nil
		}
		return cty.NilVal, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Invalid value for variable",
			Detail: fmt.Sprintf("%s: variable %q must be %s, written as an HCL value (for example 3, true, [\"a\"] or { k = \"v\" }).", where, v.Name, typeexpr.TypeString(v.Type))}}
	}
	if path, huge := ctynum.Find(val); huge {
		// Converting it (to a string, say) would print it in full: minutes.
		return cty.NilVal, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Number out of range",
			Detail:  fmt.Sprintf("%s: %s is %s; hostplan takes numbers within float64's range.", where, ctynum.PathString("var."+v.Name, path), ctynum.Beyond),
			Subject: v.DeclRange.Ptr()}}
	}
	conv, err := convert.Convert(val, v.Type)
	if err != nil {
		return cty.NilVal, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Invalid value for variable",
			Detail: fmt.Sprintf("%s: variable %q must be %s: %s.", where, v.Name, typeexpr.TypeString(v.Type), err)}}
	}
	return conv, nil
}

// parseValue reads a literal HCL value; references and function calls are not allowed.
func parseValue(raw, where string) (cty.Value, error) {
	expr, diags := hclsyntax.ParseExpression([]byte(raw), where, hcl.InitialPos)
	if diags.HasErrors() {
		return cty.NilVal, diags
	}
	val, diags := expr.Value(nil)
	if diags.HasErrors() {
		return cty.NilVal, diags
	}
	return val, nil
}

func declaredList(byName map[string]*Variable) string {
	if len(byName) == 0 {
		return "It declares no variables at all."
	}
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	sort.Strings(names)
	return "Declared: " + strings.Join(names, ", ") + "."
}
