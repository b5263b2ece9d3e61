package tasks

import (
	"context"
	"errors"
	"reflect"
	"testing"
)

func TestLater(t *testing.T) {
	ctx := context.Background()
	var ran []string
	work := func(name string, err error) func(context.Context) error {
		return func(ctx context.Context) error {
			if ctx.Err() != nil {
				return context.Cause(ctx) // as transport's commands do: nothing runs
			}
			ran = append(ran, name)
			return err
		}
	}
	h := &Host{}
	// No step being applied: at once.
	if err := h.Later(ctx, "k", work("now", errors.New("boom"))); err == nil || !reflect.DeepEqual(ran, []string{"now"}) {
		t.Fatalf("without a step: %v, ran %v", err, ran)
	}
	ran = nil
	save := errors.New("save failed")
	for _, l := range []struct{ step, key, name string }{
		{"port_forward.api", "save", "save 1"}, {"command.x", "other", "other"}, {"allowlist.sc", "save", "save 2"},
	} {
		h.Step = l.step
		var err error
		if l.key == "save" {
			err = save
		}
		if err := h.Later(ctx, l.key, work(l.name, err)); err != nil {
			t.Fatal(err)
		}
	}
	h.Step = ""
	if len(ran) != 0 {
		t.Fatalf("ran before Finish: %v", ran)
	}
	got := h.Finish(ctx, nil)
	if !reflect.DeepEqual(ran, []string{"save 2", "other"}) || !reflect.DeepEqual(got, []LaterFailure{{Step: "allowlist.sc", Err: save}}) {
		t.Errorf("Finish ran %v and returned %v; want the last save under its key first, once, against the step that left it last", ran, got)
	}
	if again := h.Finish(ctx, nil); len(again) != 0 {
		t.Errorf("a second Finish: %v", again)
	}
	ran = nil
	h.Step = "port_forward.api"
	h.Later(ctx, "save", work("save", nil))
	lost := errors.New("lock lost")
	if got := h.Finish(ctx, lost); len(ran) != 0 || !reflect.DeepEqual(got, []LaterFailure{{Step: "port_forward.api", Err: lost}}) {
		t.Errorf("Finish refused: ran %v, returned %v", ran, got)
	}
	// Work that was several steps' own names the step that failed, and those it held.
	ran = nil
	h.Later(ctx, "save", work("batches", &stepsErr{failed: "port_forward.a", notRun: []string{"allowlist.b"}}))
	got = h.Finish(ctx, nil)
	if len(got) != 1 || got[0].Step != "port_forward.a" || !got[0].Undone || !reflect.DeepEqual(got[0].NotRun, []string{"allowlist.b"}) {
		t.Errorf("Finish of the steps' own work returned %+v", got)
	}
}

type stepsErr struct {
	failed string
	notRun []string
}

func (e *stepsErr) Error() string         { return "batch failed" }
func (e *stepsErr) FailedStep() string    { return e.failed }
func (e *stepsErr) NotRunSteps() []string { return e.notRun }
