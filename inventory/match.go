package inventory

import (
	"fmt"
	"net"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// GroupNames returns every group name, sorted ("all" and "ungrouped" included).
func (inv *Inventory) GroupNames() []string {
	names := make([]string, 0, len(inv.Groups)+1)
	hasAll := false
	for name := range inv.Groups {
		names = append(names, name)
		hasAll = hasAll || name == "all"
	}
	if !hasAll {
		names = append(names, "all")
	}
	sort.Strings(names)
	return names
}

// HostsIn resolves names that are each a group or a host name (as a plan's
// on = [...] lists them) to hosts, in inventory order without duplicates. A name
// that is a group and a host means both. Names that are neither are returned as
// unknown, in the order given.
func (inv *Inventory) HostsIn(names []string) ([]*Host, []string) {
	want := map[*Host]bool{}
	var unknown []string
	for _, name := range names {
		hosts, ok := inv.exact(name)
		if !ok {
			unknown = append(unknown, name)
			continue
		}
		for _, h := range hosts {
			want[h] = true
		}
	}
	return inv.inOrder(want), unknown
}

// Match selects hosts with an Ansible host pattern, as given to --limit:
//
//	all, *                  every host
//	web1                    a host, or every host of a group (children included)
//	web*, *.example.com     globs (*, ?, [abc]) over host and group names
//	~web\d+                 a regular expression (anchored at the start, like Ansible)
//	webservers[0], [1:3]    the 1st, or 2nd to 4th, host of a group (Ansible's inclusive slice)
//	web[01:03]              when no group or host "web" exists: a host range, like in INI
//	a,b  a:b                union (a comma-separated list is never split at ':')
//	a,&b                    intersection: hosts in a and in b
//	a,!b                    exclusion: hosts in a but not in b
//
// Like Ansible, the union of the plain terms is taken first, then every &term
// narrows it and every !term removes from it, whatever their order; a pattern of
// only & and ! terms starts from all hosts. Every term must match at least one host or
// name a known group, or Match returns an error naming the terms that do not. The
// result is in inventory order without duplicates.
func (inv *Inventory) Match(pattern string) ([]*Host, error) {
	terms := splitPattern(pattern)
	if len(terms) == 0 {
		return nil, fmt.Errorf("empty host pattern: give host or group names, e.g. \"webservers\" or \"web1,web2\"")
	}
	plus, and, not := sortTerms(terms)
	var unknown []string
	match := func(t string) map[*Host]bool {
		set, why := inv.termSet(t)
		if why != "" {
			unknown = append(unknown, why)
		}
		return set
	}

	sel := map[*Host]bool{}
	if len(plus) == 0 {
		for _, h := range inv.Hosts {
			sel[h] = true
		}
	}
	for _, t := range plus {
		for h := range match(t) {
			sel[h] = true
		}
	}
	for _, t := range and {
		keep := match(t)
		for h := range sel {
			if !keep[h] {
				delete(sel, h)
			}
		}
	}
	for _, t := range not {
		for h := range match(t) {
			delete(sel, h)
		}
	}
	if len(unknown) > 0 {
		what := "term matches"
		if len(unknown) > 1 {
			what = "terms match"
		}
		return nil, fmt.Errorf("host pattern %q: these %s no host or group: %s", pattern, what, strings.Join(unknown, ", "))
	}
	return inv.inOrder(sel), nil
}

// sortTerms sorts a pattern's terms into plain ones, &terms and !terms, the operators
// removed.
func sortTerms(terms []string) (plus, and, not []string) {
	for _, t := range terms {
		switch {
		case strings.HasPrefix(t, "!"):
			not = append(not, t[1:])
		case strings.HasPrefix(t, "&"):
			and = append(and, t[1:])
		default:
			plus = append(plus, t)
		}
	}
	return plus, and, not
}

// termSet is the set of hosts term t matches. When t is unknown, why names it for the
// error, with the reason or a suggestion.
func (inv *Inventory) termSet(t string) (set map[*Host]bool, why string) {
	hosts, ok, err := inv.matchTerm(t)
	if err != nil {
		why = fmt.Sprintf("%q (%v)", t, err)
	} else if !ok {
		why = strconv.Quote(t) + suggest(t, inv.names())
	}
	set = make(map[*Host]bool, len(hosts))
	for _, h := range hosts {
		set[h] = true
	}
	return set, why
}

// splitPattern splits a host pattern into terms: at commas if there are any, else at
// colons outside brackets (the old Ansible separator), unless the whole pattern is an
// IPv6 address.
func splitPattern(p string) []string {
	var parts []string
	switch {
	case strings.Contains(p, ","):
		parts = strings.Split(p, ",")
	case net.ParseIP(strings.TrimSpace(p)) != nil:
		parts = []string{p}
	default:
		start := 0
		at, _ := outerColons(p)
		for _, i := range at {
			parts = append(parts, p[start:i])
			start = i + 1
		}
		parts = append(parts, p[start:])
	}
	var terms []string
	for _, t := range parts {
		if t = strings.TrimSpace(t); t != "" && t != "!" && t != "&" {
			terms = append(terms, t)
		}
	}
	return terms
}

var subscriptRe = regexp.MustCompile(`^(.+)\[(?:(-?[0-9]+)|([0-9]*):([0-9]*))\]$`)

// matchTerm returns the hosts of one term and whether the term is known (it matched a
// host or names a group, possibly an empty one).
func (inv *Inventory) matchTerm(t string) ([]*Host, bool, error) {
	if t == "all" || t == "*" {
		return inv.Hosts, true, nil
	}
	if strings.HasPrefix(t, "~") {
		re, err := regexp.Compile("^(?:" + t[1:] + ")")
		if err != nil {
			return nil, false, fmt.Errorf("bad regular expression: %v", err)
		}
		return inv.matchFunc(re.MatchString)
	}
	if hosts, ok := inv.exact(t); ok {
		return hosts, true, nil
	}
	if m := subscriptRe.FindStringSubmatch(t); m != nil {
		if base, ok, err := inv.matchTerm(m[1]); err == nil && ok {
			return subscript(base, m), true, nil
		}
	}
	if strings.ContainsAny(t, "[]") {
		// A host range, as INI and YAML inventories write them.
		if names, err := expandHostRange(t); err == nil && len(names) > 1 {
			set := map[*Host]bool{}
			for _, n := range names {
				hosts, _ := inv.exact(n)
				for _, h := range hosts {
					set[h] = true
				}
			}
			hosts := inv.inOrder(set)
			return hosts, len(hosts) > 0, nil
		}
	}
	if strings.ContainsAny(t, "*?[") {
		re, err := globRegexp(t)
		if err != nil {
			return nil, false, err
		}
		return inv.matchFunc(re.MatchString)
	}
	return nil, false, nil
}

// exact resolves a group or host name.
func (inv *Inventory) exact(name string) ([]*Host, bool) {
	_, isGroup := inv.Groups[name]
	isGroup = isGroup || name == "all"
	set := map[*Host]bool{}
	found := isGroup
	for _, h := range inv.Hosts {
		if h.Name == name || (isGroup && h.InGroup(name)) {
			set[h] = true
			found = true
		}
	}
	return inv.inOrder(set), found
}

// matchFunc selects the hosts whose name matches, plus the hosts of every group whose
// name matches.
func (inv *Inventory) matchFunc(f func(string) bool) ([]*Host, bool, error) {
	var groups []string
	for name := range inv.Groups {
		if f(name) {
			groups = append(groups, name)
		}
	}
	set := map[*Host]bool{}
	for _, h := range inv.Hosts {
		if f(h.Name) {
			set[h] = true
			continue
		}
		for _, g := range groups {
			if h.InGroup(g) {
				set[h] = true
				break
			}
		}
	}
	return inv.inOrder(set), len(set) > 0 || len(groups) > 0, nil
}

// subscript applies [i] or [start:end] (inclusive, like Ansible) to hosts.
func subscript(hosts []*Host, m []string) []*Host {
	n := len(hosts)
	if m[2] != "" {
		i, _ := strconv.Atoi(m[2])
		if i < 0 {
			i += n
		}
		if i < 0 || i >= n {
			return nil
		}
		return hosts[i : i+1]
	}
	start, end := 0, n-1
	if m[3] != "" {
		start, _ = strconv.Atoi(m[3])
	}
	if m[4] != "" {
		end, _ = strconv.Atoi(m[4])
	}
	if end >= n {
		end = n - 1
	}
	if start > end {
		return nil
	}
	return hosts[start : end+1]
}

// globRegexp translates an fnmatch glob (*, ?, [seq], [!seq]) into an anchored regexp.
func globRegexp(glob string) (*regexp.Regexp, error) {
	var sb strings.Builder
	sb.WriteString("^")
	for i := 0; i < len(glob); i++ {
		switch c := glob[i]; c {
		case '*':
			sb.WriteString(".*")
		case '?':
			sb.WriteString(".")
		case '[':
			j := strings.IndexByte(glob[i+1:], ']')
			if j < 0 {
				sb.WriteString(`\[`)
				continue
			}
			set := glob[i+1 : i+1+j]
			if strings.HasPrefix(set, "!") {
				set = "^" + set[1:]
			}
			sb.WriteString("[" + strings.ReplaceAll(set, `\`, `\\`) + "]")
			i += j + 1
		default:
			sb.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	sb.WriteString("$")
	re, err := regexp.Compile(sb.String())
	if err != nil {
		return nil, fmt.Errorf("bad glob: %v", err)
	}
	return re, nil
}

func (inv *Inventory) inOrder(set map[*Host]bool) []*Host {
	out := make([]*Host, 0, len(set))
	for _, h := range inv.Hosts {
		if set[h] {
			out = append(out, h)
		}
	}
	return out
}

// names lists host and group names, for suggestions.
func (inv *Inventory) names() []string {
	out := inv.GroupNames()
	for _, h := range inv.Hosts {
		out = append(out, h.Name)
	}
	return out
}
