package kubeyaml

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"
)

// kv and omap describe new content to write: an ordered mapping, since the order of keys
// in the output is chosen (kubeadm's sorted order, or the order of the neighbours).
type kv struct {
	key   string
	value any // string, bool, omap or []any
}

type omap []kv

func (m omap) get(key string) (any, bool) {
	for _, e := range m {
		if e.key == key {
			return e.value, true
		}
	}
	return nil, false
}

// yaml11Special lists plain scalars that YAML 1.1 parsers read as something other than a
// string. yaml.v3 (YAML 1.2) writes them unquoted, but kubelet and kubeadm decode with a
// YAML 1.1 parser (sigs.k8s.io/yaml), where `value: yes` is the boolean true.
var yaml11Special = map[string]bool{
	"y": true, "Y": true, "yes": true, "Yes": true, "YES": true,
	"n": true, "N": true, "no": true, "No": true, "NO": true,
	"on": true, "On": true, "ON": true, "off": true, "Off": true, "OFF": true,
	"true": true, "True": true, "TRUE": true, "false": true, "False": true, "FALSE": true,
	"~": true, "null": true, "Null": true, "NULL": true, "": true,
	".nan": true, ".NaN": true, ".NAN": true, "=": true, "<<": true,
}

// looksNumeric mirrors how go-yaml v2 (behind sigs.k8s.io/yaml) resolves a plain scalar
// to a number: Go's number syntax after dropping underscores (0x1F, 0o17, 0b101, 1_000,
// 1e3, inf). "10.0.0.1" stays a string there, as kubeadm's own `host: 10.0.0.1` shows.
func looksNumeric(s string) bool {
	p := strings.ReplaceAll(s, "_", "")
	if _, err := strconv.ParseInt(p, 0, 64); err == nil {
		return true
	}
	if _, err := strconv.ParseUint(p, 0, 64); err == nil {
		return true
	}
	_, err := strconv.ParseFloat(p, 64)
	return err == nil || errors.Is(err, strconv.ErrRange)
}

// strNode builds a string scalar: style is the neighbours' quoting (0 = whatever yaml.v3
// picks, which is plain when that is safe).
func strNode(v string, style yaml.Style) *yaml.Node {
	style &= yaml.DoubleQuotedStyle | yaml.SingleQuotedStyle
	if style == 0 && (yaml11Special[v] || looksNumeric(v)) {
		style = yaml.DoubleQuotedStyle
	}
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v, Style: style}
}

// valueNode converts new content to a yaml.v3 node, for encoding in flow style.
func valueNode(v any, styles map[string]yaml.Style, key string) (*yaml.Node, error) {
	switch v := v.(type) {
	case string:
		return strNode(v, styles[key]), nil
	case bool:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: fmt.Sprint(v)}, nil
	case omap:
		n := &yaml.Node{Kind: yaml.MappingNode, Style: yaml.FlowStyle}
		for _, e := range v {
			c, err := valueNode(e.value, styles, e.key)
			if err != nil {
				return nil, err
			}
			n.Content = append(n.Content, strNode(e.key, 0), c)
		}
		return n, nil
	case []any:
		n := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
		for _, e := range v {
			c, err := valueNode(e, styles, key)
			if err != nil {
				return nil, err
			}
			n.Content = append(n.Content, c)
		}
		return n, nil
	}
	return nil, fmt.Errorf("internal error: cannot render %T", v)
}

// encodeOne lets yaml.v3's emitter decide quoting and escaping for one value. Inside a flow
// collection a plain scalar may not contain , [ ] { }, so the value is encoded as the only
// item of a flow sequence and the brackets are cut off again.
func encodeOne(n *yaml.Node, flow bool) (string, error) {
	top := n
	if flow {
		top = &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle, Content: []*yaml.Node{n}}
	}
	b, err := yaml.Marshal(top)
	if err != nil {
		return "", fmt.Errorf("encoding %q: %w", n.Value, err)
	}
	s := strings.TrimSuffix(string(b), "\n")
	if flow {
		s = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	}
	if strings.Contains(s, "\n") && n.Kind == yaml.ScalarNode && n.Style != yaml.DoubleQuotedStyle {
		// A line break would become a block scalar or a folded quoted one: keep every new
		// value on one line so later edits can find it again.
		c := *n
		c.Style = yaml.DoubleQuotedStyle
		return encodeOne(&c, flow)
	}
	if strings.Contains(s, "\n") {
		return "", fmt.Errorf("internal error: %q renders on several lines", n.Value)
	}
	return s, nil
}

// renderScalar renders a string or bool value for a new or replaced scalar.
func renderScalar(v any, style yaml.Style, flow bool) (string, error) {
	switch v := v.(type) {
	case string:
		return rendered.get(scalarKey{v, style, flow})
	case bool:
		return fmt.Sprint(v), nil
	}
	return "", fmt.Errorf("internal error: %T is not a scalar", v)
}

// scalarKey is a string scalar as renderScalar renders it.
type scalarKey struct {
	value string
	style yaml.Style
	flow  bool
}

// rendered keeps renderScalar's strings: a run edits the same flags, paths and names
// into every master's manifest, and yaml.Marshal of one scalar costs about as much as
// the rest of the edit's rendering.
var rendered = scalarCache{m: map[scalarKey]string{}}

// scalarCache is a bounded memo of rendered scalars (values come from the plan and
// the hosts' manifests, so a run has few distinct ones; past the bound they are
// rendered each time).
type scalarCache struct {
	mu sync.Mutex
	m  map[scalarKey]string
}

const maxRendered = 4096

func (c *scalarCache) get(k scalarKey) (string, error) {
	c.mu.Lock()
	s, ok := c.m[k]
	c.mu.Unlock()
	if ok {
		return s, nil
	}
	s, err := encodeOne(strNode(k.value, k.style), k.flow)
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	if len(c.m) < maxRendered {
		c.m[k] = s
	}
	c.mu.Unlock()
	return s, nil
}

// renderer writes new block content in a given indentation style, quoting like the
// neighbours (styles, by key) and ordering keys like an existing sibling (order).
type renderer struct {
	lay    layout
	styles map[string]yaml.Style
	order  *yaml.Node // a sibling mapping whose key order new mappings follow
}

func spaces(n int) string {
	if n <= 0 {
		return ""
	}
	return strings.Repeat(" ", n)
}

// mapLines renders m as block mapping lines with keys at indent (0-based column).
func (r *renderer) mapLines(m omap, indent int, like *yaml.Node) ([]string, error) {
	m = orderLike(m, like)
	var lines []string
	for _, e := range m {
		key, err := renderScalar(e.key, 0, false)
		if err != nil {
			return nil, err
		}
		head := spaces(indent) + key + ":"
		switch v := e.value.(type) {
		case omap:
			if len(v) == 0 {
				lines = append(lines, head+" {}")
				continue
			}
			sub, err := r.mapLines(v, indent+r.lay.mapIndent, childMap(like, e.key))
			if err != nil {
				return nil, err
			}
			lines = append(append(lines, head), sub...)
		case []any:
			if len(v) == 0 {
				lines = append(lines, head+" []")
				continue
			}
			sub, err := r.seqLines(v, indent+r.lay.seqIndent)
			if err != nil {
				return nil, err
			}
			lines = append(append(lines, head), sub...)
		default:
			s, err := renderScalar(v, r.styles[e.key], false)
			if err != nil {
				return nil, err
			}
			lines = append(lines, head+" "+s)
		}
	}
	return lines, nil
}

// seqLines renders items as a block sequence with dashes at indent.
func (r *renderer) seqLines(items []any, indent int) ([]string, error) {
	var lines []string
	prefix := spaces(indent) + "-" + spaces(r.lay.seqGap-1)
	for _, it := range items {
		l, err := r.itemLines(it, prefix, len(prefix))
		if err != nil {
			return nil, err
		}
		lines = append(lines, l...)
	}
	return lines, nil
}

// itemLines renders one sequence item: prefix is the indentation and dash, content the
// column its content starts at.
func (r *renderer) itemLines(it any, prefix string, content int) ([]string, error) {
	switch v := it.(type) {
	case omap:
		lines, err := r.mapLines(v, content, r.order)
		if err != nil {
			return nil, err
		}
		lines[0] = prefix + strings.TrimLeft(lines[0], " ")
		return lines, nil
	case string, bool:
		s, err := renderScalar(v, r.styles[""], false)
		if err != nil {
			return nil, err
		}
		return []string{prefix + s}, nil
	}
	return nil, fmt.Errorf("internal error: cannot render a %T item", it)
}

// flowItems renders items for a flow sequence, comma-separated.
func (r *renderer) flowItems(items []any) (string, error) {
	var parts []string
	for _, it := range items {
		if m, ok := it.(omap); ok {
			it = orderLike(m, r.order)
		}
		n, err := valueNode(it, r.styles, "")
		if err != nil {
			return "", err
		}
		s, err := encodeOne(n, true)
		if err != nil {
			return "", err
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ", "), nil
}

// orderLike sorts m's keys in the order the sibling mapping like uses, when like has all
// of them; otherwise m keeps its own (kubeadm's) order.
func orderLike(m omap, like *yaml.Node) omap {
	if like == nil || like.Kind != yaml.MappingNode {
		return m
	}
	pos := map[string]int{}
	for i := 0; i+1 < len(like.Content); i += 2 {
		pos[like.Content[i].Value] = i
	}
	for _, e := range m {
		if _, ok := pos[e.key]; !ok {
			return m
		}
	}
	out := append(omap(nil), m...)
	sort.SliceStable(out, func(i, j int) bool { return pos[out[i].key] < pos[out[j].key] })
	return out
}

// childMap is the mapping value of key in mapping m, if any.
func childMap(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	_, v := mapGet(m, key)
	if v != nil && v.Kind == yaml.MappingNode {
		return v
	}
	return nil
}

// quoteStyles finds, per key (or "" for plain items), how the neighbours in seq quote
// values that would not need quotes: that is a preference new entries follow. Values that
// must be quoted ("true") say nothing about taste and are skipped. The last item decides.
func quoteStyles(seq *yaml.Node) map[string]yaml.Style {
	styles := map[string]yaml.Style{}
	if seq == nil {
		return styles
	}
	var visit func(n *yaml.Node, key string)
	visit = func(n *yaml.Node, key string) {
		switch n.Kind {
		case yaml.ScalarNode:
			if _, done := styles[key]; done || n.ShortTag() != "!!str" || n.Style&yaml.TaggedStyle != 0 {
				return
			}
			if s, err := encodeOne(strNode(n.Value, 0), false); err != nil || s == "" || s[0] == '"' || s[0] == '\'' {
				return
			}
			styles[key] = n.Style & (yaml.DoubleQuotedStyle | yaml.SingleQuotedStyle)
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				visit(n.Content[i+1], n.Content[i].Value)
			}
		}
	}
	for i := len(seq.Content) - 1; i >= 0; i-- {
		visit(seq.Content[i], "")
	}
	return styles
}
