package config

import (
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"

	"github.com/hostplan/hostplan/internal/health"
)

// healthSpecs are the gates a task may wait on. Only the API server's exists so far.
var healthSpecs = map[string]hcldec.ObjectSpec{
	"kube_apiserver": {
		"manifest":    &hcldec.AttrSpec{Name: "manifest", Type: cty.String},
		"container":   &hcldec.AttrSpec{Name: "container", Type: cty.String},
		"address":     &hcldec.AttrSpec{Name: "address", Type: cty.String},
		"port":        &hcldec.AttrSpec{Name: "port", Type: cty.Number},
		"ca_file":     &hcldec.AttrSpec{Name: "ca_file", Type: cty.String},
		"server_name": &hcldec.AttrSpec{Name: "server_name", Type: cty.String},
		"timeout":     &hcldec.AttrSpec{Name: "timeout", Type: cty.String},
	},
}

// evalRollout evaluates a task's serial, run_once and health settings. They are the
// same for every host, so they may use variables and locals but not host values.
func (t *Task) evalRollout(ctx *hcl.EvalContext) hcl.Diagnostics {
	var diags hcl.Diagnostics
	if t.serialExpr != nil {
		s, d := evalSerial(t.serialExpr, ctx)
		diags = append(diags, d...)
		t.Serial = s
	}
	if t.runOnce != nil {
		v, d := t.runOnce.Value(ctx)
		diags = append(diags, d...)
		if !d.HasErrors() {
			v, _ = v.Unmark()
			if v.IsNull() || !v.IsKnown() || v.Type() != cty.Bool {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Invalid run_once",
					Detail:   "run_once must be true or false.",
					Subject:  t.runOnce.Range().Ptr(),
				})
			} else {
				t.RunOnce = v.True()
			}
		}
	}
	diags = append(diags, t.evalMaxFail(ctx)...)
	if t.healthBody != nil {
		g, d := decodeHealth(t.healthBody, ctx)
		diags = append(diags, d...)
		t.Health = g
	}
	return diags
}

// evalMaxFail evaluates max_fail_percentage, which counts failed groups of per.
func (t *Task) evalMaxFail(ctx *hcl.EvalContext) hcl.Diagnostics {
	if t.maxFail == nil {
		return nil
	}
	bad := func(detail string) hcl.Diagnostics {
		return hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Invalid max_fail_percentage",
			Detail:   detail,
			Subject:  t.maxFail.Range().Ptr(),
		}}
	}
	if t.perExpr == nil {
		return bad("max_fail_percentage counts the groups of per that failed, and this task has no per: " +
			"its hosts are one rollout, which any failure in a rolling or gated task stops. Add per (per = host.vars.cluster) or remove it.")
	}
	v, diags := t.maxFail.Value(ctx)
	if diags.HasErrors() {
		return diags
	}
	v, _ = v.UnmarkDeep()
	if v.IsNull() || !v.IsKnown() || v.Type() != cty.Number {
		return bad("max_fail_percentage must be a number from 0 to 100.")
	}
	n, acc := v.AsBigFloat().Int64()
	if acc != big.Exact || n < 0 || n > 100 {
		return bad("max_fail_percentage must be a whole number from 0 (any failed group stops every group) to 100.")
	}
	t.MaxFailPercentage = int(n)
	return nil
}

// RolloutKey is the host's group for the task's rollout: the value of per in the
// host's context (host values but not facts, which are gathered later). It is "" for a
// task without per.
func (t *Task) RolloutKey(ctx *hcl.EvalContext) (string, hcl.Diagnostics) {
	if t.perExpr == nil {
		return "", nil
	}
	bad := func(detail string) (string, hcl.Diagnostics) {
		return "", hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Invalid per", Detail: detail, Subject: t.perExpr.Range().Ptr()}}
	}
	v, diags := t.perExpr.Value(ctx)
	if diags.HasErrors() {
		return "", diags
	}
	v, m := v.UnmarkDeep()
	if _, ok := m[SensitiveMark]; ok {
		return bad("per must not be sensitive: its values name the groups in plans and reports.")
	}
	switch {
	case !v.IsWhollyKnown():
		return bad("per must be known before any host is contacted: use the host's name, groups and vars (per = host.vars.cluster), not its facts.")
	case v.IsNull():
		return bad("per has no value for this host. Give every host of the task one, for example a \"cluster\" var of each cluster's group.")
	}
	s, err := convert.Convert(v, cty.String)
	if err != nil {
		return bad(fmt.Sprintf("per must be a string or a number, not a %s.", v.Type().FriendlyName()))
	}
	return s.AsString(), nil
}

func evalSerial(expr hcl.Expression, ctx *hcl.EvalContext) (Serial, hcl.Diagnostics) {
	bad := func(detail string) (Serial, hcl.Diagnostics) {
		return Serial{}, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Invalid serial",
			Detail:   detail + ` Write a number of hosts (serial = 1) or a percentage of the task's hosts (serial = "30%").`,
			Subject:  expr.Range().Ptr(),
		}}
	}
	v, diags := expr.Value(ctx)
	if diags.HasErrors() {
		return Serial{}, diags
	}
	v, _ = v.UnmarkDeep()
	if v.IsNull() || !v.IsKnown() {
		return bad("serial has no value.")
	}
	switch v.Type() {
	case cty.Number:
		f := v.AsBigFloat()
		n, acc := f.Int64()
		if acc != big.Exact || n < 1 {
			shown := "This number"
			if exp := f.MantExp(nil); exp >= -1024 && exp <= 1024 {
				// Only then: big.Float's decimal conversion of 1e10000000 takes seconds.
				shown = f.Text('g', 20)
			}
			return bad(fmt.Sprintf("%s is not a whole number of hosts of at least 1.", shown))
		}
		return Serial{Count: int(n)}, nil
	case cty.String:
		s := strings.TrimSpace(v.AsString())
		if p, ok := strings.CutSuffix(s, "%"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(p))
			if err != nil || n < 1 || n > 100 {
				return bad(fmt.Sprintf("%q is not a percentage between 1%% and 100%%.", s))
			}
			return Serial{Percent: n}, nil
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return bad(fmt.Sprintf("%q is neither a number of hosts nor a percentage.", s))
		}
		return Serial{Count: n}, nil
	}
	return bad(fmt.Sprintf("serial is a %s.", v.Type().FriendlyName()))
}

func decodeHealth(b *hcl.Block, ctx *hcl.EvalContext) (*health.KubeAPIServer, hcl.Diagnostics) {
	v, diags := decodeHealthBlock(b, ctx)
	if diags.HasErrors() {
		return nil, diags
	}
	g := &health.KubeAPIServer{
		Manifest:   stringAttr(v, "manifest"),
		Container:  stringAttr(v, "container"),
		Address:    stringAttr(v, "address"),
		CAFile:     stringAttr(v, "ca_file"),
		ServerName: stringAttr(v, "server_name"),
	}
	if p := v.GetAttr("port"); !p.IsNull() {
		n, acc := p.AsBigFloat().Int64()
		if acc != big.Exact || n < 1 || n > 65535 {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid port",
				Detail: "port must be a TCP port number (1-65535).", Subject: blockAttrRange(b, "port")})
		}
		g.Port = int(n)
	}
	if s := stringAttr(v, "timeout"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid timeout",
				Detail: fmt.Sprintf("%q is not a duration; write it like \"5m\" or \"90s\".", s), Subject: blockAttrRange(b, "timeout")})
		}
		g.Timeout = d
	}
	for _, name := range []string{"manifest", "ca_file"} {
		if p := stringAttr(v, name); p != "" && !strings.HasPrefix(p, "/") {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid path",
				Detail: fmt.Sprintf("%s must be an absolute path on the host, not %q.", name, p), Subject: blockAttrRange(b, name)})
		}
	}
	return g, diags
}

// decodeHealthBlock decodes a health block by its gate's spec into a known value
// without marks.
func decodeHealthBlock(b *hcl.Block, ctx *hcl.EvalContext) (cty.Value, hcl.Diagnostics) {
	kind := b.Labels[0]
	spec, ok := healthSpecs[kind]
	if !ok {
		return cty.NilVal, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Unknown health gate",
			Detail:   fmt.Sprintf("%q is not a health gate hostplan knows; the one there is: health \"kube_apiserver\" { }.", kind),
			Subject:  b.LabelRanges[0].Ptr(),
		}}
	}
	v, diags := hcldec.Decode(b.Body, spec, ctx)
	if diags.HasErrors() {
		return cty.NilVal, diags
	}
	v, _ = v.UnmarkDeep()
	if !v.IsWhollyKnown() {
		// A local that uses host values is unknown here; reading it would panic.
		return cty.NilVal, append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid health gate",
			Detail:   "A health gate is the same for every host of the task: its settings may use variables and locals, but not host values.",
			Subject:  b.DefRange.Ptr(),
		})
	}
	return v, diags
}

// stringAttr is the string attribute name of the object v, or "" when it is not set.
func stringAttr(v cty.Value, name string) string {
	if a := v.GetAttr(name); !a.IsNull() {
		return a.AsString()
	}
	return ""
}

// blockAttrRange is where b sets the attribute name, or b itself when it does not.
func blockAttrRange(b *hcl.Block, name string) *hcl.Range {
	attrs, _ := b.Body.JustAttributes()
	if a, ok := attrs[name]; ok {
		return a.Expr.Range().Ptr()
	}
	return b.DefRange.Ptr()
}
