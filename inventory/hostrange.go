package inventory

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// maxRangeHosts caps what one host pattern may expand to, so that a typo like
// web[1:100000000] is an error rather than an out-of-memory.
const maxRangeHosts = 100000

// maxHostPattern caps a host pattern's length: a DNS name has at most 253 bytes, and
// 100000 names of a long pattern would take gigabytes.
const maxHostPattern = 255

const letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

// parseHostPattern splits an Ansible host pattern as written in an INI host line or a
// YAML hosts key into host names (ranges expanded) and an optional port:
//
//	web1                    web[01:20].example.com      db-[a:f]     node[1:10:2]
//	web1:2222               web[1:3]:2222               [2001:db8::1]:2222
//	2001:db8::1 (an IPv6 address without brackets has no port)
func parseHostPattern(s string) (names []string, port int, err error) {
	if s == "" {
		return nil, 0, fmt.Errorf("empty host name")
	}
	if len(s) > maxHostPattern {
		return nil, 0, fmt.Errorf("host pattern %.40q... is %d bytes long; a host name or pattern has at most %d", s, len(s), maxHostPattern)
	}
	// [IPv6] or [IPv6]:port
	if strings.HasPrefix(s, "[") {
		if i := strings.IndexByte(s, ']'); i > 0 && !isRange(s[1:i]) && strings.Count(s[1:i], ":") >= 2 {
			host, rest := s[1:i], s[i+1:]
			if net.ParseIP(host) == nil {
				return nil, 0, fmt.Errorf("%q is not an IPv6 address", host)
			}
			if rest != "" {
				if port, err = parsePortSuffix(rest, s); err != nil {
					return nil, 0, err
				}
			}
			return []string{host}, port, nil
		}
	}
	// Colons outside brackets: one means host:port, more mean a bare IPv6 address.
	at, balanced := outerColons(s)
	if !balanced {
		return nil, 0, fmt.Errorf("unbalanced brackets in host pattern %q", s)
	}
	colons, last := len(at), -1
	if colons > 0 {
		last = at[colons-1]
	}
	name := s
	switch {
	case colons >= 2:
		if net.ParseIP(s) == nil {
			return nil, 0, fmt.Errorf("%q has several colons but is not an IPv6 address; write a port as host:port, an IPv6 address with a port as [address]:port", s)
		}
		return []string{s}, 0, nil
	case colons == 1:
		name = s[:last]
		if port, err = parsePortSuffix(s[last:], s); err != nil {
			return nil, 0, err
		}
		if name == "" {
			return nil, 0, fmt.Errorf("%q has a port but no host name", s)
		}
	}
	names, err = expandHostRange(name)
	return names, port, err
}

// outerColons finds the colons of host pattern s outside brackets, and says whether
// its brackets balance.
func outerColons(s string) (at []int, balanced bool) {
	depth := 0
	for i, r := range s {
		switch r {
		case '[':
			depth++
		case ']':
			depth--
		case ':':
			if depth == 0 {
				at = append(at, i)
			}
		}
	}
	return at, depth == 0
}

func parsePortSuffix(rest, whole string) (int, error) {
	if !strings.HasPrefix(rest, ":") {
		return 0, fmt.Errorf("unexpected %q after the host in %q", rest, whole)
	}
	p, err := strconv.Atoi(rest[1:])
	if err != nil || p < 1 || p > 65535 {
		return 0, fmt.Errorf("port %q in %q must be a number from 1 to 65535", rest[1:], whole)
	}
	return p, nil
}

// isRange reports whether the text between brackets looks like a range (begin:end or
// begin:end:step), as opposed to, say, an IPv6 address.
func isRange(inner string) bool {
	parts := strings.Split(inner, ":")
	if len(parts) != 2 && len(parts) != 3 {
		return false
	}
	for _, p := range parts {
		if p == "" {
			return false
		}
	}
	return true
}

// expandHostRange expands every [begin:end] or [begin:end:step] in name, numeric
// (zero-padded when begin is, like [01:20]) or a single letter ([a:f]), Ansible style.
// Several ranges multiply: rack[1:2]-n[1:3] is six names.
func expandHostRange(name string) ([]string, error) {
	open := strings.IndexByte(name, '[')
	if open < 0 {
		if strings.ContainsRune(name, ']') {
			return nil, fmt.Errorf("unbalanced brackets in host pattern %q", name)
		}
		return []string{name}, nil
	}
	closeRel := strings.IndexByte(name[open:], ']')
	if closeRel < 0 {
		return nil, fmt.Errorf("unbalanced brackets in host pattern %q", name)
	}
	head, inner, tail := name[:open], name[open+1:open+closeRel], name[open+closeRel+1:]
	seq, err := rangeSeq(inner, name)
	if err != nil {
		return nil, err
	}
	tails, err := expandHostRange(tail)
	if err != nil {
		return nil, err
	}
	if len(seq)*len(tails) > maxRangeHosts {
		return nil, fmt.Errorf("host pattern %q expands to more than %d hosts", name, maxRangeHosts)
	}
	out := make([]string, 0, len(seq)*len(tails))
	for _, s := range seq {
		for _, t := range tails {
			out = append(out, head+s+t)
		}
	}
	return out, nil
}

func rangeSeq(inner, name string) ([]string, error) {
	r := hostRange{inner: inner, name: name, step: 1}
	parts := strings.Split(inner, ":")
	if len(parts) != 2 && len(parts) != 3 {
		return nil, r.bad("is malformed")
	}
	r.beg, r.end = parts[0], parts[1]
	if len(parts) == 3 {
		s, err := strconv.Atoi(parts[2])
		if err != nil || s < 1 {
			return nil, r.bad("has a step that is not a positive number")
		}
		r.step = s
	}
	if r.beg == "" || r.end == "" {
		return nil, r.bad("needs both a begin and an end")
	}
	if bi, err := strconv.Atoi(r.beg); err == nil {
		return r.numberSeq(bi)
	}
	return r.letterSeq()
}

// hostRange is one range [beg:end] or [beg:end:step] of host pattern name; inner is
// the text between its brackets.
type hostRange struct {
	inner, name string
	beg, end    string
	step        int
}

func (r hostRange) bad(why string) error {
	return fmt.Errorf("host range [%s] in %q %s; write [begin:end] or [begin:end:step], e.g. web[01:20] or db-[a:f]", r.inner, r.name, why)
}

// numberSeq expands a numeric range, whose begin is bi; a zero-padded begin pads
// every number to its width.
func (r hostRange) numberSeq(bi int) ([]string, error) {
	ei, err := strconv.Atoi(r.end)
	if err != nil {
		return nil, r.bad("mixes a number and a letter")
	}
	if bi < 0 || ei < 0 {
		return nil, r.bad("has a negative bound")
	}
	width := 0
	if len(r.beg) > 1 && r.beg[0] == '0' {
		if len(r.beg) != len(r.end) {
			return nil, r.bad("is zero-padded, so begin and end need the same number of digits")
		}
		width = len(r.beg)
	}
	if bi > ei {
		return nil, r.bad("has a begin greater than its end")
	}
	// (ei-bi)/step+1 would overflow for [0:9223372036854775807].
	if (ei-bi)/r.step >= maxRangeHosts {
		return nil, fmt.Errorf("host pattern %q expands to more than %d hosts", r.name, maxRangeHosts)
	}
	var out []string
	// Count the names rather than step past end: i += step can overflow.
	for k := 0; k <= (ei-bi)/r.step; k++ {
		out = append(out, fmt.Sprintf("%0*d", width, bi+k*r.step))
	}
	return out, nil
}

// letterSeq expands a range of single letters.
func (r hostRange) letterSeq() ([]string, error) {
	bi, ei := strings.Index(letters, r.beg), strings.Index(letters, r.end)
	if len(r.beg) != 1 || len(r.end) != 1 || bi < 0 || ei < 0 {
		return nil, r.bad("is neither numeric nor a single-letter range")
	}
	if bi > ei {
		return nil, r.bad("has a begin after its end")
	}
	var out []string
	for k := 0; k <= (ei-bi)/r.step; k++ {
		i := bi + k*r.step
		out = append(out, letters[i:i+1])
	}
	return out, nil
}
