package engine

import (
	"context"
	"errors"
	"fmt"
)

// ApplyResult is what an apply did, host by host.
type ApplyResult struct {
	Hosts []*HostResult
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
	// Skipped are changes not attempted because an earlier one failed.
	Skipped   []string
	Unchanged int
}

// Summary counts an apply's outcome.
type ApplySummary struct {
	Changed, Unchanged, Failed int
}

// Summary counts changed and unchanged resources and failures (a host that could not be
// planned counts as one failure).
func (r *ApplyResult) Summary() ApplySummary {
	var s ApplySummary
	for _, h := range r.Hosts {
		s.Changed += len(h.Changed)
		s.Unchanged += h.Unchanged
		if h.Err != nil || h.FailedErr != nil {
			s.Failed++
		}
	}
	return s
}

// OK reports whether every host applied cleanly.
func (r *ApplyResult) OK() bool { return r.Summary().Failed == 0 }

// Apply carries out a plan made by this engine, over the same connections. Hosts whose
// plan failed are left untouched. On each host, resources change in order and the host
// stops at the first failure, because later resources may depend on earlier ones.
func (e *Engine) Apply(ctx context.Context, p *Plan) *ApplyResult {
	res := &ApplyResult{Hosts: make([]*HostResult, len(p.Hosts))}
	byName := map[string]*Target{}
	for _, t := range e.targets {
		byName[t.Host.Name] = t
	}
	index := map[*Target]int{}
	for i, hp := range p.Hosts {
		index[byName[hp.Host]] = i
	}
	e.eachHost(func(_ int, t *Target) {
		i, ok := index[t]
		if !ok {
			return
		}
		res.Hosts[i] = e.applyHost(ctx, t, p.Hosts[i])
	})
	return res
}

func (e *Engine) applyHost(ctx context.Context, t *Target, hp *HostPlan) *HostResult {
	hr := &HostResult{Host: hp.Host}
	if hp.Failed() {
		hr.Err = errors.New("not applied: its plan failed")
		if hp.Err != nil {
			hr.Err = fmt.Errorf("not applied: %w", hp.Err)
		}
		return hr
	}
	e.mu.Lock()
	hs := e.hosts[t.Host.Name]
	e.mu.Unlock()
	if hs == nil {
		hr.Err = errors.New("not applied: no connection from the plan")
		return hr
	}
	h := resourceHost(t, hs)
	var total int
	for _, st := range hp.Steps {
		if st.Change.Changed() {
			total++
		}
	}
	done := 0
	for _, st := range hp.Steps {
		if !st.Change.Changed() {
			hr.Unchanged++
			continue
		}
		if hr.FailedErr != nil {
			hr.Skipped = append(hr.Skipped, st.Address())
			continue
		}
		e.progress(t.Host.Name, "applying", done, total)
		sctx, cancel := e.stepContext(ctx)
		err := st.resource.Apply(sctx, h, st.Change)
		cancel()
		done++
		if err != nil {
			hr.Failed = st.Address()
			hr.FailedErr = fmt.Errorf("apply %s on %s: %w", st.Address(), t.Host.Name, err)
			continue
		}
		hr.Changed = append(hr.Changed, st.Address())
	}
	phase := "done"
	if hr.FailedErr != nil {
		phase = "failed"
	}
	e.progress(t.Host.Name, phase, done, total)
	return hr
}
