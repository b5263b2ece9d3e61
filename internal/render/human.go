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

	"github.com/hostplan/hostplan/internal/report"
	"github.com/hostplan/hostplan/tasks"
)

// Human renders for a terminal or a log.
type Human struct {
	W     io.Writer
	Color bool
	// PerHost shows a plan host by host; by default hosts with identical plans share
	// one section, so that a fleet's plan shows each distinct change once.
	PerHost bool

	// HideLine, when set, says which source lines diagnostics must not print, because
	// they may hold secrets (PrivateLines); the file, line and column are still given.
	HideLine func(filename, line string) bool

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
func (r *Human) Plan(p *report.Plan) {
	for i := range p.Rollouts {
		ro := &p.Rollouts[i]
		fmt.Fprintf(r.W, "%s %s\n", r.paint(bold, fmt.Sprintf("task %q:", ro.Task)), rolloutLine(ro))
	}
	if len(p.Rollouts) > 0 {
		fmt.Fprintln(r.W)
	}
	for _, g := range hostGroups(p, r.PerHost) {
		r.hostPlan(g.Names, &g.Host)
	}
	r.planGroups(p)
	r.PlanSummary(p)
}

// hostPlan prints the plan of a host, or the one plan that several hosts share.
func (r *Human) hostPlan(names []string, hp *report.Host) {
	changed, unchanged := counts(hp)
	head := r.paint(bold, plural(len(names), "host ", "hosts ")+groupName(names))
	for _, n := range hp.Notes {
		fmt.Fprintf(r.W, "%s: %s %s\n", head, r.paint(yellow, "note:"), Visible(n))
	}
	switch {
	case hp.Error != "":
		fmt.Fprintf(r.W, "%s: %s\n", head, r.paint(red, "FAILED"))
		r.errorText("  ", hp.Error)
		fmt.Fprintln(r.W)
		return
	case changed == 0 && !hp.Failed():
		fmt.Fprintf(r.W, "%s: no changes (%d unchanged%s)\n\n", head, unchanged, onEach(names))
		return
	}
	fmt.Fprintf(r.W, "%s: %d to change, %d unchanged%s\n", head, changed, unchanged, onEach(names))
	task := ""
	for i := range hp.Steps {
		st := &hp.Steps[i]
		if st.Error == "" && !st.Changed() {
			continue
		}
		if st.Task != task {
			task = st.Task
			fmt.Fprintf(r.W, "  task %q\n", task)
		}
		r.step(st)
	}
	fmt.Fprintln(r.W)
}

// step prints a step that failed or changes something, under its task.
func (r *Human) step(st *report.Step) {
	if st.Error != "" {
		fmt.Fprintf(r.W, "    %s %s: %s\n", r.paint(red, "x"), st.Address(), r.paint(red, "error"))
		r.errorText("      ", st.Error)
		return
	}
	a := actionSymbols[tasks.Action(st.Action)]
	fmt.Fprintf(r.W, "    %s %s (%s)\n", r.paint(a.color, a.sym), st.Address(), a.word)
	for _, d := range st.Details {
		fmt.Fprintf(r.W, "        %s\n", Visible(d))
	}
	if st.Sensitive {
		fmt.Fprintf(r.W, "        (sensitive content changes; lines shown as %s)\n", report.SensitiveLine)
	}
	if st.Diff != "" {
		r.diffLines(st.Diff)
	}
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
		fmt.Fprint(r.W, "        "+r.paint(color, Visible(strings.TrimSuffix(line, "\n")))+"\n")
	}
}

// ErrorText formats an error for a report: HCL diagnostics with source snippets, never
// colour (reports go to files and JSON too).
func (r *Human) ErrorText(err error) string {
	var diags hcl.Diagnostics
	if errors.As(err, &diags) {
		plain := *r
		plain.Color = false
		return plain.formatDiagnostics(diags)
	}
	return err.Error()
}

// errorText prints a report's error text, indented; it may quote a host's output.
func (r *Human) errorText(indent, text string) {
	fmt.Fprint(r.W, indentLines(indent, Visible(text)+"\n"))
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
func (r *Human) PlanSummary(p *report.Plan) {
	s := p.Summary
	line := fmt.Sprintf("Plan: %d hosts, %d to change, %d unchanged", s.Hosts, s.Changes, s.Unchanged)
	if s.FailedHosts > 0 {
		line += fmt.Sprintf(", %d %s failed", s.FailedHosts, plural(s.FailedHosts, "host", "hosts"))
	}
	fmt.Fprintln(r.W, r.paint(bold, line+"."))
}

// Apply prints what an apply did on each host, then the summary line.
func (r *Human) Apply(res *report.Apply) {
	for i := range res.Hosts {
		hr := &res.Hosts[i]
		head := r.paint(bold, "host "+hr.Name)
		failedGate := false
		for _, hc := range hr.Health {
			failedGate = failedGate || hc.Error != ""
		}
		switch {
		case hr.Error != "":
			fmt.Fprintf(r.W, "%s: %s\n", head, r.paint(red, "FAILED"))
			r.errorText("  ", hr.Error)
		case hr.FailedError != "" || failedGate:
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
		if hr.FailedError != "" {
			fmt.Fprintf(r.W, "    %s %s\n", r.paint(red, "failed"), hr.Failed)
			r.errorText("      ", hr.FailedError)
		}
		for j := range hr.Health {
			r.healthCheck(&hr.Health[j])
		}
		for _, s := range hr.Skipped {
			fmt.Fprintf(r.W, "    %s %s\n", r.paint(yellow, "skipped"), s)
		}
	}
	r.applyGroups(res)
	if res.Stopped != "" {
		fmt.Fprintln(r.W, r.paint(red, "Rollout stopped: "+Visible(res.Stopped)+"."))
	}
	s := res.Summary
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

func (r *Human) healthCheck(hc *report.HealthCheck) {
	task := fmt.Sprintf("task %q", hc.Task)
	waited := secondsOf(hc.WaitedSeconds)
	switch {
	case hc.Error == "" && hc.Restarted:
		fmt.Fprintf(r.W, "    %s %s: restarted with the new configuration, healthy after %s\n", r.paint(green, "healthy"), task, waited)
	case hc.Error == "":
		fmt.Fprintf(r.W, "    %s %s: healthy after %s\n", r.paint(green, "healthy"), task, waited)
	default:
		fmt.Fprintf(r.W, "    %s %s: health gate failed\n", r.paint(red, "unhealthy"), task)
		r.errorText("      ", hc.Error)
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
	if rb.Error != "" {
		r.errorText("      ", rb.Error)
	}
	if rb.Healthy {
		fmt.Fprintf(r.W, "    %s after the rollback, healthy again after %s\n", r.paint(green, "healthy"), secondsOf(rb.WaitedSeconds))
	} else {
		fmt.Fprintf(r.W, "    %s after the rollback: still not healthy\n", r.paint(red, "UNHEALTHY"))
		r.errorText("      ", rb.HealthError)
	}
}

func secondsOf(s float64) string {
	return time.Duration(s * float64(time.Second)).Round(100 * time.Millisecond).String()
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
