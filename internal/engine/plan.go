package engine

import (
	"context"
	"fmt"

	"github.com/hashicorp/hcl/v2"

	"github.com/hostplan/hostplan/internal/config"
	"github.com/hostplan/hostplan/tasks"
)

// Plan is what a run would change, host by host. It is a value: renderers print it,
// Apply carries it out.
type Plan struct {
	Hosts []*HostPlan
	// Rollouts describe the tasks that do not change all their hosts at once.
	Rollouts []Rollout
}

// Rollout is how a task changes its hosts, when that is not "all at once".
type Rollout struct {
	Task    string
	Serial  string // "1", "30%"; "" when all at once
	RunOnce string // the one host a run_once task runs on, when it has one group
	// OncePerGroup: a run_once task with per runs once in each of its groups.
	OncePerGroup bool
	Gate         string // what the health gate waits for
	// Per is the task's per expression as written; Groups are then its hosts by the
	// value of per, in inventory order (for run_once, the one host of each group).
	Per            string
	Groups         []RolloutGroup
	MaxFailPercent int // -1: a failed group stops only itself
}

// RolloutGroup is the hosts of a task that share one value of its per.
type RolloutGroup struct {
	Key   string
	Hosts []string
}

// HostPlan is the plan for one host. Err is set when the host could not be planned as a
// whole (unreachable, facts failed, a resource could not be evaluated).
type HostPlan struct {
	Host  string
	Err   error
	Steps []*Step
	// Notes are things the user should know that are not changes (a stale lock taken over).
	Notes []string
}

// Step is one resource on one host.
type Step struct {
	Task   string
	Type   string
	Label  string
	Change *tasks.Change
	Err    error

	resource tasks.Resource
}

// Address names the step's resource as plans print it.
func (s *Step) Address() string { return fmt.Sprintf("%s %q", s.Type, s.Label) }

// Failed reports whether the host or any of its steps failed to plan.
func (hp *HostPlan) Failed() bool {
	if hp.Err != nil {
		return true
	}
	for _, s := range hp.Steps {
		if s.Err != nil {
			return true
		}
	}
	return false
}

// Summary counts a plan's outcome.
type Summary struct {
	Hosts, Changes, Unchanged, FailedHosts int
}

// Summary counts hosts, changed and unchanged resources, and failed hosts.
func (p *Plan) Summary() Summary {
	s := Summary{Hosts: len(p.Hosts)}
	for _, hp := range p.Hosts {
		if hp.Failed() {
			s.FailedHosts++
		}
		for _, st := range hp.Steps {
			switch {
			case st.Err != nil:
			case st.Change.Changed():
				s.Changes++
			default:
				s.Unchanged++
			}
		}
	}
	return s
}

// HasChanges reports whether applying the plan would change anything.
func (p *Plan) HasChanges() bool { return p.Summary().Changes > 0 }

// Plan connects to every host (once for the whole run), gathers facts and plans each
// resource. It changes nothing on any host.
func (e *Engine) Plan(ctx context.Context) *Plan {
	p := &Plan{Hosts: make([]*HostPlan, len(e.targets))}
	for _, task := range e.plan.Tasks {
		if r, ok := e.rollout(task); ok {
			p.Rollouts = append(p.Rollouts, r)
		}
	}
	e.eachHost(func(i int, t *Target) {
		p.Hosts[i] = e.planHost(ctx, t)
	})
	return p
}

// rollout describes how task changes its hosts; ok is false when that is all at once.
func (e *Engine) rollout(task *config.Task) (r Rollout, ok bool) {
	r = Rollout{Task: task.Name, MaxFailPercent: -1}
	if task.Serial.Rolling() {
		r.Serial = task.Serial.String()
	}
	groups := e.groups(task, e.taskTargetsInOrder(task))
	if task.PerText != "" {
		r.Per, r.MaxFailPercent, r.OncePerGroup = task.PerText, task.MaxFailPercentage, task.RunOnce
		for _, g := range groups {
			r.Groups = append(r.Groups, RolloutGroup{Key: g.key, Hosts: g.names()})
		}
	}
	if task.RunOnce && len(groups) == 1 {
		r.RunOnce = groups[0].targets[0].Host.Name
	}
	if task.Health != nil {
		r.Gate = task.Health.Describe()
	}
	return r, r.Serial != "" || r.RunOnce != "" || r.Gate != "" || r.Per != ""
}

// group is the targets of a task that share one rollout key, in target order.
type group struct {
	key     string
	targets []*Target
}

func (g group) names() []string {
	out := make([]string, len(g.targets))
	for i, t := range g.targets {
		out[i] = t.Host.Name
	}
	return out
}

// groups splits targets of task by their rollout key, groups in order of their first
// host.
func (e *Engine) groups(task *config.Task, targets []*Target) []group {
	var out []group
	at := map[string]int{}
	for _, t := range targets {
		key := e.keys[task][t.Host.Name]
		i, ok := at[key]
		if !ok {
			i = len(out)
			at[key] = i
			out = append(out, group{key: key})
		}
		out[i].targets = append(out[i].targets, t)
	}
	return out
}

// taskTargetsInOrder is the targets task runs on, in target order.
func (e *Engine) taskTargetsInOrder(task *config.Task) []*Target {
	var out []*Target
	for _, t := range e.targets {
		if e.taskHosts(task)[t.Host.Name] {
			out = append(out, t)
		}
	}
	return out
}

func (e *Engine) planHost(ctx context.Context, t *Target) *HostPlan {
	hp := &HostPlan{Host: t.Host.Name}
	hs, err := e.connect(ctx, t)
	if err != nil {
		hp.Err = err
		e.progress(t.Host.Name, "failed", 0, 0)
		return hp
	}
	evalCtx, diags := e.plan.EvalContext(hostValue(t, hs.facts.Value()))
	if diags.HasErrors() {
		hp.Err = diags
		e.progress(t.Host.Name, "failed", 0, 0)
		return hp
	}
	h := resourceHost(t, hs)
	steps := e.buildSteps(h, evalCtx, t)
	if h.Conn, err = e.lockAndRead(ctx, t.Host.Name, hs, reads(h, steps)); err != nil {
		hp.Err = err
		e.progress(t.Host.Name, "failed", 0, 0)
		return hp
	}
	if hs.lock != nil && hs.lock.TookOver != nil {
		hp.Notes = append(hp.Notes, fmt.Sprintf("took over a stale lock held by %s", hs.lock.TookOver))
	}
	hp.Steps = steps
	for i, st := range hp.Steps {
		e.progress(t.Host.Name, "planning", i, len(hp.Steps))
		if st.Err == nil {
			e.planStep(ctx, h, st)
		}
	}
	e.progress(t.Host.Name, "done", len(hp.Steps), len(hp.Steps))
	return hp
}

// buildSteps evaluates the resources of the host's tasks, in order, for the host.
func (e *Engine) buildSteps(h *tasks.Host, evalCtx *hcl.EvalContext, t *Target) []*Step {
	var steps []*Step
	for _, task := range e.plan.Tasks {
		if !e.taskHosts(task)[t.Host.Name] {
			continue
		}
		for _, r := range task.Resources {
			steps = append(steps, e.buildStep(h, evalCtx, task.Name, r))
		}
	}
	return steps
}

// reads are the read-only commands the host's steps will run (tasks.Prefetcher), each
// once: planning changes nothing, so all of them can run first, in one session.
func reads(h *tasks.Host, steps []*Step) []string {
	var out []string
	seen := map[string]bool{}
	for _, st := range steps {
		p, ok := st.resource.(tasks.Prefetcher)
		if !ok || st.Err != nil {
			continue
		}
		for _, r := range p.Reads(h) {
			if !seen[r] {
				seen[r] = true
				out = append(out, r)
			}
		}
	}
	return out
}

// buildStep evaluates the resource r of task for the host h. Errors are the step's,
// so the host's other steps are still planned.
func (e *Engine) buildStep(h *tasks.Host, evalCtx *hcl.EvalContext, task string, r *config.Resource) *Step {
	st := &Step{Task: task, Type: r.Kind.Type, Label: r.Label}
	if h.Facts.Windows() && !r.Kind.Windows {
		st.Err = fmt.Errorf("plan %s on %s: %s does not support Windows hosts yet (on Windows hostplan runs port_forward only)", st.Address(), h.Name, r.Kind.Type)
		return st
	}
	res, diags := e.plan.Build(r, evalCtx)
	if diags.HasErrors() {
		st.Err = diags
		return st
	}
	st.resource = res
	return st
}

// planStep plans the built step st on h.
func (e *Engine) planStep(ctx context.Context, h *tasks.Host, st *Step) {
	sctx, cancel := e.stepContext(ctx)
	st.Change, st.Err = st.resource.Plan(sctx, h)
	st.Err = e.stepError(ctx, sctx, st.Err)
	cancel()
	if st.Err != nil {
		st.Err = fmt.Errorf("plan %s on %s: %w", st.Address(), h.Name, st.Err)
	}
}
