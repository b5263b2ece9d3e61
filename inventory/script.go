package inventory

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"gopkg.in/yaml.v3"

	"github.com/hostplan/hostplan/internal/privfile"
)

// Dynamic inventory scripts, as Ansible's script inventory plugin runs them: an
// executable file given with -i, or found in an inventory directory, is run with
// --list and prints the JSON that `ansible-inventory --list` prints (see jsoninv.go).
// When that JSON has no _meta.hostvars, the script is asked for each host's variables
// with --host NAME, one host at a time, as Ansible does.
//
// hostplan often runs as root, so a script is run only when nobody but this user and
// root could have written it or replaced it (the rule sudo and OpenSSH's StrictModes
// apply), and every run is bounded in time and output: a cloud API that hangs, or a
// script that loops printing, must not hang or exhaust hostplan.

// DefaultScriptTimeout and DefaultScriptOutput are the bounds of Scripts left zero.
const (
	DefaultScriptTimeout = 60 * time.Second
	DefaultScriptOutput  = 256 << 20
)

// maxHostCalls bounds the --host runs of one script: without _meta, each host costs a
// run of the script, and ten thousand of them already take many minutes.
const maxHostCalls = 10_000

// stderrLines is how much of a failed script's stderr an error quotes, from its end:
// the last lines usually say what went wrong (a Python traceback's last line, say).
const (
	stderrLines = 10
	stderrWidth = 500 // bytes of one line quoted
	stderrKeep  = 16 << 10
)

// Scripts runs dynamic inventory scripts for Files. A nil *Scripts runs none: a saved
// plan replays recorded files, not a script's output, and shell completion must not
// run programs at every TAB.
type Scripts struct {
	// Context stops a running script (killing its process group) when done: Ctrl-C.
	Context context.Context
	// Timeout bounds each run of a script (--list, each --host); 0: DefaultScriptTimeout.
	Timeout time.Duration
	// MaxOutput bounds the bytes a script prints on stdout, over all its runs; 0:
	// DefaultScriptOutput.
	MaxOutput int64
}

func (s *Scripts) context() context.Context {
	if s.Context == nil {
		return context.Background()
	}
	return s.Context
}

func (s *Scripts) timeout() time.Duration {
	if s.Timeout <= 0 {
		return DefaultScriptTimeout
	}
	return s.Timeout
}

// looksLikeScript reports a file that starts like a program: "#!" (which Ansible's
// script plugin also looks for) or an ELF header (an inventory compiled from Go, say).
func looksLikeScript(src []byte) bool {
	return bytes.HasPrefix(src, []byte("#!")) || bytes.HasPrefix(src, []byte("\x7fELF"))
}

// executable reports whether this user may execute path, as Ansible's os.access(X_OK).
func executable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && syscall.Access(path, 1 /* X_OK */) == nil
}

// loadMaybeScript reads the file at path whose content is src as a dynamic inventory
// script if it is one, and reports whether it handled it. An executable file that
// does not start like a program is left to the static formats, as Ansible falls back
// to its ini plugin when running the file fails.
func (ld *loader) loadMaybeScript(path string, src []byte) (handled bool) {
	if !looksLikeScript(src) {
		return false
	}
	ld.inv.Files[path] = &hcl.File{Bytes: src} // every source read has its entry
	switch {
	case ld.files.Scripts == nil:
		ld.diags = append(ld.diags, errorNoFile("Dynamic inventory script not run", fmt.Sprintf(
			"%s starts like a program (#! or an ELF header), and hostplan does not run inventory scripts here: a saved plan (plan -out, apply PLANFILE) records inventory files, not what a script printed, so it could not replay it. Plan and apply without -out, or save the script's output once (%s --list > inventory.json) and pass that file with -i.", path, path)))
		return true
	case !executable(path):
		d := errorNoFile("Inventory file looks like a script", fmt.Sprintf(
			"%s starts like a dynamic inventory script (#! or an ELF header), but is not executable, so hostplan reads it as a static inventory, as Ansible does. To run it as a script: chmod u+x %s.", path, path))
		d.Severity = hcl.DiagWarning
		ld.diags = append(ld.diags, d)
		return false
	}
	ld.loadScript(path)
	return true
}

// loadScript runs a dynamic inventory script and reads what it prints.
func (ld *loader) loadScript(path string) {
	exe, err := safeScript(path)
	if err != nil {
		ld.diags = append(ld.diags, errorNoFile("Inventory script refused", err.Error()))
		return
	}
	run := &scriptRun{s: ld.files.Scripts, path: path, exe: exe, left: ld.files.Scripts.MaxOutput}
	if run.left <= 0 {
		run.left = DefaultScriptOutput
	}
	out, err := run.call("--list")
	if err != nil {
		ld.diags = append(ld.diags, errorNoFile("Inventory script failed", err.Error()))
		return
	}
	l, root := ld.scriptJSON(run, path+" --list", out)
	if root == nil {
		return
	}
	l.listInventory(root)
	ld.diags = append(ld.diags, withOutputLines(l.sf, l.diags)...)
	if !hasHostvars(root) {
		ld.askHosts(run, listedHosts(root))
	}
}

// askHosts reads each host's variables from `script --host NAME`, for a script whose
// --list printed no _meta.hostvars, as Ansible does.
func (ld *loader) askHosts(run *scriptRun, hosts []string) {
	if len(hosts) > maxHostCalls {
		ld.diags = append(ld.diags, errorNoFile("Inventory script lists too many hosts without _meta", fmt.Sprintf(
			"%s --list names %d hosts and no _meta.hostvars, so each host's variables would take a run of the script (%s --host NAME); hostplan makes at most %d. Make the script print _meta.hostvars (an empty {} if hosts have no variables).", run.path, len(hosts), run.path, maxHostCalls)))
		return
	}
	for _, name := range hosts {
		out, err := run.call("--host", name)
		if err != nil {
			ld.diags = append(ld.diags, errorNoFile("Inventory script failed", err.Error()))
			return
		}
		if len(bytes.TrimSpace(out)) == 0 {
			continue // Ansible reads no output as no variables
		}
		file := fmt.Sprintf("%s --host %s", run.path, name)
		l, root := ld.scriptJSON(run, file, out)
		if root == nil {
			return // the next hosts would most likely fail the same way
		}
		h := ld.b.hostIdx[name]
		if h == nil {
			continue // its group was refused (an invalid name, say): reported already
		}
		for _, kv := range l.pairs(root, 1) {
			l.setVar(&h.layer, kv)
		}
		ld.diags = append(ld.diags, withOutputLines(l.sf, l.diags)...)
	}
}

// hasHostvars reports a _meta.hostvars key: Ansible then asks no host with --host,
// even when it is empty.
func hasHostvars(root *yaml.Node) bool {
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value != "_meta" {
			continue
		}
		meta := resolveAlias(root.Content[i+1])
		for j := 0; meta.Kind == yaml.MappingNode && j+1 < len(meta.Content); j += 2 {
			if meta.Content[j].Value == "hostvars" {
				return true
			}
		}
	}
	return false
}

// listedHosts are the hosts the groups of a --list output name, first seen first.
func listedHosts(root *yaml.Node) []string {
	var out []string
	seen := map[string]bool{}
	add := func(list *yaml.Node) {
		for _, n := range list.Content {
			if n = resolveAlias(n); n.Kind == yaml.ScalarNode && n.Value != "" && !seen[n.Value] {
				seen[n.Value] = true
				out = append(out, n.Value)
			}
		}
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "_meta" {
			continue
		}
		switch g := resolveAlias(root.Content[i+1]); g.Kind {
		case yaml.SequenceNode:
			add(g)
		case yaml.MappingNode:
			for j := 0; j+1 < len(g.Content); j += 2 {
				if hs := resolveAlias(g.Content[j+1]); g.Content[j].Value == "hosts" && hs.Kind == yaml.SequenceNode {
					add(hs)
				}
			}
		}
	}
	return out
}

// scriptJSON checks that out is one JSON object, re-indents it and records it in
// inv.Files as file, and returns its top node (nil if it is not a JSON object) with a
// loader to read it. Re-indented, every value has a line of its own: scripts often
// print everything on one line, where "line 1" says nothing and positioning each value
// would rescan the line (quadratic in its length).
func (ld *loader) scriptJSON(run *scriptRun, file string, out []byte) (*yamlLoader, *yaml.Node) {
	var buf bytes.Buffer
	err := json.Indent(&buf, out, "", "  ")
	if err == nil && !bytes.HasPrefix(buf.Bytes(), []byte("{")) {
		err = errors.New("the output is JSON but not an object: an inventory script prints {\"GROUP\": {\"hosts\": [...]}, ..., \"_meta\": {\"hostvars\": {...}}}")
	}
	if err != nil {
		sf := newSrcFile(file, out)
		ld.inv.Files[file] = sf.hclFile()
		ld.diags = append(ld.diags, jsonError(run, sf, err))
		return nil, nil
	}
	sf := newSrcFile(file, yamlSafe(buf.Bytes()))
	ld.inv.Files[file] = sf.hclFile()
	l := &yamlLoader{b: ld.b, sf: sf, dir: fileDir(run.path)}
	root, ok := l.parse()
	ld.diags = append(ld.diags, withOutputLines(sf, l.diags)...)
	l.diags = nil
	if !ok || root == nil || root.Kind != yaml.MappingNode {
		return l, nil
	}
	return l, root
}

// yamlSafe rewrites what yaml.v3 would misread or refuse in valid JSON, so that the
// JSON is still YAML: string literals with escapes YAML lacks or reads differently
// ("\/", which PHP's json_encode writes; surrogate pairs) or bytes that are not UTF-8
// (Go's encoder writes them back with escapes YAML shares), and keys too long to be
// implicit YAML keys.
func yamlSafe(js []byte) []byte {
	var out bytes.Buffer
	for i := 0; i < len(js); {
		if js[i] != '"' {
			out.WriteByte(js[i])
			i++
			continue
		}
		j, escaped := i+1, false
		for ; j < len(js) && js[j] != '"'; j++ {
			if js[j] == '\\' {
				j, escaped = j+1, true
			}
		}
		lit := js[i:min(j+1, len(js))]
		i = j + 1
		var s string
		if (escaped || !utf8.Valid(lit)) && json.Unmarshal(lit, &s) == nil {
			var b bytes.Buffer
			enc := json.NewEncoder(&b)
			enc.SetEscapeHTML(false)
			_ = enc.Encode(s)
			lit = bytes.TrimSuffix(b.Bytes(), []byte("\n"))
		}
		if i < len(js) && js[i] == ':' && len(lit) > maxImplicitKey {
			out.WriteString("? ") // an explicit key: YAML's implicit ones end at 1024 characters
		}
		out.Write(lit)
	}
	return out.Bytes()
}

// maxImplicitKey is the longest key yamlSafe leaves implicit ("key": value), under
// the 1024 characters YAML allows one.
const maxImplicitKey = 1000

// jsonError is the error for output that is not a JSON object: where it went wrong
// (line, column and byte of the output as printed) and the text around it.
func jsonError(run *scriptRun, sf *srcFile, err error) *hcl.Diagnostic {
	off := 0 // not an object: the output starts wrong
	if se := (*json.SyntaxError)(nil); errors.As(err, &se) {
		off = min(max(int(se.Offset)-1, 0), len(sf.src)) // Offset is just past the bad byte
	}
	if len(bytes.TrimSpace(sf.src)) == 0 {
		return errorNoFile("Inventory script printed nothing", fmt.Sprintf("%s printed nothing on stdout, where an inventory script prints its JSON inventory.%s%s", sf.name, run.stderrNote(), runHint(run.path)))
	}
	pos := sf.posAt(off)
	detail := fmt.Sprintf("%s printed output that is not a JSON inventory: %v (at line %d, column %d, byte %d of %d).%s%s%s",
		sf.name, err, pos.Line, pos.Column, off, len(sf.src), near(sf.src, off), run.stderrNote(), runHint(run.path))
	return errorAt(sf.rng(off, off), "Inventory script printed invalid JSON", detail)
}

// near quotes the output around off, unless that looks like it holds a credential.
func near(src []byte, off int) string {
	start, end := max(off-40, 0), min(off+40, len(src))
	if i := bytes.LastIndexByte(src[start:off], '\n'); i >= 0 {
		start += i + 1
	}
	if i := bytes.IndexByte(src[off:end], '\n'); i >= 0 {
		end = off + i
	}
	text := src[start:end]
	if credentialLine.Match(text) {
		return " The text there is not shown: it may hold a secret."
	}
	return fmt.Sprintf(" The text there: %s", printable(string(text)))
}

// withOutputLines adds the line a diagnostic points at to its detail: the output of a
// script is no file the renderer can read to show it.
func withOutputLines(sf *srcFile, diags hcl.Diagnostics) hcl.Diagnostics {
	for _, d := range diags {
		if d.Subject == nil || d.Subject.Filename != sf.name {
			continue
		}
		line := lineAt(sf.src, d.Subject.Start.Byte)
		if credentialLine.Match(line) {
			continue
		}
		d.Detail += fmt.Sprintf("\nLine %d of %s (re-indented): %s", d.Subject.Start.Line, sf.name, clip(strings.TrimSpace(string(line))))
	}
	return diags
}

// runHint says why hostplan ran the file, for someone who did not mean it to.
func runHint(path string) string {
	return fmt.Sprintf("\nhostplan ran %s because it is executable and starts like a program, as Ansible runs dynamic inventory scripts; if it is a static inventory file, make it not executable: chmod a-x %s", path, path)
}

// safeScript returns the absolute path to run for path, or why it must not be run: a
// script that a user other than this one and root could have written or replaced
// would let that user run commands as this user (often root). So the script, every
// directory above it and every symbolic link on the way must be owned by this user or
// root, and none writable by group or others (the rule of sudo and OpenSSH's
// StrictModes), both on the path as given and on the path it resolves to. A world-
// writable directory with the sticky bit (/tmp) is accepted above the script's own
// directory: others cannot rename or remove what they do not own in it.
func safeScript(path string) (string, error) {
	abs, err := filepath.Abs(path)
	real := ""
	if err == nil {
		real, err = filepath.EvalSymlinks(abs)
	}
	if err != nil {
		return "", fmt.Errorf("refusing to run inventory script %s: %w", path, err)
	}
	for _, p := range []string{abs, real} {
		if err := safeChain(path, p); err != nil {
			return "", err
		}
	}
	return real, nil
}

// safeChain checks p (the script) and every directory above it, up to /.
func safeChain(script, p string) error {
	for depth := 0; ; depth++ {
		li, err := os.Lstat(p)
		var fi fs.FileInfo
		if err == nil {
			fi, err = os.Stat(p)
		}
		if err != nil {
			return fmt.Errorf("refusing to run inventory script %s: %w", script, err)
		}
		if li.Mode()&fs.ModeSymlink != 0 {
			if why := privfile.WhyOwner(li); why != "" {
				return scriptRefused(script, p, "the symbolic link "+p, why)
			}
		}
		if why := privfile.Why(fi, depth > 1); why != "" {
			what := "its directory " + p
			if depth == 0 {
				what = "it"
			}
			return scriptRefused(script, p, what, why)
		}
		if p == filepath.Dir(p) {
			return nil
		}
		p = filepath.Dir(p)
	}
}

// scriptRefused is the error for an unsafe script: what, why, and how to fix it.
func scriptRefused(path, target, what, why string) error {
	fix := fmt.Sprintf("chmod go-w %s", target)
	switch {
	case strings.HasPrefix(what, "the symbolic link"):
		fix = fmt.Sprintf("chown -h %s %s, or pass the path it points to", privfile.Me(), target)
	case strings.HasPrefix(why, "is owned"):
		fix = fmt.Sprintf("chown %s %s (or run hostplan as its owner)", privfile.Me(), target)
	}
	return fmt.Errorf("refusing to run inventory script %s: %s %s, so another user could change what hostplan runs as you. Fix: %s", path, what, why, fix)
}

// scriptRun is one script's runs, sharing its output budget.
type scriptRun struct {
	s    *Scripts
	path string // as given, for messages
	exe  string // the absolute path checked by safeScript
	left int64  // bytes of stdout the remaining runs may print
	// stderr is the end of the last run's stderr, quoted by errors.
	stderr []byte
}

// call runs the script once with args, in a process group of its own so that a
// timeout, Ctrl-C or too much output kills whatever it started too. stdin is empty:
// a script that asks for a password must not wait for one.
func (r *scriptRun) call(args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(r.s.context(), r.s.timeout())
	defer cancel()
	cmd := exec.CommandContext(ctx, r.exe, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	// A process the script left behind holding stdout open would keep Wait waiting.
	cmd.WaitDelay = time.Second
	out := &cappedBuffer{limit: r.left, over: cancel}
	errs := &tailBuffer{keep: stderrKeep}
	cmd.Stdout, cmd.Stderr = out, errs
	start := time.Now()
	err := cmd.Run()
	r.left -= int64(out.buf.Len())
	r.stderr = errs.buf
	if errors.Is(err, exec.ErrWaitDelay) {
		// It exited, but something it started kept its output open: end that too.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		err = nil
	}
	if out.exceeded {
		err = fmt.Errorf("printed more than %d bytes on stdout (all its runs together) and was killed with its process group", out.limit)
	} else if err != nil {
		err = r.failure(ctx, err, time.Since(start))
	}
	if err == nil {
		return out.buf.Bytes(), nil
	}
	hint := "" // killed by hostplan: running it was not the mistake
	if ctx.Err() == nil {
		hint = runHint(r.path)
	}
	return nil, fmt.Errorf("%s %s: %w.%s%s", r.path, strings.Join(args, " "), err, r.stderrNote(), hint)
}

// failure says how a run went wrong.
func (r *scriptRun) failure(ctx context.Context, err error, took time.Duration) error {
	var ee *exec.ExitError
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return fmt.Errorf("did not finish within %s and was killed with its process group (a script waiting on a cloud API or for credentials hangs like this)", r.s.timeout())
	case r.s.context().Err() != nil:
		return errors.New("interrupted: the script was killed with its process group")
	case errors.As(err, &ee) && ee.Exited():
		return fmt.Errorf("exited with status %d after %s", ee.ExitCode(), took.Round(time.Millisecond))
	case errors.As(err, &ee):
		return fmt.Errorf("ended by %s after %s", ee.ProcessState, took.Round(time.Millisecond))
	}
	return fmt.Errorf("could not be started: %w (check the interpreter on its #! line)", err)
}

// stderrNote quotes the last lines the last run printed on stderr.
func (r *scriptRun) stderrNote() string {
	text := strings.TrimRight(string(r.stderr), "\n")
	if strings.TrimSpace(text) == "" {
		return " It printed nothing on stderr."
	}
	lines := strings.Split(text, "\n")
	if len(lines) > stderrLines {
		lines = lines[len(lines)-stderrLines:]
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\nThe last lines it printed on stderr:")
	for _, l := range lines {
		b.WriteString("\n  | " + clip(strings.TrimRight(l, "\r")))
	}
	return b.String()
}

// clip is a line of a script's output for a message: printable, and cut at
// stderrWidth bytes.
func clip(line string) string {
	if len(line) > stderrWidth {
		line = line[:stderrWidth] + " [...]"
	}
	return printable(line)
}

// printable replaces control characters, so that a script's output cannot move the
// cursor or recolour the terminal through an error message.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r < ' ' && r != '\t' || r == 0x7f || r >= 0x80 && r < 0xa0 {
			return '?'
		}
		return r
	}, s)
}

// cappedBuffer keeps what is written up to limit bytes; past it, it calls over (which
// kills the script) and fails the write.
type cappedBuffer struct {
	buf      bytes.Buffer
	limit    int64
	over     func()
	exceeded bool
}

func (c *cappedBuffer) Write(p []byte) (int, error) {
	if int64(c.buf.Len())+int64(len(p)) > c.limit {
		c.exceeded = true
		c.over()
		return 0, errors.New("inventory script output too large")
	}
	return c.buf.Write(p)
}

// tailBuffer keeps the last keep bytes written.
type tailBuffer struct {
	buf  []byte
	keep int
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.keep {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.keep:]...)
	}
	return len(p), nil
}
