package transport

// Helpers over a Conn that resource types and firewall backends share.

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
)

// Failure describes a command that exited non-zero, quoting what it printed (its
// standard error, else its standard output), for a result whose exit code the caller
// found wrong.
func (r *Result) Failure(what string) error {
	msg := strings.TrimSpace(string(r.Stderr))
	if msg == "" {
		msg = strings.TrimSpace(string(r.Stdout))
	}
	return fmt.Errorf("%s: exit %d: %s", what, r.ExitCode, msg)
}

// RunAll runs commands in order and stops at the first that fails, quoting it. On a
// POSIX host they run in one session (one process start on the host and one round
// trip, not one per command).
func RunAll(ctx context.Context, c Conn, commands []string) error {
	if c.Shell() == ShellCmd {
		for _, s := range commands {
			res, err := c.Run(ctx, s, nil)
			if err != nil {
				return err
			}
			if res.ExitCode != 0 {
				return res.Failure(s)
			}
		}
		return nil
	}
	_, err := RunAllThen(ctx, c, commands, "")
	return err
}

// RunAllThen runs commands as RunAll does, in one session on a POSIX host, and then,
// when they all succeeded, then (a command whose output the caller reads, such as
// iptables-save), returning its standard output byte for byte. A failure of then is
// quoted like one of the commands.
func RunAllThen(ctx context.Context, c Conn, commands []string, then string) (string, error) {
	return runBatch(ctx, c, commands, commands, then, false)
}

// RunAllShown runs commands as RunAll does on a POSIX host, each as run[i] (commands[i]
// with a check around it, or in another form), quoting commands[i] when it fails.
func RunAllShown(ctx context.Context, c Conn, run, commands []string) error {
	if len(run) != len(commands) {
		return fmt.Errorf("RunAllShown: %d commands to run, %d to show", len(run), len(commands))
	}
	_, err := runBatch(ctx, c, run, commands, "", false)
	return err
}

// RunPrograms is RunAllShown followed by then (as in RunAllThen), for commands and
// then that each start one program, with redirections at most (a here-document, say),
// and so neither exit nor set anything in the shell that runs them: hostplan's own
// iptables-restore batches and iptables-save. A batch of one of them, or of then
// alone, runs in the kept shell itself, not in a subshell of it: a fork less per batch.
func RunPrograms(ctx context.Context, c Conn, run, commands []string, then string) (string, error) {
	if len(run) != len(commands) {
		return "", fmt.Errorf("RunPrograms: %d commands to run, %d to show", len(run), len(commands))
	}
	// batchScript's "exit 0" after a failed command that is not the last keeps the
	// rest from running: only a batch without one may run in the shell itself.
	inShell := len(run) == 0 || len(run) == 1 && then == ""
	return runBatch(ctx, c, run, commands, then, inShell)
}

func runBatch(ctx context.Context, c Conn, run, commands []string, then string, inShell bool) (string, error) {
	// failed marks the output of a command that failed: its index and exit status,
	// then what it printed. Random per batch, so no output can fake it.
	failed := randomToken("hostplan-batch-failed-")
	res, err := runKept(ctx, c, batchScript(run, then, failed), inShell)
	if err != nil {
		return "", err
	}
	out := string(res.Stdout)
	if first, rest, ok := strings.Cut(out, "\n"); ok && strings.HasPrefix(first, failed+" ") {
		var i, code int
		if _, err := fmt.Sscanf(first, failed+" %d %d", &i, &code); err == nil && i >= 0 && i < len(commands) {
			return "", (&Result{Stdout: []byte(rest), ExitCode: code}).Failure(commands[i])
		}
	}
	if res.ExitCode != 0 {
		if then == "" && len(commands) > 0 {
			// The last command ran as the script's end (batchScript): its output,
			// both streams, is on standard output; standard error has only what the
			// shell itself said (a syntax error), which Failure shows first.
			return "", (&Result{Stdout: res.Stdout, Stderr: res.Stderr, ExitCode: res.ExitCode}).Failure(commands[len(commands)-1])
		}
		what := then
		if then == "" {
			what = "commands"
		}
		return "", res.Failure(what)
	}
	return out, nil
}

// batchScript runs commands in order, stopping at the first that fails, then then.
// Each command but the script's last runs in a command substitution that keeps its
// output, to quote should it fail, and makes its exit ("|| exit 1" in a loop) end only
// that command. The last, when no then follows, runs as the script's end instead:
// nothing runs after the script in its shell (the kept shell's subshell, a session's
// shell), so its exit ends nothing else (RunPrograms' batches, in the kept shell
// itself, hold no exit), and the substitution's process is saved (a fork, a few
// milliseconds of a virtual machine's CPU), with the fork of a simple command in it,
// which the shell then starts by vfork.
func batchScript(run []string, then, failed string) string {
	var script strings.Builder
	for i, s := range run {
		if i == len(run)-1 && then == "" {
			fmt.Fprintf(&script, "{ %s\n} 2>&1\n", s)
			break
		}
		fmt.Fprintf(&script, "o=$( { %s\n} 2>&1 ) || { printf '%s %d %%d\\n%%s' \"$?\" \"$o\"; exit 0; }\n", s, failed, i)
	}
	if then != "" {
		script.WriteString("{ " + then + "\n}\n")
	}
	return script.String()
}

// MissingParents lists the ancestors of p that do not exist, outermost first.
func MissingParents(ctx context.Context, c Conn, p string) ([]string, error) {
	var missing []string
	for dir := path.Dir(p); dir != "/"; dir = path.Dir(dir) {
		_, err := c.Stat(ctx, dir)
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		missing = append([]string{dir}, missing...)
	}
	return missing, nil
}

// MkdirAll creates dir and its missing parents, all with attrs.
func MkdirAll(ctx context.Context, c Conn, dir string, attrs FileAttrs) error {
	if _, err := c.Stat(ctx, dir); err == nil {
		return nil
	}
	missing, err := MissingParents(ctx, c, dir)
	if err != nil {
		return err
	}
	for _, p := range append(missing, dir) {
		if err := c.Mkdir(ctx, p, attrs); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
	}
	return nil
}

// Section is one command's standard output and exit status in a RunSections session.
type Section struct {
	Out  string
	Code int
}

// RunSections runs commands in one session (one process start on the host, not one per
// command), each in a subshell of its own, so one that exits ends only itself, and
// returns each one's standard output and exit status; their standard error is the
// session's, for messages. A random marker ends each output, so no output can fake it.
func RunSections(ctx context.Context, c Conn, commands []string) (sections []Section, stderr string, err error) {
	return NewSections(commands).Run(ctx, c)
}

// Run runs the script as RunSections does.
func (s *Sections) Run(ctx context.Context, c Conn) (sections []Section, stderr string, err error) {
	return s.run(func(script string) (*Result, error) { return c.Run(ctx, script, nil) })
}

// RunThenFiles runs the script through RunThenFiles: the session goes on as the
// connection's sftp-server, for a run that will use files anyway (an apply).
func (s *Sections) RunThenFiles(ctx context.Context, c Conn) (sections []Section, stderr string, err error) {
	return s.run(func(script string) (*Result, error) { return runThenFilesAs(ctx, c, script, inShellEval) })
}

func (s *Sections) run(run func(script string) (*Result, error)) (sections []Section, stderr string, err error) {
	res, err := run(s.Script())
	if err != nil {
		return nil, "", err
	}
	if sections, err = s.Parse(string(res.Stdout)); err != nil {
		// Not quoting the output: it may hold a file's content (FileReads), which
		// may be a secret.
		return nil, "", fmt.Errorf("%w (exit %d): %s", err, res.ExitCode, orNothing(strings.TrimSpace(string(res.Stderr))))
	}
	return sections, string(res.Stderr), nil
}

// Sections is RunSections' script, for a caller that runs it as part of a command of
// its own (the host lock's), and the way to read its output.
type Sections struct {
	commands []string
	end      string
	skip     map[string]string
}

// NewSections prepares commands to run as RunSections runs them.
func NewSections(commands []string) *Sections {
	return &Sections{commands: commands, end: randomToken("hostplan-section-")}
}

// Skipping has each command that skip maps to a shell condition not run where that
// condition holds: its section then exits SkippedCode, which no caller keeps (a read
// guessed before the facts, needed only on some hosts, costs the others nothing).
// Conditions are tests of the shell's own, which start no process.
func (s *Sections) Skipping(skip map[string]string) *Sections {
	s.skip = skip
	return s
}

// SkippedCode is the exit status of a section Skipping skipped.
const SkippedCode = 75

// Script is the shell script that runs the commands. A command runs in a subshell of
// its own (a fork of the shell) unless it is one program call (isProgram): the shell
// then starts it as any simple command, by vfork where it can (dash), which costs a
// virtual machine a few milliseconds less than a fork. A skipped command starts no
// process at all: its condition is tested in the shell itself.
func (s *Sections) Script() string {
	var script strings.Builder
	for _, cmd := range s.commands {
		run := "(\n" + cmd + "\n)"
		if isProgram(cmd) {
			run = "command " + cmd
		}
		if cond := s.skip[cmd]; cond != "" {
			fmt.Fprintf(&script, "if %s; then c=%d; else\n%s\nc=$?; fi; echo; echo \"%s $c\"\n", cond, SkippedCode, run, s.end)
			continue
		}
		fmt.Fprintf(&script, "%s\nc=$?; echo; echo \"%s $c\"\n", run, s.end)
	}
	return script.String()
}

// isProgram reports whether cmd is one call of a program: words in ShellQuote's forms
// only (safe characters, single-quoted text, \' between them) and "=", the first a bare
// name that is no shell builtin or keyword. Run as "command " + cmd in the shell
// itself, it can neither exit nor change that shell, nor call a function the script
// around it defined (the host lock's). The name is bare, safe characters only: quotes
// in it could spell a builtin the list does not see (e'xit'), and a leading "-" would
// be an option of command itself (command -p exit); it starts with a letter, a digit,
// "_" or "/".
func isProgram(cmd string) bool {
	name, _, _ := strings.Cut(cmd, " ")
	if name == "" || !strings.ContainsRune("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_/", rune(name[0])) ||
		shellBuiltins[name] {
		return false
	}
	for i := 0; i < len(name); i++ {
		if !shellSafe(name[i]) {
			return false
		}
	}
	quoted := false
	for i := 0; i < len(cmd); i++ {
		ch := cmd[i]
		switch {
		case quoted:
			quoted = ch != '\''
		case ch == '\'':
			quoted = true
		case ch == '\\' && i+1 < len(cmd) && cmd[i+1] == '\'':
			i++
		case ch == ' ', ch == '=' && i > len(name), shellSafe(ch):
		default:
			return false
		}
	}
	return !quoted
}

// shellSafe reports whether ch needs no quotes in a shell word (ShellQuote).
func shellSafe(ch byte) bool {
	return ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || strings.IndexByte("@%_-+:,./", ch) >= 0
}

// shellBuiltins are the builtins and keywords of dash, bash and POSIX sh: none is a
// program isProgram may run in the shell itself.
var shellBuiltins = func() map[string]bool {
	m := map[string]bool{}
	for _, b := range strings.Fields(`. : alias bg bind break builtin caller case cd chdir command compgen complete
		compopt continue declare dirs disown do done echo elif else enable esac eval exec exit export false fc fg fi
		for function getopts hash help history if in jobs kill let local logout mapfile popd printf pushd pwd read
		readarray readonly return select set shift shopt source suspend test then time times trap true type typeset
		ulimit umask unalias unset until wait while`) {
		m[b] = true
	}
	return m
}()

// Parse reads the script's standard output.
func (s *Sections) Parse(out string) ([]Section, error) {
	var sections []Section
	for range s.commands {
		text, after, ok := strings.Cut(out, "\n"+s.end+" ")
		codeText, next, _ := strings.Cut(after, "\n")
		code, err := strconv.Atoi(codeText)
		if !ok || err != nil {
			return nil, errors.New("the output of its commands ended early")
		}
		sections = append(sections, Section{Out: text, Code: code})
		out = next
	}
	return sections, nil
}
