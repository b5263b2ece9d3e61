package kubeyaml

import (
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

// mapGet returns key's key and value nodes in mapping m (nil, nil when absent).
func mapGet(m *yaml.Node, key string) (k, v *yaml.Node) {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil, nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Kind == yaml.ScalarNode && m.Content[i].Value == key {
			return m.Content[i], m.Content[i+1]
		}
	}
	return nil, nil
}

// isEmpty reports whether n is a null or an empty flow collection ({} or []): a value that
// new content replaces rather than extends.
func isEmpty(n *yaml.Node) bool {
	switch n.Kind {
	case yaml.ScalarNode:
		return n.ShortTag() == "!!null"
	case yaml.MappingNode, yaml.SequenceNode:
		return len(n.Content) == 0
	}
	return false
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias (*" + n.Value + ")"
	case yaml.ScalarNode:
		if n.ShortTag() == "!!null" {
			return "nothing"
		}
		return fmt.Sprintf("%q", n.Value)
	}
	return "something else"
}

// want checks that n (the value of what) is of kind k. Aliases are refused: an edit
// through an alias would change every place that refers to the anchor.
func want(n *yaml.Node, k yaml.Kind, what string) error {
	if n.Kind == k {
		return nil
	}
	kind := map[yaml.Kind]string{yaml.MappingNode: "a mapping", yaml.SequenceNode: "a list", yaml.ScalarNode: "a single value"}[k]
	return &Error{Line: n.Line, Msg: fmt.Sprintf("%s must be %s, found %s", what, kind, describe(n))}
}

// optional returns key's value in m when it holds something, nil when it is absent or
// empty, and an error when it is not of kind k.
func optional(m *yaml.Node, key string, k yaml.Kind, what string) (*yaml.Node, error) {
	_, v := mapGet(m, key)
	if v == nil || isEmpty(v) {
		return nil, nil
	}
	if err := want(v, k, what); err != nil {
		return nil, err
	}
	return v, nil
}

// str returns the value of key in m as text ("" when absent or null).
func str(m *yaml.Node, key, what string) (string, *yaml.Node, error) {
	_, v := mapGet(m, key)
	if v == nil {
		return "", nil, nil
	}
	if err := want(v, yaml.ScalarNode, what); err != nil {
		return "", nil, err
	}
	if v.ShortTag() == "!!null" {
		return "", v, nil
	}
	return v.Value, v, nil
}

// checkKeys refuses duplicate keys anywhere (yaml.v3's node decoding accepts them, and an
// edit would find the first while Kubernetes keeps the last) and aliases used as keys.
func checkKeys(n *yaml.Node) error {
	if n.Kind == yaml.MappingNode {
		seen := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind != yaml.ScalarNode {
				return &Error{Line: k.Line, Msg: "unsupported key: only plain keys are supported"}
			}
			if first, dup := seen[k.Value]; dup {
				return &Error{Line: k.Line, Msg: fmt.Sprintf("duplicate key %q (also on line %d)", k.Value, first)}
			}
			seen[k.Value] = k.Line
		}
	}
	for _, c := range n.Content {
		if err := checkKeys(c); err != nil {
			return err
		}
	}
	return nil
}

// checkKind checks a Kubernetes-style object's kind and apiVersion.
func checkKind(root *yaml.Node, kind string, apiVersions ...string) (string, error) {
	if root.Kind != yaml.MappingNode {
		return "", &Error{Line: root.Line, Msg: fmt.Sprintf("not a Kubernetes object: the document is %s, not a mapping", describe(root))}
	}
	k, kn, err := str(root, "kind", "kind")
	if err != nil {
		return "", err
	}
	if kn == nil {
		return "", &Error{Line: root.Line, Msg: fmt.Sprintf("not a Kubernetes object: no kind (expected %s)", kind)}
	}
	if k != kind {
		return "", &Error{Line: kn.Line, Msg: fmt.Sprintf("kind is %q, not %s", k, kind)}
	}
	v, vn, err := str(root, "apiVersion", "apiVersion")
	if err != nil {
		return "", err
	}
	for _, a := range apiVersions {
		if v == a {
			return v, nil
		}
	}
	line := root.Line
	if vn != nil {
		line = vn.Line
	}
	return "", &Error{Line: line, Msg: fmt.Sprintf("%s apiVersion is %q; supported: %s", kind, v, strings.Join(apiVersions, ", "))}
}

// ensureString plans the ops that make key of mapping m (at path) the string v. With
// omitEmpty, v == "" means the key should be absent.
func ensureString(m *yaml.Node, path []any, key, v string, omitEmpty bool) []op {
	_, n := mapGet(m, key)
	switch {
	case n == nil && v == "" && omitEmpty:
		return nil
	case n == nil:
		return []op{{kind: opAddKey, node: m, path: path, key: key, value: v}}
	case v == "" && omitEmpty:
		return []op{{kind: opRemoveKey, node: m, path: path, key: key}}
	case n.Kind == yaml.ScalarNode && n.ShortTag() == "!!str" && n.Value == v:
		return nil
	}
	return []op{{kind: opSet, node: n, path: at(path, key), value: v, style: n.Style}}
}

// ensureBool plans the ops that make key of mapping m the boolean v; absent means false.
func ensureBool(m *yaml.Node, path []any, key string, v bool) []op {
	_, n := mapGet(m, key)
	if n == nil {
		if !v {
			return nil
		}
		return []op{{kind: opAddKey, node: m, path: path, key: key, value: true}}
	}
	var cur bool
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!bool" && n.Decode(&cur) == nil && cur == v {
		return nil
	}
	return []op{{kind: opSet, node: n, path: at(path, key), value: v}}
}

// scalars returns the items of a list of single values, with their lines.
func scalars(seq *yaml.Node, list string) ([]argItem, error) {
	if seq == nil {
		return nil, nil
	}
	items := make([]argItem, len(seq.Content))
	for i, n := range seq.Content {
		if err := want(n, yaml.ScalarNode, fmt.Sprintf("%s[%d]", list, i)); err != nil {
			return nil, err
		}
		items[i] = argItem{value: n.Value, line: n.Line, list: list, idx: i, node: n}
	}
	return items, nil
}
