package report

import (
	"strings"
	"time"

	"github.com/hostplan/hostplan/internal/engine"
)

// Apply is an apply run as data: the plan it carried out and what happened.
type Apply struct {
	FormatVersion int          `json:"format_version"`
	Kind          string       `json:"kind"` // "apply"
	Plan          *Plan        `json:"plan"`
	Hosts         []HostResult `json:"hosts"`
	// Stopped explains a rollout that stopped early.
	Stopped string `json:"stopped,omitempty"`
	// Groups are the rollouts of tasks with per, one per group (cluster).
	Groups  []GroupResult `json:"groups,omitempty"`
	Summary ApplySummary  `json:"summary"`
}

// GroupResult is how one group of a task with per went.
type GroupResult struct {
	Task       string    `json:"task"`
	Key        string    `json:"key"`
	Hosts      []string  `json:"hosts"` // with changes, in rollout order
	Failed     []string  `json:"failed,omitempty"`
	NotChanged []string  `json:"not_changed,omitempty"` // left alone by a stop
	Start      time.Time `json:"start"`
	End        time.Time `json:"end"`
	Stopped    string    `json:"stopped,omitempty"`
}

// Span is when a host went through one task.
type Span struct {
	Task  string    `json:"task"`
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// HostResult is what an apply did on one host.
type HostResult struct {
	Name string `json:"name"`
	// Error is set when the host was not applied at all (its plan failed, or it was
	// refused as stale).
	Error       string        `json:"error,omitempty"`
	Changed     []string      `json:"changed"`
	Failed      string        `json:"failed,omitempty"`
	FailedError string        `json:"failed_error,omitempty"`
	Skipped     []string      `json:"skipped,omitempty"`
	Unchanged   int           `json:"unchanged"`
	Health      []HealthCheck `json:"health,omitempty"`
	Tasks       []Span        `json:"tasks,omitempty"` // when the host went through each task it changed in
}

// HealthCheck is one health gate of one host.
type HealthCheck struct {
	Task          string    `json:"task"`
	Gate          string    `json:"gate"`
	Restarted     bool      `json:"restarted"`
	WaitedSeconds float64   `json:"waited_seconds"`
	Error         string    `json:"error,omitempty"`
	Rollback      *Rollback `json:"rollback,omitempty"`
}

// Rollback is what undoing a host's changes in a task did.
type Rollback struct {
	Disabled      bool     `json:"disabled,omitempty"`
	Restored      []string `json:"restored,omitempty"`
	NotRestored   []string `json:"not_restored,omitempty"`
	Error         string   `json:"error,omitempty"`
	Healthy       bool     `json:"healthy"`
	WaitedSeconds float64  `json:"waited_seconds"`
	HealthError   string   `json:"health_error,omitempty"`
}

// ApplySummary counts an apply's outcome.
type ApplySummary struct {
	Changed    int `json:"changed"`
	Unchanged  int `json:"unchanged"`
	Failed     int `json:"failed"`
	RolledBack int `json:"rolled_back"`
}

// OK reports whether every host was applied without a failure and the rollout ran to
// the end.
func (a *Apply) OK() bool { return a.Summary.Failed == 0 && a.Stopped == "" }

// FromApply makes the document of an apply of plan.
func FromApply(plan *Plan, res *engine.ApplyResult, o Options) *Apply {
	text := func(err error) string {
		if err == nil {
			return ""
		}
		if o.ErrorText == nil {
			return err.Error()
		}
		return strings.TrimRight(o.ErrorText(err), "\n")
	}
	doc := &Apply{FormatVersion: FormatVersion, Kind: "apply", Plan: plan, Hosts: []HostResult{}, Stopped: res.Stopped}
	for _, hr := range res.Hosts {
		if hr == nil {
			continue
		}
		h := HostResult{Name: hr.Host, Error: text(hr.Err), Changed: append([]string{}, hr.Changed...),
			Failed: hr.Failed, FailedError: text(hr.FailedErr), Skipped: hr.Skipped, Unchanged: hr.Unchanged}
		for _, hc := range hr.Health {
			c := HealthCheck{Task: hc.Task, Gate: hc.Gate, Restarted: hc.Restarted, WaitedSeconds: hc.Waited.Seconds(), Error: text(hc.Err)}
			if rb := hc.Rollback; rb != nil {
				c.Rollback = &Rollback{Disabled: rb.Disabled, Restored: rb.Restored, NotRestored: rb.NotRestored, Error: text(rb.Err),
					Healthy: rb.Healthy, WaitedSeconds: rb.Waited.Seconds(), HealthError: text(rb.HealthErr)}
			}
			h.Health = append(h.Health, c)
		}
		for _, sp := range hr.Spans {
			h.Tasks = append(h.Tasks, Span{Task: sp.Task, Start: sp.Start.UTC(), End: sp.End.UTC()})
		}
		doc.Hosts = append(doc.Hosts, h)
	}
	for _, g := range res.Groups {
		doc.Groups = append(doc.Groups, GroupResult{Task: g.Task, Key: g.Key, Hosts: g.Hosts, Failed: g.Failed,
			NotChanged: g.NotChanged, Start: g.Start.UTC(), End: g.End.UTC(), Stopped: g.Stopped})
	}
	s := res.Summary()
	doc.Summary = ApplySummary{Changed: s.Changed, Unchanged: s.Unchanged, Failed: s.Failed, RolledBack: s.RolledBack}
	return doc
}
