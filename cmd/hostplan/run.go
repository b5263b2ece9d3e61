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
	var c sharedFlags
	var out string
	var asJSON bool
	fs := a.flags("plan", &c, true)
	fs.StringVar(&out, "out", "", "save the plan to `FILE`, to review it and apply exactly it later (hostplan apply FILE)")
	fs.BoolVar(&asJSON, "json", false, "print the plan as one JSON document (see README); messages go to stderr")
	pos, err := parse(fs, args)
	if err != nil {
		return exitError
	}
	v := a.view(&c, asJSON)
	in, ok := a.flagSources(&c, pos)
	if !ok {
		return exitError
	}
	var planRec, invRec *config.Recorder
	if out != "" {
		planRec, invRec = config.NewRecorder(config.OS), config.NewRecorder(config.OS)
		in.planSource, in.readInv = planRec, invRec.ReadFile
	}
	l, ok := a.loadSources(in, v.human)
	if !ok {
		return exitError
	}
	e, end, ok := a.session(ctx, &c, l, v.human)
	if !ok {
		return exitError
	}
	defer end()
	p := e.Plan(ctx)
	a.prog.Stop()
	doc := report.FromPlan(p, v.reportOptions(&c))
	v.plan(doc)
	if out != "" {
		saved, err := savedInputs(in, l.plan, planRec, invRec)
		if err == nil {
			err = a.savePlan(v, &c, out, &planfile.File{Hostplan: version, Created: time.Now(), Inputs: saved, Plan: doc})
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
	var c sharedFlags
	var autoApprove, asJSON, allOrNothing bool
	var journalFlag string
	fs := a.flags("apply", &c, true)
	fs.StringVar(&journalFlag, "journal", "", "append what was done to this journal (default $HOSTPLAN_JOURNAL or ~/.local/state/hostplan/journal.jsonl; none: keep no journal)")
	fs.BoolVar(&autoApprove, "auto-approve", false, "apply without asking for confirmation")
	fs.BoolVar(&c.noRollback, "no-rollback", false, "leave a host whose change or health gate failed as it is, to debug in place (the rollout still stops)")
	fs.BoolVar(&asJSON, "json", false, "print the result as one JSON document (see README); messages go to stderr")
	fs.DurationVar(&c.lockTimeout, "lock-timeout", 0, "wait this long for a host another hostplan apply has locked (0: fail at once, naming the holder)")
	fs.BoolVar(&allOrNothing, "all-or-nothing", false, "with a saved plan: apply nothing if any host is stale or fails to plan")
	pos, err := parse(fs, args)
	if err != nil {
		return exitError
	}
	v := a.view(&c, asJSON)
	c.lock = true
	if len(pos) == 1 {
		if saved, ok := a.readIfPlanFile(pos[0]); saved != nil {
			return a.applySaved(ctx, &c, v, pos[0], saved, allOrNothing, a.journalPath(journalFlag))
		} else if !ok {
			return exitError
		}
	}
	if allOrNothing {
		fmt.Fprintln(a.stderr, "hostplan: --all-or-nothing applies to a saved plan (hostplan apply FILE)")
		return exitError
	}
	if !autoApprove && (asJSON || !a.stdinIsTerminal()) {
		fmt.Fprintln(a.stderr, "hostplan: refusing to apply without confirmation: stdin is not a terminal. Review the plan with 'hostplan plan' (or save it with -out and apply that file), then run 'hostplan apply --auto-approve'.")
		return exitError
	}
	l, ok := a.load(&c, pos, v.human)
	if !ok {
		return exitError
	}
	e, end, ok := a.session(ctx, &c, l, v.human)
	if !ok {
		return exitError
	}
	defer end()
	p := e.Plan(ctx)
	a.prog.Suspend()
	opts := v.reportOptions(&c)
	doc := report.FromPlan(p, opts)
	if !doc.HasChanges() {
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
	if !v.json {
		v.plan(doc)
	}
	if !autoApprove && !a.confirm() {
		fmt.Fprintln(a.stdout, "Apply cancelled; nothing was changed.")
		return exitError
	}
	a.prog.Reset()
	a.prog.Resume()
	applied := e.Apply(ctx, p)
	a.prog.Stop()
	res := report.FromApply(doc, applied, opts)
	a.record(a.journalPath(journalFlag), res)
	v.apply(res)
	if !res.OK() {
		return exitError
	}
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
	var c sharedFlags
	var asJSON bool
	var format string
	fs := a.flags("show", &c, false)
	fs.BoolVar(&asJSON, "json", false, "same as -format json")
	fs.StringVar(&format, "format", "human", "human, json or markdown (a summary with collapsible diffs for a change ticket)")
	pos, err := parse(fs, args)
	if err != nil {
		return exitError
	}
	if len(pos) != 1 {
		fmt.Fprintln(a.stderr, "hostplan show: give one saved plan file (made with hostplan plan -out FILE)")
		return exitError
	}
	if asJSON {
		format = "json"
	}
	return a.showSaved(&c, pos[0], format)
}
