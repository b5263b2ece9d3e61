package inventory

import (
	"bytes"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"gopkg.in/yaml.v3"
)

// Ansible YAML inventories:
//
//	all:
//	  vars: {ntp_server: ntp.example.com}
//	  hosts:
//	    mail.example.com:
//	  children:
//	    webservers:
//	      hosts:
//	        web[01:20].example.com: {ansible_user: deploy}
//	      vars: {http_port: 80}
//
// Variables keep their YAML type: strings, numbers, booleans, lists (cty tuples) and
// maps (cty objects). Like Ansible's YAML 1.1 parser, unquoted yes/no/on/off are
// booleans and 0644 is the number 420.

// maxYAMLDepth bounds nesting (and alias loops such as a group aliasing its ancestor).
const maxYAMLDepth = 100

// maxYAMLWork bounds the nodes visited while loading one file. yaml.v3 limits alias
// expansion only when decoding into Go values, and the loader walks nodes itself: a few
// hundred bytes of nested aliases ("a billion laughs") would otherwise take exponential
// time. Real inventories visit far fewer nodes (ranges like web[1:9999] are one node).
const maxYAMLWork = 1_000_000

type yamlLoader struct {
	b     *builder
	sf    *srcFile
	dir   string
	diags hcl.Diagnostics
	work  int  // nodes visited so far, against maxYAMLWork
	deep  bool // nesting went past maxYAMLDepth: the walk stops

	varName string // the variable whose value is being read, for diagnostics
}

// tooDeep reports nesting past maxYAMLDepth and stops the walk. It is nearly always an
// alias that refers to one of its own parents, and such a loop branches at every level:
// each branch would meet the same error, hundreds of thousands of times.
func (l *yamlLoader) tooDeep(n *yaml.Node, summary, detail string) {
	l.errorf(n, summary, detail)
	l.deep = true
}

// spend counts a visit to n and reports whether the loader may go on; past the budget it
// reports one error, at the node where the budget ran out.
func (l *yamlLoader) spend(n *yaml.Node) bool {
	if l.deep {
		return false
	}
	l.work++
	if l.work == maxYAMLWork+1 {
		l.errorf(n, "YAML aliases expand too far", fmt.Sprintf("Expanding the aliases (*name) of this file visits more than %d values; an inventory with aliases inside aliases can grow exponentially. Write the values out, or alias fewer levels deep.", maxYAMLWork))
	}
	return l.work <= maxYAMLWork
}

var yamlErrLine = regexp.MustCompile(`line (\d+)`)

func loadYAML(b *builder, path string, src []byte) (*hcl.File, hcl.Diagnostics) {
	l := &yamlLoader{b: b, sf: newSrcFile(path, src), dir: fileDir(path)}
	if d := vaultFile(l.sf); d != nil {
		return l.sf.hclFile(), hcl.Diagnostics{d}
	}
	root, ok := l.parse()
	if !ok || root == nil {
		return l.sf.hclFile(), l.diags
	}
	if root.Kind != yaml.MappingNode {
		l.errorf(root, "Invalid inventory", "The top level of a YAML inventory is a mapping of groups, usually a single \"all:\" with hosts, vars and children under it.")
		return l.sf.hclFile(), l.diags
	}
	for _, kv := range l.pairs(root, 0) {
		name := kv.key.Value
		if !validGroupName(name) {
			l.errorf(kv.key, "Invalid group name", fmt.Sprintf("%q cannot be a group name. %s", name, groupNameRule))
			continue
		}
		l.b.groupIn(name, path).declared = true
		l.group(name, kv.val, 1)
	}
	return l.sf.hclFile(), l.diags
}

// parse reads the file's YAML: its top node, or nil for an empty document. ok is false
// when the YAML is invalid (reported in l.diags).
func (l *yamlLoader) parse() (*yaml.Node, bool) {
	var doc yaml.Node
	if err := yaml.Unmarshal(l.sf.src, &doc); err != nil {
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		rng := l.sf.rng(0, 0)
		if m := yamlErrLine.FindStringSubmatch(msg); m != nil {
			n, _ := strconv.Atoi(m[1])
			rng = l.sf.lineRange(n)
		}
		l.diags = append(l.diags, errorAt(rng, "Invalid YAML", "This file is not valid YAML (the problem is on this line or after it, inside the construct that starts here): "+msg+". Check the indentation (spaces, not tabs) and the ': ' after each key."))
		return nil, false
	}
	if len(doc.Content) == 0 {
		return nil, true
	}
	if root := resolveAlias(doc.Content[0]); !isNull(root) {
		return root, true
	}
	return nil, true
}

// vaultFile refuses a file encrypted whole with ansible-vault: hostplan cannot
// decrypt it, and reading the ciphertext as an inventory would misread it.
func vaultFile(sf *srcFile) *hcl.Diagnostic {
	if !bytes.HasPrefix(bytes.TrimLeft(sf.src, "\ufeff \t\r\n"), []byte("$ANSIBLE_VAULT;")) {
		return nil
	}
	return errorAt(sf.lineRange(1), "Ansible Vault is not supported", "This file is encrypted with ansible-vault, and hostplan cannot decrypt it. Decrypt it (ansible-vault decrypt) into a file kept out of version control, or move its secrets out of the inventory.")
}

type yamlPair struct{ key, val *yaml.Node }

// pairs lists a mapping's entries with "<<" merge keys expanded (merged entries first,
// so the mapping's own entries win) and reports duplicate keys, which yaml.v3 lets
// through when decoding into a Node.
func (l *yamlLoader) pairs(m *yaml.Node, depth int) []yamlPair {
	if !l.spend(m) {
		return nil
	}
	var out []yamlPair
	seen := map[string]*yaml.Node{}
	if depth > maxYAMLDepth {
		l.tooDeep(m, "YAML nested too deeply", "This mapping is nested too deeply (or an alias refers to one of its own parents).")
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if k.ShortTag() == "!!merge" {
			v = resolveAlias(v)
			srcs := []*yaml.Node{v}
			if v.Kind == yaml.SequenceNode {
				srcs = v.Content
			}
			for _, s := range srcs {
				if s = resolveAlias(s); s.Kind == yaml.MappingNode {
					out = append(out, l.pairs(s, depth+1)...)
				} else {
					l.errorf(s, "Invalid merge", "A \"<<\" merge key takes a mapping or a list of mappings.")
				}
			}
			continue
		}
		if k.Kind != yaml.ScalarNode {
			l.errorf(k, "Invalid key", "Keys in an inventory are plain names, not lists or mappings.")
			continue
		}
		if prev := seen[k.Value]; prev != nil {
			l.errorf(k, "Duplicate key", fmt.Sprintf("%q is already a key of this mapping, on line %d; YAML keeps only one of them. Merge the two entries.", k.Value, prev.Line))
			continue
		}
		seen[k.Value] = k
		out = append(out, yamlPair{k, v})
	}
	return out
}

func (l *yamlLoader) group(name string, n *yaml.Node, depth int) {
	if !l.spend(n) {
		return
	}
	n = resolveAlias(n)
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		l.errorf(n, "Invalid group", fmt.Sprintf("Group %q must be a mapping with hosts, vars and/or children (or empty).", name))
		return
	}
	if depth > maxYAMLDepth {
		l.tooDeep(n, "Groups nested too deeply", "Groups are nested too deeply (or an alias makes a group contain itself).")
		return
	}
	g := l.b.groupIn(name, l.sf.name)
	for _, kv := range l.pairs(n, depth) {
		val := resolveAlias(kv.val)
		switch kv.key.Value {
		case "hosts":
			for _, hp := range l.entries(name, "hosts", val, depth+1) {
				l.host(name, hp.key, hp.val, depth+1)
			}
		case "vars":
			for _, vp := range l.entries(name, "vars", val, depth+1) {
				l.setVar(&g.layer, vp)
			}
		case "children":
			for _, cp := range l.entries(name, "children", val, depth+1) {
				l.child(name, cp, depth+1)
			}
		default:
			l.errorf(kv.key, "Unknown key in group", fmt.Sprintf("Group %q has a key %q; a group has only hosts, vars and children. To add a host, put it under hosts:; to add a child group, under children:.", name, kv.key.Value))
		}
	}
}

// notMapping is the error detail for a key of a group whose value is not a mapping; %q
// is the group.
var notMapping = map[string]string{
	"hosts":    "hosts of group %q must be a mapping of host names (each optionally with its variables), not a list: write each host as \"web1:\" on its own line.",
	"vars":     "vars of group %q must be a mapping of variable names to values.",
	"children": "children of group %q must be a mapping of group names, each with its own hosts, vars and children (or empty), not a list.",
}

// entries lists the entries of the hosts, vars or children (key) of group: none when
// it is empty, and none but an error when it is not a mapping. The error is made only
// then: alias-heavy files visit a group up to maxYAMLWork times.
func (l *yamlLoader) entries(group, key string, val *yaml.Node, depth int) []yamlPair {
	if isNull(val) {
		return nil
	}
	if val.Kind != yaml.MappingNode {
		l.errorf(val, "Invalid "+key, fmt.Sprintf(notMapping[key], group))
		return nil
	}
	return l.pairs(val, depth)
}

// child reads the child group cp of group parent.
func (l *yamlLoader) child(parent string, cp yamlPair, depth int) {
	name := cp.key.Value
	if !validGroupName(name) {
		l.errorf(cp.key, "Invalid group name", fmt.Sprintf("%q cannot be a group name. %s", name, groupNameRule))
		return
	}
	l.b.groupIn(name, l.sf.name).declared = true
	l.b.addChild(parent, name, l.rng(cp.key))
	l.group(name, cp.val, depth)
}

func (l *yamlLoader) host(group string, key, val *yaml.Node, depth int) {
	if l.b.entries > maxHostEntries {
		return // past the budget, reported once: expanding more ranges is wasted work
	}
	names, port, err := parseHostPattern(key.Value)
	if err != nil {
		l.errorf(key, "Invalid host pattern", err.Error()+".")
		return
	}
	val = resolveAlias(val)
	var vars []yamlPair
	switch {
	case isNull(val):
	case val.Kind == yaml.MappingNode:
		vars = l.pairs(val, depth+1)
	default:
		l.errorf(val, "Invalid host", fmt.Sprintf("Host %q must be followed by a mapping of its variables, or by nothing.", key.Value))
		return
	}
	ok, d := l.b.spendEntries(len(names), l.rng(key))
	if d != nil {
		l.diags = append(l.diags, d)
	}
	if !ok {
		return
	}
	ndiags := len(l.diags)
	for i, name := range names {
		h := l.b.host(name, l.sf.name)
		l.b.addMember(group, h)
		if port != 0 {
			h.conn.Port = port
		}
		for _, vp := range vars {
			l.setVar(&h.layer, vp)
		}
		if i == 0 && len(l.diags) > ndiags {
			break // the same variables would fail the same way for every host of the range
		}
	}
}

func (l *yamlLoader) setVar(ly *layer, kv yamlPair) {
	l.varName = kv.key.Value
	v, ok := l.value(kv.val, 0)
	if !ok {
		return
	}
	if d := setAnsibleVar(ly, kv.key.Value, v, l.rng(kv.val), l.dir); d != nil {
		l.diags = append(l.diags, d)
	}
}

// yaml11Bools are the plain scalars PyYAML (YAML 1.1, which Ansible uses) reads as
// booleans and yaml.v3 (YAML 1.2) reads as strings.
var yaml11Bools = map[string]bool{
	"yes": true, "Yes": true, "YES": true, "on": true, "On": true, "ON": true,
	"no": false, "No": false, "NO": false, "off": false, "Off": false, "OFF": false,
}

// value converts a YAML node to a cty value of the natural type.
func (l *yamlLoader) value(n *yaml.Node, depth int) (cty.Value, bool) {
	if !l.spend(n) {
		return cty.NilVal, false
	}
	if depth > maxYAMLDepth {
		l.tooDeep(n, "YAML nested too deeply", "This value is nested too deeply (or an alias refers to one of its own parents).")
		return cty.NilVal, false
	}
	n = resolveAlias(n)
	switch n.Kind {
	case yaml.SequenceNode:
		return l.tuple(n, depth)
	case yaml.MappingNode:
		return l.object(n, depth)
	case yaml.ScalarNode:
		return l.scalar(n)
	}
	return cty.NullVal(cty.DynamicPseudoType), true
}

// tuple converts a sequence; it fails as soon as one element does.
func (l *yamlLoader) tuple(n *yaml.Node, depth int) (cty.Value, bool) {
	if len(n.Content) == 0 {
		return cty.EmptyTupleVal, true
	}
	elems := make([]cty.Value, 0, len(n.Content))
	for _, c := range n.Content {
		v, ok := l.value(c, depth+1)
		if !ok {
			return cty.NilVal, false
		}
		elems = append(elems, v)
	}
	return cty.TupleVal(elems), true
}

// object converts a mapping, merge keys expanded; it fails as soon as one value does.
func (l *yamlLoader) object(n *yaml.Node, depth int) (cty.Value, bool) {
	attrs := map[string]cty.Value{}
	for _, kv := range l.pairs(n, depth+1) {
		v, ok := l.value(kv.val, depth+1)
		if !ok {
			return cty.NilVal, false
		}
		attrs[kv.key.Value] = v
	}
	return cty.ObjectVal(attrs), true
}

// scalar converts a scalar by its tag, reading booleans as YAML 1.1 (Ansible) does.
func (l *yamlLoader) scalar(n *yaml.Node) (cty.Value, bool) {
	switch n.ShortTag() {
	case "!!null":
		return cty.NullVal(cty.DynamicPseudoType), true
	case "!!bool":
		var b bool
		if err := n.Decode(&b); err != nil {
			l.errorf(n, "Invalid boolean", err.Error())
			return cty.NilVal, false
		}
		return cty.BoolVal(b), true
	case "!!int", "!!float":
		return l.number(n)
	case "!vault":
		l.errorf(n, "Ansible Vault is not supported", fmt.Sprintf("%s is encrypted with ansible-vault (!vault), and hostplan cannot decrypt it. Give it a plain value in a file kept out of version control, or remove it.", l.varName))
		return cty.NilVal, false
	case "!!str":
		if b, ok := yaml11Bools[n.Value]; ok && n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) == 0 {
			return cty.BoolVal(b), true
		}
		return cty.StringVal(n.Value), true
	default:
		// !!timestamp, !!binary, !unsafe and other tags: the text as written.
		return cty.StringVal(n.Value), true
	}
}

// number converts an !!int or !!float scalar. NaN and infinities are refused: no
// variable can hold them.
func (l *yamlLoader) number(n *yaml.Node) (cty.Value, bool) {
	var x any
	if err := n.Decode(&x); err != nil {
		l.errorf(n, "Invalid number", err.Error())
		return cty.NilVal, false
	}
	switch x := x.(type) {
	case int:
		return cty.NumberIntVal(int64(x)), true
	case int64:
		return cty.NumberIntVal(x), true
	case uint64:
		return cty.NumberUIntVal(x), true
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			l.errorf(n, "Invalid number", fmt.Sprintf("%s is not a number variables can hold; quote it to make it a string.", n.Value))
			return cty.NilVal, false
		}
		return cty.NumberFloatVal(x), true
	}
	return cty.StringVal(n.Value), true
}

func resolveAlias(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && n.Alias != nil && i < maxYAMLDepth; i++ {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n == nil || n.Kind == 0 || (n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null")
}

func (l *yamlLoader) errorf(n *yaml.Node, summary, detail string) {
	l.diags = append(l.diags, errorAt(l.rng(n), summary, detail))
}

// rng is the source range of a node: the scalar as written (quotes included), or the
// rest of the line where a mapping or sequence starts.
func (l *yamlLoader) rng(n *yaml.Node) hcl.Range {
	sf := l.sf
	start := sf.offsetOf(n.Line, n.Column)
	lineEnd := sf.lineEnd(n.Line)
	end := lineEnd
	if n.Kind == yaml.ScalarNode {
		rest := string(sf.src[start:lineEnd])
		switch {
		case n.Style&yaml.DoubleQuotedStyle != 0:
			for i := 1; i < len(rest); i++ {
				if rest[i] == '\\' {
					i++
				} else if rest[i] == '"' {
					end = start + i + 1
					break
				}
			}
		case n.Style&yaml.SingleQuotedStyle != 0:
			for i := 1; i < len(rest); i++ {
				if rest[i] == '\'' {
					if i+1 < len(rest) && rest[i+1] == '\'' {
						i++
						continue
					}
					end = start + i + 1
					break
				}
			}
		case n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0:
		default:
			if strings.HasPrefix(rest, n.Value) && n.Value != "" {
				end = start + len(n.Value)
			}
		}
	} else {
		end = start + len(strings.TrimRight(string(sf.src[start:lineEnd]), " \t"))
	}
	return sf.rng(start, end)
}
