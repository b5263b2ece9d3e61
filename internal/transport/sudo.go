package transport

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
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
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
			strings.ContainsRune("@%_-+:,./", r)) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
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

// sudoSpec is how one connection becomes another user.
type sudoSpec struct {
	user   string // target user (sudo -u)
	prompt string // random prompt for sudo -S -p; "" means sudo -n (no password)
	marker string // random marker printed on stderr once sudo has let us in
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

// prefix is the sudo invocation up to and including `--`.
func (s *sudoSpec) prefix() string {
	if s.prompt == "" {
		return "sudo -n -u " + ShellQuote(s.user) + " --"
	}
	return "sudo -S -p " + ShellQuote(s.prompt) + " -u " + ShellQuote(s.user) + " --"
}

// wrapCommand returns the line that runs command with /bin/sh -c as s.user:
//
//	sudo -n -u USER -- /bin/sh -c 'printf %s MARKER >&2 && exec /bin/sh -c "$1"' hostplan 'COMMAND'
//
// The marker on stderr tells sudo's own output (prompts, refusals) from the command's:
// everything before it is sudo's, everything after it is the command's. The command is
// passed as a positional argument, so a syntax error in it is reported by the inner sh
// after the marker, like any other failure of the command.
func (s *sudoSpec) wrapCommand(command string) string {
	inner := `printf %s ` + s.marker + ` >&2 && exec /bin/sh -c "$1"`
	return s.prefix() + " /bin/sh -c " + ShellQuote(inner) + " hostplan " + ShellQuote(command)
}

// wrapSFTPServer returns the line that starts sftp-server as s.user, looking for it at
// the usual places (so no separate probe is needed).
func (s *sudoSpec) wrapSFTPServer() string {
	var b strings.Builder
	b.WriteString(`for p in`)
	for _, p := range sftpServerPaths {
		b.WriteString(" " + p)
	}
	b.WriteString(`; do if [ -x "$p" ]; then printf %s ` + s.marker + ` >&2; exec "$p"; fi; done; `)
	b.WriteString(`echo "hostplan: no sftp-server found (looked in` + strings.Join(sftpServerPaths, " ") + `)" >&2; exit 127`)
	return s.prefix() + " /bin/sh -c " + ShellQuote(b.String())
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
	changed := false
	var after []byte
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
			changed = true
			break
		}
		if pi >= 0 {
			if w.noteRejections(w.pending[:pi]) {
				changed = true
			}
			w.pre.Write(w.pending[:pi])
			w.pending = w.pending[pi+len(w.prompt):]
			w.prompts++
			changed = true
			continue
		}
		// Neither found: keep only a tail that could be the start of one of them.
		keep := len(w.marker) - 1
		if len(w.prompt) > keep {
			keep = len(w.prompt) - 1
		}
		if len(sudoRejected) > keep {
			keep = len(sudoRejected) - 1
		}
		if len(w.pending) > keep {
			cut := len(w.pending) - keep
			if w.noteRejections(w.pending) {
				changed = true
			}
			w.pre.Write(w.pending[:cut])
			w.pending = append([]byte(nil), w.pending[cut:]...)
		}
		break
	}
	w.mu.Unlock()
	if changed {
		w.signal()
	}
	if len(after) > 0 {
		if _, err := w.out.Write(after); err != nil {
			return 0, err
		}
	}
	return len(p), nil
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
