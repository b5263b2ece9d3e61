package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/hostplan/hostplan/internal/config"
	"github.com/hostplan/hostplan/internal/engine"
	"github.com/hostplan/hostplan/internal/planfile"
	"github.com/hostplan/hostplan/internal/render"
	"github.com/hostplan/hostplan/internal/report"
	"github.com/hostplan/hostplan/inventory"
)

// view is how a command prints its documents: people's text, or JSON alone on stdout.
type view struct {
	human *render.Human
	json  bool
	out   io.Writer // stdout
	info  io.Writer // messages besides the document: stdout, or stderr in JSON mode
}

func (a *app) view(c *sharedFlags, asJSON bool) *view {
	v := &view{human: a.renderer(c), json: asJSON, out: a.stdout, info: a.stdout}
	if asJSON {
		v.info = a.stderr
	}
	return v
}

// reportOptions are how this run's plans become documents.
func (v *view) reportOptions(c *sharedFlags) report.Options {
	return report.Options{DiffContext: c.diffContext, ErrorText: v.human.ErrorText}
}

func (v *view) plan(doc *report.Plan) {
	if v.json {
		render.JSON(v.out, doc)
		return
	}
	v.human.Plan(doc)
}

func (v *view) apply(doc *report.Apply) {
	if v.json {
		render.JSON(v.out, doc)
		return
	}
	v.human.Apply(doc)
}

func planExit(doc *report.Plan) int {
	switch s := doc.Summary; {
	case s.FailedHosts > 0:
		return exitError
	case s.Changes > 0:
		return exitChanges
	}
	return exitOK
}

func (a *app) plan(ctx context.Context, args []string) int {
	argv, err := parsePlanArgs(args, a.stderr)
	if argsFailed(err, a.stderr) {
		return exitError
	}
	c, out, asJSON, pos := &argv.sharedFlags, argv.out, argv.json, argv.pos
	c.planOnly = true
	v := a.view(c, asJSON)
	v.human.PerHost = argv.perHost
	in, ok := a.flagSources(c, pos)
	if !ok {
		return exitError
	}
	var planRec, invRec *config.Recorder
	if out != "" {
		planRec, invRec = config.NewRecorder(config.OS), config.NewRecorder(config.OS)
		in.planSource, in.invFiles = planRec, &inventory.Files{ReadFile: invRec.ReadFile, ListDir: invRec.ListDir}
	}
	l, ok := a.loadSources(in, v.human)
	if !ok {
		return exitError
	}
	e, end, ok := a.session(ctx, c, l, v.human)
	if !ok {
		return exitError
	}
	defer end()
	p := e.Plan(ctx)
	a.prog.Stop()
	doc := report.FromPlan(p, v.reportOptions(c))
	v.plan(doc)
	if out != "" {
		saved, err := savedInputs(in, l.plan, planRec, invRec)
		if err == nil {
			err = a.savePlan(v, c, out, &planfile.File{Hostplan: buildVersion(), Created: time.Now(), Inputs: saved, Plan: doc})
		}
		if err != nil {
			fmt.Fprintf(a.stderr, "hostplan: %v\n", err)
			return exitError
		}
		fmt.Fprintf(v.info, "\nSaved the plan to %s. Apply exactly these changes with: hostplan apply %s\n", out, out)
	}
	return planExit(doc)
}

func (a *app) apply(ctx context.Context, args []string) int {
	argv, err := parseApplyArgs(args, a.stderr)
	if argsFailed(err, a.stderr) {
		return exitError
	}
	c, pos := &argv.sharedFlags, argv.pos
	v := a.view(c, argv.json)
	v.human.PerHost = argv.perHost
	if len(pos) == 1 {
		if saved, ok := a.readIfPlanFile(pos[0]); saved != nil {
			return a.applySaved(ctx, c, v, pos[0], saved, argv.allOrNothing, a.journalPath(argv.journal))
		} else if !ok {
			return exitError
		}
	}
	if argv.allOrNothing {
		fmt.Fprintln(a.stderr, "hostplan: --all-or-nothing applies to a saved plan (hostplan apply FILE)")
		return exitError
	}
	if !argv.autoApprove && (argv.json || !a.stdinIsTerminal()) {
		fmt.Fprintln(a.stderr, "hostplan: refusing to apply without confirmation: stdin is not a terminal. Review the plan with 'hostplan plan' (or save it with -out and apply that file), then run 'hostplan apply --auto-approve'.")
		return exitError
	}
	l, ok := a.load(c, pos, v.human)
	if !ok {
		return exitError
	}
	e, end, ok := a.session(ctx, c, l, v.human)
	if !ok {
		return exitError
	}
	defer end()
	return a.planThenApply(ctx, e, c, v, argv)
}

// planThenApply plans, shows the plan, asks (unless --auto-approve) and applies what
// changes, recording the result in the journal.
func (a *app) planThenApply(ctx context.Context, e *engine.Engine, c *sharedFlags, v *view, argv *applyArgs) int {
	p := e.Plan(ctx)
	a.prog.Suspend()
	opts := v.reportOptions(c)
	doc := report.FromPlan(p, opts)
	if !doc.HasChanges() {
		return a.nothingToApply(v, doc, opts)
	}
	if !v.json {
		v.plan(doc)
	}
	if !argv.autoApprove && !a.confirm() {
		fmt.Fprintln(a.stdout, "Apply cancelled; nothing was changed.")
		return exitError
	}
	a.prog.Reset()
	a.prog.Resume()
	applied := e.Apply(ctx, p)
	a.prog.Stop()
	res := report.FromApply(doc, applied, opts)
	a.record(a.journalPath(argv.journal), res)
	v.apply(res)
	if !res.OK() {
		return exitError
	}
	return exitOK
}

// nothingToApply reports a plan without changes: an error when hosts failed to plan.
func (a *app) nothingToApply(v *view, doc *report.Plan, opts report.Options) int {
	if v.json {
		v.apply(report.FromApply(doc, &engine.ApplyResult{}, opts))
	} else {
		v.plan(doc)
	}
	if n := doc.Summary.FailedHosts; n > 0 {
		fmt.Fprintf(v.info, "Nothing to apply on the hosts that could be planned; %d failed.\n", n)
		return exitError
	}
	fmt.Fprintln(v.info, "No changes. Nothing to apply.")
	return exitOK
}

// readIfPlanFile reads path when it is a saved plan. It returns (nil, true) for a plan
// directory or .hcl file, and (nil, false) after reporting a broken plan file.
func (a *app) readIfPlanFile(path string) (*planfile.File, bool) {
	data, err := os.ReadFile(path)
	if err != nil || !planfile.LooksLikePlan(data) {
		return nil, true
	}
	f, err := planfile.Parse(path, data)
	if err != nil {
		fmt.Fprintf(a.stderr, "hostplan: %v\n", err)
		return nil, false
	}
	return f, true
}

func (a *app) show(args []string) int {
	argv, err := parseShowArgs(args, a.stderr)
	if argsFailed(err, a.stderr) {
		return exitError
	}
	return a.showSaved(argv)
}
