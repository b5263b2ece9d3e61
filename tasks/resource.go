// Package tasks holds hostplan's resource types. Each type lives in its own file and does
// three things: read the host's current state, compare it with the desired state, and
// apply the difference. Planning never changes anything on a host.
package tasks

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"sort"

	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"

	"github.com/hostplan/hostplan/internal/facts"
	"github.com/hostplan/hostplan/internal/firewall"
	"github.com/hostplan/hostplan/internal/transport"
)

// Host is one connected host as resources see it.
type Host struct {
	Name  string
	Conn  transport.Conn
	Facts *facts.Facts
	// DialsUnix: Conn reaches a Unix socket on the host as the user commands run as
	// (transport.DialsUnix); set before the host is dialed too, for the reads guessed
	// ahead of its facts.
	DialsUnix bool
	// Bus is the host's system bus connection for the run, shared by the firewalld
	// work of its steps (firewall.Bus); nil connects for each.
	Bus *firewall.Bus
	// Step is the address of the step being applied, set by the engine, for the work it
	// leaves for the end of its task (Later).
	Step string

	// dirs and files are what earlier steps of this run will have created, so a later
	// step's plan can count on them (a file's parent, a policy a static pod mounts).
	dirs, files map[string]bool
	rules       *firewall.Rules
	zones       *firewall.Zones
	later       []*laterWork
}

func (h *Host) willCreateDir(p string) {
	if h.dirs == nil {
		h.dirs = map[string]bool{}
	}
	h.dirs[p] = true
}

func (h *Host) willCreateFile(p string) {
	if h.files == nil {
		h.files = map[string]bool{}
	}
	h.files[p] = true
}

// Resource is one declared resource, evaluated for one host.
type Resource interface {
	// Type is the block type, e.g. "file".
	Type() string
	// Label is the block label, e.g. "/etc/motd".
	Label() string
	// Plan reads current state and returns what Apply would do. It must not modify the host.
	Plan(ctx context.Context, h *Host) (*Change, error)
	// Apply carries out a change that Plan returned for the same host.
	Apply(ctx context.Context, h *Host, c *Change) error
}

// Prefetcher is a resource whose Plan runs read-only commands that are known before it
// plans. The engine runs the reads of all a host's steps in one session ahead of them
// (transport.Prefetch), instead of a session per read.
type Prefetcher interface {
	// Reads lists the commands Plan will run on h, exactly as it will run them.
	Reads(h *Host) []string
}

// GuessSkipper is a Prefetcher some of whose reads, guessed before the host's facts
// (Reads with h.Facts nil), will not be needed where a shell condition holds: the guess
// skips them there (transport.Sections.Skipping). A skipped read that is needed after
// all runs when Plan asks for it.
type GuessSkipper interface {
	// SkipGuess is that condition for read, one of the guessed reads ("": none).
	SkipGuess(read string) string
}

// BusUser is a resource that may read and change firewalld over the host's system bus.
// On a host that connection reaches, the engine has the facts leave firewalld's state
// open and asks it in the connection the steps will share (firewall.FirewalldRunning),
// rather than with busctl, a process.
type BusUser interface {
	UsesBus() bool
}

// FileLooker is a resource whose Plan looks at files (Conn.Stat, Conn.ReadFile) known
// before it plans. The engine reads them with the other reads (transport.FileReads),
// so that a plan needs no file session.
type FileLooker interface {
	// Looks lists the paths Plan will stat on h, and which of them it reads.
	Looks(h *Host) []transport.Look
}

// Reverter is a resource whose applied change can be undone, for the rollback of a
// rolling apply whose health gate failed.
type Reverter interface {
	// Revert restores what the host had before Apply carried out c.
	Revert(ctx context.Context, h *Host, c *Change) error
}

// Action is what a change does to a resource.
type Action string

// Actions, in the words a plan prints.
const (
	NoOp   Action = "no-op"
	Create Action = "create"
	Update Action = "update"
	Delete Action = "delete"
	Run    Action = "run"
)

// Change is the planned difference for one resource on one host.
type Change struct {
	Action Action
	// Details are short human lines ("mode 0644 -> 0600", "would run: no guard").
	Details []string
	// File is set when the change writes or removes a file, for a unified diff.
	File *FileChange
	// Diff is a unified diff made by a tool on the host (kubectl diff), when the change
	// is not a file's.
	Diff string
	// ReadVersion is the version of an API object the plan read (a resourceVersion);
	// the apply is refused when the object changed since.
	ReadVersion string
	// Commands are the shell lines Apply runs, in order, exactly as the plan shows them
	// ("would run: ..."), for changes made by commands (the firewall resources).
	Commands []string
	// Before is the change of a resource this one builds for itself, which Apply carries
	// out first (the forwarding sysctl an iptables port forward needs).
	Before *Change
	// Runtime is set when Plan found a setting of the running system (not a file) to
	// change: sysctl's value in /proc/sys.
	Runtime bool
}

// FileChange is the content of a file before and after the change.
type FileChange struct {
	// Path is the file read and written. Link is the path the resource names when that
	// is a symlink to Path (see readFollowing), else "".
	Path      string
	Link      string
	Old, New  []byte
	OldExists bool
	OldMode   fs.FileMode
	OldUID    int
	OldGID    int
	NewExists bool
	// Sensitive content is never shown; the plan only says that it changes.
	Sensitive bool
}

// Changed reports whether the change does anything.
func (c *Change) Changed() bool { return c != nil && c.Action != NoOp }

// addCommands adds commands the change runs, and shows them.
func (c *Change) addCommands(commands []string) {
	c.Commands = append(c.Commands, commands...)
	for _, s := range commands {
		c.Details = append(c.Details, "would run: "+s)
	}
}

// commandsAction is the action of a change that runs commands: update, or delete for an
// absent resource, when it does anything.
func commandsAction(changes, absent bool) Action {
	switch {
	case !changes:
		return NoOp
	case absent:
		return Delete
	}
	return Update
}

// changes reports whether writing the file would change its content (or create it).
func (fc *FileChange) changes() bool {
	return fc != nil && (!fc.OldExists || !bytes.Equal(fc.Old, fc.New))
}

// Kind describes one resource type to the plan language.
type Kind struct {
	Type string
	// LabelName names the block label in messages ("path", "name").
	LabelName string
	// Spec declares the block's attributes and nested blocks.
	Spec hcldec.ObjectSpec
	// Windows is set for types that work on Windows hosts, where commands run in
	// cmd.exe and no POSIX tool exists; the others are refused there at plan time.
	Windows bool
	// Build makes a resource from the label and the decoded (unmarked) attributes.
	// Errors of type *AttrError point the user at one attribute.
	Build func(label string, attrs Attrs) (Resource, error)
}

// Attrs are a block's decoded attribute values, with the names of those that were
// derived from sensitive values.
type Attrs struct {
	Value     cty.Value
	Sensitive map[string]bool
	// Dir is the directory of the plan file, for paths on this machine.
	Dir string
	// Template renders a template file with vars, as templatefile() does; a private
	// path (a sensitive one) is read like ReadPrivate reads.
	Template func(path string, vars cty.Value, private bool) (string, error)
	// ReadFile reads a file on this machine (a source attribute) the way the plan reads
	// its own files, so a saved plan ships the bytes that were reviewed; nil reads the
	// local file system.
	ReadFile func(path string) ([]byte, error)
	// ReadPrivate reads a file whose path is sensitive, which a saved plan must not
	// keep (config.Source.ReadPrivate); nil reads the local file system.
	ReadPrivate func(path string) ([]byte, error)
}

// AttrError is a problem with one attribute's value.
type AttrError struct {
	Attr string
	Msg  string
}

func (e *AttrError) Error() string { return fmt.Sprintf("%s: %s", e.Attr, e.Msg) }

var kinds = map[string]*Kind{}

func register(k *Kind) { kinds[k.Type] = k }

// Lookup returns the resource kind for a block type.
func Lookup(typ string) (*Kind, bool) {
	k, ok := kinds[typ]
	return k, ok
}

// Types lists every resource type, sorted.
func Types() []string {
	out := make([]string, 0, len(kinds))
	for t := range kinds {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}
