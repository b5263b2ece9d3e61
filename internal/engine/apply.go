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
	"github.com/hostplan/hostplan/tasks"
)

// ApplyResult is what an apply did, host by host.
type ApplyResult struct {
	Hosts []*HostResult
	// Stopped explains a rollout that stopped early: after a failure in a rolling or
	// health-gated task no further host and no later task is changed.
	Stopped string
}

// HostResult is what happened on one host.
type HostResult struct {
	Host string
	// Err is set when the host was not applied at all (its plan failed).
	Err     error
	Changed []string // addresses of resources changed
	// Failed is the resource whose apply failed; the host stopped there.
	Failed    string
	FailedErr error
	// Skipped are changes not attempted because an earlier one failed or the rollout
	// stopped.
	Skipped   []string
	Unchanged int
	// Health holds the gates this host went through, in task order.
	Health []*HealthCheck
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
// Without serial or a gate, a failure stops only that host: later resources may depend
// on earlier ones. Hosts whose plan failed are left untouched.
func (e *Engine) Apply(ctx context.Context, p *Plan) *ApplyResult {
	a := e.newApplyRun(p)
	for _, task := range e.plan.Tasks {
		todo := a.taskTargets(task)
		size := task.Serial.BatchSize(len(todo))
		for start := 0; start < len(todo); start += size {
			batch := todo[start:min(start+size, len(todo))]
			if a.res.Stopped != "" {
				for _, t := range batch {
					a.byHost[t.Host.Name].skip(a.plans[t.Host.Name].taskSteps(task.Name))
				}
				continue
			}
			a.applyBatch(ctx, task, batch)
			if task.Serial.Rolling() || task.Health != nil {
				a.stopOnFailure(task, batch, todo[start+len(batch):])
			}
		}
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
}

func (e *Engine) newApplyRun(p *Plan) *applyRun {
	a := &applyRun{e: e, res: &ApplyResult{Hosts: make([]*HostResult, len(p.Hosts))},
		byHost: map[string]*HostResult{}, plans: map[string]*HostPlan{}}
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
		case a.res.Stopped != "" || hr.FailedErr != nil || hr.gateFailed():
			hr.skip(steps)
		case !anyChanged(steps):
			hr.Unchanged += len(steps)
		default:
			todo = append(todo, t)
		}
	}
	return todo
}

// applyBatch applies task on the hosts of one batch at once (at most Parallel).
func (a *applyRun) applyBatch(ctx context.Context, task *config.Task, batch []*Target) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, a.e.opts.Parallel)
	for _, t := range batch {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			a.e.applyTask(ctx, t, task, a.plans[t.Host.Name].taskSteps(task.Name), a.byHost[t.Host.Name])
		}()
	}
	wg.Wait()
}

// stopOnFailure stops the rollout when a host of a rolling or gated task's batch
// failed, naming the hosts left unchanged (rest) and whether later tasks are lost.
func (a *applyRun) stopOnFailure(task *config.Task, batch, rest []*Target) {
	var failed []string
	for _, t := range batch {
		if hr := a.byHost[t.Host.Name]; hr.FailedErr != nil || hr.gateFailed() {
			failed = append(failed, t.Host.Name)
		}
	}
	if len(failed) == 0 {
		return
	}
	a.res.Stopped = fmt.Sprintf("rollout of task %q stopped: %s failed", task.Name, strings.Join(failed, ", "))
	var names []string
	for _, t := range rest {
		names = append(names, t.Host.Name)
	}
	if len(names) > 0 {
		a.res.Stopped += fmt.Sprintf("; not changed: %s", strings.Join(names, ", "))
	}
	if i := slices.Index(a.e.plan.Tasks, task); i+1 < len(a.e.plan.Tasks) {
		a.res.Stopped += "; later tasks not run"
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
	applied := e.applySteps(ctx, h, steps, hr)
	if gate != nil {
		e.checkGate(ctx, h, task, gate, before, applied, hr)
	}
}

// applySteps applies the changed steps in order until one fails (the rest are then
// skipped) and returns the steps it touched, the failed one included: a failed write
// leaves the old file (atomic rename), but a failed command may have done part of its
// work, so a rollback undoes what it can of it too.
func (e *Engine) applySteps(ctx context.Context, h *tasks.Host, steps []*Step, hr *HostResult) []*Step {
	var applied []*Step
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
		e.progress(h.Name, "applying", len(applied), total)
		sctx, cancel := e.stepContext(ctx)
		err := e.stepError(ctx, sctx, st.resource.Apply(sctx, h, st.Change))
		cancel()
		applied = append(applied, st)
		if err != nil {
			hr.Failed = st.Address()
			hr.FailedErr = fmt.Errorf("apply %s on %s: %w", st.Address(), h.Name, err)
			continue
		}
		hr.Changed = append(hr.Changed, st.Address())
	}
	return applied
}

// checkGate waits for the task's health gate after its steps (expecting a restart when
// they changed the manifest the gate watches), and rolls the steps back when a step
// failed or the gate does not pass.
func (e *Engine) checkGate(ctx context.Context, h *tasks.Host, task *config.Task, gate *health.KubeAPIServer, before *health.Snapshot, applied []*Step, hr *HostResult) {
	hc := &HealthCheck{Task: task.Name, Gate: gate.Describe()}
	hr.Health = append(hr.Health, hc)
	if hr.FailedErr == nil {
		e.progress(h.Name, "health", 0, 0)
		var expect *health.Snapshot
		if touches(applied, gate) {
			expect = before
		}
		r, err := gate.Wait(ctx, h.Conn, expect)
		hc.Restarted, hc.Waited, hc.Err = r.Restarted, r.Waited, interruptedGate(ctx, err)
		if err == nil {
			return
		}
	} else {
		hc.Err = errors.New("not checked: a change failed")
	}
	hc.Rollback = e.rollback(ctx, h, gate, applied)
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
func (e *Engine) rollback(ctx context.Context, h *tasks.Host, gate *health.KubeAPIServer, applied []*Step) *Rollback {
	rb := &Rollback{}
	if e.opts.NoRollback {
		rb.Disabled = true
		return rb
	}
	e.progress(h.Name, "rolling back", 0, 0)
	// After an interrupt the old files still go back (the known-good state of the
	// control plane), on a context of their own; the gate is not waited for.
	interrupted := ctx.Err() != nil
	if interrupted {
		ctx = context.WithoutCancel(ctx)
	}
	var errs []error
	for i := len(applied) - 1; i >= 0; i-- {
		st := applied[i]
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
	rb.Healthy, rb.Waited, rb.HealthErr = err == nil, r.Waited, err
	return rb
}
