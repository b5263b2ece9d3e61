package main

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"

	"github.com/hostplan/hostplan/internal/config"
	"github.com/hostplan/hostplan/internal/engine"
	"github.com/hostplan/hostplan/internal/planfile"
	"github.com/hostplan/hostplan/internal/render"
	"github.com/hostplan/hostplan/internal/report"
	"github.com/hostplan/hostplan/inventory"
)

// savedInputs are what a saved plan keeps of the run's inputs: the files read, and each
// variable's final value, sensitive ones as digests.
func savedInputs(in runSources, p *config.Plan, planRec, invRec *config.Recorder) (planfile.Inputs, error) {
	s := planfile.Inputs{PlanPath: in.planPath, Plan: planRec.Snapshot(), Inventories: in.inventories,
		Inventory: invRec.Snapshot(), Limit: in.limit, SSHConfig: in.sshConfig,
		Vars: []string{}, Sensitive: map[string]planfile.Digest{}}
	for _, v := range p.Variables {
		val := p.VariableValue(v.Name)
		if v.Sensitive {
			b, err := valueJSON(val)
			if err != nil {
				return s, fmt.Errorf("save variable %s: %w", v.Name, err)
			}
			s.Sensitive[v.Name] = planfile.NewDigest(b)
			continue
		}
		s.Vars = append(s.Vars, v.Name+"="+literal(val))
	}
	return s, nil
}

// literal writes a value as --var reads it back: strings verbatim, anything else as an
// HCL expression.
func literal(v cty.Value) string {
	if v.Type() == cty.String && v.IsKnown() && !v.IsNull() {
		return v.AsString()
	}
	return string(hclwrite.TokensForValue(v).Bytes())
}

func valueJSON(v cty.Value) ([]byte, error) {
	v, _ = v.UnmarkDeep()
	return ctyjson.Marshal(v, v.Type())
}

// applySaved applies a saved plan: the plan is made again from the inputs it saved,
// and a host is changed only if every step is exactly what was reviewed.
func (a *app) applySaved(ctx context.Context, c *sharedFlags, v *view, path string, f *planfile.File, allOrNothing bool, journalPath string) int {
	signer, err := a.verifySaved(c, path, f)
	if err != nil {
		fmt.Fprintf(a.stderr, "hostplan: %v\n", err)
		return exitError
	}
	fmt.Fprintf(v.info, "Plan %s signed by %s\n", path, signedBy(signer))
	in, err := savedSources(c, path, f)
	if err != nil {
		fmt.Fprintf(a.stderr, "hostplan: %v\n", err)
		return exitError
	}
	l, ok := a.loadSources(in, v.human)
	if !ok {
		return exitError
	}
	if err := checkSensitive(l.plan, f); err != nil {
		fmt.Fprintf(a.stderr, "hostplan: %v\n", err)
		return exitError
	}
	e, end, ok := a.session(ctx, c, l, v.human)
	if !ok {
		return exitError
	}
	defer end()
	p := e.Plan(ctx)
	a.prog.Suspend()
	opts := v.reportOptions(c)
	// The reviewed plan's key, so that digests of sensitive content compare.
	opts.ContentKey = f.Plan.ContentKey
	stale, ok := refuseStale(v, f, p, opts, allOrNothing)
	if !ok {
		return exitError
	}
	// The reviewed plan is what the apply carried out (where not refused as stale).
	a.prog.Reset()
	a.prog.Resume()
	applied := e.Apply(ctx, p)
	a.prog.Stop()
	res := report.FromApply(f.Plan, applied, opts)
	a.record(journalPath, res)
	v.apply(res)
	if !res.OK() || len(stale) > 0 {
		return exitError
	}
	return exitOK
}

// savedSources are the inputs the saved plan was made with. Of the flags, only --var
// of a sensitive variable may change them: the plan keeps just a digest of those, and
// every other value is the reviewed one.
func savedSources(c *sharedFlags, path string, f *planfile.File) (runSources, error) {
	if len(c.inventories) > 0 || c.limit != "" {
		return runSources{}, fmt.Errorf("%s fixes the inventory and --limit it was made with; make a new plan to change them", path)
	}
	for _, kv := range c.vars {
		name, _, _ := strings.Cut(kv, "=")
		if _, ok := f.Inputs.Sensitive[name]; !ok {
			return runSources{}, fmt.Errorf("--var %s: the saved plan %s fixes every variable but the sensitive ones (%s); make a new plan to change it",
				name, path, sensitiveNames(f))
		}
	}
	return runSources{planPath: f.Inputs.PlanPath, inventories: f.Inputs.Inventories, limit: f.Inputs.Limit,
		sshConfig: f.Inputs.SSHConfig, planSource: f.Inputs.Plan, invFiles: &inventory.Files{ReadFile: f.Inputs.Inventory.ReadFile, ListDir: f.Inputs.Inventory.ListDir},
		vars: append(append([]string{}, f.Inputs.Vars...), c.vars...), varFiles: c.varFiles}, nil
}

// refuseStale compares the plan p made now with the reviewed one and fails each host
// whose steps differ, so that the apply leaves it alone; it returns why each was
// refused. ok is false when --all-or-nothing refuses the whole apply instead.
func refuseStale(v *view, f *planfile.File, p *engine.Plan, opts report.Options, allOrNothing bool) (stale map[string]string, ok bool) {
	fresh := report.FromPlan(p, opts)
	stale = planfile.Stale(f.Plan, fresh)
	names := make([]string, 0, len(stale))
	for h := range stale {
		names = append(names, h)
	}
	sort.Strings(names)
	for _, h := range names {
		fmt.Fprintf(v.info, "host %s: refused as stale: %s\n", h, stale[h])
	}
	if allOrNothing && (len(stale) > 0 || fresh.Summary.FailedHosts > 0) {
		fmt.Fprintf(v.info, "Nothing was applied (--all-or-nothing): %d stale, %d failed to plan. Make a new plan.\n", len(stale), fresh.Summary.FailedHosts)
		if v.json {
			v.apply(report.FromApply(f.Plan, &engine.ApplyResult{}, opts))
		}
		return stale, false
	}
	for _, hp := range p.Hosts {
		if why, ok := stale[hp.Host]; ok {
			hp.Err = &staleError{why}
		}
	}
	return stale, true
}

type staleError struct{ why string }

func (e *staleError) Error() string {
	return "refused as stale, nothing changed: " + e.why + "; make a new plan"
}

func sensitiveNames(f *planfile.File) string {
	var names []string
	for n := range f.Inputs.Sensitive {
		names = append(names, n)
	}
	if len(names) == 0 {
		return "there are none"
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// checkSensitive compares each sensitive variable's value now with the digest saved.
func checkSensitive(p *config.Plan, f *planfile.File) error {
	var errs []error
	for name, d := range f.Inputs.Sensitive {
		b, err := valueJSON(p.VariableValue(name))
		if err != nil {
			return err
		}
		if !d.Matches(b) {
			errs = append(errs, fmt.Errorf("variable %q is sensitive, so the plan file holds only a digest of it, and the value given now (--var, --var-file or HOSTPLAN_VAR_%s, or its default) is not the one the plan was made with", name, name))
		}
	}
	return errors.Join(errs...)
}

// savePlan writes a saved plan to path, signed with the operator's key (see
// signingKey), and says so. With no key to sign with it still saves the plan, unsigned,
// and says how to sign it: apply refuses it until then.
func (a *app) savePlan(v *view, c *sharedFlags, path string, f *planfile.File) error {
	ref, _ := a.signingKey(c.sign)
	if ref == nil {
		if err := planfile.Write(path, f); err != nil {
			return err
		}
		fmt.Fprintf(a.stderr, "hostplan: the plan is NOT signed (no signing key: -sign-key, HOSTPLAN_SIGN_KEY, ~/.ssh/id_ed25519, id_ecdsa, id_rsa or ssh-agent); apply refuses it until it is. Sign it with: %s\n", signRecipe(path))
		return nil
	}
	s, done, err := a.signer(ref)
	if err != nil {
		return fmt.Errorf("save plan: %w", err)
	}
	defer done()
	if err := planfile.WriteSigned(path, f, s); err != nil {
		return err
	}
	fmt.Fprintf(v.info, "\nSigned the plan with %s (%s): %s\n", planfile.KeyName(s.PublicKey()), ref.shown, planfile.SigPath(path))
	return nil
}

// showSaved prints a saved plan, after who signed it and whether apply would accept it,
// so that a second reviewer knows whose plan they read. A bad signature (the file was
// changed after signing) still shows the plan, but exits 1.
func (a *app) showSaved(argv *showArgs) int {
	c, path, format := &argv.sharedFlags, argv.file, argv.format
	if format == "md" {
		format = "markdown"
	}
	if format != "human" && format != "json" && format != "markdown" {
		fmt.Fprintf(a.stderr, "hostplan show: -format %q: use human, json or markdown\n", format)
		return exitError
	}
	f, err := planfile.Read(path)
	if err != nil {
		fmt.Fprintf(a.stderr, "hostplan: %v\n", err)
		return exitError
	}
	status, ok := a.signatureStatus(c, path, f)
	switch format {
	case "human":
		fmt.Fprintf(a.stdout, "%s\n\n", status)
		r := a.renderer(c)
		r.PerHost = argv.perHost
		r.Plan(f.Plan)
	case "json":
		fmt.Fprintln(a.stderr, status)
		render.JSON(a.stdout, f.Plan)
	case "markdown":
		fmt.Fprintf(a.stdout, "**%s**\n\n", status)
		render.Markdown(a.stdout, f.Plan, argv.perHost)
	}
	if !ok || planExit(f.Plan) == exitError {
		return exitError
	}
	// The plan was printed: its changes are what the reviewer came to read, not a status
	// to act on (exit 2 for changes is plan's -detailed-exitcode convention).
	return exitOK
}

// signatureStatus is one line on the plan's signature; ok is false when apply would
// refuse the plan for a reason other than trust: a bad signature, its file mode, an
// unreadable allowed_signers file.
func (a *app) signatureStatus(c *sharedFlags, path string, f *planfile.File) (line string, ok bool) {
	s, t, err := a.checkSaved(c, path, f)
	switch {
	case errors.Is(err, planfile.ErrUnsigned):
		return fmt.Sprintf("Signature: NONE (no %s): apply will refuse this plan until it is signed: %s", planfile.SigPath(path), signRecipe(path)), true
	case err != nil:
		return "Signature: CHECK FAILED, do not apply (apply will refuse it): " + err.Error(), false
	case s.Trusted == "":
		return "Signature: good, by " + s.Fingerprint() + ", NOT TRUSTED: apply will refuse this plan. " + trustHint(s.Key, t.AllowedPath), true
	}
	return "Signature: good, by " + signedBy(s), true
}
