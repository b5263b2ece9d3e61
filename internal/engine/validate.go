package engine

import (
	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/hostplan/hostplan/internal/config"
)

// Placeholder host values for ValidatePlan: known where a real host's always are, so
// that paths and content built from them are checked, and from the documentation
// ranges, so that they name nothing real.
const (
	placeholderName    = "placeholder-host"
	placeholderAddress = "192.0.2.1"
)

// ValidatePlan checks a plan without an inventory: every task's resources are built
// once, for a placeholder host whose name and address are made up and whose groups,
// vars and facts are unknown. Values derived from unknowns are type-checked but not
// built; which hosts a task targets, and whether each has the vars the plan reads, need
// an inventory (Validate).
func ValidatePlan(p *config.Plan) hcl.Diagnostics {
	attrs := config.HostValue(placeholderName, placeholderAddress, nil, nil, cty.DynamicVal).AsValueMap()
	attrs["groups"] = cty.UnknownVal(cty.List(cty.String))
	attrs["vars"] = cty.DynamicVal
	ctx, diags := p.EvalContext(cty.ObjectVal(attrs))
	if diags.HasErrors() {
		return diags
	}
	for _, task := range p.Tasks {
		for _, r := range task.Resources {
			_, d := p.Build(r, ctx)
			diags = append(diags, d...)
		}
	}
	return dedupe(diags)
}
