package main

import (
	"context"
	"errors"
	"time"

	"github.com/hostplan/hostplan/internal/cis"
	"github.com/hostplan/hostplan/internal/facts"
	"github.com/hostplan/hostplan/internal/render"
	"github.com/hostplan/hostplan/internal/report"
	"github.com/hostplan/hostplan/internal/transport"
)

// exitCheckFailed is check's exit code when any check fails (1 stays "could not check").
const exitCheckFailed = 3

func (a *app) check(ctx context.Context, args []string) int {
	argv, err := parseCheckArgs(args, a.stderr)
	if argsFailed(err, a.stderr) {
		return exitError
	}
	c, asJSON, window, manifest, pos := &argv.sharedFlags, argv.json, argv.window, argv.manifest, argv.pos
	v := a.view(c, asJSON)
	l, ok := a.load(c, pos, v.human)
	if !ok {
		return exitError
	}
	e, end, ok := a.session(ctx, c, l, v.human)
	if !ok {
		return exitError
	}
	defer end()

	doc := report.NewCheck(report.FromPlan(e.Plan(ctx), v.reportOptions(c)))
	errs := e.Inspect(ctx, auditCIS(doc, manifest, window))
	return a.reportCheck(v, doc, errs)
}

// auditCIS adds the CIS findings of each master to doc. A host that failed to plan, a
// Windows host and a host without the API server manifest have none.
func auditCIS(doc *report.Check, manifest string, window time.Duration) func(context.Context, string, transport.Conn, *facts.Facts) error {
	return func(ctx context.Context, host string, conn transport.Conn, f *facts.Facts) error {
		ch := doc.Host(host)
		if ch.Error != "" || f.Windows() {
			return nil
		}
		ev, err := cis.Gather(ctx, conn, manifest)
		if errors.Is(err, cis.ErrNotMaster) {
			return nil
		}
		if err != nil {
			return err
		}
		ch.AddCIS(cis.Evaluate(ev, window))
		return nil
	}
}

// reportCheck prints doc, with the hosts that could not be checked, and returns the
// exit code: a host that could not be checked counts more than a failed check.
func (a *app) reportCheck(v *view, doc *report.Check, errs []error) int {
	for i, err := range errs {
		if err != nil && doc.Hosts[i].Error == "" {
			doc.Hosts[i].Error = v.human.ErrorText(err)
		}
	}
	a.prog.Stop()
	doc.Tally()
	if v.json {
		render.JSON(v.out, doc)
	} else {
		v.human.Check(doc)
	}
	switch {
	case doc.Summary.FailedHosts > 0:
		return exitError
	case doc.Summary.Failed > 0:
		return exitCheckFailed
	}
	return exitOK
}
