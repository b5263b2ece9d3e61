package journal

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hostplan/hostplan/internal/report"
)

func sampleApply() *report.Apply {
	plan := &report.Plan{Hosts: []report.Host{
		{Name: "h1", Steps: []report.Step{
			{Task: "t", Type: "file", Label: "/etc/a", Action: "update", Before: &report.FileState{SHA256: "b1"}, After: &report.FileAfter{SHA256: "a1"}},
			{Task: "t", Type: "command", Label: "c", Action: "run"},
			{Task: "t", Type: "file", Label: "/etc/b", Action: "create", Sensitive: true, After: &report.FileAfter{SHA256: "keyed"}},
			{Task: "t", Type: "file", Label: "/etc/same", Action: "no-op"},
		}},
		{Name: "h2", Steps: []report.Step{{Task: "t", Type: "file", Label: "/etc/a", Action: "update"}}},
	}}
	return &report.Apply{Plan: plan, Hosts: []report.HostResult{
		{Name: "h1", Changed: []string{`file "/etc/a"`}, Failed: `command "c"`, FailedError: "exit 3", Skipped: []string{`file "/etc/b"`}, Unchanged: 1},
		{Name: "h2", Error: "refused as stale: x"},
	}}
}

func TestEntries(t *testing.T) {
	at := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	got := Entries(sampleApply(), "run1", "ops@bastion", at)
	// A sensitive file's digests are not journaled (want.sensitive).
	want := []struct {
		host, res, result, err, before, after string
		sensitive                             bool
	}{
		{"h1", `file "/etc/a"`, Changed, "", "b1", "a1", false},
		{"h1", `command "c"`, Failed, "exit 3", "", "", false},
		{"h1", `file "/etc/b"`, Skipped, "", "", "", true},
		{"h1", `file "/etc/same"`, Unchanged, "", "", "", false},
		{"h2", `file "/etc/a"`, NotApplied, "refused as stale: x", "", "", false},
	}
	if len(got) != len(want) {
		t.Fatalf("%d entries, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		g := got[i]
		if g.Host != w.host || g.Resource != w.res || g.Result != w.result || g.Error != w.err || g.Before != w.before || g.After != w.after || g.Sensitive != w.sensitive ||
			g.Run != "run1" || g.Operator != "ops@bastion" || !g.Time.Equal(at) {
			t.Errorf("entry %d = %+v, want %+v", i, g, w)
		}
	}
}

func TestAppendReadConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state", "hostplan", "journal.jsonl")
	entries := Entries(sampleApply(), "run", "op", time.Now())
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := Append(path, entries); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	got, skipped, err := Read(path)
	if err != nil || skipped != 0 || len(got) != 20*len(entries) {
		t.Fatalf("read %d entries (%d skipped, %v), want %d", len(got), skipped, err, 20*len(entries))
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("journal mode %v, want 0600", st.Mode())
	}
	// A line cut short by a crash is skipped, not fatal.
	f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString(`{"time":"2026-`)
	f.Close()
	if got, skipped, err = Read(path); err != nil || skipped != 1 || len(got) != 20*len(entries) {
		t.Errorf("after a torn line: %d entries, %d skipped, %v", len(got), skipped, err)
	}
	if none, _, err := Read(filepath.Join(t.TempDir(), "missing")); err != nil || none != nil {
		t.Errorf("missing journal: %v, %v", none, err)
	}
}

func TestDefaultPath(t *testing.T) {
	env := map[string]string{"HOME": "/home/ops"}
	if got := DefaultPath(func(k string) string { return env[k] }); got != "/home/ops/.local/state/hostplan/journal.jsonl" {
		t.Errorf("DefaultPath = %q", got)
	}
	env["XDG_STATE_HOME"] = "/var/state"
	if got := DefaultPath(func(k string) string { return env[k] }); got != "/var/state/hostplan/journal.jsonl" {
		t.Errorf("DefaultPath with XDG_STATE_HOME = %q", got)
	}
}

func TestSelect(t *testing.T) {
	var all []Entry
	for i, h := range []string{"h1", "h2", "h1", "h1"} {
		all = append(all, Entry{Host: h, Resource: fmt.Sprint(i)})
	}
	for _, tc := range []struct {
		host string
		n    int
		want string
	}{
		{"", 0, "0123"}, {"h1", 0, "023"}, {"h1", 2, "23"}, {"", 1, "3"}, {"h3", 0, ""}, {"h2", 5, "1"},
	} {
		got := ""
		for _, e := range Select(all, tc.host, tc.n) {
			got += e.Resource
		}
		if got != tc.want {
			t.Errorf("Select(%q, %d) = %q, want %q", tc.host, tc.n, got, tc.want)
		}
	}
}

// An entry's time is when its host finished the resource's task, with its start: the
// rollout's timeline. Without a span (a host not applied) it is the record's time.
func TestEntriesTimeline(t *testing.T) {
	at := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	doc := sampleApply()
	doc.Hosts[0].Tasks = []report.Span{{Task: "t", Start: at.Add(-9 * time.Second), End: at.Add(-2 * time.Second)}}
	for _, e := range Entries(doc, "run1", "ops@bastion", at) {
		switch {
		case e.Host == "h1" && (!e.Started.Equal(at.Add(-9*time.Second)) || !e.Time.Equal(at.Add(-2*time.Second))):
			t.Errorf("h1 %s: started %v, time %v; want the task's span", e.Resource, e.Started, e.Time)
		case e.Host == "h2" && (!e.Started.IsZero() || !e.Time.Equal(at)):
			t.Errorf("h2 %s: started %v, time %v; want no start and the record's time", e.Resource, e.Started, e.Time)
		}
	}
}
