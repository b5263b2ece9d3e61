package sshsig

import (
	"bytes"
	"fmt"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

// AllowedSigner is one line of an allowed_signers file (ssh-keygen(1), ALLOWED
// SIGNERS):
//
//	principals [options] keytype base64-key [comment]
//
// Principals are comma-separated patterns; options are namespaces="...",
// valid-after="...", valid-before="..." and cert-authority.
type AllowedSigner struct {
	Principals    string
	Key           ssh.PublicKey
	Namespaces    string // pattern list; empty: every namespace
	CertAuthority bool
	ValidAfter    time.Time
	ValidBefore   time.Time
	Line          int
}

// ParseAllowedSigners reads an allowed_signers file. Like ssh-keygen it refuses the
// whole file at a malformed line or an option it does not know, rather than guess;
// name is for messages.
func ParseAllowedSigners(name string, data []byte) ([]AllowedSigner, error) {
	var out []AllowedSigner
	for i, line := range bytes.Split(data, []byte("\n")) {
		text := strings.TrimSpace(string(line))
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		s, err := parseAllowedLine(text)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, i+1, err)
		}
		s.Line = i + 1
		out = append(out, s)
	}
	return out, nil
}

func parseAllowedLine(text string) (AllowedSigner, error) {
	var s AllowedSigner
	principals, rest, err := principalsField(text)
	if err != nil {
		return s, err
	}
	s.Principals = principals
	// ParseAuthorizedKey reads "[options] keytype key [comment]" with options quoted
	// as in authorized_keys, which is the same grammar.
	key, _, options, _, err := ssh.ParseAuthorizedKey([]byte(rest))
	if err != nil {
		return s, fmt.Errorf("not an allowed signer (principals [options] keytype key): %w", err)
	}
	s.Key = key
	for _, o := range options {
		if err := s.setOption(o); err != nil {
			return s, err
		}
	}
	return s, nil
}

// principalsField splits off the first field, which may be double-quoted.
func principalsField(text string) (field, rest string, err error) {
	if strings.HasPrefix(text, `"`) {
		end := strings.Index(text[1:], `"`)
		if end < 0 {
			return "", "", fmt.Errorf("unterminated quote in the principals")
		}
		return text[1 : end+1], strings.TrimSpace(text[end+2:]), nil
	}
	field, rest, ok := strings.Cut(text, " ")
	if tab := strings.IndexByte(field, '\t'); tab >= 0 {
		field, rest, ok = text[:tab], text[tab+1:], true
	}
	if !ok {
		return "", "", fmt.Errorf("no key after the principals %q", field)
	}
	return field, strings.TrimSpace(rest), nil
}

func (s *AllowedSigner) setOption(o string) error {
	name, value, hasValue := strings.Cut(o, "=")
	value = strings.Trim(value, `"`)
	var err error
	switch strings.ToLower(name) {
	case "cert-authority":
		s.CertAuthority = true
		return nil
	case "namespaces":
		s.Namespaces = value
	case "valid-after":
		s.ValidAfter, err = parseTime(value)
	case "valid-before":
		s.ValidBefore, err = parseTime(value)
	default:
		return fmt.Errorf("unsupported option %q", name)
	}
	if !hasValue {
		return fmt.Errorf("option %s needs a value", name)
	}
	if err != nil {
		return fmt.Errorf("option %s: %w", name, err)
	}
	return nil
}

// parseTime reads ssh-keygen's YYYYMMDD[HHMM[SS]] times, local unless ending in Z.
func parseTime(v string) (time.Time, error) {
	loc := time.Local
	if u, ok := strings.CutSuffix(v, "Z"); ok {
		v, loc = u, time.UTC
	}
	layouts := map[int]string{8: "20060102", 12: "200601021504", 14: "20060102150405"}
	t, err := time.ParseInLocation(layouts[len(v)], v, loc)
	if err != nil || layouts[len(v)] == "" {
		return time.Time{}, fmt.Errorf("%q is not a time (YYYYMMDD[HHMM[SS]][Z])", v)
	}
	return t, nil
}

// Match returns the lines of signers that allow key to sign in namespace at time now,
// as `ssh-keygen -Y verify` would with any of their principals.
func Match(signers []AllowedSigner, key ssh.PublicKey, namespace string, now time.Time) []AllowedSigner {
	var out []AllowedSigner
	want := key.Marshal()
	for _, s := range signers {
		switch {
		case s.CertAuthority: // a CA vouches for certificates, never signs as itself
		case !bytes.Equal(s.Key.Marshal(), want):
		case s.Namespaces != "" && !MatchPatternList(namespace, s.Namespaces):
		case !s.ValidAfter.IsZero() && now.Before(s.ValidAfter):
		case !s.ValidBefore.IsZero() && !now.Before(s.ValidBefore):
		default:
			out = append(out, s)
		}
	}
	return out
}

// MatchPatternList matches s against a comma-separated list of patterns with * and ?,
// where a pattern starting with ! excludes: OpenSSH's match_pattern_list.
func MatchPatternList(s, list string) bool {
	matched := false
	for _, p := range strings.Split(list, ",") {
		if neg, ok := strings.CutPrefix(p, "!"); ok {
			if matchPattern(s, neg) {
				return false
			}
			continue
		}
		matched = matched || matchPattern(s, p)
	}
	return matched
}

// matchPattern is a glob with * (any run) and ? (one byte), like OpenSSH's. On a
// mismatch it retries from the last * only, so it takes O(len(s)·len(p)) steps
// whatever the number of stars.
func matchPattern(s, p string) bool {
	si, pi := 0, 0
	star, mark := -1, 0
	for si < len(s) {
		switch {
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, si
			pi++
		case pi < len(p) && (p[pi] == '?' || p[pi] == s[si]):
			si, pi = si+1, pi+1
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
