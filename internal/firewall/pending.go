package firewall

// The restore batches that a host's firewall steps leave for after the last of them
// (iptables.Apply), run as one iptables-restore: a process, and its fetch of the
// kernel's ruleset, per host rather than per step. Concatenated, the batches do what
// they did one after the other: iptables-restore commits each table block on its own
// and stops at the first line that fails, so the blocks before it stay in, as the
// batches before a failed one did.

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/hostplan/hostplan/internal/transport"
)

// finish runs the pending batches (runPending) and then saves the rules for boot,
// unless a batch failed before any step's work went in. The failure of a batch counts
// against its step (StepError).
func (b iptables) finish(ctx context.Context, h Host, rules *Rules) error {
	pending, resave := rules.pending, rules.resave
	rules.pending, rules.resave = nil, false
	if ctx.Err() != nil {
		// Refused before it started (tasks.Host.Finish): nothing runs.
		if len(pending) == 0 {
			return context.Cause(ctx)
		}
		return notRun(pending, 0, context.Cause(ctx))
	}
	failed := runPending(ctx, h, pending)
	if failed != nil && failed.first && !resave {
		return failed
	}
	err := b.save(ctx, h, nil)
	if err != nil {
		err = fmt.Errorf("save the rules for boot in %s: %w", b.rulesFile, err)
	}
	if failed != nil {
		failed.Err = errors.Join(failed.Err, err)
		return failed
	}
	return err
}

// StepError is the failure of work a step left for later (tasks.Host.Later) that
// counts against a step other than the last to leave work under its key: the one
// whose batch failed. The steps in NotRun left batches after it, which did not run.
type StepError struct {
	Step   string
	NotRun []string
	Err    error
	first  bool // the failed batch was the first pending: no step's batch went in
}

func (e *StepError) Error() string { return e.Err.Error() }
func (e *StepError) Unwrap() error { return e.Err }

// FailedStep and NotRunSteps are what tasks.Host.Finish asks of such an error.
func (e *StepError) FailedStep() string    { return e.Step }
func (e *StepError) NotRunSteps() []string { return e.NotRun }

// runPending runs the pending steps' commands in order, those that are restore input
// (consecutive ones together) in one iptables-restore, the others as they are, and
// stops at the first failure.
func runPending(ctx context.Context, h Host, pending []pendingRestore) *StepError {
	for i := 0; i < len(pending); {
		j := i + 1
		for pending[i].input != nil && j < len(pending) && pending[j].input != nil {
			j++
		}
		if k, err := runRestores(ctx, h, pending[i:j]); err != nil {
			return notRun(pending, i+k, err)
		}
		i = j
	}
	return nil
}

// notRun is the failure of pending[k] with err: the steps after it did nothing.
func notRun(pending []pendingRestore, k int, err error) *StepError {
	failed := &StepError{Step: pending[k].step, Err: err, first: k == 0}
	for _, p := range pending[k+1:] {
		failed.NotRun = append(failed.NotRun, p.step)
	}
	return failed
}

// runRestores runs group: one step's commands as they are, or the restore input of
// several in one iptables-restore. On failure it says which step's part failed.
func runRestores(ctx context.Context, h Host, group []pendingRestore) (int, error) {
	if len(group) == 1 {
		_, err := transport.RunPrograms(ctx, h.Conn, runnable(group[0].commands), group[0].commands, "")
		return 0, err
	}
	var input, steps []string
	ends := make([]int, len(group)) // the last input line of each part, from 1
	for i, p := range group {
		input = append(input, p.input...)
		ends[i] = len(input)
		steps = append(steps, p.step)
	}
	shown := fmt.Sprintf("iptables-restore -w --noflush, the batches of %s in one input", strings.Join(steps, ", "))
	_, err := transport.RunPrograms(ctx, h.Conn, []string{restoreHereDoc(input)}, []string{shown}, "")
	if err == nil {
		return 0, nil
	}
	// Only what iptables-restore said names the line: a step's address may say anything.
	k := failedPart(strings.TrimPrefix(err.Error(), shown), ends)
	if k < 0 {
		// Which part failed is not known: each counts as failed, from the first.
		return 0, err
	}
	from := 1
	if k > 0 {
		from = ends[k-1] + 1
	}
	return k, fmt.Errorf("%w (lines %d-%d are %s's)", err, from, ends[k], steps[k])
}

// restoreErrorLine finds the input line iptables-restore names when it fails: "line 5
// failed: ..." (a rule the kernel refused) or "Error occurred at line: 3" (one it could
// not parse), in iptables 1.8, nft and legacy.
var restoreErrorLine = regexp.MustCompile(`line:? ([0-9]+)`)

// failedPart is the index of the part whose lines (ending at ends) hold the line msg
// names, or -1.
func failedPart(msg string, ends []int) int {
	m := restoreErrorLine.FindStringSubmatch(msg)
	if m == nil {
		return -1
	}
	n, err := strconv.Atoi(m[1])
	if err != nil || n < 1 {
		return -1
	}
	for i, end := range ends {
		if n <= end {
			return i
		}
	}
	return -1
}
