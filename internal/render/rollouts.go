package render

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/hostplan/hostplan/internal/report"
)

// rolloutLine says how a task changes its hosts: "rolling, 1 host at a time; ...". A
// task with per over one group reads as one without it.
func rolloutLine(ro *report.Rollout) string {
	var parts []string
	groups := ro.Per != "" && len(ro.Groups) > 1
	if groups {
		parts = append(parts, fmt.Sprintf("per %s: %d groups side by side", ro.Per, len(ro.Groups)))
	}
	if ro.Serial != "" {
		unit := " hosts"
		if ro.Serial == "1" {
			unit = " host"
		} else if strings.HasSuffix(ro.Serial, "%") {
			unit = " of the hosts"
		}
		within := ""
		if groups {
			within = " in each group"
		}
		parts = append(parts, "rolling, "+ro.Serial+unit+" at a time"+within)
	}
	switch {
	case ro.RunOnce != "":
		parts = append(parts, "runs once, on "+ro.RunOnce)
	case ro.RunOncePerGroup:
		parts = append(parts, "runs once in each group")
	}
	if ro.HealthGate != "" {
		parts = append(parts, "each host waits for: "+ro.HealthGate)
	}
	if groups {
		parts = append(parts, stopRule(ro.MaxFailPercentage))
	}
	return strings.Join(parts, "; ")
}

func stopRule(maxFail *int) string {
	switch {
	case maxFail == nil:
		return "a failure stops its own group only"
	case *maxFail == 0:
		return "a failure stops every group"
	}
	return fmt.Sprintf("every group stops once more than %d%% of them failed", *maxFail)
}

// planGroups prints, for each task with per, one line per group: its hosts and what
// the plan changes on them in that task.
func (r *Human) planGroups(p *report.Plan) {
	hosts := map[string]*report.Host{}
	for i := range p.Hosts {
		hosts[p.Hosts[i].Name] = &p.Hosts[i]
	}
	for i := range p.Rollouts {
		ro := &p.Rollouts[i]
		if ro.Per == "" || len(ro.Groups) < 2 {
			continue
		}
		fmt.Fprintf(r.W, "%s\n", r.paint(bold, fmt.Sprintf("task %q per %s:", ro.Task, ro.Per)))
		for _, g := range ro.Groups {
			changes, failed := 0, 0
			for _, name := range g.Hosts {
				c, f := taskCounts(hosts[name], ro.Task)
				changes += c
				if f {
					failed++
				}
			}
			line := fmt.Sprintf("%d to change", changes)
			if failed > 0 {
				line += r.paint(red, fmt.Sprintf(", %d %s failed to plan", failed, plural(failed, "host", "hosts")))
			}
			fmt.Fprintf(r.W, "  %s %s: %s\n", groupKey(g.Key), groupName(g.Hosts), line)
		}
		fmt.Fprintln(r.W)
	}
}

// taskCounts counts the changes of task on a host and whether the host failed to plan.
func taskCounts(h *report.Host, task string) (changes int, failed bool) {
	if h == nil {
		return 0, false
	}
	for i := range h.Steps {
		st := &h.Steps[i]
		if st.Task == task && st.Changed() {
			changes++
		}
	}
	return changes, h.Failed()
}

// groupKey shows a group's value of per, quoted and with control characters escaped.
func groupKey(key string) string { return Visible(strconv.Quote(key)) }

// applyGroups prints what happened to each group of each task with per.
func (r *Human) applyGroups(res *report.Apply) {
	perTask := map[string]int{}
	for _, g := range res.Groups {
		perTask[g.Task]++
	}
	task, shown := "", false
	for _, g := range res.Groups {
		if perTask[g.Task] < 2 {
			continue // one group: the hosts' lines say it all
		}
		shown = true
		if g.Task != task {
			task = g.Task
			fmt.Fprintf(r.W, "%s\n", r.paint(bold, fmt.Sprintf("task %q by group:", task)))
		}
		took := g.End.Sub(g.Start).Round(100 * time.Millisecond).String()
		changed := len(g.Hosts) - len(g.Failed) - len(g.NotChanged)
		switch {
		case g.Stopped == "" && len(g.Failed) == 0:
			fmt.Fprintf(r.W, "  %s %s: %s, %d %s in %s\n", groupKey(g.Key), r.paint(green, "done"), hostList(g.Hosts), changed, plural(changed, "host", "hosts"), took)
		default:
			fmt.Fprintf(r.W, "  %s %s: %s failed", groupKey(g.Key), r.paint(red, "STOPPED"), hostList(g.Failed))
			if len(g.NotChanged) > 0 {
				fmt.Fprintf(r.W, "; not changed: %s", hostList(g.NotChanged))
			}
			if g.Stopped != "" && len(g.Failed) == 0 {
				fmt.Fprintf(r.W, " (%s)", Visible(g.Stopped))
			}
			fmt.Fprintf(r.W, "; %d %s changed in %s\n", changed, plural(changed, "host", "hosts"), took)
		}
	}
	if shown {
		fmt.Fprintln(r.W)
	}
}
