package transport

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
)

// Become errors. They are wrapped with the host and user, so test them with errors.Is.
var (
	// ErrBecomePasswordRejected: sudo answered the become password with "Sorry, try again.".
	ErrBecomePasswordRejected = errors.New("sudo password rejected")
	// ErrBecomePasswordRequired: sudo wants a password and DialerOptions.BecomePassword is nil.
	ErrBecomePasswordRequired = errors.New("sudo needs a password")
	// ErrBecomeFailed: sudo refused or failed before it ran the command (not in sudoers,
	// sudo missing, unknown target user, ...).
	ErrBecomeFailed = errors.New("become failed")
)

// sftpServerPaths are where distributions install OpenSSH's sftp-server.
var sftpServerPaths = []string{
	"/usr/lib/openssh/sftp-server",     // Debian, Ubuntu
	"/usr/libexec/openssh/sftp-server", // RHEL, Fedora, SUSE
	"/usr/lib/ssh/sftp-server",         // Arch, Alpine
	"/usr/libexec/sftp-server",         // BSDs, macOS
}

// ShellQuote quotes s for a POSIX shell: inside single quotes, each embedded single quote
// written as '\” (close, escaped quote, reopen). Words of only safe characters are left
// bare. The result is always exactly one word, also for the empty string.
func ShellQuote(s string) string {
	if s == "" {
		return "''"
	}
	safe := true
	for i := 0; i < len(s) && safe; i++ {
		safe = shellSafe(s[i])
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// ShellUnquote splits a line of words separated by single spaces, each bare or quoted
// as ShellQuote quotes, into the words. It reads only those forms (single quotes, \'
// and bare characters); anything else (double quotes, $, other escapes, a quote left
// open) is not ok. A caller that needs the exact inverse of ShellQuote compares the
// words quoted again with the line.
func ShellUnquote(line string) (words []string, ok bool) {
	var w strings.Builder
	inWord := false
	for i := 0; i < len(line); i++ {
		switch c := line[i]; {
		case c == ' ':
			if !inWord {
				return nil, false
			}
			words, inWord = append(words, w.String()), false
			w.Reset()
		case c == '\'':
			j := strings.IndexByte(line[i+1:], '\'')
			if j < 0 {
				return nil, false
			}
			w.WriteString(line[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case c == '\\':
			if i+1 >= len(line) || line[i+1] != '\'' {
				return nil, false
			}
			w.WriteByte('\'')
			i++
			inWord = true
		case strings.IndexByte("\"$`\t\n;&|<>()*?[]{}~#=!", c) >= 0:
			return nil, false
		default:
			w.WriteByte(c)
			inWord = true
		}
	}
	if !inWord {
		return nil, false
	}
	return append(words, w.String()), true
}

// randomToken returns prefix followed by 16 random hex digits: only [a-z0-9-], so it
// needs no quoting and sudo finds no %-escape in it.
func randomToken(prefix string) string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return prefix + hex.EncodeToString(b[:])
}

// sudoSpec is how one connection starts its Unix processes: through sudo as another
// user (become), or, with user "", as the login user.
type sudoSpec struct {
	user   string // target user (sudo -u); "" runs without sudo
	prompt string // random prompt for sudo -S -p; "" means sudo -n (no password)
	// marker is printed on stderr once the process runs as the right user: everything
	// before it is sudo's (prompts, refusals), everything after the "lead" line that
	// follows it is the process's own.
	marker string
}

// newSudoSpec makes the random prompt and marker of one connection. withPassword picks
// `sudo -S -p PROMPT` (a password may be sent when sudo asks) over `sudo -n`.
func newSudoSpec(user string, withPassword bool) *sudoSpec {
	if user == "" {
		user = "root"
	}
	s := &sudoSpec{user: user, marker: randomToken("hostplan-become-ok-")}
	if withPassword {
		s.prompt = randomToken("hostplan-sudo-prompt-") + ":"
	}
	return s
}

// newPlainSpec is the spec of a connection that does not become anyone.
func newPlainSpec() *sudoSpec {
	return &sudoSpec{marker: randomToken("hostplan-started-")}
}

// prefix is the sudo invocation up to and including `--`, "" without become.
func (s *sudoSpec) prefix() string {
	switch {
	case s.user == "":
		return ""
	case s.prompt == "":
		return "sudo -n -u " + ShellQuote(s.user) + " -- "
	}
	return "sudo -S -p " + ShellQuote(s.prompt) + " -u " + ShellQuote(s.user) + " -- "
}

// leadScript starts every command: its text comes on standard input, never in the
// process list (arguments of every process are readable by every local user, and a
// command may hold a secret). In builtins only, it prints the marker and the lead line
// "PGID STARTTIME": the process group the command runs in and its leader's start time
// (from /proc; "0 0" where there is none). sshd refuses signal requests, and closing
// the channel does not stop a command, so a timeout or Ctrl-C kills that group with a
// second command (killScript).
const leadScript = `set -f; { read -r l </proc/$$/stat; set -- $l; g=$5; [ "$g" = $$ ] || { read -r l </proc/$g/stat; set -- $l; }; t=${22}; } 2>/dev/null; ` +
	`printf '%s%s %s\n' MARKER "${g:-0}" "${t:-0}" >&2; set +f; set --; unset l g t; `

// commandScript, after leadScript, reads the command text up to a line holding only
// the end token (random per command), refusing to run a text cut short, and evaluates
// it; what is left of standard input is the command's. The shell's read builtin takes
// a byte per system call, about 2 µs a byte with the loop: a command with no input of
// its own and a longer text goes through streamScript instead.
const commandScript = leadScript +
	`__hostplan_cmd=; e=; while IFS= read -r l; do if [ "$l" = "$0" ]; then e=1; break; fi; __hostplan_cmd="$__hostplan_cmd$l
"; done; [ -n "$e" ] || exit 125; unset e l g t; eval "$__hostplan_cmd"`

// streamScript, after leadScript, hands standard input to a new shell that reads it as
// its script, in blocks, as shells read a script from a pipe (the process, and so its
// group, stays the same). Its input is streamInput's, keptInput's or filesInput's: the
// command's text quoted as one word in a brace group, which the shell parses whole
// before it runs any of it, so a text cut short runs nothing. It must be all of
// standard input: the shell reads ahead. It is the form for a sudo password only
// (wrapStream).
const streamScript = leadScript + `exec /bin/sh -s`

// streamMin is the shortest text run through streamScript: below it, the read loop
// costs less than the second shell's start (about a millisecond).
const streamMin = 1024

// wrapCommand returns the line that runs a command fed with commandInput by /bin/sh
// (through sudo when becoming another user). end is the end token, passed as $0.
func (s *sudoSpec) wrapCommand(end string) string {
	script := strings.Replace(commandScript, "MARKER", s.marker, 1)
	return s.prefix() + "/bin/sh -c " + ShellQuote(script) + " " + end
}

// wrapStream returns the line that starts a shell reading its script from standard
// input (streamInput, keptInput, filesInput), and the lead that input must start with
// (streamText). Without a sudo password that shell is the one the line starts, and
// leadScript the first part of its input: one process less per session than
// streamScript (a shell's start, about 3 ms of a virtual machine's CPU). With one,
// the marker must come before any input is sent, and so from the command line: the
// password goes first, and after a rejected one sudo would read that input as more
// passwords.
func (s *sudoSpec) wrapStream() (line, lead string) {
	script := strings.Replace(leadScript, "MARKER", s.marker, 1)
	if s.prompt == "" {
		return s.prefix() + "/bin/sh -s", script
	}
	return s.prefix() + "/bin/sh -c " + ShellQuote(strings.Replace(streamScript, "MARKER", s.marker, 1)), ""
}

// streamText is a stream's standard input: parts after lead (wrapStream's; "" for
// none), in one buffer, and in one brace group with the lead, which the shell parses
// whole before it runs any of it: input cut short runs nothing, the lead included, and
// fails. One allocation: at 1,000 hosts at once every copy of a 6 KB facts script
// shows in the peak RSS.
func streamText(lead string, parts ...string) []byte {
	n := len(lead) + 5
	for _, p := range parts {
		n += len(p)
	}
	b := make([]byte, 0, n)
	if lead != "" {
		b = append(append(append(b, "{ "...), lead...), '\n')
	}
	for _, p := range parts {
		b = append(b, p...)
	}
	if lead != "" {
		b = append(b, "}\n"...)
	}
	return b
}

// commandInput is wrapCommand's standard input before the command's own.
func commandInput(command, end string) []byte {
	b := make([]byte, 0, len(command)+len(end)+2)
	b = append(b, command...)
	if len(command) > 0 && command[len(command)-1] != '\n' {
		b = append(b, '\n')
	}
	return append(append(b, end...), '\n')
}

// streamInput is all of wrapStream's standard input for command, after lead:
// evaluated in the shell itself, so its exit is the shell's.
func streamInput(lead, command string) []byte {
	return streamText(lead, "{ eval ", ShellQuote(command), "\n}\n")
}

// subshellEval is shell text that runs command in a subshell whose input is /dev/null.
// The text goes through a variable: bash (/bin/sh on RHEL) reports a subshell killed
// by a signal with the subshell's own text on standard error, which for a quoted
// literal would be all of the command, values the plan keeps out of sight included.
// It is unset in the subshell before the command runs, and not exported.
func subshellEval(command string) string {
	return "__hostplan_cmd=" + ShellQuote(command) + "\n( eval \"unset __hostplan_cmd; $__hostplan_cmd\" ) </dev/null"
}

// inShellEval is subshellEval for a script that neither exits nor sets anything the
// shell goes on with (Sections' script, each of whose commands runs in a subshell of
// its own; a batch of one program, RunPrograms): it runs in the shell itself, sparing a
// fork (a few milliseconds of a virtual machine's CPU, per host of a run).
func inShellEval(script string) string {
	return "__hostplan_cmd=" + ShellQuote(script) + "\n{ eval \"unset __hostplan_cmd; $__hostplan_cmd\"\n} </dev/null"
}

// filesInput is all of wrapStream's standard input for run after lead (see
// runThenFiles), a command in subshellEval's form (its exit and shell state stay its
// own), or inShellEval's (for a script that neither exits nor keeps state): the
// command with /dev/null as its input (what follows on the shell's input is the
// server's), then, on
// standard error, a newline and tok, and on standard output a newline and "TOK STATUS
// UID", and sftp-server in place of the shell, as wrapSFTPServer starts it. Where there is no sftp-server, UID is "-" and the
// shell exits with the command's status. The user id comes from /proc in builtins, as
// in wrapSFTPServer.
func filesInput(lead, run, tok string) []byte {
	var b strings.Builder
	b.WriteString(`; s=$?; u=; { while read -r k r e x; do [ "$k" = Uid: ] && { u=$e; break; }; done </proc/$$/status; } 2>/dev/null; [ -n "$u" ] || u=$(id -u); `)
	b.WriteString(`printf '\n%s\n' ` + tok + ` >&2; for p in`)
	for _, p := range sftpServerPaths {
		b.WriteString(" " + p)
	}
	b.WriteString(`; do if [ -x "$p" ]; then printf '\n%s %s %s\n' ` + tok + ` "$s" "$u"; exec "$p" -u 077; fi; done; `)
	b.WriteString(`printf '\n%s %s -\n' ` + tok + ` "$s"; exit "$s"` + "\n}\n")
	return streamText(lead, "{ ", run, b.String())
}

// killScript stops the process group a command runs in: TERM, a second to go, then
// KILL. The group's leader is checked against its start time first, so a group id that
// was reused after our command ended is left alone. dash's kill builtin takes no
// negative ids; /bin/kill (procps or util-linux) does.
func killScript(pgid, start int64) string {
	return fmt.Sprintf(`g=%d; if [ -r /proc/$g/stat ]; then read -r l </proc/$g/stat; set -f; set -- $l; [ "${22}" = %d ] || exit 0; fi; `+
		`/bin/kill -s TERM -- -$g 2>/dev/null || exit 0; i=0; while [ $i -lt 10 ] && /bin/kill -s 0 -- -$g 2>/dev/null; do sleep 0.1; i=$((i+1)); done; `+
		`/bin/kill -s KILL -- -$g 2>/dev/null; exit 0`, pgid, start)
}

// wrapSFTPServer returns the line that starts sftp-server (as s.user with become),
// looking for it at the usual places (so no separate probe is needed). It runs with
// umask 077 (-u), so a file or directory it creates is private until hostplan gives it
// its final mode: an SFTP open carries no mode in pkg/sftp, and under the usual umask a
// new temp file would be readable by every user until the chmod that follows. The lead
// line after the marker is "UID PGID STARTTIME": the user the files are handled as.
func (s *sudoSpec) wrapSFTPServer() string {
	var b strings.Builder
	b.WriteString(`for p in`)
	for _, p := range sftpServerPaths {
		b.WriteString(" " + p)
	}
	b.WriteString(`; do if [ -x "$p" ]; then { read -r l </proc/$$/stat; set -f; set -- $l; g=$5; [ "$g" = $$ ] || { read -r l </proc/$g/stat; set -- $l; }; t=${22}; } 2>/dev/null; `)
	// The user id from /proc (builtins only: a process per connection costs every
	// host of a run), else from id -u.
	b.WriteString(`u=; { while read -r k r e x; do [ "$k" = Uid: ] && { u=$e; break; }; done </proc/$$/status; } 2>/dev/null; [ -n "$u" ] || u=$(id -u); `)
	b.WriteString(`printf '%s%s %s %s\n' ` + s.marker + ` "$u" "${g:-0}" "${t:-0}" >&2; exec "$p" -u 077; fi; done; `)
	b.WriteString(`echo "hostplan: no sftp-server found (looked in ` + strings.Join(sftpServerPaths, " ") + `)" >&2; exit 127`)
	return s.prefix() + "/bin/sh -c " + ShellQuote(b.String())
}

// sudoRejected is what sudo prints after a wrong password.
const sudoRejected = "Sorry, try again."

// sudoWatcher is the stderr of a sudo-wrapped process. Before the marker it collects
// sudo's output, counts password prompts (stripping them) and notices rejections; after
// the marker it passes everything to out. notify gets a token on every state change.
type sudoWatcher struct {
	prompt string // "" when no prompt is expected
	marker string
	out    io.Writer

	mu       sync.Mutex
	pending  []byte       // tail not yet known to be free of a prompt/marker start
	pre      bytes.Buffer // sudo's own output, prompts removed
	prompts  int          // prompts seen so far
	rejected bool
	ready    bool
	notify   chan struct{}
}

func newSudoWatcher(spec *sudoSpec, out io.Writer) *sudoWatcher {
	return &sudoWatcher{prompt: spec.prompt, marker: spec.marker, out: out, notify: make(chan struct{}, 1)}
}

func (w *sudoWatcher) signal() {
	select {
	case w.notify <- struct{}{}:
	default:
	}
}

// Write implements io.Writer.
func (w *sudoWatcher) Write(p []byte) (int, error) {
	w.mu.Lock()
	if w.ready {
		w.mu.Unlock()
		if _, err := w.out.Write(p); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	w.pending = append(w.pending, p...)
	after, changed := w.scan()
	w.mu.Unlock()
	// What follows the marker goes out before anyone learns the marker came.
	if len(after) > 0 {
		if _, err := w.out.Write(after); err != nil {
			return 0, err
		}
	}
	if changed {
		w.signal()
	}
	return len(p), nil
}

// scan consumes the prompts and the marker in pending, in the order they come, and
// returns what followed the marker (the command's own output) and whether the state
// changed. Called with w.mu held.
func (w *sudoWatcher) scan() (after []byte, changed bool) {
	for {
		mi := bytes.Index(w.pending, []byte(w.marker))
		pi := -1
		if w.prompt != "" {
			pi = bytes.Index(w.pending, []byte(w.prompt))
		}
		if mi >= 0 && (pi < 0 || mi < pi) {
			w.noteRejections(w.pending[:mi])
			w.pre.Write(w.pending[:mi])
			after = append([]byte(nil), w.pending[mi+len(w.marker):]...)
			w.pending = nil
			w.ready = true
			return after, true
		}
		if pi < 0 {
			return nil, w.keepTail() || changed
		}
		if w.noteRejections(w.pending[:pi]) {
			changed = true
		}
		w.pre.Write(w.pending[:pi])
		w.pending = w.pending[pi+len(w.prompt):]
		w.prompts++
		changed = true
	}
}

// keepTail moves pending to pre but for a tail that could be the start of the marker,
// a prompt or sudo's rejection, and reports whether a rejection was seen. Called with
// w.mu held.
func (w *sudoWatcher) keepTail() bool {
	keep := max(len(w.marker), len(w.prompt), len(sudoRejected)) - 1
	if len(w.pending) <= keep {
		return false
	}
	cut := len(w.pending) - keep
	rejected := w.noteRejections(w.pending)
	w.pre.Write(w.pending[:cut])
	w.pending = append([]byte(nil), w.pending[cut:]...)
	return rejected
}

// noteRejections marks the watcher rejected when b contains sudo's "Sorry, try again.".
// Called with w.mu held; reports whether the state changed.
func (w *sudoWatcher) noteRejections(b []byte) bool {
	if !w.rejected && bytes.Contains(b, []byte(sudoRejected)) {
		w.rejected = true
		return true
	}
	return false
}

// state returns a snapshot.
func (w *sudoWatcher) state() (prompts int, rejected, ready bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.prompts, w.rejected, w.ready
}

// sudoOutput is what sudo said before the marker (prompts stripped), trimmed.
func (w *sudoWatcher) sudoOutput() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.TrimSpace(w.pre.String() + string(w.pending))
}

// becomeFailure turns a sudo that exited without letting the command run into an error.
func becomeFailure(host, loginUser, becomeUser string, exitCode int, sudoSaid string, rejected bool) error {
	switch {
	case rejected:
		return fmt.Errorf("%w on %s (become %s as %s)", ErrBecomePasswordRejected, host, becomeUser, loginUser)
	case strings.Contains(sudoSaid, "password is required"):
		return fmt.Errorf("become %s on %s: %w for %s and no become password was given (ask for one, or allow NOPASSWD sudo)",
			becomeUser, host, ErrBecomePasswordRequired, loginUser)
	case exitCode == 127 && (sudoSaid == "" || strings.Contains(sudoSaid, "not found")):
		return fmt.Errorf("become %s on %s: %w: sudo is not installed (%s)", becomeUser, host, ErrBecomeFailed, orNothing(sudoSaid))
	case strings.Contains(sudoSaid, "not in the sudoers") || strings.Contains(sudoSaid, "is not allowed to"):
		return fmt.Errorf("become %s on %s: %w: %s may not use sudo: %s", becomeUser, host, ErrBecomeFailed, loginUser, sudoSaid)
	default:
		return fmt.Errorf("become %s on %s: %w (sudo exit %d): %s", becomeUser, host, ErrBecomeFailed, exitCode, orNothing(sudoSaid))
	}
}

func orNothing(s string) string {
	if s == "" {
		return "no message"
	}
	return s
}

// leadLine takes a process's stderr after the marker: its first line is the lead line
// the wrapper printed (numbers: see wrapCommand and wrapSFTPServer), the rest goes to
// out.
type leadLine struct {
	out io.Writer

	mu     sync.Mutex
	buf    []byte
	done   bool
	fields []int64
	read   chan struct{} // closed once the lead line is complete
}

func newLeadLine(out io.Writer) *leadLine { return &leadLine{out: out, read: make(chan struct{})} }

// Write implements io.Writer.
func (l *leadLine) Write(p []byte) (int, error) {
	l.mu.Lock()
	if l.done {
		l.mu.Unlock()
		return l.writeOut(p, len(p))
	}
	i := bytes.IndexByte(p, '\n')
	if i < 0 {
		l.buf = append(l.buf, p...)
		l.mu.Unlock()
		return len(p), nil
	}
	l.buf = append(l.buf, p[:i]...)
	l.fields = parseLead(string(l.buf))
	l.buf = nil
	l.done = true
	close(l.read)
	l.mu.Unlock()
	return l.writeOut(p[i+1:], len(p))
}

func (l *leadLine) writeOut(p []byte, n int) (int, error) {
	if len(p) == 0 {
		return n, nil
	}
	if _, err := l.out.Write(p); err != nil {
		return 0, err
	}
	return n, nil
}

// wait returns the lead line's numbers once the line is complete, nil when it does not
// parse or has not come by the time ctx ends. The line travels on stderr and the
// process's own protocol on stdout: one may be read before the other.
func (l *leadLine) wait(ctx context.Context) []int64 {
	select {
	case <-l.read:
	case <-ctx.Done():
	}
	return l.values()
}

// values returns the lead line's numbers, nil before it is complete or when it does
// not parse.
func (l *leadLine) values() []int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.fields
}

func parseLead(s string) []int64 {
	var out []int64
	for _, f := range strings.Fields(s) {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil || n < 0 {
			return nil
		}
		out = append(out, n)
	}
	return out
}
