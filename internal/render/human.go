// Package render prints plans, apply results and diagnostics for people. The engine
// returns values; only this package knows about terminals and colour.
package render

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/hostplan/hostplan/internal/diff"
	"github.com/hostplan/hostplan/internal/engine"
	"github.com/hostplan/hostplan/tasks"
)

// Human renders for a terminal or a log.
type Human struct {
	W           io.Writer
	Color       bool
	DiffContext int

	sources map[string][]byte // files read for diagnostic snippets
}

const (
	red    = "\x1b[31m"
	green  = "\x1b[32m"
	yellow = "\x1b[33m"
	cyan   = "\x1b[36m"
	bold   = "\x1b[1m"
	reset  = "\x1b[0m"
)

func (r *Human) paint(code, s string) string {
	if !r.Color || s == "" {
		return s
	}
	return code + s + reset
}

var actionSymbols = map[tasks.Action]struct{ sym, color, word string }{
	tasks.Create: {"+", green, "create"},
	tasks.Update: {"~", yellow, "update"},
	tasks.Delete: {"-", red, "delete"},
	tasks.Run:    {"!", yellow, "run"},
}

// Plan prints every host's changes and errors, then the summary line.
func (r *Human) Plan(p *engine.Plan) {
	for _, ro := range p.Rollouts {
		var parts []string
		if ro.Serial != "" {
			unit := " hosts"
			if ro.Serial == "1" {
				unit = " host"
			} else if strings.HasSuffix(ro.Serial, "%") {
				unit = " of the hosts"
			}
			parts = append(parts, "rolling, "+ro.Serial+unit+" at a time")
		}
		if ro.RunOnce != "" {
			parts = append(parts, "runs once, on "+ro.RunOnce)
		}
		if ro.Gate != "" {
			parts = append(parts, "each host waits for: "+ro.Gate)
		}
		fmt.Fprintf(r.W, "%s %s\n", r.paint(bold, fmt.Sprintf("task %q:", ro.Task)), strings.Join(parts, "; "))
	}
	if len(p.Rollouts) > 0 {
		fmt.Fprintln(r.W)
	}
	for _, hp := range p.Hosts {
		r.hostPlan(hp)
	}
	r.PlanSummary(p)
}

func (r *Human) hostPlan(hp *engine.HostPlan) {
	changed, unchanged := 0, 0
	for _, st := range hp.Steps {
		if st.Err == nil && st.Change.Changed() {
			changed++
		} else if st.Err == nil {
			unchanged++
		}
	}
	head := r.paint(bold, "host "+hp.Host)
	switch {
	case hp.Err != nil:
		fmt.Fprintf(r.W, "%s: %s\n", head, r.paint(red, "FAILED"))
		r.error("  ", hp.Err)
		fmt.Fprintln(r.W)
		return
	case changed == 0 && !hp.Failed():
		fmt.Fprintf(r.W, "%s: no changes (%d unchanged)\n\n", head, unchanged)
		return
	}
	fmt.Fprintf(r.W, "%s: %d to change, %d unchanged\n", head, changed, unchanged)
	task := ""
	for _, st := range hp.Steps {
		if st.Err == nil && !st.Change.Changed() {
			continue
		}
		if st.Task != task {
			task = st.Task
			fmt.Fprintf(r.W, "  task %q\n", task)
		}
		if st.Err != nil {
			fmt.Fprintf(r.W, "    %s %s: %s\n", r.paint(red, "x"), st.Address(), r.paint(red, "error"))
			r.error("      ", st.Err)
			continue
		}
		a := actionSymbols[st.Change.Action]
		fmt.Fprintf(r.W, "    %s %s (%s)\n", r.paint(a.color, a.sym), st.Address(), a.word)
		for _, d := range st.Change.Details {
			fmt.Fprintf(r.W, "        %s\n", d)
		}
		if fc := st.Change.File; fc != nil {
			r.fileDiff(hp.Host, fc)
		}
		if st.Change.Diff != "" {
			r.diffLines(st.Change.Diff)
		}
	}
	fmt.Fprintln(r.W)
}

func (r *Human) fileDiff(host string, fc *tasks.FileChange) {
	oldName := host + ":" + fc.Path
	newName := host + ":" + fc.Path + " (planned)"
	if !fc.OldExists {
		oldName = "/dev/null"
	}
	if !fc.NewExists {
		newName = "/dev/null"
	}
	if fc.Sensitive {
		if fc.OldExists != fc.NewExists || string(fc.Old) != string(fc.New) {
			fmt.Fprintf(r.W, "        (sensitive content changes; diff hidden)\n")
		}
		return
	}
	text := diff.Unified(oldName, newName, fc.Old, fc.New, r.DiffContext)
	if text == "" && fc.OldExists != fc.NewExists {
		// An empty file created or removed has no lines to show.
		text = fmt.Sprintf("--- %s\n+++ %s\n", oldName, newName)
	}
	r.diffLines(text)
}

// diffLines prints a unified diff, indented and coloured.
func (r *Human) diffLines(text string) {
	for _, line := range strings.SplitAfter(text, "\n") {
		if line == "" {
			continue
		}
		color := ""
		switch {
		case strings.HasPrefix(line, "+++"), strings.HasPrefix(line, "---"):
			color = bold
		case strings.HasPrefix(line, "@@"):
			color = cyan
		case strings.HasPrefix(line, "+"):
			color = green
		case strings.HasPrefix(line, "-"):
			color = red
		}
		fmt.Fprint(r.W, "        "+r.paint(color, strings.TrimSuffix(line, "\n"))+"\n")
	}
}

// error prints an error, with source snippets when it carries HCL diagnostics.
func (r *Human) error(indent string, err error) {
	var diags hcl.Diagnostics
	if errors.As(err, &diags) {
		fmt.Fprint(r.W, indentLines(indent, r.formatDiagnostics(diags)))
		return
	}
	fmt.Fprint(r.W, indentLines(indent, err.Error()+"\n"))
}

func indentLines(indent, s string) string {
	lines := strings.SplitAfter(s, "\n")
	var b strings.Builder
	for _, l := range lines {
		if l == "" {
			continue
		}
		if l == "\n" {
			b.WriteString(l)
			continue
		}
		b.WriteString(indent + l)
	}
	return b.String()
}

// PlanSummary prints the one-line summary of a plan.
func (r *Human) PlanSummary(p *engine.Plan) {
	s := p.Summary()
	line := fmt.Sprintf("Plan: %d hosts, %d to change, %d unchanged", s.Hosts, s.Changes, s.Unchanged)
	if s.FailedHosts > 0 {
		line += fmt.Sprintf(", %d %s failed", s.FailedHosts, plural(s.FailedHosts, "host", "hosts"))
	}
	fmt.Fprintln(r.W, r.paint(bold, line+"."))
}

// Apply prints what an apply did on each host, then the summary line.
func (r *Human) Apply(res *engine.ApplyResult) {
	for _, hr := range res.Hosts {
		if hr == nil {
			continue
		}
		head := r.paint(bold, "host "+hr.Host)
		failedGate := false
		for _, hc := range hr.Health {
			failedGate = failedGate || hc.Err != nil
		}
		switch {
		case hr.Err != nil:
			fmt.Fprintf(r.W, "%s: %s\n", head, r.paint(red, "FAILED"))
			r.error("  ", hr.Err)
		case hr.FailedErr != nil || failedGate:
			fmt.Fprintf(r.W, "%s: %s after %d changed\n", head, r.paint(red, "FAILED"), len(hr.Changed))
		case len(hr.Changed) == 0 && len(hr.Skipped) > 0:
			fmt.Fprintf(r.W, "%s: %s\n", head, r.paint(yellow, "not changed (the rollout stopped)"))
		case len(hr.Changed) == 0:
			fmt.Fprintf(r.W, "%s: nothing to do\n", head)
		default:
			fmt.Fprintf(r.W, "%s: %d changed\n", head, len(hr.Changed))
		}
		for _, c := range hr.Changed {
			fmt.Fprintf(r.W, "    %s %s\n", r.paint(green, "done"), c)
		}
		if hr.FailedErr != nil {
			fmt.Fprintf(r.W, "    %s %s\n", r.paint(red, "failed"), hr.Failed)
			r.error("      ", hr.FailedErr)
		}
		for _, hc := range hr.Health {
			r.healthCheck(hc)
		}
		for _, s := range hr.Skipped {
			fmt.Fprintf(r.W, "    %s %s\n", r.paint(yellow, "skipped"), s)
		}
	}
	if res.Stopped != "" {
		fmt.Fprintln(r.W, r.paint(red, "Rollout stopped: "+res.Stopped+"."))
	}
	s := res.Summary()
	line := fmt.Sprintf("Apply complete: %d changed, %d unchanged, %d failed", s.Changed, s.Unchanged, s.Failed)
	if s.RolledBack > 0 {
		line += fmt.Sprintf(", %d rolled back", s.RolledBack)
	}
	color := bold
	if s.Failed > 0 || res.Stopped != "" {
		color = red
	}
	fmt.Fprintln(r.W, r.paint(color, line+"."))
}

func (r *Human) healthCheck(hc *engine.HealthCheck) {
	task := fmt.Sprintf("task %q", hc.Task)
	switch {
	case hc.Err == nil && hc.Restarted:
		fmt.Fprintf(r.W, "    %s %s: restarted with the new configuration, healthy after %s\n", r.paint(green, "healthy"), task, seconds(hc.Waited))
	case hc.Err == nil:
		fmt.Fprintf(r.W, "    %s %s: healthy after %s\n", r.paint(green, "healthy"), task, seconds(hc.Waited))
	default:
		fmt.Fprintf(r.W, "    %s %s: health gate failed\n", r.paint(red, "unhealthy"), task)
		r.error("      ", hc.Err)
	}
	rb := hc.Rollback
	if rb == nil {
		return
	}
	if rb.Disabled {
		fmt.Fprintf(r.W, "    %s the host was left as it is (--no-rollback)\n", r.paint(yellow, "no rollback:"))
		return
	}
	for _, a := range rb.Restored {
		fmt.Fprintf(r.W, "    %s %s\n", r.paint(yellow, "restored"), a)
	}
	for _, a := range rb.NotRestored {
		fmt.Fprintf(r.W, "    %s %s (a command cannot be undone)\n", r.paint(red, "not restored"), a)
	}
	if rb.Err != nil {
		r.error("      ", rb.Err)
	}
	if rb.Healthy {
		fmt.Fprintf(r.W, "    %s after the rollback, healthy again after %s\n", r.paint(green, "healthy"), seconds(rb.Waited))
	} else {
		fmt.Fprintf(r.W, "    %s after the rollback: still not healthy\n", r.paint(red, "UNHEALTHY"))
		r.error("      ", rb.HealthErr)
	}
}

func seconds(d time.Duration) string { return d.Round(100 * time.Millisecond).String() }

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
