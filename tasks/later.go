package tasks

// Work a step's apply leaves for the end of its task on the host, so that steps which
// share it do it once: port_forward and allowlist save the same iptables rules for
// boot, one iptables-save and one write after both rather than one after each.

import "context"

// laterWork is one piece of work left by Later.
type laterWork struct {
	key   string
	owner string // the last step that left it: its failure is that step's
	fn    func(context.Context) error
}

// Later leaves fn for after the step being applied (Step) and the LaterSharer steps that
// follow it, once per key (a later fn under the same key replaces an earlier one): the
// engine does it then (Finish), also when a step after this one failed, so that what
// the steps did is kept. Where there is no Step, fn runs at once.
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
type LaterFailure struct {
	Step string
	Err  error
}

// Finish does the work left by Later, in the order it was first left, and forgets it.
// With refused set, it does none of it and each fails with refused (the host's lock was
// lost: another apply may be changing the host).
func (h *Host) Finish(ctx context.Context, refused error) []LaterFailure {
	var failed []LaterFailure
	for _, w := range h.later {
		err := refused
		if err == nil {
			err = w.fn(ctx)
		}
		if err != nil {
			failed = append(failed, LaterFailure{Step: w.owner, Err: err})
		}
	}
	h.later = nil
	return failed
}
