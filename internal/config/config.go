// Package config loads hostplan's plan language: HCL files with variables, locals and
// tasks of resources. It knows nothing about hosts beyond the `host` value it is given.
package config

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/hostplan/hostplan/internal/ctynum"
	"github.com/hostplan/hostplan/internal/health"
	"github.com/hostplan/hostplan/tasks"
)

// Plan is a loaded, statically checked plan.
type Plan struct {
	// Dir is the directory of the plan files; relative paths in functions start there.
	Dir       string
	parser    *hclparse.Parser
	src       Source
	Variables []*Variable
	Tasks     []*Task

	vars   map[string]cty.Value
	locals []*hcl.Attribute // in dependency order
	funcs  *funcTable
}

// Task is a named list of resources for a set of hosts.
type Task struct {
	Name      string
	On        []string
	OnRange   hcl.Range
	DefRange  hcl.Range
	Resources []*Resource
	// Serial is how many hosts change at once; the zero value means all of them.
	Serial Serial
	// RunOnce runs the task on the first of its hosts only (cluster-wide changes), or
	// with Per on the first host of each group.
	RunOnce bool
	// PerText is the task's per expression as written ("host.vars.cluster"), "" without
	// one. Per splits the task's hosts into groups (clusters) that roll side by side:
	// serial batches, run_once and the stop rule apply within each group.
	PerText string
	// MaxFailPercentage stops every group once more than this share of the groups
	// failed; -1 (unset) lets a failed group stop only itself.
	MaxFailPercentage int
	// Health is the gate each host must pass after its changes, before the next batch.
	Health *health.KubeAPIServer

	onExpr     hcl.Expression
	serialExpr hcl.Expression
	runOnce    hcl.Expression
	perExpr    hcl.Expression
	maxFail    hcl.Expression
	healthBody *hcl.Block
}

// Serial is a task's batch size: a count of hosts or a percentage of them.
type Serial struct {
	Count   int
	Percent int
}

// Rolling reports whether the task changes hosts in batches.
func (s Serial) Rolling() bool { return s.Count > 0 || s.Percent > 0 }

// BatchSize is the batch size for a task on n hosts: a percentage rounds down but is at
// least one host, as Ansible's serial does.
func (s Serial) BatchSize(n int) int {
	switch {
	case s.Count > 0:
		return min(s.Count, n)
	case s.Percent > 0:
		return max(1, n*s.Percent/100)
	}
	return n
}

func (s Serial) String() string {
	if s.Percent > 0 {
		return fmt.Sprintf("%d%%", s.Percent)
	}
	return fmt.Sprint(s.Count)
}

// Resource is one resource block, not yet evaluated for a host.
type Resource struct {
	Task       *Task
	Kind       *tasks.Kind
	Label      string
	Body       hcl.Body
	DefRange   hcl.Range
	LabelRange hcl.Range
}

// Address is how plans and messages name the resource: file "/etc/motd".
func (r *Resource) Address() string { return fmt.Sprintf("%s %q", r.Kind.Type, r.Label) }

// Inputs are variable values from outside the plan files.
type Inputs struct {
	Vars     []string // "name=value" from --var
	VarFiles []string // HCL files of name = value
	Environ  []string // os.Environ(); HOSTPLAN_VAR_name=value entries are used
	// Source reads the plan's local files; nil is OS. A Recorder here lets a saved plan
	// carry them, and its Snapshot later replays them.
	Source Source
}

var rootSchema = &hcl.BodySchema{
	Blocks: []hcl.BlockHeaderSchema{
		{Type: "variable", LabelNames: []string{"name"}},
		{Type: "locals"},
		{Type: "task", LabelNames: []string{"name"}},
	},
}

// Load reads a plan file, or every *.hcl file of a directory in name order.
func Load(path string, in Inputs) (*Plan, hcl.Diagnostics) {
	src := orOS(in.Source)
	files, dir, err := src.PlanFiles(path)
	if err != nil {
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Cannot read plan", Detail: err.Error()}}
	}
	p := &Plan{Dir: dir, parser: hclparse.NewParser(), src: src}
	p.funcs = newFuncTable(dir, src)
	var diags hcl.Diagnostics
	var bodies []*hcl.BodyContent
	for _, f := range files {
		file, d := p.parseFile(f)
		diags = append(diags, d...)
		if file == nil {
			continue
		}
		content, d := file.Body.Content(rootSchema)
		diags = append(diags, inventoryHint(file, d)...)
		bodies = append(bodies, content)
	}
	if diags.HasErrors() {
		return nil, diags
	}
	localAttrs, d := p.decodeBlocks(bodies)
	diags = append(diags, d...)
	if diags.HasErrors() {
		return nil, diags
	}
	vars, d := p.resolveVariables(in)
	diags = append(diags, d...)
	p.vars = vars
	locals, d := orderLocals(localAttrs)
	diags = append(diags, d...)
	p.locals = locals
	if diags.HasErrors() {
		return nil, diags
	}
	diags = append(diags, p.evalTaskTargets()...)
	if diags.HasErrors() {
		return nil, diags
	}
	return p, diags
}

// decodeBlocks decodes the variable and task blocks of every plan file into p (each
// name once across the files) and returns the locals' attributes.
func (p *Plan) decodeBlocks(bodies []*hcl.BodyContent) ([]*hcl.Attribute, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	var localAttrs []*hcl.Attribute
	seenVar := map[string]hcl.Range{}
	seenTask := map[string]hcl.Range{}
	for _, content := range bodies {
		for _, b := range content.Blocks {
			switch b.Type {
			case "variable":
				if prev, dup := seenVar[b.Labels[0]]; dup {
					diags = append(diags, duplicate("variable", b.Labels[0], b.DefRange, prev))
					continue
				}
				seenVar[b.Labels[0]] = b.DefRange
				v, d := decodeVariable(b)
				diags = append(diags, d...)
				if v != nil {
					p.Variables = append(p.Variables, v)
				}
			case "locals":
				attrs, d := b.Body.JustAttributes()
				diags = append(diags, d...)
				for _, a := range attrs {
					localAttrs = append(localAttrs, a)
				}
			case "task":
				if prev, dup := seenTask[b.Labels[0]]; dup {
					diags = append(diags, duplicate("task", b.Labels[0], b.DefRange, prev))
					continue
				}
				seenTask[b.Labels[0]] = b.DefRange
				t, d := decodeTask(b)
				diags = append(diags, d...)
				if t != nil {
					p.Tasks = append(p.Tasks, t)
				}
			}
		}
	}
	return localAttrs, diags
}

// parseFile parses an HCL file read through the plan's Source, under the name it was
// asked for so diagnostics still name that file and line.
// sourceText is the plan text at r, as written.
func (p *Plan) sourceText(r hcl.Range) string {
	f := p.parser.Files()[r.Filename]
	if f == nil || r.End.Byte > len(f.Bytes) || r.Start.Byte > r.End.Byte {
		return ""
	}
	return string(f.Bytes[r.Start.Byte:r.End.Byte])
}

func (p *Plan) parseFile(path string) (*hcl.File, hcl.Diagnostics) {
	return p.parseFrom(p.source(), path)
}

func (p *Plan) parseFrom(s Source, path string) (*hcl.File, hcl.Diagnostics) {
	src, diags := readSource(s, path)
	if diags.HasErrors() {
		return nil, diags
	}
	file, diags := p.parser.ParseHCL(src, path)
	if body, ok := file.Body.(*hclsyntax.Body); ok && !diags.HasErrors() {
		// A number beyond float64's range (1e100000000) would be printed in full, in
		// minutes, wherever HCL converts it to a string: refuse it where it is written.
		diags = append(diags, ctynum.Literals(body)...)
	}
	return file, diags
}

// readSource reads path through s; failing, it returns a diagnostic naming the file.
func readSource(s Source, path string) ([]byte, hcl.Diagnostics) {
	src, err := s.ReadFile(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the detail names the file already
		}
		return nil, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Failed to read file",
			Detail:   fmt.Sprintf("The configuration file %q could not be read: %v.", path, err),
		}}
	}
	return src, nil
}

// source is the plan's Source; a Plan not made by Load reads the local file system.
func (p *Plan) source() Source { return orOS(p.src) }

// inventoryHint explains the common mistake of keeping an inventory among the plan files.
func inventoryHint(file *hcl.File, diags hcl.Diagnostics) hcl.Diagnostics {
	for _, d := range diags {
		if d.Summary == "Unsupported block type" && d.Subject != nil {
			word := string(d.Subject.SliceBytes(file.Bytes))
			if word == "host" || word == "defaults" || word == "group" {
				d.Detail += " This looks like an inventory: pass it with -i and keep it out of the plan directory."
			}
		}
	}
	return diags
}

func duplicate(kind, name string, at, prev hcl.Range) *hcl.Diagnostic {
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  fmt.Sprintf("Duplicate %s %q", kind, name),
		Detail:   fmt.Sprintf("A %s named %q was already declared at %s. Names must be unique.", kind, name, prev),
		Subject:  at.Ptr(),
	}
}

func decodeTask(b *hcl.Block) (*Task, hcl.Diagnostics) {
	schema := &hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{{Name: "on", Required: true}, {Name: "serial"}, {Name: "run_once"},
			{Name: "per"}, {Name: "max_fail_percentage"}},
		Blocks: []hcl.BlockHeaderSchema{{Type: "health", LabelNames: []string{"kind"}}},
	}
	for _, typ := range tasks.Types() {
		k, _ := tasks.Lookup(typ)
		schema.Blocks = append(schema.Blocks, hcl.BlockHeaderSchema{Type: typ, LabelNames: []string{k.LabelName}})
	}
	content, diags := b.Body.Content(schema)
	if diags.HasErrors() {
		return nil, diags
	}
	onExpr := content.Attributes["on"].Expr
	t := &Task{Name: b.Labels[0], DefRange: b.DefRange, OnRange: onExpr.Range(), onExpr: onExpr, MaxFailPercentage: -1}
	t.keepRolloutExprs(content.Attributes)
	seen := map[string]hcl.Range{}
	for _, rb := range content.Blocks {
		if rb.Type == "health" {
			if t.healthBody != nil {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Duplicate health block",
					Detail:   fmt.Sprintf("Task %q already has a health gate at %s; a task has at most one.", t.Name, t.healthBody.DefRange),
					Subject:  rb.DefRange.Ptr(),
				})
				continue
			}
			t.healthBody = rb
			continue
		}
		k, _ := tasks.Lookup(rb.Type)
		r := &Resource{Task: t, Kind: k, Label: rb.Labels[0], Body: rb.Body, DefRange: rb.DefRange, LabelRange: rb.LabelRanges[0]}
		if prev, dup := seen[r.Address()]; dup {
			diags = append(diags, duplicate("resource", r.Address(), rb.DefRange, prev))
			continue
		}
		seen[r.Address()] = rb.DefRange
		t.Resources = append(t.Resources, r)
	}
	return t, diags
}

// keepRolloutExprs keeps the task's rollout settings for evalRollout, which needs the
// variables.
func (t *Task) keepRolloutExprs(attrs hcl.Attributes) {
	for name, dst := range map[string]*hcl.Expression{
		"serial": &t.serialExpr, "run_once": &t.runOnce, "per": &t.perExpr, "max_fail_percentage": &t.maxFail,
	} {
		if a := attrs[name]; a != nil {
			*dst = a.Expr
		}
	}
}

// evalTaskTargets evaluates each task's `on` once variables are known.
func (p *Plan) evalTaskTargets() hcl.Diagnostics {
	var diags hcl.Diagnostics
	ctx, d := p.evalContext(cty.NilVal)
	diags = append(diags, d...)
	if d.HasErrors() {
		return diags
	}
	for _, t := range p.Tasks {
		expr := t.onExpr
		v, d := expr.Value(ctx)
		diags = append(diags, d...)
		if d.HasErrors() {
			continue
		}
		list, err := stringList(v)
		if err != nil || len(list) == 0 {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid task targets",
				Detail:   `"on" must be a non-empty list of group or host names, such as ["masters"], and must not depend on host values.`,
				Subject:  expr.Range().Ptr(),
			})
			continue
		}
		t.On = list
		if t.perExpr != nil {
			t.PerText = p.sourceText(t.perExpr.Range())
		}
		diags = append(diags, t.evalRollout(ctx)...)
	}
	return diags
}

func stringList(v cty.Value) ([]string, error) {
	v, _ = v.UnmarkDeep()
	if !v.IsWhollyKnown() || v.IsNull() || !(v.Type().IsListType() || v.Type().IsTupleType() || v.Type().IsSetType()) {
		return nil, fmt.Errorf("not a list")
	}
	var out []string
	for it := v.ElementIterator(); it.Next(); {
		_, e := it.Element()
		if e.IsNull() || e.Type() != cty.String {
			return nil, fmt.Errorf("not a string")
		}
		out = append(out, e.AsString())
	}
	return out, nil
}

// TaskNames lists the tasks in run order.
func (p *Plan) TaskNames() []string {
	var out []string
	for _, t := range p.Tasks {
		out = append(out, t.Name)
	}
	return out
}
