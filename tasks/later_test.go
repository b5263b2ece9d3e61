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
		return func(context.Context) error { ran = append(ran, name); return err }
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
}
