package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hostplan/hostplan/internal/config"
	"github.com/hostplan/hostplan/internal/health"
	"github.com/hostplan/hostplan/internal/hostlock"
	"github.com/hostplan/hostplan/tasks"
)

// ApplyResult is what an apply did, host by host.
type ApplyResult struct {
	Hosts []*HostResult
	// Stopped explains a rollout that stopped early: after a failure in a rolling or
	// health-gated task no further host and no later task is changed.
	Stopped string
	// Groups are the rollouts of tasks with per, group by group, in task order.
	Groups []*GroupResult
}

// HostResult is what happened on one host.
type HostResult struct {
	Host string
	// Err is set when the host was not applied at all (its plan failed).
	Err     error
	Changed []string // addresses of resources changed
	// Failed is the resource whose apply failed (or the save it left for later, see
	// tasks.Host.Later); the host stopped there.
	Failed    string
	FailedErr error
	// Skipped are changes not attempted because an earlier one failed or the rollout
	// stopped.
	Skipped   []string
	Unchanged int
	// Health holds the gates this host went through, in task order.
	Health []*HealthCheck
	// Spans are when the host went through each task it had changes in.
	Spans []Span
}

// HealthCheck is one health gate of one host after its changes in a task.
type HealthCheck struct {
	Task string
	Gate string // what was waited for
	// Restarted: the server restarted with the new configuration.
	Restarted bool
	Waited    time.Duration
	Err       error // nil: healthy
	// Rollback is set when the host's changes in the task were undone.
	Rollback *Rollback
}

// Rollback is what undoing a host's changes in a task did.
type Rollback struct {
	Disabled    bool     // --no-rollback: the host was left as it is
	Restored    []string // resources put back, in the order they were restored
	NotRestored []string // resources that cannot be undone (commands)
	Err         error
	// The gate again, after the restore.
	Healthy   bool
	Waited    time.Duration
	HealthErr error
}

// Span is when a host went through one task (its changes, gate and rollback).
type Span struct {
	Task       string
	Start, End time.Time
}

// GroupResult is how one group of a task with per (a cluster) went.
type GroupResult struct {
	Task string
	Key  string // the group's value of per
	// Hosts are the group's hosts with changes, in rollout order; Failed those that
	// failed, NotChanged those a stop left alone.
	Hosts, Failed, NotChanged []string
	Start, End                time.Time
	// Stopped says why the group stopped before its last host; "" when it did not.
	Stopped string

	stop string // set by stopOnFailure under applyRun.mu
}

// ApplySummary counts an apply's outcome.
type ApplySummary struct {
	Changed, Unchanged, Failed, RolledBack int
}

// Summary counts changed and unchanged resources and failures (a host that could not be
// planned counts as one failure).
func (r *ApplyResult) Summary() ApplySummary {
	var s ApplySummary
	for _, h := range r.Hosts {
		s.Changed += len(h.Changed)
		s.Unchanged += h.Unchanged
		if h.failed() {
			s.Failed++
		}
		for _, hc := range h.Health {
			if hc.Rollback != nil && len(hc.Rollback.Restored) > 0 {
				s.RolledBack++
			}
		}
	}
	return s
}

func (h *HostResult) failed() bool {
	if h.Err != nil || h.FailedErr != nil {
		return true
	}
	for _, hc := range h.Health {
		if hc.Err != nil {
			return true
		}
	}
	return false
}

// OK reports whether every host applied cleanly.
func (r *ApplyResult) OK() bool { return r.Summary().Failed == 0 && r.Stopped == "" }

// Apply carries out a plan made by this engine, over the same connections. Tasks run in
// order, each on all its hosts before the next starts. Within a task, hosts change in
// batches (serial) and each host passes the task's health gate before the next batch;
// a host whose changes fail or whose gate fails is rolled back and the rollout stops.
// A task with per rolls each group of hosts (a cluster) that way, groups side by side,
// and a failure stops its own group only, unless max_fail_percentage says otherwise.
// Without serial or a gate, a failure stops only that host: later resources may depend
// on earlier ones. Hosts whose plan failed are left untouched.
func (e *Engine) Apply(ctx context.Context, p *Plan) *ApplyResult {
	a := e.newApplyRun(p)
	for _, task := range e.plan.Tasks {
		a.runTask(ctx, task)
	}
	for _, t := range e.targets {
		if hr := a.byHost[t.Host.Name]; hr != nil && hr.Err == nil {
			phase := "done"
			if hr.failed() {
				phase = "failed"
			}
			e.progress(t.Host.Name, phase, 0, 0)
		}
	}
	return a.res
}

// applyRun is one Apply: the result so far and each host's plan.
type applyRun struct {
	e      *Engine
	res    *ApplyResult
	byHost map[string]*HostResult
	plans  map[string]*HostPlan

	mu      sync.Mutex      // guards res.Stopped and stopped while groups roll
	stopped map[string]bool // hosts of stopped groups: later tasks skip them
	// failedGroups counts the current task's groups that failed.
	failedGroups int
}

func (e *Engine) newApplyRun(p *Plan) *applyRun {
	a := &applyRun{e: e, res: &ApplyResult{Hosts: make([]*HostResult, len(p.Hosts))},
		byHost: map[string]*HostResult{}, plans: map[string]*HostPlan{}, stopped: map[string]bool{}}
	for i, hp := range p.Hosts {
		hr := &HostResult{Host: hp.Host}
		if hp.Failed() {
			hr.Err = errors.New("not applied: its plan failed")
			if hp.Err != nil {
				hr.Err = fmt.Errorf("not applied: %w", hp.Err)
			}
		}
		a.res.Hosts[i] = hr
		a.byHost[hp.Host] = hr
		a.plans[hp.Host] = hp
	}
	return a
}

// taskTargets returns the hosts where task has something to change, in target order;
// the others' steps are counted unchanged, or skipped after a stop or a failure.
func (a *applyRun) taskTargets(task *config.Task) []*Target {
	var todo []*Target
	for _, t := range a.e.targets {
		hr, hp := a.byHost[t.Host.Name], a.plans[t.Host.Name]
		if hr == nil || hr.Err != nil {
			continue
		}
		steps := hp.taskSteps(task.Name)
		switch {
		case len(steps) == 0:
		case a.res.Stopped != "" || a.stopped[t.Host.Name] || hr.FailedErr != nil || hr.gateFailed():
			hr.skip(steps)
		case !anyChanged(steps):
			hr.Unchanged += len(steps)
		default:
			todo = append(todo, t)
		}
	}
	return todo
}

// runTask applies task on its hosts: each group of its per in batches, the groups side
// by side, all of them sharing the run's limit of hosts at once.
func (a *applyRun) runTask(ctx context.Context, task *config.Task) {
	groups := a.e.groups(task, a.taskTargets(task))
	a.failedGroups = 0
	results := make([]*GroupResult, len(groups))
	sem := make(chan struct{}, a.e.opts.Parallel)
	var wg sync.WaitGroup
	for i, g := range groups {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = a.rollGroup(ctx, task, g, sem, len(groups))
		}()
	}
	wg.Wait()
	if task.PerText != "" {
		a.res.Groups = append(a.res.Groups, results...)
	}
}

// rollGroup applies task on one group's hosts, batch after batch, until the group or
// the whole task stops.
func (a *applyRun) rollGroup(ctx context.Context, task *config.Task, g group, sem chan struct{}, groups int) *GroupResult {
	gr := &GroupResult{Task: task.Name, Key: g.key, Hosts: g.names(), Start: time.Now()}
	size := task.Serial.BatchSize(len(g.targets))
	for start := 0; start < len(g.targets); start += size {
		batch := g.targets[start:min(start+size, len(g.targets))]
		if why := a.stopReason(gr); why != "" {
			for _, t := range batch {
				a.byHost[t.Host.Name].skip(a.plans[t.Host.Name].taskSteps(task.Name))
				gr.NotChanged = append(gr.NotChanged, t.Host.Name)
			}
			gr.Stopped = why
			continue
		}
		a.applyBatch(ctx, task, batch, sem)
		for _, t := range batch {
			// A batch holds no host that failed before this task (taskTargets).
			if hr := a.byHost[t.Host.Name]; hr.FailedErr != nil || hr.gateFailed() {
				gr.Failed = append(gr.Failed, t.Host.Name)
			}
		}
		if len(gr.Failed) > 0 && (task.Serial.Rolling() || task.Health != nil) {
			a.stopOnFailure(task, g, gr, g.targets[start+len(batch):], groups)
		}
	}
	gr.End = time.Now()
	return gr
}

// stopReason says why the group's next batch must not start: its own failure, or a
// stop of every group; "" lets it go on.
func (a *applyRun) stopReason(gr *GroupResult) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case gr.stop != "":
		return gr.stop
	case a.res.Stopped != "" && gr.Key != "":
		return "the task stopped in every group"
	case a.res.Stopped != "":
		return a.res.Stopped
	}
	return ""
}

// applyBatch applies task on the hosts of one batch at once, within the run's limit of
// hosts at once (sem).
func (a *applyRun) applyBatch(ctx context.Context, task *config.Task, batch []*Target, sem chan struct{}) {
	inParallel(sem, len(batch), func(i int) {
		t := batch[i]
		hr := a.byHost[t.Host.Name]
		span := Span{Task: task.Name, Start: time.Now()}
		a.e.applyTask(ctx, t, task, a.plans[t.Host.Name].taskSteps(task.Name), hr)
		span.End = time.Now()
		hr.Spans = append(hr.Spans, span)
	})
}

// stopOnFailure stops a rolling or gated task's rollout after a batch with a failed
// host: the whole task when it has no per, else the failed host's group, and every group
// once more than max_fail_percentage of them failed. rest are the group's hosts left.
func (a *applyRun) stopOnFailure(task *config.Task, g group, gr *GroupResult, rest []*Target, groups int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	later := ""
	if i := slices.Index(a.e.plan.Tasks, task); i+1 < len(a.e.plan.Tasks) {
		later = "; later tasks not run"
	}
	if task.PerText == "" {
		a.res.Stopped = fmt.Sprintf("rollout of task %q stopped: %s failed", task.Name, strings.Join(gr.Failed, ", "))
		if len(rest) > 0 {
			a.res.Stopped += fmt.Sprintf("; not changed: %s", strings.Join(group{targets: rest}.names(), ", "))
		}
		a.res.Stopped += later
		return
	}
	gr.stop = fmt.Sprintf("%s failed", strings.Join(gr.Failed, ", "))
	for _, t := range g.targets {
		a.stopped[t.Host.Name] = true
	}
	a.failedGroups++
	if max := task.MaxFailPercentage; max >= 0 && a.res.Stopped == "" && a.failedGroups*100 > max*groups {
		a.res.Stopped = fmt.Sprintf("rollout of task %q stopped in every group: %d of %d groups failed (max_fail_percentage = %d)%s",
			task.Name, a.failedGroups, groups, max, later)
	}
}
func (hp *HostPlan) taskSteps(task string) []*Step {
	var out []*Step
	for _, st := range hp.Steps {
		if st.Task == task {
			out = append(out, st)
		}
	}
	return out
}

func anyChanged(steps []*Step) bool {
	return slices.ContainsFunc(steps, func(s *Step) bool { return s.Change.Changed() })
}

func (hr *HostResult) skip(steps []*Step) {
	for _, st := range steps {
		if st.Change.Changed() {
			hr.Skipped = append(hr.Skipped, st.Address())
		} else {
			hr.Unchanged++
		}
	}
}

func (hr *HostResult) gateFailed() bool {
	return slices.ContainsFunc(hr.Health, func(hc *HealthCheck) bool { return hc.Err != nil })
}

// applyTask applies one task's steps on one host, then runs the task's health gate, and
// rolls the host back when a step or the gate fails.
func (e *Engine) applyTask(ctx context.Context, t *Target, task *config.Task, steps []*Step, hr *HostResult) {
	e.mu.Lock()
	hs := e.hosts[t.Host.Name]
	e.mu.Unlock()
	if hs == nil {
		hr.FailedErr = errors.New("not applied: no connection from the plan")
		return
	}
	h := resourceHost(t, hs)
	gate := task.Health
	var before *health.Snapshot
	if gate != nil {
		sctx, cancel := e.stepContext(ctx)
		snap, err := gate.Snapshot(sctx, hs.conn)
		cancel()
		if err = interruptedGate(ctx, err); err != nil {
			hr.Failed = fmt.Sprintf("health gate of task %q", task.Name)
			hr.FailedErr = fmt.Errorf("before changing %s: %w", t.Host.Name, err)
			hr.skip(steps)
			return
		}
		before = snap
	}
	applied := e.applySteps(ctx, h, hs.lock, steps, hr)
	if gate != nil {
		e.checkGate(ctx, h, hs.lock, task, gate, before, applied, hr)
	}
}

// applySteps applies the changed steps in order until one fails (the rest are then
// skipped) and returns the steps it touched, the failed one included: a failed write
// leaves the old file (atomic rename), but a failed command may have done part of its
// work, so a rollback undoes what it can of it too. A step is not started once the
// host's lock is lost (another apply may be changing the host): it fails untouched.
func (e *Engine) applySteps(ctx context.Context, h *tasks.Host, lock *hostlock.Lock, steps []*Step, hr *HostResult) []*Step {
	var applied []*Step
	changedBefore := len(hr.Changed) // earlier tasks' steps may have the same addresses
	total := 0
	for _, st := range steps {
		if st.Change.Changed() {
			total++
		}
	}
	for _, st := range steps {
		switch {
		case !st.Change.Changed():
			hr.Unchanged++
			continue
		case hr.FailedErr != nil:
			hr.Skipped = append(hr.Skipped, st.Address())
			continue
		}
		if err := lock.Lost(); err != nil {
			hr.Failed = st.Address()
			hr.FailedErr = fmt.Errorf("apply %s on %s: %w", st.Address(), h.Name, err)
			continue
		}
		if _, shares := st.resource.(tasks.LaterSharer); !shares {
			// What the steps before left for later is done before a step that may
			// depend on it (a command that reloads the saved rules, or reboots).
			e.finishSteps(ctx, h, lock, hr, changedBefore)
			if hr.FailedErr != nil {
				hr.Skipped = append(hr.Skipped, st.Address())
				continue
			}
		}
		e.progress(h.Name, "applying", len(applied), total)
		sctx, cancel := e.stepContext(ctx)
		h.Step = st.Address()
		err := e.stepError(ctx, sctx, st.resource.Apply(sctx, h, st.Change))
		h.Step = ""
		cancel()
		applied = append(applied, st)
		if err != nil {
			hr.Failed = st.Address()
			hr.FailedErr = fmt.Errorf("apply %s on %s: %w", st.Address(), h.Name, err)
			continue
		}
		hr.Changed = append(hr.Changed, st.Address())
	}
	e.finishSteps(ctx, h, lock, hr, changedBefore)
	return applied
}

// finishSteps does the work the steps left for after them (tasks.Host.Later): before a
// step that does not share it, and after the last, also after a failed step. An
// interrupt does not stop it (what the steps did on the host is then kept across
// reboots, as a rollback puts files back), but bounds it to interruptGrace. A failure
// counts against the step that left the work: it fails, unless the host failed already
// (it then stays changed, the error joined to the host's). Work that was the steps'
// own (tasks.LaterFailure.Undone) leaves its failed step, and those it did not run,
// unchanged. changedBefore is where this task's steps start in hr.Changed.
func (e *Engine) finishSteps(ctx context.Context, h *tasks.Host, lock *hostlock.Lock, hr *HostResult, changedBefore int) {
	fctx, cancel := e.stepContext(context.WithoutCancel(ctx))
	defer cancel()
	stop := context.AfterFunc(ctx, func() { time.AfterFunc(interruptGrace, cancel) })
	defer stop()
	for _, f := range h.Finish(fctx, lock.Lost()) {
		err := fmt.Errorf("apply %s on %s: %w", f.Step, h.Name, f.Err)
		for _, step := range f.NotRun {
			// Its own work was left for later with this work: it did nothing.
			if unchange(hr, changedBefore, step) {
				hr.Skipped = append(hr.Skipped, step)
			}
		}
		if hr.FailedErr != nil {
			if f.Undone {
				unchange(hr, changedBefore, f.Step)
			}
			hr.FailedErr = errors.Join(hr.FailedErr, err)
			continue
		}
		unchange(hr, changedBefore, f.Step)
		hr.Failed, hr.FailedErr = f.Step, err
	}
}

// unchange takes step out of this task's changed steps (from changedBefore), and
// reports whether it was there.
func unchange(hr *HostResult, changedBefore int, step string) bool {
	i := slices.Index(hr.Changed[changedBefore:], step)
	if i >= 0 {
		hr.Changed = slices.Delete(hr.Changed, changedBefore+i, changedBefore+i+1)
	}
	return i >= 0
}

// interruptGrace bounds what an apply still does on a host once the run is interrupted:
// the work the steps left for later, and putting files back in a rollback.
const interruptGrace = 30 * time.Second

// checkGate waits for the task's health gate after its steps (expecting a restart when
// they changed the manifest the gate watches), and rolls the steps back when a step
// failed or the gate does not pass.
func (e *Engine) checkGate(ctx context.Context, h *tasks.Host, lock *hostlock.Lock, task *config.Task, gate *health.KubeAPIServer, before *health.Snapshot, applied []*Step, hr *HostResult) {
	hc := &HealthCheck{Task: task.Name, Gate: gate.Describe()}
	hr.Health = append(hr.Health, hc)
	if hr.FailedErr == nil {
		e.progress(h.Name, "health", 0, 0)
		var expect *health.Snapshot
		if touches(applied, gate) {
			expect = before
		}
		r, err := gate.Wait(ctx, h.Conn, expect)
		if sensitive(applied) {
			health.Withhold(err)
		}
		hc.Restarted, hc.Waited, hc.Err = r.Restarted, r.Waited, interruptedGate(ctx, err)
		if err == nil {
			return
		}
	} else {
		hc.Err = errors.New("not checked: a change failed")
	}
	if err := lock.Lost(); err != nil {
		// Another apply may hold the host now: undoing is not this run's to do.
		hc.Err = errors.Join(hc.Err, fmt.Errorf("nothing rolled back: %w", err))
		return
	}
	hc.Rollback = e.rollback(ctx, h, lock, gate, applied)
}

// interruptedGate tells an interrupt from a health gate's verdict: a gate cut short
// by Ctrl-C knows nothing of the node's health, and its "not healthy" would blame it.
func interruptedGate(ctx context.Context, err error) error {
	if err != nil && ctx.Err() != nil {
		return errors.New("interrupted before the health gate could tell")
	}
	return err
}

// touches reports whether a step changed the manifest the gate watches: only then must
// the server restart.
func touches(steps []*Step, gate *health.KubeAPIServer) bool {
	manifest := gate.ManifestPath()
	return slices.ContainsFunc(steps, func(s *Step) bool {
		f := s.Change.File
		return f != nil && (f.Path == manifest || f.Link == manifest)
	})
}

// rollback undoes applied steps in reverse order and waits for the gate again.
func (e *Engine) rollback(ctx context.Context, h *tasks.Host, lock *hostlock.Lock, gate *health.KubeAPIServer, applied []*Step) *Rollback {
	rb := &Rollback{}
	if e.opts.NoRollback {
		rb.Disabled = true
		return rb
	}
	e.progress(h.Name, "rolling back", 0, 0)
	// After an interrupt the old files still go back (the known-good state of the
	// control plane), on a context of their own bounded by interruptGrace; the gate is
	// not waited for.
	interrupted := ctx.Err() != nil
	if interrupted {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), interruptGrace)
		defer cancel()
	}
	var errs []error
	for i := len(applied) - 1; i >= 0; i-- {
		st := applied[i]
		if err := lock.Lost(); err != nil {
			// Another apply may hold the host now: what is left stays as it is.
			for _, left := range applied[:i+1] {
				rb.NotRestored = append(rb.NotRestored, left.Address())
			}
			errs = append(errs, err)
			break
		}
		rv, ok := st.resource.(tasks.Reverter)
		if !ok {
			rb.NotRestored = append(rb.NotRestored, st.Address())
			continue
		}
		sctx, cancel := e.stepContext(ctx)
		err := rv.Revert(sctx, h, st.Change)
		cancel()
		if err != nil {
			errs = append(errs, fmt.Errorf("restore %s: %w", st.Address(), err))
			continue
		}
		rb.Restored = append(rb.Restored, st.Address())
	}
	rb.Err = errors.Join(errs...)
	if interrupted {
		rb.HealthErr = errors.New("not checked: interrupted")
		return rb
	}
	r, err := gate.Wait(ctx, h.Conn, nil)
	if sensitive(applied) {
		health.Withhold(err) // the old manifest may hold the same values
	}
	rb.Healthy, rb.Waited, rb.HealthErr = err == nil, r.Waited, err
	return rb
}

// sensitive reports whether a step wrote sensitive content: the server's own error
// lines may quote it.
func sensitive(steps []*Step) bool {
	return slices.ContainsFunc(steps, func(s *Step) bool { return s.Change.File != nil && s.Change.File.Sensitive })
}
