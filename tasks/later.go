package tasks

// Work a step's apply leaves for the end of its task on the host, so that steps which
// share it do it once: port_forward and allowlist save the same iptables rules for
// boot, one iptables-save and one write after both rather than one after each.

import (
	"context"
	"errors"
)

// laterWork is one piece of work left by Later.
type laterWork struct {
	key   string
	owner string // the last step that left it: its failure is that step's
	fn    func(context.Context) error
}

// Later leaves fn for after the step being applied (Step) and the LaterSharer steps that
// follow it, once per key (a later fn under the same key replaces an earlier one): the
// engine does it then (Finish), also when a step after this one failed, so that what
// the steps did is kept. Where there is no Step, fn runs at once. fn must do nothing on
// the host once its context has ended (transport's calls refuse to start then): Finish
// hands it an ended one when the host's lock was lost.
func (h *Host) Later(ctx context.Context, key string, fn func(context.Context) error) error {
	if h.Step == "" {
		return fn(ctx)
	}
	for _, w := range h.later {
		if w.key == key {
			w.owner, w.fn = h.Step, fn
			return nil
		}
	}
	h.later = append(h.later, &laterWork{key: key, owner: h.Step, fn: fn})
	return nil
}

// LaterSharer is a resource whose steps share work left by Later: the engine does the
// work only before a step of another kind, or after the last.
type LaterSharer interface {
	SharesLater()
}

// LaterFailure is work left by Later that failed, and the step it counts against.
// Where the work was the steps' own (their batches, run at once: stepsFailure), the
// step's failed (Undone), and those in NotRun did nothing; else the steps' work was done
// and only what keeps it failed (a save).
type LaterFailure struct {
	Step   string
	Undone bool
	NotRun []string
	Err    error
}

// stepsFailure is an error of later work that names the steps it counts against
// itself (firewall.StepError): work of several steps done at once.
type stepsFailure interface {
	FailedStep() string
	NotRunSteps() []string
}

// Finish does the work left by Later, in the order it was first left, and forgets it.
// With refused set (the host's lock was lost: another apply may be changing the host),
// each runs with a context already ended with refused as its cause, so that it does
// nothing on the host and fails, saying which steps' work that leaves undone.
func (h *Host) Finish(ctx context.Context, refused error) []LaterFailure {
	if refused != nil {
		var cancel context.CancelCauseFunc
		ctx, cancel = context.WithCancelCause(ctx)
		cancel(refused)
	}
	var failed []LaterFailure
	for _, w := range h.later {
		err := w.fn(ctx)
		if err == nil {
			continue
		}
		f := LaterFailure{Step: w.owner, Err: err}
		var sf stepsFailure
		if errors.As(err, &sf) {
			f.Step, f.Undone, f.NotRun = sf.FailedStep(), true, sf.NotRunSteps()
		}
		failed = append(failed, f)
	}
	h.later = nil
	return failed
}
