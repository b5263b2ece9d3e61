// Package winstandin stands in for a Windows host's cmd.exe and netsh.exe in
// the test lab. The lab's sshd hands every exec request to Run (through
// ForceCommand), so a client sees what OpenSSH for Windows would give it:
// the command line is run as `cmd.exe /c <line>` would run it, netsh answers
// in English from a JSON state file, and anything else fails the way cmd.exe
// fails for an unknown program.
//
// The model is deliberately small. It covers what hostplan sends and what a
// test needs to tell a correct client from a careless one: % expansion, &,
// && and || with cmd.exe's precedence, double quotes and ^ escapes, echo,
// ver, hostname, and the netsh portproxy and advfirewall commands hostplan
// plans. Redirection, pipes, parentheses, delayed expansion and every other
// builtin are not modelled; the first two are refused outright so that a test
// cannot pass by relying on them.
package winstandin

import (
	"fmt"
	"io"
	"strings"
)

// env is the stand-in host's fixed environment.
var env = map[string]string{
	"os":                     "Windows_NT",
	"computername":           "WINFWD01",
	"username":               "Administrator",
	"processor_architecture": "AMD64",
	"systemroot":             `C:\Windows`,
}

const verText = "\r\nMicrosoft Windows [Version 10.0.20348.2227]\r\n"

// exitRefused is the exit code for a line cmd.exe refuses to parse, and for
// what the stand-in refuses to pretend to support.
const exitRefused = 255

// Run runs cmdline as `cmd.exe /c cmdline` would on the stand-in host and returns the exit code.
// State (port proxy entries and firewall rules) lives in the JSON file statePath; every command line
// run is appended, one per line, to statePath + ".log".
func Run(cmdline, statePath string, stdout, stderr io.Writer) int {
	line := firstLine(cmdline)
	st := store{path: statePath}
	if err := st.log(line); err != nil {
		// A test that cannot see what was run cannot trust its result either.
		fmt.Fprintf(stderr, "winstandin: %v\r\n", err)
		return exitRefused
	}
	seq, err := parseLine(expand(line))
	if err != nil {
		fmt.Fprintf(stderr, "%v\r\n", err)
		return exitRefused
	}
	sh := shell{store: st, stdout: stdout, stderr: stderr}
	return sh.runSeq(seq)
}

// firstLine returns what cmd.exe runs of a command line: it reads up to the
// first LF only, so anything a client sends after it is silently dropped.
func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return strings.TrimSuffix(s, "\r")
}

// expand does cmd.exe's percent expansion as it is done on a command line
// (not in a batch file): an undefined %NAME% is left as written, %% has no
// special meaning, and when a name is undefined scanning resumes at its
// closing %, which may open the next reference ("%a %OS%" keeps "%a " and
// expands %OS%).
func expand(s string) string {
	var b strings.Builder
	for {
		open := strings.IndexByte(s, '%')
		if open < 0 {
			break
		}
		end := strings.IndexByte(s[open+1:], '%')
		if end < 0 {
			break
		}
		end += open + 1
		b.WriteString(s[:open])
		if v, ok := env[strings.ToLower(s[open+1:end])]; ok {
			b.WriteString(v)
			s = s[end+1:]
		} else {
			b.WriteString(s[open:end])
			s = s[end:]
		}
	}
	b.WriteString(s)
	return b.String()
}

// A parsed line is a list of commands run in sequence (&), each a list of
// alternatives (||), each a list of commands that must all succeed (&&).
// This nesting is cmd.exe's operator precedence, & lowest and && highest:
// `a || b && c` skips both b and c when a succeeds, unlike a shell that
// applies operators left to right.
type (
	andList []string
	orList  []andList
	seqList []orList
)

// parseLine splits an expanded command line at its operators. Double quotes
// protect operators, and so does ^ outside quotes, which is removed as cmd.exe
// removes it; quotes themselves stay in the command text, where echo prints
// them and netsh's argument parsing removes them.
func parseLine(s string) (seqList, error) {
	var (
		seq     seqList
		or      orList
		and     andList
		cur     strings.Builder
		inQuote bool
	)
	// end closes the current command at an operator; op is the operator,
	// "" at the end of the line.
	end := func(op string) error {
		text := cur.String()
		cur.Reset()
		if strings.TrimSpace(text) == "" {
			switch {
			case op != "":
				return syntaxError(op + " was unexpected at this time.")
			case len(and) > 0 || len(or) > 0:
				return syntaxError("The syntax of the command is incorrect.") // a trailing && or ||
			}
			return nil // an empty line, or a trailing &, which cmd.exe accepts
		}
		and = append(and, text)
		switch op {
		case "&&":
		case "||":
			or = append(or, and)
			and = nil
		default:
			seq = append(seq, append(or, and))
			and, or = nil, nil
		}
		return nil
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if inQuote {
			if c == '"' {
				inQuote = false
			}
			cur.WriteByte(c)
			continue
		}
		switch c {
		case '"':
			inQuote = true
			cur.WriteByte(c)
		case '^':
			if i+1 < len(s) {
				i++
				cur.WriteByte(s[i])
			}
		case '&', '|':
			op := string(c)
			if i+1 < len(s) && s[i+1] == c {
				op += op
				i++
			}
			if op == "|" {
				return nil, syntaxError("winstandin: pipes (|) are not supported by the Windows stand-in")
			}
			if err := end(op); err != nil {
				return nil, err
			}
		case '<', '>':
			return nil, syntaxError(fmt.Sprintf("winstandin: redirection (%c) is not supported by the Windows stand-in", c))
		default:
			cur.WriteByte(c)
		}
	}
	if err := end(""); err != nil {
		return nil, err
	}
	return seq, nil
}

// syntaxError is a message for a line that is not run at all, worded as
// cmd.exe words it where cmd.exe would refuse the line too.
type syntaxError string

func (e syntaxError) Error() string { return string(e) }

// shell runs parsed commands against one state file.
type shell struct {
	store          store
	stdout, stderr io.Writer
}

// runSeq returns the exit code of the last command run, which is what
// `cmd.exe /c` exits with for the lines this model covers.
func (sh shell) runSeq(seq seqList) int {
	code := 0
	for _, or := range seq {
		code = sh.runOr(or)
	}
	return code
}

func (sh shell) runOr(or orList) int {
	code := 0
	for _, and := range or {
		if code = sh.runAnd(and); code == 0 {
			break
		}
	}
	return code
}

func (sh shell) runAnd(and andList) int {
	code := 0
	for _, cmd := range and {
		if code = sh.runCommand(cmd); code != 0 {
			break
		}
	}
	return code
}

// runCommand runs one command of a line: its text still has the whitespace
// around it and any double quotes.
func (sh shell) runCommand(text string) int {
	text = strings.TrimLeft(text, " \t")
	text = strings.TrimPrefix(text, "@") // only turns off command echo, which /c does not do
	text = strings.TrimLeft(text, " \t")
	if text == "" {
		return 0
	}
	if out, ok := echo(text); ok {
		io.WriteString(sh.stdout, out)
		return 0
	}
	name, rest := splitName(text)
	switch program(name) {
	case "ver":
		io.WriteString(sh.stdout, verText)
		return 0
	case "hostname", "hostname.exe":
		if strings.TrimSpace(rest) != "" {
			// hostname.exe takes no options; this is its answer to `hostname -f`.
			io.WriteString(sh.stderr, "sethostname: Use the Network Control Panel Applet to set hostname.\r\n")
			return 1
		}
		io.WriteString(sh.stdout, env["computername"]+"\r\n")
		return 0
	case "netsh", "netsh.exe":
		return sh.netsh(splitArgs(rest))
	}
	fmt.Fprintf(sh.stderr, "'%s' is not recognized as an internal or external command,\r\noperable program or batch file.\r\n", name)
	return 1
}

// echo returns what an echo command prints, if text is one. cmd.exe
// recognises echo by its first four letters followed by a delimiter and
// drops exactly that one delimiter: "echo  x" prints " x", "echo." an empty
// line, and trailing spaces before an & are printed too.
func echo(text string) (string, bool) {
	if len(text) < 4 || !strings.EqualFold(text[:4], "echo") {
		return "", false
	}
	if len(text) == 4 {
		return "ECHO is on.\r\n", true
	}
	switch text[4] {
	case ' ', '\t':
		if strings.TrimLeft(text[5:], " \t") == "" {
			return "ECHO is on.\r\n", true
		}
	case '.', ':', '(':
	default:
		return "", false
	}
	return text[5:] + "\r\n", true
}

// splitName splits a command into its program name, as typed (double
// quotes group, as they do in a path with spaces), and the rest.
func splitName(text string) (name, rest string) {
	inQuote := false
	for i := 0; i < len(text); i++ {
		switch c := text[i]; {
		case c == '"':
			inQuote = !inQuote
		case (c == ' ' || c == '\t') && !inQuote:
			return text[:i], text[i:]
		}
	}
	return text, ""
}

// program returns the lower-cased program a command name runs: quotes are
// removed, and a name in the system directory is taken by its base name,
// since that is where netsh.exe and hostname.exe live.
func program(name string) string {
	p := strings.ToLower(strings.ReplaceAll(name, `"`, ""))
	if base, ok := strings.CutPrefix(p, `c:\windows\system32\`); ok {
		return base
	}
	return p
}

// splitArgs splits a program's command line (without the program name) into
// arguments as the Microsoft C runtime does for netsh.exe: spaces and tabs
// separate arguments outside double quotes, quotes group and are removed
// (name="a b" is one argument, name=a b), "" inside quotes is a literal
// quote, and backslashes are literal unless they precede a quote, where each
// pair becomes one backslash and an odd one escapes the quote.
func splitArgs(s string) []string {
	var (
		args    []string
		b       strings.Builder
		inArg   bool
		inQuote bool
	)
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case (c == ' ' || c == '\t') && !inQuote:
			if inArg {
				args = append(args, b.String())
				b.Reset()
				inArg = false
			}
			i++
		case c == '\\':
			n := 0
			for i+n < len(s) && s[i+n] == '\\' {
				n++
			}
			inArg = true
			if i+n < len(s) && s[i+n] == '"' {
				b.WriteString(strings.Repeat(`\`, n/2))
				i += n
				if n%2 == 1 {
					b.WriteByte('"')
					i++
				}
				continue
			}
			b.WriteString(s[i : i+n])
			i += n
		case c == '"':
			inArg = true
			if inQuote && i+1 < len(s) && s[i+1] == '"' {
				b.WriteByte('"')
				i += 2
				continue
			}
			inQuote = !inQuote
			i++
		default:
			inArg = true
			b.WriteByte(c)
			i++
		}
	}
	if inArg {
		args = append(args, b.String())
	}
	return args
}
