package render

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/hostplan/hostplan/internal/report"
)

// maxListed is how many names (or ranges) a group's heading lists before "and N more":
// the count is given, and -per-host or JSON name every host.
const maxListed = 10

// hostGroups are the sections a plan is shown in: one per group of hosts with identical
// plans, or with perHost one per host.
func hostGroups(p *report.Plan, perHost bool) []report.HostGroup {
	if perHost {
		return report.PerHost(p.Hosts)
	}
	return report.GroupHosts(p.Hosts)
}

// groupName is how a section names its hosts: "m1", or "m1, m2, m3 (3 hosts)".
func groupName(names []string) string {
	if len(names) == 1 {
		return names[0]
	}
	return fmt.Sprintf("%s (%d hosts)", hostList(names), len(names))
}

// onEach marks a shared plan's counts as each host's, not the group's: the summary
// line adds them up over the hosts.
func onEach(names []string) string {
	if len(names) == 1 {
		return ""
	}
	return " each"
}

// hostList names hosts for a heading. A short list is given in full; a long one writes
// runs of names that differ only in a consecutive number as an inventory range
// (web[01:20], as Ansible inventories write them), and ends "and N more" after
// maxListed names or ranges.
func hostList(names []string) string {
	if len(names) <= maxListed {
		return strings.Join(names, ", ")
	}
	var items []string
	listed := 0
	for i := 0; i < len(names) && len(items) < maxListed; {
		n := runLength(names[i:])
		if n >= 3 {
			first, last := splitNumber(names[i]), splitNumber(names[i+n-1])
			items = append(items, first.prefix+"["+first.digits+":"+last.digits+"]"+first.suffix)
		} else {
			n = 1
			items = append(items, names[i])
		}
		i += n
		listed += n
	}
	list := strings.Join(items, ", ")
	if rest := len(names) - listed; rest > 0 {
		list += fmt.Sprintf(" and %d more", rest)
	}
	return list
}

// runLength is how many names from the first are numbered consecutively.
func runLength(names []string) int {
	n := 1
	for n < len(names) && follows(splitNumber(names[n-1]), splitNumber(names[n])) {
		n++
	}
	return n
}

// numbered is a host name split at its last number: "web" "07" ".example.org".
type numbered struct {
	prefix, digits, suffix string
	n                      int
	ok                     bool
}

func splitNumber(name string) numbered {
	end := strings.LastIndexAny(name, "0123456789") + 1
	if end == 0 {
		return numbered{}
	}
	start := end
	for start > 0 && name[start-1] >= '0' && name[start-1] <= '9' {
		start--
	}
	n, err := strconv.Atoi(name[start:end])
	return numbered{prefix: name[:start], digits: name[start:end], suffix: name[end:], n: n, ok: err == nil}
}

// follows reports whether b is the name after a in a range: the same around the number,
// the next number, and padded alike (web09, web10; web9, web10; not web9, web010).
func follows(a, b numbered) bool {
	padded := func(x numbered) bool { return len(x.digits) > 1 && x.digits[0] == '0' }
	return a.ok && b.ok && a.prefix == b.prefix && a.suffix == b.suffix && b.n == a.n+1 &&
		(len(a.digits) == len(b.digits) || !padded(a) && !padded(b))
}
