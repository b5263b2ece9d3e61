package inventory

import (
	"fmt"
	"strconv"
	"strings"
)

// matchCriterion is one criterion of a Match line: "host a,b", "!user x", "all".
type matchCriterion struct {
	negate bool
	kind   string // lower-cased: all, canonical, final, host, originalhost, user, localuser, exec
	arg    string // the pattern list or command; "" for all, canonical and final
}

// parseMatch checks a Match line's criteria as OpenSSH 9.2's match_cfg_line does, so
// a line ssh would refuse is refused here too, naming the file and line, and one with a
// criterion hostplan does not evaluate is never silently taken as matching or not.
func parseMatch(ln *sshLine) ([]matchCriterion, error) {
	var out []matchCriterion
	args := ln.args
	for i := 0; i < len(args); i++ {
		c := matchCriterion{kind: strings.ToLower(args[i])}
		if strings.HasPrefix(c.kind, "!") {
			c.negate, c.kind = true, c.kind[1:]
		}
		switch c.kind {
		case "all":
			// ssh allows "all" alone or after one of canonical and final.
			if len(out) > 1 || i+1 < len(args) {
				return nil, fmt.Errorf("Match: %q cannot be combined with other criteria", args[i])
			}
		case "canonical", "final":
		case "host", "originalhost", "user", "localuser", "exec":
			if i+1 == len(args) {
				return nil, fmt.Errorf("Match: %q needs an argument", args[i])
			}
			i++
			c.arg = args[i]
		default:
			return nil, fmt.Errorf("Match criterion %q is not one hostplan evaluates (it knows all, canonical, final, host, originalhost, user, localuser and exec); ssh 9.2 refuses it too. Remove it, or run hostplan with another --ssh-config", args[i])
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("Match needs at least one criterion (Match all matches every host)")
	}
	return out, nil
}

// matchPattern reports whether s matches the glob pattern p ('*' any run, '?' one
// byte), as OpenSSH's match_pattern does. It backtracks only to the last '*', so a
// hostile pattern costs at most len(s)*len(p) steps.
func matchPattern(s, p string) bool {
	si, pi, star, mark := 0, 0, -1, 0
	for si < len(s) {
		switch {
		case pi < len(p) && (p[pi] == '?' || p[pi] == s[si]):
			si++
			pi++
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, si
			pi++
		case star >= 0:
			mark++
			si, pi = mark, star+1
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}

// matchPatternList is OpenSSH's match_pattern_list: a comma-separated list matches
// when one of its patterns does and none of its negated ("!pat") ones does, so a list
// of only negated patterns never matches. fold compares case-insensitively (host names).
func matchPatternList(s, list string, fold bool) bool {
	if fold {
		s, list = strings.ToLower(s), strings.ToLower(list)
	}
	positive := false
	for _, p := range strings.Split(list, ",") {
		neg := strings.HasPrefix(p, "!")
		if neg {
			p = p[1:]
		}
		if matchPattern(s, p) {
			if neg {
				return false
			}
			positive = true
		}
	}
	return positive
}

// matchHostLine is a Host line: its whitespace-separated patterns (case-sensitive, as
// in ssh) match host when one does and no negated one does.
func matchHostLine(host string, patterns []string) bool {
	positive := false
	for _, p := range patterns {
		neg := strings.HasPrefix(p, "!")
		if neg {
			p = p[1:]
		}
		if matchPattern(host, p) {
			if neg {
				return false
			}
			positive = true
		}
	}
	return positive
}

// sshValue is one value an active block gave an option, in the order obtained.
type sshValue struct {
	value string
	seq   int // position among all values obtained, to tell which came first
}

// sshLookup evaluates an ssh_config for one host as OpenSSH's readconf.c does: every
// line in file order, Host and Match lines switching the following options on or off,
// and the first value obtained for an option winning.
type sshLookup struct {
	cfg      *sshConfigFile
	original string // the name as given (originalhost, %n)
	host     string // what Host lines match: the name as given; in the final pass, the HostName
	final    bool   // the final pass (Match final and canonical)
	user     string // the user given before the config (the inventory's), or ""
	port     int    // likewise the port, or 0
	local    string // the local user
	home     string
	values   map[string][]sshValue
	seq      int
	wantFin  bool // a Match final line was seen: make a final pass
}

// run evaluates the config: a first pass, and a second (final) one when a Match line
// asked for it with "final". hostplan does no host name canonicalisation, so that is
// the only final pass, as with ssh and CanonicalizeHostname no.
func (l *sshLookup) run() error {
	l.values = map[string][]sshValue{}
	l.host = l.original
	if err := l.walk(l.cfg.root, true); err != nil {
		return err
	}
	if !l.wantFin {
		return nil
	}
	// ssh.c sets the HostName to the (expanded) one found so far before the final
	// pass, so Host lines then match it and a HostName in a later block is ignored.
	hn := l.hostName()
	l.seq++
	l.values["hostname"] = []sshValue{{value: hn, seq: l.seq}}
	l.final, l.host = true, hn
	return l.walk(l.cfg.root, true)
}

func (l *sshLookup) walk(f *sshFile, active bool) error {
	for i := range f.lines {
		ln := &f.lines[i]
		switch ln.key {
		case "host":
			active = matchHostLine(l.host, ln.args)
		case "match":
			m, err := l.matchLine(ln)
			if err != nil {
				return err
			}
			active = m
		case "include":
			if !active {
				continue
			}
			for _, inc := range ln.inc {
				// An included file starts in the including block's state; its own
				// Host and Match lines do not outlast it.
				if err := l.walk(inc, true); err != nil {
					return err
				}
			}
		default:
			if active {
				l.seq++
				l.values[ln.key] = append(l.values[ln.key], sshValue{value: ln.value, seq: l.seq})
			}
		}
	}
	return nil
}

// first is the value an option has for the host, or "" when no block gives it.
func (l *sshLookup) first(key string) (sshValue, bool) {
	v := l.values[key]
	if len(v) == 0 {
		return sshValue{}, false
	}
	return v[0], true
}

// all are every value of a multi-valued option (IdentityFile, CertificateFile), in
// order and without repeats (ssh drops a file it already has, which matters for the
// final pass).
func (l *sshLookup) all(key string) []string {
	var out []string
	seen := map[string]bool{}
	for _, v := range l.values[key] {
		if !seen[v.value] {
			seen[v.value] = true
			out = append(out, v.value)
		}
	}
	return out
}

// hostName is what Match host matches: the HostName obtained so far with %h (the name
// as given) expanded, else the name as given, as in match_cfg_line.
func (l *sshLookup) hostName() string {
	v, ok := l.first("hostname")
	if !ok {
		return l.host
	}
	if l.final {
		return v.value // already expanded when the final pass began
	}
	return strings.NewReplacer("%%", "%", "%h", l.host).Replace(v.value)
}

// remoteUser is what Match user matches: the user so far (given, else the config's,
// unexpanded), else the local user.
func (l *sshLookup) remoteUser() string {
	if l.user != "" {
		return l.user
	}
	if v, ok := l.first("user"); ok {
		return v.value
	}
	return l.local
}

func (l *sshLookup) remotePort() string {
	if l.port != 0 {
		return strconv.Itoa(l.port)
	}
	if v, ok := l.first("port"); ok {
		if n, err := strconv.Atoi(v.value); err == nil && n > 0 {
			return strconv.Itoa(n)
		}
	}
	return "22"
}
