package engine

import (
	"context"
	"fmt"
	"slices"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/hostplan/hostplan/internal/config"
	"github.com/hostplan/hostplan/internal/transport"
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
		if e.opts.PlanOnly {
			// Nothing is left to do on the host; a failure to close changes no plan.
			_ = e.closeHost(t.Host.Name)
		}
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
	guess := e.guessResources(t)
	// An apply opens the file session to write anyway: reading files ahead would only
	// add a stat and a cat per host (at 1,000 hosts, apply 1.48x -> 1.77x).
	unknown := &tasks.Host{Name: t.Host.Name, DialsUnix: transportTarget(t).DialsUnix()}
	guessed, guessedFiles := reads(unknown, guess, e.opts.Lock == nil)
	hs, err := e.connect(ctx, t, withFileReads(guessed, guessedFiles), guessSkips(unknown, guess), usesBus(guess))
	if err != nil {
		hp.Err = err
		e.progress(t.Host.Name, "failed", 0, 0)
		return hp
	}
	if err := e.askFirewalld(ctx, t.Host.Name, hs, guessedFiles); err != nil {
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
	steps := e.buildSteps(h, evalCtx, t, guess)
	toRead, files := reads(h, built(steps), guessedFiles != nil)
	if files != nil && files.Command != guessedFiles.Command {
		// Not read with the facts: the file session answers, rather than a session of
		// the files' own.
		files = nil
	}
	if h.Conn, err = e.lockAndRead(ctx, t.Host.Name, hs, withFileReads(toRead, files)); err != nil {
		hp.Err = err
		e.progress(t.Host.Name, "failed", 0, 0)
		return hp
	}
	h.Conn = transport.WithFiles(h.Conn, files)
	switch {
	case hs.lock != nil && hs.lock.TookOver != nil:
		hp.Notes = append(hp.Notes, fmt.Sprintf("took over a stale lock held by %s", hs.lock.TookOver))
	case hs.lock != nil:
		transport.NoCutWrites(hs.conn)
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

// hostResources are the resources of the host's tasks, in order.
func (e *Engine) hostResources(t *Target) []taskResource {
	var out []taskResource
	for _, task := range e.plan.Tasks {
		if e.taskHosts(task)[t.Host.Name] {
			for _, r := range task.Resources {
				out = append(out, taskResource{task.Name, r})
			}
		}
	}
	return out
}

type taskResource struct {
	task string
	r    *config.Resource
}

// guessResources builds the host's resources before its facts are known: those that
// do not depend on them come out as they will be (nil for the others), so their reads
// can run with the facts and they need not be built again.
func (e *Engine) guessResources(t *Target) []tasks.Resource {
	evalCtx, diags := e.plan.EvalContext(hostValue(t, cty.DynamicVal))
	if diags.HasErrors() {
		return nil
	}
	var out []tasks.Resource
	for _, tr := range e.hostResources(t) {
		res, diags := e.plan.Build(tr.r, evalCtx)
		if diags.HasErrors() {
			res = nil
		}
		out = append(out, res)
	}
	return out
}

// buildSteps evaluates the resources of the host's tasks, in order, for the host,
// taking those guessResources built already from guess.
func (e *Engine) buildSteps(h *tasks.Host, evalCtx *hcl.EvalContext, t *Target, guess []tasks.Resource) []*Step {
	var steps []*Step
	for i, tr := range e.hostResources(t) {
		var guessed tasks.Resource
		if i < len(guess) {
			guessed = guess[i]
		}
		steps = append(steps, e.buildStep(h, evalCtx, tr, guessed))
	}
	return steps
}

// reads are the read-only commands the resources will run on h (tasks.Prefetcher),
// each once, and with withFiles the look at the files they will stat or read
// (tasks.FileLooker): planning changes nothing, so all of them can run first, in one
// session. h.Facts may be nil before the facts are gathered: the reads are then a guess.
func reads(h *tasks.Host, resources []tasks.Resource, withFiles bool) ([]string, *transport.FileReads) {
	var out []string
	var looks []transport.Look
	seen := map[string]bool{}
	for _, res := range resources {
		if l, ok := res.(tasks.FileLooker); ok && withFiles {
			looks = append(looks, l.Looks(h)...)
		}
		p, ok := res.(tasks.Prefetcher)
		if !ok {
			continue
		}
		for _, r := range p.Reads(h) {
			if !seen[r] {
				seen[r] = true
				out = append(out, r)
			}
		}
	}
	return out, transport.NewFileReads(looks)
}

// usesBus reports whether a resource may use firewalld over the host's system bus
// (tasks.BusUser).
func usesBus(resources []tasks.Resource) bool {
	return slices.ContainsFunc(resources, func(r tasks.Resource) bool {
		b, ok := r.(tasks.BusUser)
		return ok && b.UsesBus()
	})
}

// guessSkips are the shell conditions under which reads guessed before h's facts will
// not be needed (tasks.GuessSkipper), for the reads every resource that lists them
// skips under the same condition: a read another resource needs anyway always runs.
func guessSkips(h *tasks.Host, resources []tasks.Resource) map[string]string {
	skip, always := map[string]string{}, map[string]bool{}
	for _, res := range resources {
		p, ok := res.(tasks.Prefetcher)
		if !ok {
			continue
		}
		gs, _ := res.(tasks.GuessSkipper)
		for _, r := range p.Reads(h) {
			cond := ""
			if gs != nil {
				cond = gs.SkipGuess(r)
			}
			if prev, seen := skip[r]; always[r] || cond == "" || seen && prev != cond {
				always[r] = true
				delete(skip, r)
				continue
			}
			skip[r] = cond
		}
	}
	return skip
}

// withFileReads is reads and the files' command.
func withFileReads(reads []string, files *transport.FileReads) []string {
	if files == nil {
		return reads
	}
	return append(reads, files.Command)
}

// buildStep evaluates the resource tr for the host h (guessed: built already).
// Errors are the step's, so the host's other steps are still planned.
func (e *Engine) buildStep(h *tasks.Host, evalCtx *hcl.EvalContext, tr taskResource, guessed tasks.Resource) *Step {
	r := tr.r
	st := &Step{Task: tr.task, Type: r.Kind.Type, Label: r.Label}
	if h.Facts.Windows() && !r.Kind.Windows {
		st.Err = fmt.Errorf("plan %s on %s: %s does not support Windows hosts yet (on Windows hostplan runs port_forward only)", st.Address(), h.Name, r.Kind.Type)
		return st
	}
	if guessed != nil {
		st.resource = guessed
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

// built are the resources of the steps that were built.
func built(steps []*Step) []tasks.Resource {
	var out []tasks.Resource
	for _, st := range steps {
		if st.Err == nil {
			out = append(out, st.resource)
		}
	}
	return out
}
