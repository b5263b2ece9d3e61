package transport

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestShellQuote(t *testing.T) {
	cases := map[string]string{
		"":              "''",
		"root":          "root",
		"/usr/bin/id":   "/usr/bin/id",
		"a b":           "'a b'",
		"it's":          `'it'\''s'`,
		"'":             `''\'''`,
		"$HOME":         "'$HOME'",
		"a=b":           "'a=b'",
		"x;rm -rf /":    "'x;rm -rf /'",
		"line1\nline2":  "'line1\nline2'",
		"back`tick`":    "'back`tick`'",
		`dq "quoted" \`: `'dq "quoted" \'`,
	}
	for in, want := range cases {
		if got := ShellQuote(in); got != want {
			t.Errorf("ShellQuote(%q) = %s, want %s", in, got, want)
		}
	}
}

// The quoted word must come back unchanged through a real shell.
func TestShellQuoteRoundTrip(t *testing.T) {
	for _, s := range []string{"", "plain", "it's", "''", `'\''`, "a\nb", "$(id) `id` ${x:-y}", `\\ \" \'`, "*?[a]", "ümlaut ☃", "-n"} {
		out, err := exec.Command("/bin/sh", "-c", "printf '%s' "+ShellQuote(s)).Output()
		if err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		if string(out) != s {
			t.Errorf("round trip of %q gave %q", s, out)
		}
	}
}

func TestSudoWrapCommand(t *testing.T) {
	spec := &sudoSpec{user: "root", marker: "hostplan-become-ok-1234"}
	got := spec.wrapCommand("hostplan-end-5678")
	if !strings.HasPrefix(got, `sudo -n -u root -- /bin/sh -c 'set -f; `) || !strings.HasSuffix(got, `' hostplan-end-5678`) {
		t.Errorf("wrapCommand: %s", got)
	}
	spec = &sudoSpec{user: "post gres", marker: "m", prompt: "hostplan-sudo-prompt-ab:"}
	got = spec.wrapCommand("e")
	if !strings.HasPrefix(got, `sudo -S -p hostplan-sudo-prompt-ab: -u 'post gres' -- /bin/sh -c `) {
		t.Errorf("password form: %s", got)
	}
	if got := newPlainSpec().wrapCommand("e"); !strings.HasPrefix(got, "/bin/sh -c 'set -f; ") {
		t.Errorf("plain form: %s", got)
	}
}

// Running the part after `sudo ... --` with a plain shell shows what the command sees:
// its text read from standard input (never an argument), exact arguments, the marker
// and the lead line first on stderr, the exit status, the rest of standard input.
func TestSudoWrapCommandRuns(t *testing.T) {
	spec := newSudoSpec("root", false)
	for _, tc := range []struct {
		cmd        string
		stdin      string
		cut        bool // the text ends before the end token
		stdout     string
		stderr     string
		exit       int
		syntaxFail bool
	}{
		{cmd: `printf '%s|' "it's" 'a "b"' '$HOME'`, stdout: `it's|a "b"|$HOME|`},
		{cmd: "echo out; echo err >&2; exit 7", stdout: "out\n", stderr: "err\n", exit: 7},
		{cmd: "echo $#; echo \"$l$e$g$t\"", stdout: "0\n\n"},
		{cmd: "cat; printf end", stdin: "line 1\nline 2", stdout: "line 1\nline 2end"},
		{cmd: "a='multi\nline'\nprintf %s \"$a\"\n", stdout: "multi\nline"},
		{cmd: "touch /nonexistent-dir/x; echo ran", cut: true, exit: 125},
		{cmd: "if then fi", syntaxFail: true},
	} {
		end := randomToken("hostplan-end-")
		line := spec.wrapCommand(end)
		rest := strings.TrimPrefix(line, spec.prefix())
		cmd := exec.Command("/bin/sh", "-c", rest)
		in := append(commandInput(tc.cmd, end), tc.stdin...)
		if tc.cut {
			in = []byte(tc.cmd)
		}
		cmd.Stdin = bytes.NewReader(in)
		var stdout, stderr bytes.Buffer
		cmd.Stdout = &stdout
		cmd.Stderr = &stderr
		err := cmd.Run()
		exit := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			exit = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(line, tc.cmd) {
			t.Errorf("%q: the command is in the command line", tc.cmd)
		}
		se, ok := strings.CutPrefix(stderr.String(), spec.marker)
		if !ok {
			t.Errorf("%q: stderr %q does not start with the marker", tc.cmd, stderr.String())
			continue
		}
		lead, se, _ := strings.Cut(se, "\n")
		if v := parseLead(lead); len(v) != 2 || v[0] <= 1 {
			t.Errorf("%q: lead line %q", tc.cmd, lead)
		}
		if tc.syntaxFail {
			if exit == 0 || se == "" {
				t.Errorf("%q: want a syntax error after the marker, got exit %d stderr %q", tc.cmd, exit, se)
			}
			continue
		}
		if stdout.String() != tc.stdout || se != tc.stderr || exit != tc.exit {
			t.Errorf("%q: got (%q, %q, %d), want (%q, %q, %d)", tc.cmd, stdout.String(), se, exit, tc.stdout, tc.stderr, tc.exit)
		}
	}
}

// streamPadding makes a command long enough for the stream form.
var streamPadding = "# " + strings.Repeat("padding ", streamMin/8) + "\n"

// streamCases are commands for the stream form, each after streamPadding, and their
// results ("syntax" for stderr: any syntax error).
var streamCases = []struct {
	cmd, stdout, stderr string
	exit                int
}{
	{cmd: streamPadding + `printf '%s|' "it's" 'a "b"' '$HOME'`, stdout: `it's|a "b"|$HOME|`},
	{cmd: streamPadding + "echo out; echo err >&2; exit 7", stdout: "out\n", stderr: "err\n", exit: 7},
	{cmd: streamPadding + "echo $#; echo \"$l$e$g$t\"; cat", stdout: "0\n\n"},
	{cmd: streamPadding + "a='multi\nline'\nprintf %s \"$a\"\nf() { echo in f; }\nf\n", stdout: "multi\nlinein f\n"},
	{cmd: streamPadding + "if then fi", stderr: "syntax", exit: 2},
}

// The stream form, for a command with no input of its own (a longer one only with a
// sudo password): the same marker and lead line, the text evaluated by the shell that
// read it (exit status, quotes, several lines), and still never in the command line.
// Without a password the shell the line starts reads it, the lead script first.
func TestSudoWrapStreamRuns(t *testing.T) {
	for _, spec := range []*sudoSpec{newSudoSpec("root", false), newSudoSpec("root", true)} {
		line, lead := spec.wrapStream()
		if (lead == "") != (spec.prompt != "") || strings.Contains(line, "exec /bin/sh -s") != (spec.prompt != "") {
			t.Errorf("password %v: line %q, lead %q", spec.prompt != "", line, lead)
		}
		for _, tc := range streamCases {
			if strings.Contains(line, "padding") {
				t.Fatalf("the command is in the command line: %s", line)
			}
			stdout, stderr, exit := runWrapped(t, strings.TrimPrefix(line, spec.prefix()), streamInput(lead, tc.cmd))
			se, ok := strings.CutPrefix(stderr, spec.marker)
			if !ok {
				t.Errorf("stderr %q does not start with the marker", stderr)
				continue
			}
			first, se, _ := strings.Cut(se, "\n")
			if v := parseLead(first); len(v) != 2 || v[0] <= 1 {
				t.Errorf("lead line %q", first)
			}
			if tc.stderr == "syntax" {
				if exit == 0 || se == "" {
					t.Errorf("want a syntax error, got exit %d stderr %q", exit, se)
				}
				continue
			}
			if stdout != tc.stdout || se != tc.stderr || exit != tc.exit {
				t.Errorf("%q: got (%q, %q, %d), want (%q, %q, %d)", tc.cmd[len(streamPadding):], stdout, se, exit, tc.stdout, tc.stderr, tc.exit)
			}
		}
	}
}

// A stream cut anywhere before its end runs none of the command: not its first line,
// not its last, not the lead script before it, and it fails.
func TestSudoWrapStreamCut(t *testing.T) {
	for _, spec := range []*sudoSpec{newSudoSpec("root", false), newSudoSpec("root", true)} {
		dir := t.TempDir()
		line, lead := spec.wrapStream()
		line = strings.TrimPrefix(line, spec.prefix())
		cmd := "touch " + ShellQuote(dir+"/first") + "\n# it's long\ntouch " + ShellQuote(dir+"/last") + "\n"
		in := streamInput(lead, cmd)
		// Only the last newline may go: the group is whole without it.
		for n := 0; n < len(in)-1; n++ {
			_, stderr, exit := runWrapped(t, line, in[:n])
			if entries, _ := os.ReadDir(dir); len(entries) > 0 || exit == 0 && n > 0 {
				t.Fatalf("input cut to %d of %d bytes: exit %d, %d files made", n, len(in), exit, len(entries))
			}
			if lead != "" && strings.Contains(stderr, spec.marker) {
				t.Fatalf("input cut to %d of %d bytes ran the lead script", n, len(in))
			}
		}
		if _, _, exit := runWrapped(t, line, in); exit != 0 {
			t.Fatalf("whole input: exit %d", exit)
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 2 {
			t.Fatalf("whole input made %d files, want 2", len(entries))
		}
	}
}

func hostShells(t *testing.T) map[string][]string {
	all := map[string][]string{
		"dash":    {"dash", "-s"},
		"bash":    {"bash", "--posix", "-s"},
		"busybox": {"busybox", "sh", "-s"},
	}
	have := map[string][]string{}
	for name, args := range all {
		if _, err := exec.LookPath(args[0]); err == nil {
			have[name] = args
		}
	}
	if len(have) < len(all) && os.Getenv("HOSTPLAN_LAB_REQUIRED") != "" {
		t.Fatalf("only %d of dash, bash and busybox here: make deps installs them", len(have))
	}
	return have
}

// The stream form's input runs the same in every shell a host may have as /bin/sh,
// with the lead script before it (its marker and lead line first on stderr) or not.
func TestStreamInputShells(t *testing.T) {
	spec := newSudoSpec("root", false)
	_, lead := spec.wrapStream()
	for name, args := range hostShells(t) {
		for _, withLead := range []bool{false, true} {
			for _, tc := range streamCases {
				in := streamInput("", tc.cmd)
				if withLead {
					in = streamInput(lead, tc.cmd)
				}
				stdout, stderr, exit := runArgs(t, args, in)
				if withLead {
					after, ok := strings.CutPrefix(stderr, spec.marker)
					first, rest, _ := strings.Cut(after, "\n")
					if v := parseLead(first); !ok || len(v) != 2 {
						t.Errorf("%s: stderr %q does not start with the marker and lead line", name, stderr)
						continue
					}
					stderr = rest
				}
				if tc.stderr == "syntax" {
					if exit == 0 || stderr == "" {
						t.Errorf("%s: want a syntax error, got exit %d stderr %q", name, exit, stderr)
					}
					continue
				}
				if stdout != tc.stdout || stderr != tc.stderr || exit != tc.exit {
					t.Errorf("%s (lead %v): %q: got (%q, %q, %d), want (%q, %q, %d)", name, withLead, tc.cmd[len(streamPadding):], stdout, stderr, exit, tc.stdout, tc.stderr, tc.exit)
				}
			}
		}
	}
}

// A kept shell's batch runs its commands one after another in every shell a host may
// have: each command's output, then its token and status; a command that exits or
// reads its input ends only itself.
func TestKeptInputShells(t *testing.T) {
	var in []byte
	for _, c := range []string{"echo one; echo e1 >&2", "read x; echo \"[$x]\"; exit 3", "cd /; v=set", `echo "$(pwd)[$v]"`} {
		in = append(in, keptInput("", c, "TOK", false)...)
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for name, args := range hostShells(t) {
		stdout, stderr, exit := runArgs(t, args, in)
		if want := "one\n\nTOK 0\n[]\n\nTOK 3\n\nTOK 0\n" + wd + "[]\n\nTOK 0\n"; stdout != want {
			t.Errorf("%s: stdout %q, want %q", name, stdout, want)
		}
		if want := "e1\n\nTOK\n\nTOK\n\nTOK\n\nTOK\n"; stderr != want || exit != 0 {
			t.Errorf("%s: stderr %q exit %d, want %q 0", name, stderr, exit, want)
		}
	}
}

// A command whose subshell is killed by a signal has its status, and its text (which
// may hold a value the plan hides) is not on standard error, where bash reports such a
// subshell by its text.
func TestSubshellEvalKilled(t *testing.T) {
	in := keptInput("", `: hidden-value; sh -c 'kill -9 $PPID'; echo after`, "TOK", false)
	for name, args := range hostShells(t) {
		stdout, stderr, _ := runArgs(t, args, in)
		if stdout != "\nTOK 137\n" || strings.Contains(stderr, "hidden-value") {
			t.Errorf("%s: stdout %q stderr %q", name, stdout, stderr)
		}
	}
}

// runWrapped runs a wrapper's command line with a plain shell and in as its input.
func runWrapped(t *testing.T, line string, in []byte) (stdout, stderr string, exit int) {
	t.Helper()
	return runArgs(t, []string{"/bin/sh", "-c", line}, in)
}

// runArgs runs args with in as its input.
func runArgs(t *testing.T, args []string, in []byte) (stdout, stderr string, exit int) {
	t.Helper()
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin = bytes.NewReader(in)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		exit = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return o.String(), e.String(), exit
}

func TestSudoWrapSFTPServer(t *testing.T) {
	spec := &sudoSpec{user: "root", marker: "MARK"}
	got := spec.wrapSFTPServer()
	for _, p := range sftpServerPaths {
		if !strings.Contains(got, p) {
			t.Errorf("wrapSFTPServer does not look in %s: %s", p, got)
		}
	}
	if !strings.HasPrefix(got, "sudo -n -u root -- /bin/sh -c '") || !strings.Contains(got, `"$p" -u 077`) {
		t.Errorf("wrapSFTPServer: %s", got)
	}
}

// feed writes s into w in chunks of n bytes.
func feed(w *sudoWatcher, s string, n int) {
	for len(s) > 0 {
		k := n
		if k > len(s) {
			k = len(s)
		}
		w.Write([]byte(s[:k]))
		s = s[k:]
	}
}

func TestSudoWatcher(t *testing.T) {
	const prompt = "hostplan-sudo-prompt-0123456789abcdef:"
	const marker = "hostplan-become-ok-fedcba9876543210"
	spec := &sudoSpec{user: "root", prompt: prompt, marker: marker}
	for _, chunk := range []int{1, 2, 3, 7, 1000} {
		// Prompt, then the marker, then the command's stderr (which may even contain
		// the prompt text: it is the command's business then).
		var out bytes.Buffer
		w := newSudoWatcher(spec, &out)
		feed(w, "We trust you have received the usual lecture.\n", chunk)
		if p, rej, ready := w.state(); p != 0 || rej || ready {
			t.Fatalf("chunk %d: early state %d %v %v", chunk, p, rej, ready)
		}
		feed(w, prompt, chunk)
		if p, _, _ := w.state(); p != 1 {
			t.Fatalf("chunk %d: prompt not seen", chunk)
		}
		feed(w, marker+"warning: x\n"+prompt+"\n", chunk)
		p, rej, ready := w.state()
		if p != 1 || rej || !ready {
			t.Fatalf("chunk %d: state %d %v %v", chunk, p, rej, ready)
		}
		if got := out.String(); got != "warning: x\n"+prompt+"\n" {
			t.Errorf("chunk %d: command stderr %q", chunk, got)
		}
		if got := w.sudoOutput(); got != "We trust you have received the usual lecture." {
			t.Errorf("chunk %d: sudo output %q", chunk, got)
		}
		select {
		case <-w.notify:
		default:
			t.Errorf("chunk %d: no notification", chunk)
		}

		// A wrong password.
		out.Reset()
		w = newSudoWatcher(spec, &out)
		feed(w, prompt+"\n"+sudoRejected+"\n"+prompt, chunk)
		p, rej, ready = w.state()
		if p != 2 || !rej || ready {
			t.Errorf("chunk %d: rejected state %d %v %v", chunk, p, rej, ready)
		}
		if out.Len() != 0 {
			t.Errorf("chunk %d: sudo output leaked to the command's stderr: %q", chunk, out.String())
		}
		if strings.Contains(w.sudoOutput(), prompt) {
			t.Errorf("chunk %d: prompt not stripped: %q", chunk, w.sudoOutput())
		}

		// sudo -n refusing: no marker ever.
		spec2 := &sudoSpec{user: "root", marker: marker}
		w = newSudoWatcher(spec2, &out)
		feed(w, "sudo: a password is required\n", chunk)
		if _, _, ready := w.state(); ready {
			t.Errorf("chunk %d: ready without marker", chunk)
		}
		if got := w.sudoOutput(); got != "sudo: a password is required" {
			t.Errorf("chunk %d: sudo -n output %q", chunk, got)
		}
	}
}

func TestBecomeFailure(t *testing.T) {
	cases := []struct {
		said     string
		code     int
		rejected bool
		is       error
		contains string
	}{
		{"", 1, true, ErrBecomePasswordRejected, "sudo password rejected on web1"},
		{"sudo: a password is required", 1, false, ErrBecomePasswordRequired, "no become password"},
		{"labnosudo is not in the sudoers file.", 1, false, ErrBecomeFailed, "labnosudo may not use sudo"},
		{"Sorry, user bob is not allowed to execute '/bin/sh' as root on web1.", 1, false, ErrBecomeFailed, "may not use sudo"},
		{"sh: 1: sudo: not found", 127, false, ErrBecomeFailed, "sudo is not installed"},
		{"sudo: unknown user nosuch", 1, false, ErrBecomeFailed, "unknown user nosuch"},
	}
	for _, c := range cases {
		err := becomeFailure("web1", "labnosudo", "root", c.code, c.said, c.rejected)
		if !errors.Is(err, c.is) || !strings.Contains(err.Error(), c.contains) {
			t.Errorf("%q: got %v, want %v containing %q", c.said, err, c.is, c.contains)
		}
	}
}

// ShellUnquote reads back what ShellQuote writes, and only that.
func TestShellUnquote(t *testing.T) {
	words := []string{"", "plain", "it's", "''", `'\''`, "a\nb", "$(id) `id` ${x:-y}", `\\ \" \'`, "*?[a]", "ümlaut ☃", "-n", " "}
	var quoted []string
	for _, w := range words {
		quoted = append(quoted, ShellQuote(w))
	}
	got, ok := ShellUnquote(strings.Join(quoted, " "))
	if !ok || !slices.Equal(got, words) {
		t.Errorf("ShellUnquote = %q, %v; want %q", got, ok, words)
	}
	for _, line := range []string{"", " a", "a ", "a  b", "'open", `a\b`, `"dq"`, "$x", "a;b", "a|b", "`id`", "a\tb", "(x)", "a\nb"} {
		if got, ok := ShellUnquote(line); ok {
			t.Errorf("ShellUnquote(%q) = %q, want not ok", line, got)
		}
	}
}

// Sections' script runs in the files session's shell itself (inShellEval): each
// command still ends only itself, reads nothing of what follows (the server's input),
// and leaves no state the shell goes on with; the status line follows.
func TestFilesInputSections(t *testing.T) {
	s := NewSections([]string{"echo a; exit 3", "read x; echo \"[$x]\"; s=9 u=bad p=/bin/false; cd /; exit 4", "echo c"})
	in := append(filesInput("", inShellEval(s.Script()), "TOK"), "after\n"...)
	uid := strconv.Itoa(os.Getuid())
	for name, args := range hostShells(t) {
		stdout, _, _ := runArgs(t, args, in)
		out, status, ok := strings.Cut(stdout, "\nTOK ")
		if !ok {
			t.Fatalf("%s: no status line in %q", name, stdout)
		}
		got, err := s.Parse(out)
		want := []Section{{"a\n", 3}, {"[]\n", 4}, {"c\n", 0}}
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("%s: sections %+v %v, want %+v", name, got, err, want)
		}
		if status, _, _ = strings.Cut(status, "\n"); status != "0 "+uid && status != "0 -" {
			t.Errorf("%s: status line %q, want \"0 %s\"", name, status, uid)
		}
	}
}
