package inventory

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"sync"

	"github.com/hostplan/hostplan/internal/privfile"
)

// hostplan reads ssh_config itself rather than through a library, because evaluating
// Match blocks as OpenSSH does (readconf.c) needs every Host, Match and Include line in
// file order, and the values of each block in the order they were written: the first
// value obtained for an option wins across Host and Match blocks alike.

// maxIncludeDepth is OpenSSH's READCONF_MAX_DEPTH: an Include loop is an error.
const maxIncludeDepth = 16

// sshLine is one keyword line of an ssh_config file.
type sshLine struct {
	file  string
	num   int
	key   string   // the keyword, lower-cased
	args  []string // Host, Match, Include: the arguments, unquoted
	value string   // other keywords: the value (see lineValue)
	match []matchCriterion
	inc   []*sshFile // Include: the files it names, read when the file is
}

func (l *sshLine) where() string { return fmt.Sprintf("%s line %d", l.file, l.num) }

// sshFile is a parsed ssh_config file.
type sshFile struct {
	path  string
	lines []sshLine
}

// sshConfigFile is a parsed ssh_config, cached per inventory and path, with the
// results of its Match exec commands (see execCache).
type sshConfigFile struct {
	root *sshFile // nil when missing or unreadable
	err  error    // a line hostplan cannot read as ssh would: every lookup fails with it
	exec execCache
}

// execCache remembers each Match exec command's result by its expanded text for one
// run, so a test that names no per-host token ("Match exec on-vpn") runs once, not
// once per host.
type execCache struct {
	mu   sync.Mutex
	done map[string]execResult
}

type execResult struct {
	ok  bool
	err error
}

// parseSSHConfig reads path and the files it Includes. home is ~ and the directory of
// relative Include paths (~/.ssh), as in ssh's user configuration.
func parseSSHConfig(path, home string, depth int) (*sshFile, error) {
	if depth > maxIncludeDepth {
		return nil, fmt.Errorf("%s: Include nested more than %d deep (a loop?)", path, maxIncludeDepth)
	}
	data, err := readPrivateFile(path)
	if err != nil {
		return nil, err
	}
	f := &sshFile{path: path}
	for i, raw := range strings.Split(string(data), "\n") {
		ln, ok, err := parseSSHLine(path, i+1, raw)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		if ln.key == "include" {
			if ln.inc, err = readIncludes(&ln, home, depth); err != nil {
				return nil, err
			}
		}
		f.lines = append(f.lines, ln)
	}
	return f, nil
}

// parseSSHLine splits one line into keyword and value; ok is false for blank lines and
// comments.
func parseSSHLine(path string, num int, raw string) (sshLine, bool, error) {
	s := strings.TrimSpace(raw)
	if s == "" || s[0] == '#' {
		return sshLine{}, false, nil
	}
	end := strings.IndexAny(s, " \t=")
	if end < 0 {
		end = len(s)
	}
	ln := sshLine{file: path, num: num, key: strings.ToLower(s[:end])}
	rest := strings.TrimLeft(s[end:], " \t")
	// "Key=value" and "Key = value": one '=' may separate the keyword from its value.
	rest = strings.TrimLeft(strings.TrimPrefix(rest, "="), " \t")
	var err error
	switch ln.key {
	case "host", "match", "include":
		if ln.args, err = splitSSHArgs(rest); err != nil {
			return ln, false, fmt.Errorf("%s: %s: %w", ln.where(), s[:end], err)
		}
		if ln.key == "match" {
			ln.match, err = parseMatch(&ln)
		}
	default:
		ln.value, err = lineValue(ln.key, rest)
	}
	if err != nil {
		return ln, false, fmt.Errorf("%s: %w", ln.where(), err)
	}
	return ln, true, nil
}

// lineValue is the value of an ordinary keyword as hostplan's readers take it: the
// rest of the line, without a trailing comment and, when it is one quoted word, without
// its quotes. Commands (ProxyCommand and the like) are kept whole, as ssh keeps them.
func lineValue(key, rest string) (string, error) {
	switch key {
	case "proxycommand", "localcommand", "remotecommand", "knownhostscommand":
		return rest, nil
	}
	args, err := splitSSHArgs(rest)
	if err != nil {
		return "", fmt.Errorf("%s: %w", key, err)
	}
	if len(args) == 1 {
		return args[0], nil
	}
	// Several words ("UserKnownHostsFile a b"): the readers split them on spaces.
	if i := commentStart(rest); i >= 0 {
		rest = rest[:i]
	}
	return strings.TrimSpace(rest), nil
}

// commentStart is where an unquoted word starting with '#' begins in s, or -1.
func commentStart(s string) int {
	quoted := false
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '"':
			quoted = !quoted
		case s[i] == '#' && !quoted && (i == 0 || s[i-1] == ' ' || s[i-1] == '\t'):
			return i
		}
	}
	return -1
}

// splitSSHArgs splits s on blanks as ssh's argv_split does: "double quotes" group a
// word, and a word starting with '#' starts a comment.
func splitSSHArgs(s string) ([]string, error) {
	var out []string
	for {
		s = strings.TrimLeft(s, " \t\r")
		if s == "" || s[0] == '#' {
			return out, nil
		}
		if s[0] == '"' {
			end := strings.IndexByte(s[1:], '"')
			if end < 0 {
				return nil, errors.New("unterminated quote")
			}
			out = append(out, s[1:end+1])
			s = s[end+2:]
			continue
		}
		end := strings.IndexAny(s, " \t\r")
		if end < 0 {
			end = len(s)
		}
		out = append(out, s[:end])
		s = s[end:]
	}
}

// readIncludes reads the files an Include line names: "~" is the home, a relative path
// is under ~/.ssh, and globs are expanded in lexical order; a name that matches no
// file is skipped, as ssh does.
func readIncludes(ln *sshLine, home string, depth int) ([]*sshFile, error) {
	var out []*sshFile
	for _, arg := range ln.args {
		p := expandTilde(arg, home)
		if !filepath.IsAbs(p) {
			p = filepath.Join(home, ".ssh", p)
		}
		names, err := filepath.Glob(p)
		if err != nil {
			return nil, fmt.Errorf("%s: Include %s: %w", ln.where(), arg, err)
		}
		for _, name := range names {
			f, err := parseSSHConfig(name, home, depth+1)
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("%s: Include %s: %w", ln.where(), arg, err)
			}
			out = append(out, f)
		}
	}
	return out, nil
}

// readPrivateFile reads an ssh_config file that only its owner (this user or root)
// can change, as ssh requires of ~/.ssh/config and included files: a Match exec line
// runs commands as this user, so a file another local user can write would let them.
func readPrivateFile(path string) ([]byte, error) {
	data, err := privfile.Read(path)
	var pe *privfile.Error
	if errors.As(err, &pe) {
		return nil, fmt.Errorf("%s: bad owner or permissions: it %s (it must belong to you or root and be writable by nobody else; ssh refuses it too)", path, pe.Why)
	}
	return data, err
}
