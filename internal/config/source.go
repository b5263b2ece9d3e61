package config

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"unicode/utf8"
)

// Source reads the local files a plan is made of: its .hcl files, var files, and what
// file(), templatefile() and resources' source/template attributes read.
type Source interface {
	// PlanFiles lists the plan files of path (a file, or a directory's *.hcl in name order)
	// and the directory relative paths in functions start from.
	PlanFiles(path string) (files []string, dir string, err error)
	ReadFile(path string) ([]byte, error)
	// ReadPrivate reads a file whose path is sensitive (file(var.key_path)): a saved
	// plan keeps neither its path nor its content.
	ReadPrivate(path string) ([]byte, error)
}

// OS reads the local file system (what Load used to do directly).
var OS Source = osSource{}

type osSource struct{}

func (osSource) PlanFiles(path string) ([]string, string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, "", err
	}
	if !st.IsDir() {
		abs, err := filepath.Abs(path)
		if err != nil {
			return nil, "", err
		}
		return []string{path}, filepath.Dir(abs), nil
	}
	files, err := filepath.Glob(filepath.Join(path, "*.hcl"))
	if err != nil {
		return nil, "", err
	}
	if len(files) == 0 {
		return nil, "", fmt.Errorf("no *.hcl plan files in %s", path)
	}
	sort.Strings(files)
	abs, err := filepath.Abs(path)
	return files, abs, err
}

func (osSource) ReadFile(path string) ([]byte, error) { return os.ReadFile(path) }

func (osSource) ReadPrivate(path string) ([]byte, error) { return os.ReadFile(path) }

// ListDir lists a directory for inventory.Files: its entries in name order, each
// directory's name (after following a symbolic link) with a trailing "/".
func (osSource) ListDir(path string) ([]string, error) {
	entries, err := os.ReadDir(path)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		name := e.Name()
		if st, err := os.Stat(filepath.Join(path, name)); err == nil && st.IsDir() {
			name += "/"
		}
		names = append(names, name)
	}
	return names, nil
}

// dirLister is a Source that can list directories (inventory directories and their
// group_vars); the Recorder records what it lists.
type dirLister interface {
	ListDir(path string) ([]string, error)
}

// orOS lets the zero value of Inputs and Plan read the local file system.
func orOS(s Source) Source {
	if s == nil {
		return OS
	}
	return s
}

// ErrNotSaved is why a Snapshot refuses a read: planning never read that path, so
// the saved plan cannot say what it held.
var ErrNotSaved = errors.New("the saved plan does not contain this path")

// Recorder wraps a Source and keeps everything it returned (safe for concurrent use:
// evaluation runs per host in parallel).
//
// The first answer for a path is the one kept, and later reads of the path get it
// again: hosts evaluated in parallel then all see the same bytes even if the file is
// edited while the plan is made, and the Snapshot replays exactly what every host saw.
type Recorder struct {
	src Source

	mu      sync.Mutex
	plans   map[string]recordedPlan
	files   map[string]recordedFile
	dirs    map[string]recordedDir
	private map[string]bool // paths read with ReadPrivate
}

type recordedDir struct {
	names []string
	err   error
}

type recordedPlan struct {
	files []string
	dir   string
	err   error
}

type recordedFile struct {
	data []byte
	err  error
}

// NewRecorder records what s returns; a nil s is OS.
func NewRecorder(s Source) *Recorder {
	return &Recorder{src: orOS(s), plans: map[string]recordedPlan{}, files: map[string]recordedFile{}, dirs: map[string]recordedDir{}, private: map[string]bool{}}
}

// PlanFiles implements Source.
func (r *Recorder) PlanFiles(path string) ([]string, string, error) {
	r.mu.Lock()
	rp, ok := r.plans[path]
	r.mu.Unlock()
	if !ok {
		files, dir, err := r.src.PlanFiles(path)
		r.mu.Lock()
		if rp, ok = r.plans[path]; !ok {
			rp = recordedPlan{files: slices.Clone(files), dir: dir, err: err}
			r.plans[path] = rp
		}
		r.mu.Unlock()
	}
	return slices.Clone(rp.files), rp.dir, rp.err
}

// ReadFile implements Source. Its method value fits inventory.LoadFrom.
func (r *Recorder) ReadFile(path string) ([]byte, error) {
	r.mu.Lock()
	rf, ok := r.files[path]
	r.mu.Unlock()
	if !ok {
		data, err := r.src.ReadFile(path)
		r.mu.Lock()
		if rf, ok = r.files[path]; !ok {
			// Failures are kept too: try() and can() can turn a missing file into a
			// value, so its absence is as much an input of the plan as content is.
			rf = recordedFile{data: bytes.Clone(data), err: err}
			if err != nil {
				rf.data = nil
			}
			r.files[path] = rf
		}
		r.mu.Unlock()
	}
	if rf.err != nil {
		return nil, rf.err
	}
	// Callers own what they get; the record must not change under them.
	return bytes.Clone(rf.data), nil
}

// ListDir lists a directory through the Source (which must be able to), keeping the
// first answer like ReadFile. Its method value fits inventory.Files.
func (r *Recorder) ListDir(path string) ([]string, error) {
	r.mu.Lock()
	rd, ok := r.dirs[path]
	r.mu.Unlock()
	if !ok {
		rd.err = fmt.Errorf("list %s: this source cannot list directories", path)
		if l, can := r.src.(dirLister); can {
			rd.names, rd.err = l.ListDir(path)
		}
		r.mu.Lock()
		if prev, ok := r.dirs[path]; ok {
			rd = prev
		} else {
			r.dirs[path] = rd
		}
		r.mu.Unlock()
	}
	return slices.Clone(rd.names), rd.err
}

// ReadPrivate implements Source. Only that the path was read is kept, for the
// Snapshot's digest; its content is read again from the source each time (the
// replay of a saved plan reads it from disk, and the plan's fingerprints find it changed).
func (r *Recorder) ReadPrivate(path string) ([]byte, error) {
	r.mu.Lock()
	r.private[path] = true
	r.mu.Unlock()
	return r.src.ReadPrivate(path)
}

// Snapshot returns a copy of what was read so far.
func (r *Recorder) Snapshot() *Snapshot {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := &Snapshot{Plans: make(map[string]SnapshotPlan, len(r.plans)), Files: make(map[string]SnapshotFile, len(r.files))}
	for path, rp := range r.plans {
		sp := SnapshotPlan{Files: slices.Clone(rp.files), Dir: rp.dir}
		if rp.err != nil {
			sp = SnapshotPlan{Error: rp.err.Error()}
		}
		s.Plans[path] = sp
	}
	for path, rf := range r.files {
		s.Files[path] = snapshotFile(rf)
	}
	for path, rd := range r.dirs {
		if s.Dirs == nil {
			s.Dirs = map[string]SnapshotDir{}
		}
		s.Dirs[path] = snapshotDir(rd)
	}
	for path := range r.private {
		s.Private = append(s.Private, newPathDigest(path))
	}
	return s
}

func snapshotDir(rd recordedDir) SnapshotDir {
	if rd.err == nil {
		return SnapshotDir{Names: slices.Clone(rd.names)}
	}
	cause := rd.err
	var pe *fs.PathError
	if errors.As(rd.err, &pe) {
		cause = pe.Err
	}
	return SnapshotDir{Error: cause.Error(), NotExist: errors.Is(rd.err, fs.ErrNotExist)}
}

// PathDigest is a salted SHA-256 of a path: a replay can tell the path it is asked for,
// and the saved plan does not say what it is.
type PathDigest struct {
	Salt   string `json:"salt"`
	SHA256 string `json:"sha256"`
}

func newPathDigest(path string) PathDigest {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		panic(err) // crypto/rand does not fail on the systems Go supports
	}
	d := PathDigest{Salt: hex.EncodeToString(salt)}
	d.SHA256 = d.of(path)
	return d
}

func (d PathDigest) of(path string) string {
	sum := sha256.Sum256([]byte(d.Salt + "\x00" + path))
	return hex.EncodeToString(sum[:])
}

func snapshotFile(rf recordedFile) SnapshotFile {
	if rf.err != nil {
		cause := rf.err
		var pe *fs.PathError
		if errors.As(rf.err, &pe) {
			// The replay adds the path again; keep only what went wrong.
			cause = pe.Err
		}
		return SnapshotFile{Error: cause.Error(), NotExist: errors.Is(rf.err, fs.ErrNotExist)}
	}
	if utf8.Valid(rf.data) {
		return SnapshotFile{Content: string(rf.data)}
	}
	return SnapshotFile{Content: base64.StdEncoding.EncodeToString(rf.data), Base64: true}
}

// Snapshot replays recorded reads; anything not recorded is an error naming the path
// and wrapping ErrNotSaved. Keys are the paths exactly as the code asked for them, so
// a replay from another working directory still matches. It is JSON-serialisable and
// must not be changed while in use as a Source.
type Snapshot struct {
	// Plans are PlanFiles results by the path argument.
	Plans map[string]SnapshotPlan `json:"plans,omitempty"`
	// Files are ReadFile results by path.
	Files map[string]SnapshotFile `json:"files,omitempty"`
	// Dirs are ListDir results by path (an inventory directory, group_vars and
	// host_vars, whether or not they existed).
	Dirs map[string]SnapshotDir `json:"dirs,omitempty"`
	// Private are the paths read with ReadPrivate, as digests; a replay reads them again
	// from the local file system.
	Private []PathDigest `json:"private_files,omitempty"`
}

// SnapshotPlan is one recorded PlanFiles result.
type SnapshotPlan struct {
	Files []string `json:"files,omitempty"`
	Dir   string   `json:"dir,omitempty"`
	// Error is set when listing failed; Files and Dir are then empty.
	Error string `json:"error,omitempty"`
}

// SnapshotFile is one recorded ReadFile result.
type SnapshotFile struct {
	// Content is the file's text, or its bytes in standard base64 when Base64 is set
	// (JSON strings cannot carry bytes that are not UTF-8).
	Content string `json:"content,omitempty"`
	Base64  bool   `json:"base64,omitempty"`
	// Error is set when reading failed, NotExist when it failed for want of the file
	// (so errors.Is(err, fs.ErrNotExist) holds on replay as it did when recorded).
	Error    string `json:"error,omitempty"`
	NotExist bool   `json:"not_exist,omitempty"`
}

// SnapshotDir is one recorded ListDir result.
type SnapshotDir struct {
	Names    []string `json:"names,omitempty"`
	Error    string   `json:"error,omitempty"`
	NotExist bool     `json:"not_exist,omitempty"`
}

// ListDir replays Recorder.ListDir.
func (s *Snapshot) ListDir(path string) ([]string, error) {
	sd, ok := s.Dirs[path]
	if !ok {
		return nil, &fs.PathError{Op: "list", Path: path, Err: ErrNotSaved}
	}
	if sd.Error != "" || sd.NotExist {
		return nil, &fs.PathError{Op: "list", Path: path, Err: &savedError{msg: sd.Error, notExist: sd.NotExist}}
	}
	return slices.Clone(sd.Names), nil
}

// PlanFiles implements Source.
func (s *Snapshot) PlanFiles(path string) ([]string, string, error) {
	sp, ok := s.Plans[path]
	if !ok {
		return nil, "", &fs.PathError{Op: "list plan files", Path: path, Err: ErrNotSaved}
	}
	if sp.Error != "" {
		return nil, "", errors.New(sp.Error)
	}
	return slices.Clone(sp.Files), sp.Dir, nil
}

// ReadFile implements Source. Its method value fits inventory.LoadFrom.
func (s *Snapshot) ReadFile(path string) ([]byte, error) {
	sf, ok := s.Files[path]
	if !ok {
		return nil, &fs.PathError{Op: "open", Path: path, Err: ErrNotSaved}
	}
	if sf.Error != "" || sf.NotExist {
		return nil, &fs.PathError{Op: "open", Path: path, Err: &savedError{msg: sf.Error, notExist: sf.NotExist}}
	}
	if !sf.Base64 {
		return []byte(sf.Content), nil
	}
	data, err := base64.StdEncoding.DecodeString(sf.Content)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: fmt.Errorf("the saved plan holds it in bad base64: %w", err)}
	}
	return data, nil
}

// ReadPrivate implements Source: a path the plan read with ReadPrivate is read again from
// the local file system.
func (s *Snapshot) ReadPrivate(path string) ([]byte, error) {
	for _, d := range s.Private {
		if d.of(path) == d.SHA256 {
			return os.ReadFile(path)
		}
	}
	return nil, &fs.PathError{Op: "open", Path: path, Err: ErrNotSaved}
}

// savedError is a read failure as the saved plan recorded it.
type savedError struct {
	msg      string
	notExist bool
}

func (e *savedError) Error() string {
	if e.msg == "" {
		return fs.ErrNotExist.Error()
	}
	return e.msg
}

func (e *savedError) Is(target error) bool { return e.notExist && target == fs.ErrNotExist }
