// Package planfile reads and writes saved plans (`hostplan plan -out FILE`): the
// reviewed plan as a report.Plan, every input it was made from, and nothing secret.
//
// The file is one JSON object:
//
//	{"format": "hostplan-plan", "format_version": 1, "hostplan_version": "...",
//	 "created": "2026-11-23T10:00:00Z", "body": {...}, "sha256": "<hex of body>"}
//
// The digest over the body (compacted) tells a truncated or damaged file from a plan; it
// has no key, so it authenticates nothing: anyone who can edit the file can recompute
// it. What makes a plan trusted is its detached SSH signature, FILE.sig (see sign.go),
// over the file's exact bytes. The body holds the inputs (plan files, inventory files, variable values; sensitive
// variables as salted SHA-256 digests only) and the plan document with a fingerprint per
// step. Applying a saved plan makes the plan again from those inputs and applies a host
// only where every step's fingerprint is the one reviewed (see Stale).
package planfile

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/hostplan/hostplan/internal/config"
	"github.com/hostplan/hostplan/internal/report"
)

// Format names the file type; Version is the format's version. A file of a higher
// version is refused rather than misread.
const (
	Format  = "hostplan-plan"
	Version = 1
)

// File is a saved plan.
type File struct {
	Hostplan string    // version of the hostplan that wrote it
	Created  time.Time // when
	Inputs   Inputs
	// Plan is the reviewed plan; its ContentKey is saved with it.
	Plan *report.Plan
	// Raw is the file's bytes as read by Parse: what its signature must cover.
	Raw []byte
}

// Inputs are what the plan was made from.
type Inputs struct {
	// PlanPath is the plan directory or file as given on the command line.
	PlanPath string           `json:"plan_path"`
	Plan     *config.Snapshot `json:"plan_files"`
	// Inventories are the -i paths; Inventory holds their content.
	Inventories []string         `json:"inventories"`
	Inventory   *config.Snapshot `json:"inventory_files"`
	Limit       string           `json:"limit,omitempty"`
	SSHConfig   string           `json:"ssh_config,omitempty"`
	// Vars are the values of the plan's non-sensitive variables as --var takes them.
	Vars []string `json:"vars"`
	// Sensitive holds a salted digest of each sensitive variable's value: enough to
	// check the value given again at apply, not to recover it.
	Sensitive map[string]Digest `json:"sensitive_vars"`
}

// Digest is a salted SHA-256 of a value.
type Digest struct {
	Salt   string `json:"salt"`
	SHA256 string `json:"sha256"`
}

// NewDigest digests value with a fresh random salt.
func NewDigest(value []byte) Digest {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	d := Digest{Salt: hex.EncodeToString(salt)}
	d.SHA256 = d.of(value)
	return d
}

// Matches reports whether value is the digested one.
func (d Digest) Matches(value []byte) bool { return d.of(value) == d.SHA256 }

func (d Digest) of(value []byte) string {
	h := sha256.New()
	h.Write([]byte(d.Salt))
	h.Write(value)
	return hex.EncodeToString(h.Sum(nil))
}

type envelope struct {
	Format   string          `json:"format"`
	Version  int             `json:"format_version"`
	Hostplan string          `json:"hostplan_version"`
	Created  time.Time       `json:"created"`
	Body     json.RawMessage `json:"body"`
	SHA256   string          `json:"sha256"`
}

type body struct {
	Inputs Inputs       `json:"inputs"`
	Plan   *report.Plan `json:"plan"`
	// ContentKey keys the plan's digests of sensitive content (report.Options): kept
	// here, not in the plan document, so that no --json output carries it.
	ContentKey []byte `json:"content_key,omitempty"`
}

// Write saves f at path, unsigned; it removes an old signature next to it (SigPath),
// which could only confuse. See WriteSigned.
func Write(path string, f *File) error {
	data, err := Marshal(f)
	if err != nil {
		return err
	}
	if err := os.Remove(SigPath(path)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("save plan: remove the old signature: %w", err)
	}
	return writeAtomic(path, data)
}

// Marshal is the file's content for f: what Write writes and a signature signs.
func Marshal(f *File) ([]byte, error) {
	b, err := json.Marshal(body{Inputs: f.Inputs, Plan: f.Plan, ContentKey: f.Plan.ContentKey})
	if err != nil {
		return nil, fmt.Errorf("save plan: %w", err)
	}
	sum := sha256.Sum256(b)
	out, err := json.MarshalIndent(envelope{Format: Format, Version: Version, Hostplan: f.Hostplan,
		Created: f.Created.UTC(), Body: b, SHA256: hex.EncodeToString(sum[:])}, "", " ")
	if err != nil {
		return nil, fmt.Errorf("save plan: %w", err)
	}
	return append(out, '\n'), nil
}

// writeAtomic writes data to path through a temp file renamed over it, readable by the
// owner only: a plan holds the inventory and the plan's files.
func writeAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("save plan: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err = tmp.Write(data); err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o600)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("save plan to %s: %w", path, err)
	}
	return nil
}

// ErrNotPlan is returned by Read for a file that is not a saved plan at all.
var ErrNotPlan = errors.New("not a hostplan plan file")

// Read loads a saved plan, refusing a file of a newer format, a truncated or edited one.
func Read(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// Parse reads a saved plan from data; name is for messages.
func Parse(name string, data []byte) (*File, error) {
	if !LooksLikePlan(data) {
		return nil, fmt.Errorf("%s: %w (make one with hostplan plan -out FILE)", name, ErrNotPlan)
	}
	var env envelope
	if err := json.Unmarshal(data, &env); err != nil {
		return nil, fmt.Errorf("%s: the plan file is truncated or corrupt (%v); make the plan again", name, err)
	}
	if env.Format != Format {
		return nil, fmt.Errorf("%s: %w (format %q)", name, ErrNotPlan, env.Format)
	}
	if env.Version > Version {
		return nil, fmt.Errorf("%s: plan format version %d was written by hostplan %s; this hostplan reads version %d at most: apply it with that hostplan or a newer one",
			name, env.Version, env.Hostplan, Version)
	}
	if env.Version < 1 {
		return nil, fmt.Errorf("%s: the plan file is corrupt (format_version %d)", name, env.Version)
	}
	// The digest is over the compact body: the file is indented for people to read.
	var compact bytes.Buffer
	if err := json.Compact(&compact, env.Body); err != nil {
		return nil, fmt.Errorf("%s: the plan file is corrupt: %v", name, err)
	}
	sum := sha256.Sum256(compact.Bytes())
	if hex.EncodeToString(sum[:]) != env.SHA256 {
		return nil, fmt.Errorf("%s: the plan file is corrupt or was edited (its checksum does not match); make the plan again", name)
	}
	var b body
	dec := json.NewDecoder(bytes.NewReader(env.Body))
	if err := dec.Decode(&b); err != nil {
		return nil, fmt.Errorf("%s: the plan file is corrupt: %v", name, err)
	}
	if b.Plan == nil || b.Inputs.Plan == nil || b.Inputs.Inventory == nil {
		return nil, fmt.Errorf("%s: the plan file is corrupt: plan or inputs missing", name)
	}
	b.Plan.ContentKey = b.ContentKey
	return &File{Hostplan: env.Hostplan, Created: env.Created, Inputs: b.Inputs, Plan: b.Plan, Raw: data}, nil
}

// LooksLikePlan reports whether data is meant to be a saved plan (a JSON object; an HCL
// plan file never starts with "{"), so that `apply X` tells a plan file, even a broken
// one, from a single .hcl plan file.
func LooksLikePlan(data []byte) bool {
	return bytes.HasPrefix(bytes.TrimLeft(data, " \t\r\n"), []byte(`{`))
}
