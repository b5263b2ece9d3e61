package report

import (
	"encoding/json"
	"strconv"
	"strings"
)

// HostPlaceholder stands for the host's name in the plan a group of hosts shares: in a
// file diff's headers ("+++ <host>:/etc/x (planned)") and in error texts.
const HostPlaceholder = "<host>"

// HostGroup is hosts whose plans are identical once each host's own name is taken out
// of its diff headers and error texts, so that a fleet's plan can show each distinct
// change once. Host is that shared plan: for one host, the host's plan as it is; for
// several, the first host's with its name replaced by HostPlaceholder.
type HostGroup struct {
	Names []string
	Host  Host
}

// GroupHosts groups hosts with identical plans, in the order each group's first host
// appears. Identical is exact: the same notes, resources, actions, details, diffs and
// errors; for sensitive content, whose diff is masked, also the same digests of the
// content before and after, so that a group never hides a difference the mask would.
func GroupHosts(hosts []Host) []HostGroup {
	var groups []HostGroup
	index := map[string]int{}
	for i := range hosts {
		h := &hosts[i]
		k := hostKey(h)
		if j, ok := index[k]; ok {
			groups[j].Names = append(groups[j].Names, h.Name)
			continue
		}
		index[k] = len(groups)
		groups = append(groups, HostGroup{Names: []string{h.Name}, Host: *h})
	}
	for i := range groups {
		if len(groups[i].Names) > 1 {
			groups[i].Host = shared(&groups[i].Host)
		}
	}
	return groups
}

// PerHost is every host in a group of its own, for views that expand a plan per host.
func PerHost(hosts []Host) []HostGroup {
	groups := make([]HostGroup, len(hosts))
	for i, h := range hosts {
		groups[i] = HostGroup{Names: []string{h.Name}, Host: h}
	}
	return groups
}

// stepKey is what makes two hosts' steps the same change. Texts that may name the host
// are kept as the pieces between its name, so that "dial m1:22" on m1 and "dial m2:22"
// on m2 match, while a text that merely contains the placeholder's spelling does not.
type stepKey struct {
	Task, Type, Label, Action string
	Details                   []string
	Diff                      []string
	Sensitive                 bool
	Error                     []string
	Before, After             string // sensitive content's digests
}

func hostKey(h *Host) string {
	k := struct {
		Error []string
		Notes []string
		Steps []stepKey
	}{Error: textPieces(h.Error, h.Name), Notes: h.Notes}
	for i := range h.Steps {
		st := &h.Steps[i]
		sk := stepKey{Task: st.Task, Type: st.Type, Label: st.Label, Action: st.Action, Details: st.Details,
			Diff: diffPieces(st.Diff, h.Name), Sensitive: st.Sensitive, Error: textPieces(st.Error, h.Name)}
		if st.Sensitive {
			sk.Before, sk.After = sensitiveDigests(st)
		}
		k.Steps = append(k.Steps, sk)
	}
	b, err := json.Marshal(k)
	if err != nil {
		panic(err) // plain data
	}
	return string(b)
}

func sensitiveDigests(st *Step) (before, after string) {
	if st.Before != nil {
		before = st.Before.SHA256
	}
	if st.After != nil {
		after = st.After.SHA256
	}
	return before, after
}

// shared is a group's plan: h with its name replaced by HostPlaceholder. What only
// describes h's own files (the stale-check states, the fingerprint) is dropped: it is
// not the group's.
func shared(h *Host) Host {
	g := Host{Name: HostPlaceholder, Error: strings.Join(textPieces(h.Error, h.Name), HostPlaceholder), Notes: h.Notes,
		Steps: make([]Step, len(h.Steps))}
	for i, st := range h.Steps {
		st.Diff = strings.Join(diffPieces(st.Diff, h.Name), HostPlaceholder)
		st.Error = strings.Join(textPieces(st.Error, h.Name), HostPlaceholder)
		st.Before, st.After, st.Fingerprint = nil, nil, ""
		g.Steps[i] = st
	}
	return g
}

// textPieces splits s where it names the host as a word of its own: "m1" in "dial
// m1:22" or "m1.example.org", not in "m10" or "cm1".
func textPieces(s, name string) []string {
	var pieces []string
	start := 0
	for i := 0; name != "" && i+len(name) <= len(s); {
		j := strings.Index(s[i:], name)
		if j < 0 {
			break
		}
		at, end := i+j, i+j+len(name)
		if (at == 0 || !wordByte(s[at-1])) && (end == len(s) || !wordByte(s[end])) {
			pieces = append(pieces, s[start:at])
			start = end
		}
		i = at + 1
	}
	return append(pieces, s[start:])
}

func wordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// diffPieces splits a diff where its file headers name the host ("--- m1:/etc/x"); its
// content lines are the change itself and stay as they are, even one that reads like a
// header (a removed line "-- m1:x").
func diffPieces(d, name string) []string {
	var pieces []string
	start, off := 0, 0
	var h hunk
	for _, line := range strings.SplitAfter(d, "\n") {
		if !h.content(line) {
			for _, head := range []string{"--- ", "+++ "} {
				if strings.HasPrefix(line, head+name+":") {
					pieces = append(pieces, d[start:off+len(head)])
					start = off + len(head) + len(name)
				}
			}
		}
		off += len(line)
	}
	return append(pieces, d[start:])
}

// hunk follows a unified diff's hunks: how many old and new lines the current one has
// still to come.
type hunk struct{ old, new int }

// content reports whether line is a hunk's content line (or its "@@" header), as
// opposed to a file header or text between files.
func (h *hunk) content(line string) bool {
	if strings.HasPrefix(line, "@@ ") {
		h.old, h.new = hunkCounts(line)
		return true
	}
	if line == "" || h.old <= 0 && h.new <= 0 {
		return false
	}
	switch line[0] {
	case ' ':
		h.old--
		h.new--
	case '-':
		h.old--
	case '+':
		h.new--
	}
	return true
}

// hunkCounts reads the line counts of "@@ -1,4 +1,3 @@" (a count left out is 1).
func hunkCounts(line string) (old, new int) {
	var o, n string
	fields := strings.Fields(line)
	if len(fields) >= 3 {
		o, n = fields[1], fields[2]
	}
	return rangeCount(o), rangeCount(n)
}

func rangeCount(r string) int {
	_, count, ok := strings.Cut(r, ",")
	if !ok {
		return 1
	}
	c, err := strconv.Atoi(count)
	if err != nil {
		return 0
	}
	return c
}
