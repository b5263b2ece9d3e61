package tasks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"

	"github.com/hostplan/hostplan/internal/transport"
)

func init() {
	register(&Kind{
		Type:      "sysctl",
		LabelName: "key",
		Spec: hcldec.ObjectSpec{
			"value": &hcldec.AttrSpec{Name: "value", Type: cty.String},
			"file":  &hcldec.AttrSpec{Name: "file", Type: cty.String},
			"state": &hcldec.AttrSpec{Name: "state", Type: cty.String},
		},
		Build: buildSysctl,
	})
}

// Sysctl sets a kernel parameter now (the runtime value, /proc/sys) and for the next
// boot (a line in a sysctl.d file). The manual way, `echo 1 > /proc/sys/...`, is lost
// at reboot; a file alone does nothing until reboot.
type Sysctl struct {
	Key   string
	Value string
	File  string
	// Absent removes the key's line from File; the runtime value is left as it is
	// (hostplan cannot know what it was before).
	Absent bool
	// Sensitive hides the value (and the values other files set) in diffs and messages.
	Sensitive bool
}

// shown is v as the plan and messages may print it.
func (s *Sysctl) shown(v string) string {
	if s.Sensitive {
		return "(sensitive)"
	}
	return strconv.Quote(v)
}

var sysctlKey = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*[A-Za-z0-9_]$`)

func buildSysctl(label string, a Attrs) (Resource, error) {
	if !sysctlKey.MatchString(label) || strings.Contains(label, "..") {
		return nil, &AttrError{Attr: "key", Msg: fmt.Sprintf("%q is not a sysctl key such as \"net.ipv4.ip_forward\"", label)}
	}
	s := &Sysctl{Key: label, Value: normalizeSysctl(a.String("value", "")),
		File: a.String("file", "/etc/sysctl.d/90-hostplan-"+label+".conf"), Sensitive: a.sensitiveAny("value")}
	absent, err := a.Absent()
	if err != nil {
		return nil, err
	}
	switch {
	case !absent && (!a.Has("value") || s.Value == ""):
		return nil, &AttrError{Attr: "value", Msg: "a sysctl needs a value"}
	case absent && a.Has("value"):
		return nil, &AttrError{Attr: "value", Msg: "a sysctl with state = \"absent\" has no value"}
	}
	s.Absent = absent
	if strings.ContainsAny(s.Value, "\n#;") {
		return nil, &AttrError{Attr: "value", Msg: "a sysctl value is one line without # or ;"}
	}
	if !path.IsAbs(s.File) || path.Clean(s.File) != s.File || !strings.HasSuffix(s.File, ".conf") {
		return nil, &AttrError{Attr: "file", Msg: fmt.Sprintf("%q must be a clean absolute path ending in .conf (systemd-sysctl reads only *.conf)", s.File)}
	}
	return s, nil
}

// normalizeSysctl compares values as the kernel prints them: fields separated by one
// space (/proc/sys uses tabs for multi-field values).
func normalizeSysctl(v string) string { return strings.Join(strings.Fields(v), " ") }

// Type implements Resource.
func (s *Sysctl) Type() string { return "sysctl" }

// Label implements Resource.
func (s *Sysctl) Label() string { return s.Key }

func (s *Sysctl) procPath() string { return "/proc/sys/" + strings.ReplaceAll(s.Key, ".", "/") }

// Plan implements Resource.
func (s *Sysctl) Plan(ctx context.Context, h *Host) (*Change, error) {
	file, note, old, err := readFollowing(ctx, h, s.File)
	exists := err == nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	updated := s.editFile(old, exists)
	fc := &FileChange{Path: file, Old: old, New: updated, OldExists: exists, NewExists: updated != nil, Sensitive: s.Sensitive}
	c := &Change{Action: NoOp, File: fc}
	if note != "" {
		fc.Link = s.File
		c.Details = append(c.Details, note)
	}
	switch {
	case !exists && updated != nil:
		c.Action = Create
	case exists && updated == nil:
		c.Action = Delete
	case exists && !bytes.Equal(old, updated):
		c.Action = Update
	}
	if s.Absent {
		return c, nil
	}
	cur, others, err := s.probe(ctx, h, file)
	if err != nil {
		return nil, err
	}
	if err := s.checkShape(cur); err != nil {
		return nil, err
	}
	if cur != s.Value {
		c.Runtime = true
		if c.Action == NoOp {
			c.Action = Update
		}
		c.Details = append(c.Details, fmt.Sprintf("runtime value %s -> %s", s.shown(cur), s.shown(s.Value)))
	}
	c.Details = append(c.Details, others...)
	return c, nil
}

func (s *Sysctl) runtime(ctx context.Context, h *Host) (string, error) {
	b, err := h.Conn.ReadFile(ctx, s.procPath())
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("the kernel of %s has no %s (%s)", h.Name, s.Key, s.procPath())
	}
	if err != nil {
		return "", fmt.Errorf("read %s: %w", s.procPath(), err)
	}
	return normalizeSysctl(string(b)), nil
}

// checkShape refuses, before anything is touched, a value the kernel would take only
// in part: for a key whose value is whole numbers ("1", "4096 131072 6291456"), a
// value of as many whole numbers. The kernel stops at what it cannot parse, so
// "1 '$(touch x)'" set ip_forward to 1 and left a file hostplan then called failed.
func (s *Sysctl) checkShape(cur string) error {
	have, want := strings.Fields(cur), strings.Fields(s.Value)
	if len(have) == 0 || !wholeNumbers(have) || len(want) == len(have) && wholeNumbers(want) {
		return nil
	}
	return fmt.Errorf("%s takes %d whole number(s) (it is %s now); %s is not such a value, and the kernel would take only part of it",
		s.Key, len(have), s.shown(cur), s.shown(s.Value))
}

func wholeNumbers(fields []string) bool {
	for _, f := range fields {
		if _, err := strconv.ParseInt(f, 10, 64); err != nil {
			if _, err := strconv.ParseUint(f, 10, 64); err != nil {
				return false
			}
		}
	}
	return true
}

// Reads implements Prefetcher: probe's command.
func (s *Sysctl) Reads(*Host) []string {
	if s.Absent {
		return nil
	}
	return []string{s.probeCommand()}
}

// Looks implements FileLooker.
func (s *Sysctl) Looks(*Host) []transport.Look { return []transport.Look{{Path: s.File, Read: true}} }

// probeCommand prints the runtime value, "--- files", then each line of the sysctl
// files that sets the key, as "file:line". One awk does it all (cat and grep were two
// processes more on every host that forwards). It reads in blocks, not as the shell's
// read does, a byte at a time: the kernel's integer settings read as ended at any
// offset past 0 ("32768\t60999" came back as "3"). Only readable regular files are
// given to it: a FIFO among them would block it for ever. The key is a regular
// expression literal in the program, not a -v value, whose backslashes awk would
// interpret.
func (s *Sysctl) probeCommand() string {
	program := `FILENAME == p { print; next }
!f { f = 1; print "--- files" }
/^[[:space:]]*-?` + regexp.QuoteMeta(s.Key) + `[[:space:]]*=/ { print FILENAME ":" $0 }
END { if (!f) print "--- files" }`
	return "p=" + transport.ShellQuote(s.procPath()) + `; [ -e "$p" ] || exit 3
set -- "$p"; for f in /etc/sysctl.conf /etc/sysctl.d/*.conf /run/sysctl.d/*.conf /usr/local/lib/sysctl.d/*.conf /usr/lib/sysctl.d/*.conf /lib/sysctl.d/*.conf; do [ -f "$f" ] && [ -r "$f" ] && set -- "$@" "$f"; done
awk -v p="$p" ` + transport.ShellQuote(program) + ` "$@"`
}

// probe reads the runtime value and the other sysctl files that set the key, in one
// command (probeCommand). Another file with
// another value is worth a note: at boot the file read last wins, which may not be ours.
func (s *Sysctl) probe(ctx context.Context, h *Host, file string) (string, []string, error) {
	res, err := h.Conn.Run(ctx, s.probeCommand(), nil)
	if err != nil {
		return "", nil, err
	}
	if res.ExitCode == 3 {
		return "", nil, fmt.Errorf("the kernel of %s has no %s (%s)", h.Name, s.Key, s.procPath())
	}
	if res.ExitCode != 0 {
		return "", nil, res.Failure("read " + s.procPath())
	}
	runtime, files, _ := strings.Cut(string(res.Stdout), "--- files\n")
	var notes []string
	for _, line := range strings.Split(strings.TrimSpace(files), "\n") {
		other, setting, ok := strings.Cut(line, ":")
		if !ok || other == s.File || other == file {
			continue
		}
		_, v, _ := strings.Cut(setting, "=")
		if normalizeSysctl(v) != s.Value {
			setting := s.Key + " = " + normalizeSysctl(v)
			if s.Sensitive {
				setting = s.Key + " to another value"
			}
			notes = append(notes, fmt.Sprintf("note: %s sets %s; at boot the file read last wins (files sort by name across the sysctl.d folders, /etc/sysctl.conf last)", other, setting))
		}
	}
	return normalizeSysctl(runtime), notes, nil
}

// editFile returns the file with the key set (or removed): the first line for the key
// is replaced in place, later duplicates dropped, and a missing key appended. nil means
// the file should not exist (a file only hostplan wrote, now empty of settings).
func (s *Sysctl) editFile(old []byte, exists bool) []byte {
	want := s.Key + " = " + s.Value
	var lines []string
	if exists {
		lines = strings.SplitAfter(string(old), "\n")
		if lines[len(lines)-1] == "" {
			lines = lines[:len(lines)-1]
		}
	}
	var out []string
	found := false
	settings := 0
	for _, l := range lines {
		trimmed := strings.TrimSpace(l)
		if k, _, ok := strings.Cut(strings.TrimPrefix(trimmed, "-"), "="); ok && !strings.HasPrefix(trimmed, "#") && !strings.HasPrefix(trimmed, ";") {
			if strings.ReplaceAll(strings.TrimSpace(k), "/", ".") == s.Key {
				if s.Absent || found {
					continue
				}
				found = true
				if _, v, _ := strings.Cut(trimmed, "="); normalizeSysctl(v) == s.Value {
					out = append(out, l)
				} else {
					out = append(out, want+"\n")
				}
				settings++
				continue
			}
			settings++
		}
		out = append(out, l)
	}
	if !s.Absent && !found {
		if !exists {
			out = append(out, "# Managed by hostplan.\n")
		}
		if n := len(out); n > 0 && !strings.HasSuffix(out[n-1], "\n") {
			out[n-1] += "\n"
		}
		out = append(out, want+"\n")
		settings++
	}
	if !exists && s.Absent {
		return nil
	}
	if s.Absent && settings == 0 && onlyOurHeader(out) {
		return nil
	}
	return []byte(strings.Join(out, ""))
}

func onlyOurHeader(lines []string) bool {
	for _, l := range lines {
		if t := strings.TrimSpace(l); t != "" && t != "# Managed by hostplan." {
			return false
		}
	}
	return true
}

// Apply implements Resource.
func (s *Sysctl) Apply(ctx context.Context, h *Host, c *Change) error {
	fc := c.File
	switch {
	case fc.OldExists && !fc.NewExists:
		if err := h.Conn.Remove(ctx, fc.Path); err != nil {
			return err
		}
	case !bytes.Equal(fc.Old, fc.New) || fc.OldExists != fc.NewExists:
		if err := h.Conn.WriteFile(ctx, fc.Path, fc.New, transport.FileAttrs{UID: -1, GID: -1}); err != nil {
			return err
		}
	}
	if s.Absent {
		return nil
	}
	// A value the plan found right is read again (it may have changed since), not
	// written: a write can have effects of its own. One it found wrong is set at once;
	// the same value again is harmless there.
	if !c.Runtime {
		cur, err := s.runtime(ctx, h)
		if err != nil || cur == s.Value {
			return err
		}
	}
	if err := s.setRuntime(ctx, h); err != nil {
		return err
	}
	cur, err := s.runtime(ctx, h)
	if err != nil {
		return err
	}
	if cur != s.Value {
		return fmt.Errorf("set %s to %s, but the kernel reports %s", s.Key, s.shown(s.Value), s.shown(cur))
	}
	return nil
}

// setRuntime writes the value to /proc/sys, which needs no sysctl binary: over the
// file session, which costs no command, else (files acting as a user who may not write
// there, a kernel that refuses the write) with a shell redirect as the become user,
// whose error says why.
func (s *Sysctl) setRuntime(ctx context.Context, h *Host) error {
	if h.Conn.WriteKernel(ctx, s.procPath(), []byte(s.Value+"\n")) == nil {
		return nil
	}
	res, err := h.Conn.Run(ctx, "printf '%s\\n' "+transport.ShellQuote(s.Value)+" > "+transport.ShellQuote(s.procPath()), nil)
	if err != nil {
		return err
	}
	if res.ExitCode != 0 {
		return fmt.Errorf("set %s: %s", s.Key, strings.TrimSpace(string(res.Stderr)))
	}
	return nil
}

// Revert implements Reverter: the file comes back; the runtime value stays (the kernel
// keeps no history of it).
func (s *Sysctl) Revert(ctx context.Context, h *Host, c *Change) error {
	return revertFile(ctx, h, c.File)
}
