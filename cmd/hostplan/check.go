package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

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

	plan := report.FromPlan(e.Plan(ctx), v.reportOptions(c))
	doc := &report.Check{FormatVersion: report.FormatVersion, Kind: "check", Hosts: make([]report.CheckHost, len(plan.Hosts))}
	byName := map[string]*report.CheckHost{}
	for i := range plan.Hosts {
		h := &plan.Hosts[i]
		ch := &doc.Hosts[i]
		ch.Name = h.Name
		byName[h.Name] = ch
		if h.Failed() {
			ch.Error = hostError(h)
			continue
		}
		ch.Findings = report.DriftFindings(h)
	}
	errs := e.Inspect(ctx, func(ctx context.Context, host string, conn transport.Conn, f *facts.Facts) error {
		ch := byName[host]
		if ch.Error != "" || f.OSFamily == "windows" {
			return nil
		}
		ev, err := cis.Gather(ctx, conn, manifest)
		if errors.Is(err, cis.ErrNotMaster) {
			return nil
		}
		if err != nil {
			return err
		}
		ch.Master = true
		ch.Findings = append(ch.Findings, cis.Evaluate(ev, window)...)
		return nil
	})
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

// hostError is why a host's plan failed: its own error, or its steps' errors.
func hostError(h *report.Host) string {
	if h.Error != "" {
		return h.Error
	}
	var errs []string
	for _, st := range h.Steps {
		if st.Error != "" {
			errs = append(errs, fmt.Sprintf("%s: %s", st.Address(), st.Error))
		}
	}
	return strings.Join(errs, "\n")
}
