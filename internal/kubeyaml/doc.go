package kubeyaml

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// doc is one parsed YAML document plus the byte layout of its source, so that a node can
// be mapped back to the bytes it came from (yaml.v3 gives no end positions).
type doc struct {
	src       []byte
	root      *yaml.Node // the document's top-level node
	lineStart []int      // byte offset of each line; index 0 is line 1
	eol       string     // "\n" or "\r\n": what new lines are written with
	parent    map[*yaml.Node]parentRef
	layout    layout // the file's prevailing indentation style
}

type parentRef struct {
	node  *yaml.Node
	index int // position in node.Content
}

// yaml.v3 and libyaml count these as line breaks too; our line table would disagree with
// the parser's line numbers, so such files are refused rather than mis-spliced.
var oddBreaks = []string{"\u0085", "\u2028", "\u2029"}

var yamlLineErr = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parseDoc parses src as exactly one YAML document.
func parseDoc(src []byte) (d *doc, err error) {
	if !utf8.Valid(src) {
		return nil, &Error{Msg: "not UTF-8 text"}
	}
	d = &doc{src: src, eol: "\n"}
	if err := d.indexLines(); err != nil {
		return nil, err
	}
	// yaml.v3 has panicked on hostile input before; a bad file must not take the caller down.
	defer func() {
		if r := recover(); r != nil {
			d, err = nil, &Error{Msg: fmt.Sprintf("invalid YAML: parser failed: %v", r)}
		}
	}()
	top, err := decodeOne(src)
	if err != nil {
		return nil, err
	}
	d.root = top.Content[0]
	if badKey := d.indexParents(top); badKey != nil {
		return nil, &Error{Line: badKey.Line, Msg: fmt.Sprintf("a mapping key that is not a string (%s %q); Kubernetes objects have string keys only", badKey.ShortTag(), badKey.Value)}
	}
	d.layout = d.layoutOf(d.root, defaultLayout)
	return d, nil
}

// decodeOne decodes src, which must hold exactly one document, and a non-empty one.
func decodeOne(src []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(src))
	var top yaml.Node
	if err := dec.Decode(&top); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &Error{Msg: "empty document"}
		}
		return nil, yamlError(err)
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, yamlError(err)
	default:
		return nil, &Error{Line: next.Line, Msg: "multiple YAML documents: expected exactly one"}
	}
	if top.Kind != yaml.DocumentNode || len(top.Content) != 1 {
		return nil, &Error{Msg: "empty document"}
	}
	return &top, nil
}

// indexParents records the parent of every node under top, and returns the first
// mapping key that is not a string, or nil.
func (d *doc) indexParents(top *yaml.Node) (badKey *yaml.Node) {
	d.parent = make(map[*yaml.Node]parentRef)
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		for i, c := range n.Content {
			d.parent[c] = parentRef{n, i}
			// Kubernetes objects are JSON: every mapping key is a string. A null, number
			// or anchored-empty key would make the edit's self-check fail later.
			if n.Kind == yaml.MappingNode && i%2 == 0 && badKey == nil && (c.Kind != yaml.ScalarNode || c.ShortTag() != "!!str") {
				badKey = c
			}
			walk(c)
		}
	}
	walk(top)
	return badKey
}

func yamlError(err error) error {
	if m := yamlLineErr.FindStringSubmatch(err.Error()); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &Error{Line: line, Msg: "invalid YAML: " + m[2]}
	}
	return &Error{Msg: "invalid YAML: " + trimYAMLPrefix(err.Error())}
}

func trimYAMLPrefix(s string) string {
	if len(s) > 6 && s[:6] == "yaml: " {
		return s[6:]
	}
	return s
}

// indexLines records line starts and settles the line ending. Mixed endings are refused:
// a splice could not tell which one a new line should use.
func (d *doc) indexLines() error {
	src := d.src
	for _, b := range oddBreaks {
		if i := bytes.Index(src, []byte(b)); i >= 0 {
			return &Error{Line: bytes.Count(src[:i], []byte{'\n'}) + 1,
				Msg: fmt.Sprintf("unsupported line break character %U", []rune(b)[0])}
		}
	}
	start := 0
	if bytes.HasPrefix(src, []byte("\xef\xbb\xbf")) {
		// yaml.v3 skips a BOM without counting it in columns.
		start = 3
	}
	d.lineStart = append(d.lineStart[:0], start)
	crlf, lf := 0, 0
	for i := start; i < len(src); i++ {
		switch src[i] {
		case '\r':
			if i+1 >= len(src) || src[i+1] != '\n' {
				return &Error{Line: len(d.lineStart), Msg: "bare carriage return (old Mac line ending) not supported"}
			}
		case '\n':
			if i > 0 && src[i-1] == '\r' {
				crlf++
			} else {
				lf++
			}
			if i+1 < len(src) {
				d.lineStart = append(d.lineStart, i+1)
			}
		}
	}
	if crlf > 0 && lf > 0 {
		return &Error{Msg: fmt.Sprintf("mixed line endings (%d CRLF, %d LF): convert the file to one style first", crlf, lf)}
	}
	if crlf > 0 {
		d.eol = "\r\n"
	}
	return nil
}

func (d *doc) numLines() int { return len(d.lineStart) }

// lineOff is the offset where line l (1-based) starts.
func (d *doc) lineOff(l int) int {
	if l < 1 {
		return d.lineStart[0]
	}
	if l > len(d.lineStart) {
		return len(d.src)
	}
	return d.lineStart[l-1]
}

// lineNext is the offset just after line l's line break (the start of line l+1).
func (d *doc) lineNext(l int) int { return d.lineOff(l + 1) }

// lineEnd is the offset of line l's line break (or the end of the file).
func (d *doc) lineEnd(l int) int {
	e := d.lineNext(l)
	if l >= len(d.lineStart) {
		e = len(d.src)
	}
	if e > d.lineOff(l) && d.src[e-1] == '\n' {
		e--
		if e > d.lineOff(l) && d.src[e-1] == '\r' {
			e--
		}
	}
	return e
}

func (d *doc) lineText(l int) []byte { return d.src[d.lineOff(l):d.lineEnd(l)] }

// lineOf is the line holding offset off.
func (d *doc) lineOf(off int) int {
	return sort.Search(len(d.lineStart), func(i int) bool { return d.lineStart[i] > off })
}

// off converts a yaml.v3 position to a byte offset. Columns count characters, not bytes.
func (d *doc) off(line, col int) (int, error) {
	if line < 1 || line > len(d.lineStart) || col < 1 {
		return 0, &Error{Line: line, Msg: fmt.Sprintf("internal error: position %d:%d outside the file", line, col)}
	}
	o, end := d.lineOff(line), d.lineEnd(line)
	for c := 1; c < col; c++ {
		if o >= end {
			return 0, &Error{Line: line, Msg: fmt.Sprintf("internal error: column %d beyond the end of the line", col)}
		}
		_, w := utf8.DecodeRune(d.src[o:end])
		o += w
	}
	return o, nil
}

func (d *doc) nodeOff(n *yaml.Node) (int, error) { return d.off(n.Line, n.Column) }

// inFlow reports whether n sits inside a flow collection, where plain scalars have more
// restrictions and entries are not line-based.
func (d *doc) inFlow(n *yaml.Node) bool {
	for p, ok := d.parent[n]; ok; p, ok = d.parent[p.node] {
		if p.node.Style&yaml.FlowStyle != 0 {
			return true
		}
	}
	return false
}

// depth is the number of ancestors of n.
func (d *doc) depth(n *yaml.Node) int {
	depth := 0
	for p, ok := d.parent[n]; ok; p, ok = d.parent[p.node] {
		depth++
	}
	return depth
}

// isKey reports whether n is a mapping key (followed by ": value" on its line).
func (d *doc) isKey(n *yaml.Node) bool {
	p, ok := d.parent[n]
	return ok && p.node.Kind == yaml.MappingNode && p.index%2 == 0
}

func isSpace(b byte) bool { return b == ' ' || b == '\t' }

// restIsTrivial reports whether b is only blanks and maybe a comment.
func restIsTrivial(b []byte) bool {
	for _, c := range b {
		if c == '#' {
			return true
		}
		if !isSpace(c) {
			return false
		}
	}
	return true
}

// scalarSpan is the byte range of scalar n's source text. Only single-line plain and quoted
// scalars without anchors or tags are supported: everything else is refused rather than
// guessed, since the bytes of a multi-line scalar cannot be found from its value alone.
func (d *doc) scalarSpan(n *yaml.Node) (int, int, error) {
	if n.Kind != yaml.ScalarNode {
		return 0, 0, &Error{Line: n.Line, Msg: "expected a single value here"}
	}
	if n.Anchor != "" || n.Style&yaml.TaggedStyle != 0 {
		return 0, 0, &Error{Line: n.Line, Msg: "cannot edit a value that has an anchor or a tag"}
	}
	start, err := d.nodeOff(n)
	if err != nil {
		return 0, 0, err
	}
	lineEnd := d.lineEnd(n.Line)
	end := -1
	switch {
	case n.Style&yaml.DoubleQuotedStyle != 0:
		end = doubleQuotedEnd(d.src[:lineEnd], start)
	case n.Style&yaml.SingleQuotedStyle != 0:
		end = singleQuotedEnd(d.src[:lineEnd], start)
	case n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0:
		return 0, 0, &Error{Line: n.Line, Msg: "cannot edit a block scalar (| or >) in place"}
	default:
		// A plain scalar's value is its source text unless it continues on the next line
		// (then the value holds a folded line break and cannot be a prefix of this line).
		if bytes.HasPrefix(d.src[start:lineEnd], []byte(n.Value)) {
			end = start + len(n.Value)
		}
	}
	if end < 0 {
		return 0, 0, &Error{Line: n.Line, Msg: "cannot edit a value that spans several lines"}
	}
	if !d.inFlow(n) && !d.isKey(n) && !restIsTrivial(d.src[end:lineEnd]) {
		return 0, 0, &Error{Line: n.Line, Msg: "cannot edit a value that spans several lines"}
	}
	return start, end, nil
}

// doubleQuotedEnd is the offset just past the closing quote of the double-quoted
// scalar at src[start], or -1 when it does not close in src (one line).
func doubleQuotedEnd(src []byte, start int) int {
	for i := start + 1; i < len(src); i++ {
		if src[i] == '\\' {
			i++
		} else if src[i] == '"' {
			return i + 1
		}
	}
	return -1
}

// singleQuotedEnd is the offset just past the closing quote of the single-quoted
// scalar at src[start] (where a doubled quote stands for one), or -1 when it does not
// close in src.
func singleQuotedEnd(src []byte, start int) int {
	for i := start + 1; i < len(src); i++ {
		if src[i] == '\'' {
			if i+1 < len(src) && src[i+1] == '\'' {
				i++
				continue
			}
			return i + 1
		}
	}
	return -1
}

// flowEnd is the offset just after node n inside a flow collection.
func (d *doc) flowEnd(n *yaml.Node) (int, error) {
	if n.Kind == yaml.ScalarNode {
		_, end, err := d.scalarSpan(n)
		return end, err
	}
	if n.Kind != yaml.MappingNode && n.Kind != yaml.SequenceNode || n.Anchor != "" || n.Style&yaml.FlowStyle == 0 {
		return 0, &Error{Line: n.Line, Msg: "unsupported value in a flow collection"}
	}
	start, err := d.nodeOff(n)
	if err != nil {
		return 0, err
	}
	depth := 0
	for i := start; i < len(d.src); i++ {
		switch c := d.src[i]; c {
		case '[', '{':
			depth++
		case ']', '}':
			depth--
			if depth == 0 {
				return i + 1, nil
			}
		case '"', '\'':
			for i++; i < len(d.src) && d.src[i] != c; i++ {
				if c == '"' && d.src[i] == '\\' {
					i++
				}
			}
		case '#':
			if i > 0 && (isSpace(d.src[i-1]) || d.src[i-1] == '\n') {
				for i < len(d.src) && d.src[i] != '\n' {
					i++
				}
			}
		}
	}
	return 0, &Error{Line: n.Line, Msg: "unterminated flow collection"}
}

// firstOnLine reports whether nothing but indentation precedes n on its line.
func (d *doc) firstOnLine(n *yaml.Node) bool {
	o, err := d.nodeOff(n)
	if err != nil {
		return false
	}
	for _, c := range d.src[d.lineOff(n.Line):o] {
		if !isSpace(c) {
			return false
		}
	}
	return true
}

// dash finds the '-' that introduces item i of block sequence seq: it may sit on an
// earlier line than the item's content ("-\n  name: x").
func (d *doc) dash(seq *yaml.Node, i int) (off int, ok bool) {
	o, err := d.nodeOff(seq.Content[i])
	if err != nil {
		return 0, false
	}
	for j := o - 1; j >= d.lineStart[0]; j-- {
		switch d.src[j] {
		case ' ', '\t', '\r', '\n':
			continue
		case '-':
			return j, true
		}
		return 0, false
	}
	return 0, false
}

// itemLine is the line where item i of seq starts (its dash, for block sequences).
func (d *doc) itemLine(seq *yaml.Node, i int) int {
	if seq.Style&yaml.FlowStyle == 0 {
		if o, ok := d.dash(seq, i); ok {
			return d.lineOf(o)
		}
	}
	return seq.Content[i].Line
}

// nextStart is the first line of whatever follows the entry or item n (the next sibling,
// or the next sibling of an ancestor), or numLines+1 at the end of the document.
func (d *doc) nextStart(n *yaml.Node) int {
	for {
		p, ok := d.parent[n]
		if !ok {
			return d.numLines() + 1
		}
		switch p.node.Kind {
		case yaml.MappingNode:
			if next := p.index/2*2 + 2; next < len(p.node.Content) {
				return p.node.Content[next].Line
			}
		case yaml.SequenceNode:
			if p.index+1 < len(p.node.Content) {
				return d.itemLine(p.node, p.index+1)
			}
		}
		n = p.node
	}
}

// entryEnd is the last line of the entry or item n that starts on line start and is
// indented to column col. Blank lines, and comment lines indented no deeper than the entry,
// that precede the next entry are left out: they belong to what follows.
func (d *doc) entryEnd(n *yaml.Node, start, col int) int {
	l := d.nextStart(n) - 1
	for l > start && d.trimmable(l, col) {
		l--
	}
	return l
}

func (d *doc) trimmable(l, col int) bool {
	t := d.lineText(l)
	i := 0
	for i < len(t) && isSpace(t[i]) {
		i++
	}
	switch {
	case i == len(t):
		return true
	case t[i] == '#':
		return utf8.RuneCount(t[:i])+1 <= col
	case i == 0 && (bytes.HasPrefix(t, []byte("...")) || bytes.HasPrefix(t, []byte("---"))):
		return true
	}
	return false
}

// commentBlockStart walks up from line l over comment lines indented exactly like column
// col: a comment right above an entry describes it, so new entries go above the comment.
// A block that starts the file or follows "---" is a file header and stays on top.
func (d *doc) commentBlockStart(l, col int) int {
	start := l
	for start > 1 {
		t := d.lineText(start - 1)
		i := 0
		for i < len(t) && t[i] == ' ' {
			i++
		}
		if i >= len(t) || t[i] != '#' || i+1 != col {
			break
		}
		start--
	}
	if start < l && (start == 1 || bytes.HasPrefix(d.lineText(start-1), []byte("---"))) {
		return l
	}
	return start
}

// layout is an indentation style, in columns.
type layout struct {
	mapIndent int // a nested block mapping's keys, relative to the parent key
	seqIndent int // a block sequence's dashes, relative to its key (0 = compact, as kubeadm)
	seqGap    int // an item's content, relative to its dash
}

var defaultLayout = layout{mapIndent: 2, seqIndent: 0, seqGap: 2}

type votes map[int]int

func (v votes) best(fallback int) int {
	best, n := fallback, 0
	for k, c := range v {
		if c > n || c == n && k < best {
			best, n = k, c
		}
	}
	return best
}

// layoutOf measures the indentation style used under n, falling back to base for whatever
// n does not show. New entries copy their neighbours rather than the file at large.
func (d *doc) layoutOf(n *yaml.Node, base layout) layout {
	mi, si, sg := votes{}, votes{}, votes{}
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if n.Style&yaml.FlowStyle != 0 {
			return
		}
		switch n.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				if v.Line > k.Line && v.Style&yaml.FlowStyle == 0 {
					switch {
					case v.Kind == yaml.MappingNode && v.Column > k.Column:
						mi[v.Column-k.Column]++
					case v.Kind == yaml.SequenceNode && v.Column >= k.Column:
						si[v.Column-k.Column]++
					}
				}
				walk(v)
			}
		case yaml.SequenceNode:
			if len(n.Content) > 0 && n.Content[0].Line == n.Line && n.Content[0].Column > n.Column+1 {
				sg[n.Content[0].Column-n.Column]++
			}
			for _, c := range n.Content {
				walk(c)
			}
		}
	}
	walk(n)
	return layout{mapIndent: mi.best(base.mapIndent), seqIndent: si.best(base.seqIndent), seqGap: sg.best(base.seqGap)}
}
