// Package journal keeps the local record of what every apply did: one JSON line per host
// and resource, appended to a file on the machine hostplan runs on (the bastion), so
// "who changed what on which host, and when" has an answer after the terminal is gone.
package journal

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hostplan/hostplan/internal/report"
)

// Entry is one resource on one host in one apply.
type Entry struct {
	// Time is when the host finished the resource's task (its changes, gate and any
	// rollback), else when the apply was recorded; Started is when the host began that
	// task. Together they give a rollout's timeline.
	Time     time.Time `json:"time"`
	Started  time.Time `json:"started,omitzero"`
	Run      string    `json:"run"`      // the apply's id, shared by its entries
	Operator string    `json:"operator"` // user@machine that ran hostplan
	Host     string    `json:"host"`
	Resource string    `json:"resource"` // file "/etc/motd"
	Task     string    `json:"task"`
	Action   string    `json:"action"` // planned: no-op, create, update, delete, run
	// Before and After are content digests of a file change (sha256), empty otherwise
	// and for sensitive content (Sensitive): a plain digest of a short secret can be
	// guessed, and the plan's keyed one means nothing once the run is over.
	Before    string `json:"before,omitempty"`
	After     string `json:"after,omitempty"`
	Sensitive bool   `json:"sensitive,omitempty"`
	// Result is what happened: changed, unchanged, failed, skipped (an earlier step
	// failed or the rollout stopped), not applied (the host's plan failed or was stale),
	// rolled back.
	Result string `json:"result"`
	Error  string `json:"error,omitempty"`
}

// Results.
const (
	Changed    = "changed"
	Unchanged  = "unchanged"
	Failed     = "failed"
	Skipped    = "skipped"
	NotApplied = "not applied"
	RolledBack = "rolled back"
)

// DefaultPath is $XDG_STATE_HOME/hostplan/journal.jsonl, else
// ~/.local/state/hostplan/journal.jsonl.
func DefaultPath(getenv func(string) string) string {
	if d := getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "hostplan", "journal.jsonl")
	}
	return filepath.Join(getenv("HOME"), ".local", "state", "hostplan", "journal.jsonl")
}

// Entries turns an apply's document into journal entries, one per host and resource.
func Entries(doc *report.Apply, run, operator string, at time.Time) []Entry {
	planned := map[string]*report.Host{}
	if doc.Plan != nil {
		for i := range doc.Plan.Hosts {
			planned[doc.Plan.Hosts[i].Name] = &doc.Plan.Hosts[i]
		}
	}
	var out []Entry
	for _, hr := range doc.Hosts {
		hp := planned[hr.Name]
		if hp == nil {
			continue
		}
		results := stepResults(&hr)
		for _, st := range hp.Steps {
			e := Entry{Time: at.UTC(), Run: run, Operator: operator, Host: hr.Name, Resource: st.Address(), Task: st.Task, Action: st.Action}
			if i := slices.IndexFunc(hr.Tasks, func(s report.Span) bool { return s.Task == st.Task }); i >= 0 {
				e.Started, e.Time = hr.Tasks[i].Start.UTC(), hr.Tasks[i].End.UTC()
			}
			e.Before, e.After, e.Sensitive = digests(&st)
			e.Result, e.Error = stepResult(&hr, &st, results)
			out = append(out, e)
		}
	}
	return out
}

// stepResults are the results of the steps the apply names in hr, by address; a
// rollback's overrides the change it undid.
func stepResults(hr *report.HostResult) map[string]string {
	results := map[string]string{}
	for _, a := range hr.Changed {
		results[a] = Changed
	}
	for _, a := range hr.Skipped {
		results[a] = Skipped
	}
	for _, hc := range hr.Health {
		if hc.Rollback != nil {
			for _, a := range hc.Rollback.Restored {
				results[a] = RolledBack
			}
		}
	}
	if hr.Failed != "" {
		results[hr.Failed] = Failed
	}
	return results
}

// stepResult is the result and error of the step st on the host hr; results are
// stepResults(hr). A step the apply does not name was unchanged, unless it or its host
// could not be planned.
func stepResult(hr *report.HostResult, st *report.Step, results map[string]string) (result, errText string) {
	switch r, ok := results[st.Address()]; {
	case hr.Error != "":
		return NotApplied, strings.TrimPrefix(hr.Error, "not applied: ")
	case ok:
		if r == Failed {
			return r, hr.FailedError
		}
		return r, ""
	case st.Error != "":
		return NotApplied, st.Error
	default:
		return Unchanged, ""
	}
}

// digests are a step's content digests for the journal: none for sensitive content.
func digests(st *report.Step) (before, after string, sensitive bool) {
	if st.Sensitive {
		return "", "", true
	}
	if st.Before != nil {
		before = st.Before.SHA256
	}
	if st.After != nil {
		after = st.After.SHA256
	}
	return before, after, false
}

// Append adds entries to the journal at path, creating it (mode 0600) and its
// directory. A lock keeps the lines of two concurrent applies from interleaving.
func Append(path string, entries []Entry) error {
	if len(entries) == 0 {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		return fmt.Errorf("journal: lock %s: %w", path, err)
	}
	var b strings.Builder
	for _, e := range entries {
		line, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("journal: %w", err)
		}
		b.Write(line)
		b.WriteByte('\n')
	}
	if _, err := io.WriteString(f, b.String()); err != nil {
		return fmt.Errorf("journal: write %s: %w", path, err)
	}
	return nil
}

// Select returns the entries of host ("" for every host), at most the last n of them
// (0 for all).
func Select(entries []Entry, host string, n int) []Entry {
	var out []Entry
	for _, e := range entries {
		if host == "" || e.Host == host {
			out = append(out, e)
		}
	}
	if n > 0 && len(out) > n {
		out = out[len(out)-n:]
	}
	return out
}

// Read returns every entry of the journal at path, oldest first; a missing journal has
// none. A line that is not an entry (a write cut short) is skipped and counted.
func Read(path string) (entries []Entry, skipped int, err error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("journal: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	for sc.Scan() {
		var e Entry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil || e.Host == "" {
			skipped++
			continue
		}
		entries = append(entries, e)
	}
	if err := sc.Err(); err != nil {
		return entries, skipped, fmt.Errorf("journal: read %s: %w", path, err)
	}
	return entries, skipped, nil
}
