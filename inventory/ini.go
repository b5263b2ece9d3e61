package inventory

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// Ansible INI inventories:
//
//	web1.example.com ansible_port=2222        # ungrouped hosts come first
//	[webservers]
//	web[01:20].example.com ansible_user=deploy
//	[webservers:vars]
//	http_port = 80
//	[prod:children]
//	webservers
//
// All values are strings (Ansible evaluates host-line values as Python literals; here
// "5" stays the string "5", which HCL converts to a number where one is needed).
// Surrounding quotes are removed. A '#' that starts a word begins a comment, as does a
// line starting with '#' or ';'.

var iniSection = regexp.MustCompile(`^\[([^:\]\s]+)(?::(\w+))?\]\s*(?:[#;].*)?$`)

// iniReader is an INI inventory being read line by line: the section a line belongs to
// decides what it holds.
type iniReader struct {
	b         *builder
	sf        *srcFile
	path, dir string
	group     string
	state     string // "hosts", "vars", "children", or "skip" after a bad section header
}

func loadINI(b *builder, path string, src []byte) (*hcl.File, hcl.Diagnostics) {
	r := &iniReader{b: b, sf: newSrcFile(path, src), path: path, dir: fileDir(path), group: "ungrouped", state: "hosts"}
	var diags hcl.Diagnostics
	for line := 1; line <= len(r.sf.lineStarts); line++ {
		text, off := r.lineText(line)
		if text == "" || text[0] == '#' || text[0] == ';' {
			continue
		}
		if text[0] == '[' {
			if ds, ok := r.section(text, off); ok {
				diags = append(diags, ds...)
				continue
			}
		}
		diags = append(diags, r.entry(text, off)...)
	}
	return r.sf.hclFile(), diags
}

// lineText is a line without the blanks around it (nor a byte order mark), and its
// byte offset in the file.
func (r *iniReader) lineText(line int) (string, int) {
	src := r.sf.src
	start, end := r.sf.lineStarts[line-1], r.sf.lineEnd(line)
	if line == 1 && bytes.HasPrefix(src, []byte("\ufeff")) {
		start += 3
	}
	raw := string(src[start:end])
	text := strings.TrimLeft(raw, " \t")
	off := start + len(raw) - len(text)
	return strings.TrimRight(text, " \t"), off
}

// section reads a section header, which sets the group and kind of the lines after it.
// ok is false when text is no header after all: a line of the current section.
func (r *iniReader) section(text string, off int) (diags hcl.Diagnostics, ok bool) {
	m := iniSection.FindStringSubmatch(text)
	if m == nil {
		if body, _, _ := strings.Cut(text, "#"); strings.HasSuffix(strings.TrimSpace(body), "]") {
			r.state = "skip"
			return hcl.Diagnostics{errorAt(r.sf.rng(off, off+len(text)), "Invalid section header", "A section header is [group], [group:vars] or [group:children], with no spaces inside the brackets.")}, true
		}
		return nil, false
	}
	name, kind := m[1], m[2]
	nameRng := r.sf.rng(off+1, off+1+len(name))
	if !validGroupName(name) {
		r.state = "skip"
		return hcl.Diagnostics{errorAt(nameRng, "Invalid group name", fmt.Sprintf("%q cannot be a group name. %s", name, groupNameRule))}, true
	}
	r.group = name
	g := r.b.groupIn(name, r.path)
	switch kind {
	case "":
		r.state = "hosts"
		g.declared = true
	case "vars":
		r.state = "vars"
		g.varsRefs = append(g.varsRefs, ref{name: name, rng: nameRng})
	case "children":
		r.state = "children"
		g.declared = true
	default:
		r.state = "skip"
		return hcl.Diagnostics{errorAt(r.sf.rng(off+2+len(name), off+2+len(name)+len(kind)), "Unknown section type", fmt.Sprintf("[%s:%s] is not a section type; use [%s] for hosts, [%s:vars] for variables or [%s:children] for child groups.", name, kind, name, name, name))}, true
	}
	return nil, true
}

// entry reads a line of the current section: a host, a variable or a child group.
func (r *iniReader) entry(text string, off int) hcl.Diagnostics {
	switch r.state {
	case "hosts":
		return iniHostLine(r.b, r.sf, r.dir, r.group, text, off)
	case "vars":
		return iniVarLine(r.b, r.sf, r.dir, r.group, text, off)
	case "children":
		return r.childLine(text, off)
	}
	return nil
}

// childLine reads a line of a [group:children] section: one group name.
func (r *iniReader) childLine(text string, off int) hcl.Diagnostics {
	toks, err := shlexSplit(text)
	if err != nil {
		return hcl.Diagnostics{errorAt(errRange(r.sf, off, text, err), "Invalid line", err.Error())}
	}
	if len(toks) == 0 {
		return nil
	}
	var diags hcl.Diagnostics
	t := toks[0]
	rng := r.sf.rng(off+t.start, off+t.end)
	if len(toks) > 1 {
		diags = append(diags, errorAt(r.sf.rng(off+toks[1].start, off+toks[len(toks)-1].end), "Unexpected text after a child group", fmt.Sprintf("A [%s:children] section lists one group name per line; set group variables in a [%s:vars] section.", r.group, t.text)))
	}
	if !validGroupName(t.text) {
		return append(diags, errorAt(rng, "Invalid group name", fmt.Sprintf("%q cannot be a group name. %s", t.text, groupNameRule)))
	}
	r.b.addChild(r.group, t.text, rng)
	return diags
}

func iniHostLine(b *builder, sf *srcFile, dir, group, text string, off int) hcl.Diagnostics {
	toks, err := shlexSplit(text)
	if err != nil {
		return hcl.Diagnostics{errorAt(errRange(sf, off, text, err), "Invalid host line", err.Error())}
	}
	if len(toks) == 0 {
		return nil
	}
	pat := toks[0]
	if b.entries > maxHostEntries {
		return nil // past the budget, reported once: expanding more ranges is wasted work
	}
	names, port, err := parseHostPattern(pat.text)
	if err != nil {
		return hcl.Diagnostics{errorAt(sf.rng(off+pat.start, off+pat.end), "Invalid host pattern", err.Error()+".")}
	}
	if strings.Contains(pat.text, "=") {
		return hcl.Diagnostics{errorAt(sf.rng(off+pat.start, off+pat.end), "Missing host name", fmt.Sprintf("A host line starts with the host name, then key=value variables; %q looks like a variable. Variables for a whole group go into a [%s:vars] section.", pat.text, group))}
	}
	vars, diags := iniHostVars(sf, text, off, toks[1:])

	ok, d := b.spendEntries(len(names), sf.rng(off+pat.start, off+pat.end))
	if d != nil {
		diags = append(diags, d)
	}
	if !ok {
		return diags
	}
	for _, name := range names {
		h := b.host(name, sf.name)
		b.addMember(group, h)
		if port != 0 {
			h.conn.Port = port
		}
		for _, v := range vars {
			if d := setAnsibleVar(&h.layer, v.key, cty.StringVal(v.val), v.rng, dir); d != nil {
				diags = append(diags, d)
			}
		}
	}
	return diagsOnce(diags)
}

// iniVar is a key=value variable of a host line; rng is the value's.
type iniVar struct {
	key, val string
	rng      hcl.Range
}

// iniHostVars reads the variables after the host pattern of a host line, whose tokens
// are toks.
func iniHostVars(sf *srcFile, text string, off int, toks []token) ([]iniVar, hcl.Diagnostics) {
	var vars []iniVar
	var diags hcl.Diagnostics
	for _, t := range toks {
		key, val, ok := strings.Cut(t.text, "=")
		if !ok || key == "" {
			diags = append(diags, errorAt(sf.rng(off+t.start, off+t.end), "Expected key=value", fmt.Sprintf("After the host name a host line holds variables as key=value; %q is not one. Quote values with spaces: key=\"a b\".", t.text)))
			continue
		}
		vstart := off + t.start + strings.IndexByte(text[t.start:t.end], '=') + 1
		vars = append(vars, iniVar{key, val, sf.rng(vstart, off+t.end)})
	}
	return vars, diags
}

// diagsOnce drops repeated diagnostics (a bad value on a ranged host line is bad once).
func diagsOnce(diags hcl.Diagnostics) hcl.Diagnostics {
	var out hcl.Diagnostics
	seen := map[string]bool{}
	for _, d := range diags {
		k := d.Summary + "\x00" + d.Detail
		if d.Subject != nil {
			k += d.Subject.String()
		}
		if !seen[k] {
			seen[k] = true
			out = append(out, d)
		}
	}
	return out
}

func iniVarLine(b *builder, sf *srcFile, dir, group, text string, off int) hcl.Diagnostics {
	eq := strings.IndexByte(text, '=')
	if eq < 0 {
		return hcl.Diagnostics{errorAt(sf.rng(off, off+len(text)), "Expected key=value", fmt.Sprintf("Lines in a [%s:vars] section are key=value.", group))}
	}
	key := strings.TrimSpace(text[:eq])
	if key == "" || strings.ContainsAny(key, " \t") {
		return hcl.Diagnostics{errorAt(sf.rng(off, off+eq), "Invalid variable name", fmt.Sprintf("%q is not a variable name; lines in a [%s:vars] section are key=value.", key, group))}
	}
	rest := text[eq+1:]
	vstart := off + eq + 1 + len(rest) - len(strings.TrimLeft(rest, " \t"))
	rest = strings.TrimLeft(rest, " \t")
	val, n, err := iniValue(rest)
	if err != nil {
		return hcl.Diagnostics{errorAt(errRange(sf, vstart, rest, err), "Invalid value", err.Error())}
	}
	rng := sf.rng(vstart, vstart+n)
	g := b.groupIn(group, sf.name)
	if d := setAnsibleVar(&g.layer, key, cty.StringVal(val), rng, dir); d != nil {
		return hcl.Diagnostics{d}
	}
	return nil
}

// iniValue reads the value of a key=value line in a vars section: a quoted string
// ('...' or "..." with backslash escapes) or the text up to a " #" comment. It returns
// the value and how many bytes of s it used.
func iniValue(s string) (string, int, error) {
	if s != "" && (s[0] == '"' || s[0] == '\'') {
		toks, err := shlexSplit(s)
		if err != nil {
			return "", len(s), err
		}
		if rest := strings.TrimLeft(s[toks[0].end:], " \t"); rest == "" || rest[0] == '#' {
			return toks[0].text, toks[0].end, nil
		}
		// "quoted" followed by more words: keep the line's value verbatim.
	}
	v := s
	for i := 1; i < len(s); i++ {
		if s[i] == '#' && (s[i-1] == ' ' || s[i-1] == '\t') {
			v = s[:i]
			break
		}
	}
	v = strings.TrimRight(v, " \t")
	return v, len(v), nil
}

// quoteError is a quote shlexSplit found unclosed, at byte at of its line. It does not
// quote the line: the value there may be a password (ansible_ssh_pass='abc).
type quoteError struct {
	quote byte
	at    int
}

func (e *quoteError) Error() string {
	return fmt.Sprintf("This %c quote is never closed. Close it, or write a quote that is part of the value with a backslash before it.", e.quote)
}

// errRange is where a shlexSplit error of text, at byte off of the file, points: from
// an unclosed quote to the end of the text.
func errRange(sf *srcFile, off int, text string, err error) hcl.Range {
	var qe *quoteError
	if errors.As(err, &qe) {
		return sf.rng(off+qe.at, off+len(text))
	}
	return sf.rng(off, off+len(text))
}

type token struct {
	text       string
	start, end int // byte offsets in the line, of the token's source text
}

// shlexSplit splits a line into words like Python's shlex.split(line, comments=True)
// (which Ansible uses for host lines): whitespace separates words, '...' is literal,
// "..." allows \" \\ \$ \` escapes, a backslash outside quotes escapes the next
// character, and a '#' starting a word begins a comment.
func shlexSplit(line string) ([]token, error) {
	var toks []token
	i := 0
	for {
		for i < len(line) && (line[i] == ' ' || line[i] == '\t') {
			i++
		}
		if i >= len(line) || line[i] == '#' {
			return toks, nil
		}
		tok, err := shlexWord(line, i)
		if err != nil {
			return nil, err
		}
		toks = append(toks, tok)
		i = tok.end
	}
}

// shlexWord reads the word that starts at line[start], up to a blank outside quotes.
func shlexWord(line string, start int) (token, error) {
	var sb strings.Builder
	i := start
	for i < len(line) {
		c := line[i]
		switch c {
		case ' ', '\t':
			return token{text: sb.String(), start: start, end: i}, nil
		case '\'':
			j := strings.IndexByte(line[i+1:], '\'')
			if j < 0 {
				return token{}, &quoteError{quote: '\'', at: i}
			}
			sb.WriteString(line[i+1 : i+1+j])
			i += j + 2
		case '"':
			var err error
			if i, err = shlexDoubleQuoted(line, i, &sb); err != nil {
				return token{}, err
			}
		case '\\':
			if i+1 < len(line) {
				sb.WriteByte(line[i+1])
				i += 2
			} else {
				i++
			}
		default:
			sb.WriteByte(c)
			i++
		}
	}
	return token{text: sb.String(), start: start, end: i}, nil
}

// shlexDoubleQuoted writes the text of the "..." at line[open] to sb, escapes
// resolved, and returns the offset after its closing quote.
func shlexDoubleQuoted(line string, open int, sb *strings.Builder) (int, error) {
	for i := open + 1; i < len(line); {
		if line[i] == '\\' && i+1 < len(line) && strings.IndexByte("\"\\$`", line[i+1]) >= 0 {
			sb.WriteByte(line[i+1])
			i += 2
			continue
		}
		if line[i] == '"' {
			return i + 1, nil
		}
		sb.WriteByte(line[i])
		i++
	}
	return 0, &quoteError{quote: '"', at: open}
}
