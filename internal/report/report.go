// Package report turns what a run produced (engine.Plan, engine.ApplyResult) into
// documents: plain data with a documented, versioned JSON form. Every view of a plan
// (human, JSON, Markdown) and every saved plan file is made from these, so a saved plan
// shows exactly what `plan` showed. Diffs are rendered here, once; sensitive content
// leaves this package as a digest, never as text.
package report

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/hostplan/hostplan/internal/diff"
	"github.com/hostplan/hostplan/internal/engine"
	"github.com/hostplan/hostplan/tasks"
)

// FormatVersion is the version of the JSON documents. It changes when a field is
// removed or changes meaning; added fields keep it.
const FormatVersion = 1

// SensitiveLine replaces every line of a sensitive file in a diff: the diff shows which
// lines change, never what they hold.
const SensitiveLine = "(sensitive)"

// Plan is a plan as data.
type Plan struct {
	FormatVersion int       `json:"format_version"`
	Kind          string    `json:"kind"` // "plan"
	Rollouts      []Rollout `json:"rollouts"`
	Hosts         []Host    `json:"hosts"`
	Summary       Summary   `json:"summary"`
	// ContentKey keyed the digests of sensitive content in this plan (see
	// Options.ContentKey). It is in no JSON document: only a saved plan keeps it, so
	// that the plan made again at apply digests alike.
	ContentKey []byte `json:"-"`
}

// Rollout is a task that does not change all its hosts at once.
type Rollout struct {
	Task       string `json:"task"`
	Serial     string `json:"serial,omitempty"`      // "1", "30%"
	RunOnce    string `json:"run_once,omitempty"`    // the one host a run_once task runs on
	HealthGate string `json:"health_gate,omitempty"` // what each host waits for
	// Per is the task's per expression; Groups its hosts by the value of per, each group
	// rolled on its own (for run_once, the one host of each group).
	Per               string         `json:"per,omitempty"`
	RunOncePerGroup   bool           `json:"run_once_per_group,omitempty"`
	Groups            []RolloutGroup `json:"groups,omitempty"`
	MaxFailPercentage *int           `json:"max_fail_percentage,omitempty"`
}

// RolloutGroup is the hosts of a task that share one value of its per (a cluster).
type RolloutGroup struct {
	Key   string   `json:"key"`
	Hosts []string `json:"hosts"`
}

// Host is the plan for one host.
type Host struct {
	Name string `json:"name"`
	// Error is set when the host could not be planned at all (unreachable, facts).
	Error string `json:"error,omitempty"`
	// Notes are things to know that are not changes (a stale lock taken over).
	Notes []string `json:"notes,omitempty"`
	Steps []Step   `json:"steps"`
}

// Step is one resource on one host.
type Step struct {
	Task    string   `json:"task"`
	Type    string   `json:"type"`
	Label   string   `json:"label"`
	Action  string   `json:"action,omitempty"` // no-op, create, update, delete, run; empty on error
	Details []string `json:"details,omitempty"`
	// Diff is a unified diff of the change: a file's content, or what a tool on the host
	// (kubectl diff) reported. Lines of sensitive content read SensitiveLine.
	Diff string `json:"diff,omitempty"`
	// Sensitive says the file's content derives from a sensitive value: its diff is
	// masked and its digests (Before, After, Fingerprint) are keyed, not plain SHA-256.
	Sensitive bool   `json:"sensitive,omitempty"`
	Error     string `json:"error,omitempty"`
	// Before is the file the change was computed from, for the stale check of a saved
	// plan; After is what the change leaves (path, exists and sha256 only).
	Before *FileState `json:"before,omitempty"`
	After  *FileAfter `json:"after,omitempty"`
	// Fingerprint is a digest of the planned change and of the state it was computed
	// from; the same plan made again against an unchanged host has the same one.
	Fingerprint string `json:"fingerprint,omitempty"`
}

// FileState describes a file on a host when the plan was made. SHA256 is the plain
// digest of the content, or for sensitive content an HMAC-SHA256 under the plan's
// ContentKey: a plain digest of a short secret ("TOKEN=...") is a guessable stand-in
// for the secret itself.
type FileState struct {
	Path   string `json:"path"`
	Exists bool   `json:"exists"`
	SHA256 string `json:"sha256,omitempty"`
	Mode   string `json:"mode,omitempty"` // "0644"
	UID    int    `json:"uid"`
	GID    int    `json:"gid"`
}

// FileAfter is the file a change leaves.
type FileAfter struct {
	Path   string `json:"path"`
	Exists bool   `json:"exists"`
	SHA256 string `json:"sha256,omitempty"`
}

// Summary counts a plan's outcome.
type Summary struct {
	Hosts       int `json:"hosts"`
	Changes     int `json:"changes"`
	Unchanged   int `json:"unchanged"`
	FailedHosts int `json:"failed_hosts"`
}

// Address names the step's resource as plans print it: file "/etc/motd".
func (s *Step) Address() string { return fmt.Sprintf("%s %q", s.Type, s.Label) }

// Changed reports whether the step changes anything.
func (s *Step) Changed() bool { return s.Error == "" && s.Action != string(tasks.NoOp) }

// Failed reports whether the host or any of its steps failed to plan.
func (h *Host) Failed() bool {
	if h.Error != "" {
		return true
	}
	for _, s := range h.Steps {
		if s.Error != "" {
			return true
		}
	}
	return false
}

// HasChanges reports whether applying the plan would change anything.
func (p *Plan) HasChanges() bool { return p.Summary.Changes > 0 }

// Options tune how a plan becomes a document.
type Options struct {
	// DiffContext is the lines of context in file diffs.
	DiffContext int
	// ErrorText formats an error for people (HCL diagnostics with source snippets);
	// nil uses err.Error().
	ErrorText func(error) string
	// ContentKey keys the digests of sensitive content; nil makes a fresh random key, so
	// that digests of one run cannot be compared with another's or guessed. Applying a
	// saved plan passes the plan's key so its stale check compares like with like.
	ContentKey []byte
}

// NewContentKey makes a random key for Options.ContentKey.
func NewContentKey() []byte {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return k
}

// FromPlan makes the document of a plan.
func FromPlan(p *engine.Plan, o Options) *Plan {
	if o.ErrorText == nil {
		o.ErrorText = func(err error) string { return err.Error() }
	}
	if o.ContentKey == nil {
		o.ContentKey = NewContentKey()
	}
	doc := &Plan{FormatVersion: FormatVersion, Kind: "plan", Rollouts: []Rollout{}, Hosts: []Host{}, ContentKey: o.ContentKey}
	for _, r := range p.Rollouts {
		doc.Rollouts = append(doc.Rollouts, rollout(r))
	}
	for _, hp := range p.Hosts {
		h := Host{Name: hp.Host, Steps: []Step{}, Notes: hp.Notes}
		if hp.Err != nil {
			h.Error = strings.TrimRight(o.ErrorText(hp.Err), "\n")
		}
		for _, st := range hp.Steps {
			s := Step{Task: st.Task, Type: st.Type, Label: st.Label}
			if st.Err != nil {
				s.Error = strings.TrimRight(o.ErrorText(st.Err), "\n")
			} else {
				fillChange(&s, hp.Host, st.Change, o)
			}
			h.Steps = append(h.Steps, s)
		}
		doc.Hosts = append(doc.Hosts, h)
	}
	doc.Summary = summarize(doc.Hosts)
	return doc
}

func summarize(hosts []Host) Summary {
	s := Summary{Hosts: len(hosts)}
	for i := range hosts {
		h := &hosts[i]
		if h.Failed() {
			s.FailedHosts++
		}
		for j := range h.Steps {
			switch st := &h.Steps[j]; {
			case st.Error != "":
			case st.Changed():
				s.Changes++
			default:
				s.Unchanged++
			}
		}
	}
	return s
}

func fillChange(s *Step, host string, c *tasks.Change, o Options) {
	s.Action = string(c.Action)
	s.Details = c.Details
	s.Diff = c.Diff
	sum := contentDigest(c.File, o.ContentKey)
	if fc := c.File; fc != nil {
		s.Sensitive = fc.Sensitive
		s.Before = &FileState{Path: fc.Path, Exists: fc.OldExists, UID: fc.OldUID, GID: fc.OldGID}
		if fc.OldExists {
			s.Before.SHA256 = sum(fc.Old)
			s.Before.Mode = tasks.FormatMode(fc.OldMode)
		}
		s.After = &FileAfter{Path: fc.Path, Exists: fc.NewExists}
		if fc.NewExists {
			s.After.SHA256 = sum(fc.New)
		}
		if c.Changed() {
			s.Diff = fileDiff(host, fc, o.DiffContext)
		}
	}
	s.Fingerprint = fingerprint(c, sum)
}

// contentDigest is how a change's file contents are digested: plain SHA-256, or keyed
// when the content is sensitive.
func contentDigest(fc *tasks.FileChange, key []byte) func([]byte) string {
	if fc == nil || !fc.Sensitive {
		return digest
	}
	return func(b []byte) string {
		m := hmac.New(sha256.New, key)
		m.Write(b)
		return hex.EncodeToString(m.Sum(nil))
	}
}

// fileDiff is the unified diff of a file change; a sensitive one keeps its shape (which
// lines change) with every line's text replaced.
func fileDiff(host string, fc *tasks.FileChange, context int) string {
	oldName := host + ":" + fc.Path
	newName := host + ":" + fc.Path + " (planned)"
	if !fc.OldExists {
		oldName = "/dev/null"
	}
	if !fc.NewExists {
		newName = "/dev/null"
	}
	text := diff.Unified(oldName, newName, fc.Old, fc.New, context)
	if text == "" && fc.OldExists != fc.NewExists {
		// An empty file created or removed has no lines to show.
		text = fmt.Sprintf("--- %s\n+++ %s\n", oldName, newName)
	}
	if fc.Sensitive {
		text = maskDiff(text)
	}
	return text
}

// maskDiff replaces the text of every content line of a unified diff. Headers (---,
// +++, @@) carry only names and line numbers.
func maskDiff(text string) string {
	var b strings.Builder
	for _, line := range strings.SplitAfter(text, "\n") {
		switch {
		case line == "":
		case strings.HasPrefix(line, "--- "), strings.HasPrefix(line, "+++ "), strings.HasPrefix(line, "@@"):
			b.WriteString(line)
		case strings.HasPrefix(line, `\`): // "\ No newline at end of file"
			b.WriteString(line)
		default:
			b.WriteString(line[:1] + SensitiveLine + "\n")
		}
	}
	return b.String()
}

func digest(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// fingerprint digests everything a change was computed from and would do. File contents
// enter as sum's digests, so a sensitive file's fingerprint is keyed like its digests.
func fingerprint(c *tasks.Change, sum func([]byte) string) string {
	type file struct {
		Path                 string
		OldExists, NewExists bool
		Old, New             string
		OldMode              uint32
		OldUID, OldGID       int
	}
	v := struct {
		Action      tasks.Action
		Details     []string
		Diff        string
		ReadVersion string
		File        *file
	}{c.Action, c.Details, c.Diff, c.ReadVersion, nil}
	if fc := c.File; fc != nil {
		v.File = &file{fc.Path, fc.OldExists, fc.NewExists, sum(fc.Old), sum(fc.New), uint32(fc.OldMode), fc.OldUID, fc.OldGID}
	}
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // plain data
	}
	return digest(b)
}

func rollout(r engine.Rollout) Rollout {
	out := Rollout{Task: r.Task, Serial: r.Serial, RunOnce: r.RunOnce, HealthGate: r.Gate, Per: r.Per, RunOncePerGroup: r.OncePerGroup}
	for _, g := range r.Groups {
		out.Groups = append(out.Groups, RolloutGroup{Key: g.Key, Hosts: g.Hosts})
	}
	if r.Per != "" && r.MaxFailPercent >= 0 {
		out.MaxFailPercentage = &r.MaxFailPercent
	}
	return out
}
