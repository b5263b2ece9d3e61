package kubeyaml

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// An edit is planned as a list of ops on the parsed tree. Each op is applied twice: as a
// byte splice of the source, and to a plain decoded copy of the source (the model). The
// decoded output must equal the model, which turns a splice bug into an error.
type opKind int

const (
	opSet         opKind = iota // replace scalar node with value
	opAppend                    // append items to sequence node
	opRemoveItems               // remove items idxs of sequence node
	opAddKey                    // add key: value to block mapping node
	opRemoveKey                 // remove key from mapping node
	opReplaceKey                // replace key's entry in mapping node by newKey: value
	opFill                      // give key of mapping node, whose value is empty ({}, [], null), a block value
	opClear                     // replace key's value in mapping node by an empty {} or []
)

type op struct {
	kind   opKind
	node   *yaml.Node
	path   []any // where node is, from the root: string keys and int indexes
	key    string
	newKey string
	idxs   []int
	value  any // string, bool, omap or []any
	items  []any
	style  yaml.Style // quoting of a replaced scalar
}

// at copies path and appends elems, so that paths never share backing arrays.
func at(path []any, elems ...any) []any {
	return append(append(make([]any, 0, len(path)+len(elems)), path...), elems...)
}

type splice struct {
	start, end int
	text       string
	depth      int // of the node the op changes; see applyOps
}

// applyOps splices ops into the source.
func (d *doc) applyOps(ops []op) ([]byte, error) {
	var sp []splice
	for _, o := range ops {
		s, err := d.spliceOp(o)
		if err != nil {
			return nil, err
		}
		depth := d.depth(o.node)
		for i := range s {
			s[i].depth = depth
		}
		sp = append(sp, s...)
	}
	// Insertions (empty ranges) at an offset go before a range starting there. Where an
	// entry ends, items appended to a nested list continue that entry, so deeper content
	// goes before a new key of an outer mapping; otherwise the ops' order is kept.
	sort.SliceStable(sp, func(i, j int) bool {
		if sp[i].start != sp[j].start {
			return sp[i].start < sp[j].start
		}
		if sp[i].end != sp[j].end {
			return sp[i].end < sp[j].end
		}
		return sp[i].depth > sp[j].depth
	})
	var b strings.Builder
	b.Grow(len(d.src) + 1024)
	pos := 0
	for _, s := range sp {
		if s.start < pos {
			return nil, &Error{Line: d.lineOf(s.start), Msg: "internal error: overlapping edits"}
		}
		b.Write(d.src[pos:s.start])
		text := s.text
		if d.eol != "\n" {
			text = strings.ReplaceAll(text, "\n", d.eol)
		}
		b.WriteString(text)
		pos = s.end
	}
	b.Write(d.src[pos:])
	return []byte(b.String()), nil
}

func (d *doc) spliceOp(o op) ([]splice, error) {
	switch o.kind {
	case opSet:
		return d.spliceSet(o)
	case opAppend:
		return d.spliceAppend(o)
	case opRemoveItems:
		return d.spliceRemoveItems(o)
	case opAddKey:
		return d.spliceAddKey(o)
	case opRemoveKey:
		return d.spliceRemoveKey(o)
	case opReplaceKey:
		return d.spliceReplaceKey(o)
	case opFill:
		return d.spliceFill(o)
	case opClear:
		return d.spliceClear(o)
	}
	return nil, fmt.Errorf("internal error: unknown op %d", o.kind)
}

func (d *doc) spliceSet(o op) ([]splice, error) {
	start, end, err := d.scalarSpan(o.node)
	if err != nil {
		return nil, err
	}
	text, err := renderScalar(o.value, o.style, d.inFlow(o.node))
	if err != nil {
		return nil, err
	}
	if start == end && start > 0 && !isSpace(d.src[start-1]) && d.src[start-1] != '[' && d.src[start-1] != '{' {
		// An empty null ("value:") has no text to replace: keep ": " apart from the value.
		text = " " + text
	}
	return []splice{{start: start, end: end, text: text}}, nil
}

// insertAfter inserts whole lines after line l.
func (d *doc) insertAfter(l int, lines []string) splice {
	pos := d.lineNext(l)
	text := strings.Join(lines, "\n") + "\n"
	if pos == len(d.src) && (len(d.src) == 0 || d.src[len(d.src)-1] != '\n') {
		text = "\n" + strings.TrimSuffix(text, "\n")
	}
	return splice{start: pos, end: pos, text: text}
}

func (d *doc) blockItemPrefix(seq *yaml.Node, i int, lay layout) (prefix string, dashLine int, err error) {
	dashOff, ok := d.dash(seq, i)
	item := seq.Content[i]
	if !ok {
		return "", 0, &Error{Line: item.Line, Msg: "cannot find the '-' of this list item"}
	}
	dashLine = d.lineOf(dashOff)
	for _, c := range d.src[d.lineOff(dashLine):dashOff] {
		if !isSpace(c) {
			return "", 0, &Error{Line: dashLine, Msg: "unsupported layout: a list item that does not start its line"}
		}
	}
	itemOff, err := d.nodeOff(item)
	if err != nil {
		return "", 0, err
	}
	if d.lineOf(itemOff) == dashLine {
		prefix = string(d.src[d.lineOff(dashLine):itemOff])
	} else {
		prefix = string(d.src[d.lineOff(dashLine):dashOff+1]) + spaces(lay.seqGap-1)
	}
	return prefix, dashLine, nil
}

func (d *doc) spliceAppend(o op) ([]splice, error) {
	seq := o.node
	r := &renderer{lay: d.layoutOf(seq, d.layout), styles: quoteStyles(seq)}
	if n := len(seq.Content); n > 0 && seq.Content[n-1].Kind == yaml.MappingNode {
		r.order = seq.Content[n-1]
	}
	if seq.Style&yaml.FlowStyle != 0 {
		text, err := r.flowItems(o.items)
		if err != nil {
			return nil, err
		}
		if len(seq.Content) == 0 {
			open, err := d.nodeOff(seq)
			if err != nil {
				return nil, err
			}
			if d.src[open] != '[' {
				return nil, &Error{Line: seq.Line, Msg: "internal error: flow sequence without '['"}
			}
			return []splice{{start: open + 1, end: open + 1, text: text}}, nil
		}
		end, err := d.flowEnd(seq.Content[len(seq.Content)-1])
		if err != nil {
			return nil, err
		}
		return []splice{{start: end, end: end, text: ", " + text}}, nil
	}
	last := len(seq.Content) - 1
	prefix, dashLine, err := d.blockItemPrefix(seq, last, r.lay)
	if err != nil {
		return nil, err
	}
	var lines []string
	for _, it := range o.items {
		l, err := r.itemLines(it, prefix, utf8.RuneCountInString(prefix))
		if err != nil {
			return nil, err
		}
		lines = append(lines, l...)
	}
	l := d.entryEnd(seq.Content[last], dashLine, seq.Column)
	return []splice{d.insertAfter(l, lines)}, nil
}

func (d *doc) spliceRemoveItems(o op) ([]splice, error) {
	seq := o.node
	idxs := append([]int(nil), o.idxs...)
	sort.Ints(idxs)
	var out []splice
	if seq.Style&yaml.FlowStyle != 0 {
		// Remove runs of adjacent items together with one separating comma.
		for i := 0; i < len(idxs); {
			a, b := idxs[i], idxs[i]
			for i++; i < len(idxs) && idxs[i] == b+1; i++ {
				b++
			}
			var start, end int
			var err error
			switch {
			case a > 0:
				if start, err = d.flowEnd(seq.Content[a-1]); err == nil {
					end, err = d.flowEnd(seq.Content[b])
				}
			case b+1 < len(seq.Content):
				if start, err = d.nodeOff(seq.Content[a]); err == nil {
					end, err = d.nodeOff(seq.Content[b+1])
				}
			default:
				if start, err = d.nodeOff(seq.Content[a]); err == nil {
					end, err = d.flowEnd(seq.Content[b])
				}
			}
			if err != nil {
				return nil, err
			}
			out = append(out, splice{start: start, end: end, text: ""})
		}
		return out, nil
	}
	for _, i := range idxs {
		_, dashLine, err := d.blockItemPrefix(seq, i, d.layout)
		if err != nil {
			return nil, err
		}
		l := d.entryEnd(seq.Content[i], dashLine, seq.Column)
		out = append(out, splice{start: d.lineOff(dashLine), end: d.lineNext(l), text: ""})
	}
	return out, nil
}

func blockMapping(m *yaml.Node) error {
	if m.Kind != yaml.MappingNode || m.Style&yaml.FlowStyle != 0 || len(m.Content) == 0 {
		return &Error{Line: m.Line, Msg: "cannot add or remove keys in a flow-style mapping ({...}); rewrite it in block style"}
	}
	return nil
}

func (d *doc) spliceAddKey(o op) ([]splice, error) {
	m := o.node
	if err := blockMapping(m); err != nil {
		return nil, err
	}
	keyCol := m.Content[0].Column
	r := &renderer{lay: d.layoutOf(m, d.layout), styles: map[string]yaml.Style{}}
	lines, err := r.mapLines(omap{{o.key, o.value}}, keyCol-1, m)
	if err != nil {
		return nil, err
	}
	var keys []string
	for i := 0; i < len(m.Content); i += 2 {
		keys = append(keys, m.Content[i].Value)
	}
	// kubeadm writes keys sorted: when the mapping is, the new key goes where kubeadm would
	// put it; otherwise at the end.
	if sort.StringsAreSorted(keys) {
		for i, k := range keys {
			if k <= o.key {
				continue
			}
			kn := m.Content[2*i]
			if d.firstOnLine(kn) {
				pos := d.lineOff(d.commentBlockStart(kn.Line, kn.Column))
				return []splice{{start: pos, end: pos, text: strings.Join(lines, "\n") + "\n"}}, nil
			}
			// The key follows a list item's dash: the new key takes its place on that line.
			pos, err := d.nodeOff(kn)
			if err != nil {
				return nil, err
			}
			lines[0] = strings.TrimLeft(lines[0], " ")
			return []splice{{start: pos, end: pos, text: strings.Join(lines, "\n") + "\n" + spaces(keyCol-1)}}, nil
		}
	}
	lastKey := m.Content[len(m.Content)-2]
	return []splice{d.insertAfter(d.entryEnd(lastKey, lastKey.Line, lastKey.Column), lines)}, nil
}

func (d *doc) entryIndex(m *yaml.Node, key string) (int, error) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return i, nil
		}
	}
	return 0, &Error{Line: m.Line, Msg: fmt.Sprintf("internal error: no key %q", key)}
}

func (d *doc) spliceRemoveKey(o op) ([]splice, error) {
	m := o.node
	if err := blockMapping(m); err != nil {
		return nil, err
	}
	i, err := d.entryIndex(m, o.key)
	if err != nil {
		return nil, err
	}
	k := m.Content[i]
	if d.firstOnLine(k) {
		l := d.entryEnd(k, k.Line, k.Column)
		return []splice{{start: d.lineOff(k.Line), end: d.lineNext(l), text: ""}}, nil
	}
	// The key follows a list item's dash: the next key moves up to take its place.
	if i+2 >= len(m.Content) {
		return nil, &Error{Line: k.Line, Msg: fmt.Sprintf("cannot remove %q: it is the only key of its list item", o.key)}
	}
	start, err := d.nodeOff(k)
	if err != nil {
		return nil, err
	}
	end, err := d.nodeOff(m.Content[i+2])
	if err != nil {
		return nil, err
	}
	return []splice{{start: start, end: end, text: ""}}, nil
}

func (d *doc) spliceReplaceKey(o op) ([]splice, error) {
	m := o.node
	if err := blockMapping(m); err != nil {
		return nil, err
	}
	i, err := d.entryIndex(m, o.key)
	if err != nil {
		return nil, err
	}
	k := m.Content[i]
	start, err := d.nodeOff(k)
	if err != nil {
		return nil, err
	}
	key, err := renderScalar(o.newKey, 0, false)
	if err != nil {
		return nil, err
	}
	val, err := renderScalar(o.value, o.style, false)
	if err != nil {
		return nil, err
	}
	l := d.entryEnd(k, k.Line, k.Column)
	return []splice{{start: start, end: d.lineEnd(l), text: key + ": " + val}}, nil
}

// afterColon is the offset just after the ':' that follows key node k.
func (d *doc) afterColon(k *yaml.Node) (int, error) {
	_, end, err := d.scalarSpan(k)
	if err != nil {
		return 0, err
	}
	lineEnd := d.lineEnd(k.Line)
	for end < lineEnd && isSpace(d.src[end]) {
		end++
	}
	if end >= lineEnd || d.src[end] != ':' {
		return 0, &Error{Line: k.Line, Msg: "unsupported layout: expected ':' after the key on the same line"}
	}
	return end + 1, nil
}

func (d *doc) spliceFill(o op) ([]splice, error) {
	m := o.node
	if m.Style&yaml.FlowStyle != 0 || d.inFlow(m) {
		return nil, &Error{Line: m.Line, Msg: "cannot add content inside a flow-style mapping; rewrite it in block style"}
	}
	i, err := d.entryIndex(m, o.key)
	if err != nil {
		return nil, err
	}
	k, v := m.Content[i], m.Content[i+1]
	start, err := d.afterColon(k)
	if err != nil {
		return nil, err
	}
	end, err := d.emptyValueEnd(k, v, start)
	if err != nil {
		return nil, err
	}
	lay := d.layoutOf(m, d.layout)
	r := &renderer{lay: lay, styles: map[string]yaml.Style{}}
	var lines []string
	switch v := o.value.(type) {
	case omap:
		lines, err = r.mapLines(v, k.Column-1+lay.mapIndent, nil)
	case []any:
		lines, err = r.seqLines(v, k.Column-1+lay.seqIndent)
	default:
		err = fmt.Errorf("internal error: fill with %T", o.value)
	}
	if err != nil {
		return nil, err
	}
	return []splice{{start: start, end: end, text: ""}, d.insertAfter(k.Line, lines)}, nil
}

// emptyValueEnd is where the empty value v of key k ("{}", "[]", "~", "null" or
// nothing) ends, so that removing src[start:end] removes it but keeps a comment after
// it; start is just after the key's colon.
func (d *doc) emptyValueEnd(k, v *yaml.Node, start int) (int, error) {
	if v.Kind == yaml.ScalarNode && v.Value == "" {
		return start, nil
	}
	if v.Line != k.Line {
		return 0, &Error{Line: v.Line, Msg: "unsupported layout: an empty value on the line after its key"}
	}
	vo, err := d.nodeOff(v)
	if err != nil {
		return 0, err
	}
	var end int
	if v.Kind == yaml.ScalarNode {
		_, end, err = d.scalarSpan(v)
	} else {
		end, err = d.flowEnd(v)
	}
	if err != nil {
		return 0, err
	}
	for _, c := range d.src[start:vo] {
		if !isSpace(c) {
			return 0, &Error{Line: v.Line, Msg: "internal error: unexpected text before an empty value"}
		}
	}
	return end, nil
}

func (d *doc) spliceClear(o op) ([]splice, error) {
	m := o.node
	if err := blockMapping(m); err != nil {
		return nil, err
	}
	i, err := d.entryIndex(m, o.key)
	if err != nil {
		return nil, err
	}
	k := m.Content[i]
	start, err := d.afterColon(k)
	if err != nil {
		return nil, err
	}
	empty := "{}"
	if _, ok := o.value.([]any); ok {
		empty = "[]"
	}
	l := d.entryEnd(k, k.Line, k.Column)
	return []splice{{start: start, end: d.lineEnd(l), text: " " + empty}}, nil
}

// plain converts new content to what yaml.v3 decodes it as.
func plain(v any) any {
	switch v := v.(type) {
	case omap:
		m := make(map[string]any, len(v))
		for _, e := range v {
			m[e.key] = plain(e.value)
		}
		return m
	case []any:
		s := make([]any, len(v))
		for i, e := range v {
			s[i] = plain(e)
		}
		return s
	}
	return v
}

// updateAt replaces the value at path within v by f(old value).
func updateAt(v any, path []any, f func(any) (any, error)) (any, error) {
	if len(path) == 0 {
		return f(v)
	}
	switch p := path[0].(type) {
	case string:
		m, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("model: %q is not in a mapping", p)
		}
		nv, err := updateAt(m[p], path[1:], f)
		if err != nil {
			return nil, err
		}
		m[p] = nv
		return m, nil
	case int:
		s, ok := v.([]any)
		if !ok || p < 0 || p >= len(s) {
			return nil, fmt.Errorf("model: no item %d", p)
		}
		nv, err := updateAt(s[p], path[1:], f)
		if err != nil {
			return nil, err
		}
		s[p] = nv
		return s, nil
	}
	return nil, fmt.Errorf("model: bad path element %v", path[0])
}

func asMap(v any) (map[string]any, error) {
	m, ok := v.(map[string]any)
	if !ok {
		if v == nil {
			return map[string]any{}, nil
		}
		return nil, fmt.Errorf("model: %T is not a mapping", v)
	}
	return m, nil
}

// applyModel applies ops to root, a decoded copy of the source. Paths hold the source's
// indexes, so item removals come last, from the highest index down.
func applyModel(root any, ops []op) (any, error) {
	var err error
	for p := 0; p < 3; p++ {
		for _, o := range ops {
			if opPhase(o.kind) != p {
				continue
			}
			root, err = updateAt(root, o.path, func(old any) (any, error) { return applyOp(o, old) })
			if err != nil {
				return nil, err
			}
		}
	}
	return root, nil
}

// opPhase is the pass of applyModel that applies ops of kind k: edits in place, then
// appends, then item removals.
func opPhase(k opKind) int {
	switch k {
	case opAppend:
		return 1
	case opRemoveItems:
		return 2
	}
	return 0
}

// applyOp returns old, the value at o's path, with o applied.
func applyOp(o op, old any) (any, error) {
	switch o.kind {
	case opSet:
		return plain(o.value), nil
	case opAppend:
		s, _ := old.([]any)
		return append(s, plain(o.items).([]any)...), nil
	case opRemoveItems:
		s, _ := old.([]any)
		idxs := append([]int(nil), o.idxs...)
		sort.Sort(sort.Reverse(sort.IntSlice(idxs)))
		for _, i := range idxs {
			if i >= len(s) {
				return nil, fmt.Errorf("model: no item %d", i)
			}
			s = append(s[:i:i], s[i+1:]...)
		}
		return s, nil
	}
	m, err := asMap(old)
	if err != nil {
		return nil, err
	}
	switch o.kind {
	case opAddKey, opFill, opClear:
		m[o.key] = plain(o.value)
	case opRemoveKey:
		delete(m, o.key)
	case opReplaceKey:
		delete(m, o.key)
		m[o.newKey] = plain(o.value)
	}
	return m, nil
}

// firstDiff describes where a and b differ ("" if they are equal).
func firstDiff(a, b any, path string) string {
	switch a := a.(type) {
	case map[string]any:
		bm, ok := b.(map[string]any)
		if !ok {
			return fmt.Sprintf("%s: a mapping became %T", orRoot(path), b)
		}
		return firstMapDiff(a, bm, path)
	case []any:
		bs, ok := b.([]any)
		if !ok {
			return fmt.Sprintf("%s: a list became %T", orRoot(path), b)
		}
		return firstListDiff(a, bs, path)
	case float64:
		if bf, ok := b.(float64); ok && math.IsNaN(a) && math.IsNaN(bf) {
			return ""
		}
	}
	if !reflect.DeepEqual(a, b) {
		return fmt.Sprintf("%s: expected %#v, found %#v", orRoot(path), a, b)
	}
	return ""
}

// firstMapDiff is firstDiff of two mappings, which it walks in key order so that the
// answer does not depend on map iteration.
func firstMapDiff(a, b map[string]any, path string) string {
	keys := make([]string, 0, len(a)+len(b))
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		av, aok := a[k]
		bv, bok := b[k]
		switch {
		case !aok:
			return fmt.Sprintf("%s.%s: unexpected new key", path, k)
		case !bok:
			return fmt.Sprintf("%s.%s: key disappeared", path, k)
		}
		if s := firstDiff(av, bv, path+"."+k); s != "" {
			return s
		}
	}
	return ""
}

// firstListDiff is firstDiff of two lists: the first item that differs, else a
// difference in length.
func firstListDiff(a, b []any, path string) string {
	for i := 0; i < len(a) && i < len(b); i++ {
		if s := firstDiff(a[i], b[i], fmt.Sprintf("%s[%d]", path, i)); s != "" {
			return s
		}
	}
	if len(a) != len(b) {
		return fmt.Sprintf("%s: %d items expected, %d found", orRoot(path), len(a), len(b))
	}
	return ""
}

func orRoot(path string) string {
	if path == "" {
		return "(root)"
	}
	return strings.TrimPrefix(path, ".")
}

// decodePlain decodes a parsed document the way yaml.v3 would for a generic consumer.
func decodePlain(d *doc) (v any, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("decoding: parser failed: %v", r)
		}
	}()
	if err := d.root.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

// selfCheck confirms that after is before with exactly ops applied, semantically.
func selfCheck(before, after *doc, ops []op) error {
	b, err := decodePlain(before)
	if err != nil {
		return err
	}
	a, err := decodePlain(after)
	if err != nil {
		return err
	}
	want, err := applyModel(b, ops)
	if err != nil {
		return err
	}
	if s := firstDiff(want, a, ""); s != "" {
		return fmt.Errorf("unexpected change at %s", s)
	}
	return nil
}

// finish runs an edit end to end: splice, then parse the result and re-plan the same edit
// on it with plan (which validates; it must find nothing left to do), then compare the
// result with the model.
func finish(d *doc, ops []op, what string, plan func(*doc) ([]op, error)) ([]byte, error) {
	if len(ops) == 0 {
		return d.src, nil
	}
	out, err := d.applyOps(ops)
	if err != nil {
		var ke *Error
		if !errors.As(err, &ke) {
			err = &Error{Msg: err.Error()}
		}
		return nil, err
	}
	d2, err := parseDoc(out)
	var again []op
	if err == nil {
		again, err = plan(d2)
	}
	if err != nil {
		return nil, fmt.Errorf("the edited %s would be invalid, so nothing was changed (line numbers of the edited text): %w", what, err)
	}
	if len(again) > 0 {
		return nil, &Error{Msg: fmt.Sprintf("internal error: the edited %s still needs %d changes (edit not idempotent); nothing was changed", what, len(again))}
	}
	if err := selfCheck(d, d2, ops); err != nil {
		return nil, &Error{Msg: fmt.Sprintf("internal error: self-check of the edited %s failed (%v); nothing was changed", what, err)}
	}
	return out, nil
}
