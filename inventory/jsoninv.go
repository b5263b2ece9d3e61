package inventory

import (
	"fmt"

	"github.com/hashicorp/hcl/v2"
	"gopkg.in/yaml.v3"
)

// JSON inventories (".json") come in two shapes. The YAML inventory's (all: {hosts,
// vars, children}, hosts a mapping), which Ansible's yaml plugin reads from .json files
// too, and the dynamic inventory's, which `ansible-inventory --list` and inventory
// scripts print:
//
//	{"_meta": {"hostvars": {"web1": {"ansible_host": "10.0.0.1"}}},
//	 "all":   {"children": ["ungrouped", "web"]},
//	 "web":   {"hosts": ["web1"], "vars": {"http_port": 80}, "children": []},
//	 "db":    ["db1", "db2"]}
//
// A file with "_meta", or a group whose hosts or value is a list, is of the second
// shape. JSON is YAML, so yaml.v3 reads both, with positions for diagnostics.

func loadJSON(b *builder, path string, src []byte) (*hcl.File, hcl.Diagnostics) {
	l := &yamlLoader{b: b, sf: newSrcFile(path, src), dir: fileDir(path)}
	root, ok := l.parse()
	if !ok || root == nil {
		return l.sf.hclFile(), l.diags
	}
	if root.Kind != yaml.MappingNode || !listShaped(root) {
		return loadYAML(b, path, src)
	}
	l.listInventory(root)
	return l.sf.hclFile(), l.diags
}

// listShaped reports a mapping in the dynamic inventory's shape.
func listShaped(root *yaml.Node) bool {
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], resolveAlias(root.Content[i+1])
		if k.Value == "_meta" || v.Kind == yaml.SequenceNode {
			return true
		}
		if v.Kind == yaml.MappingNode {
			for j := 0; j+1 < len(v.Content); j += 2 {
				if v.Content[j].Value == "hosts" && v.Content[j+1].Kind == yaml.SequenceNode {
					return true
				}
			}
		}
	}
	return false
}

// listInventory reads the dynamic inventory shape: groups first, then _meta.hostvars
// for the hosts they named.
func (l *yamlLoader) listInventory(root *yaml.Node) {
	var meta *yaml.Node
	for _, kv := range l.pairs(root, 0) {
		if kv.key.Value == "_meta" {
			meta = resolveAlias(kv.val)
			continue
		}
		l.listGroup(kv.key, resolveAlias(kv.val))
	}
	if meta == nil || meta.Kind != yaml.MappingNode {
		return
	}
	for _, kv := range l.pairs(meta, 1) {
		if kv.key.Value == "hostvars" {
			l.listHostVars(resolveAlias(kv.val))
		}
	}
}

// listGroup reads one group: a list of hosts, or {hosts: [...], vars: {...},
// children: [...]}.
func (l *yamlLoader) listGroup(key, val *yaml.Node) {
	name := key.Value
	if !validGroupName(name) {
		l.errorf(key, "Invalid group name", fmt.Sprintf("%q cannot be a group name. %s", name, groupNameRule))
		return
	}
	g := l.b.groupIn(name, l.sf.name)
	g.declared = true
	switch {
	case isNull(val):
	case val.Kind == yaml.SequenceNode:
		l.listHosts(name, val)
	case val.Kind == yaml.MappingNode:
		for _, kv := range l.pairs(val, 1) {
			v := resolveAlias(kv.val)
			switch kv.key.Value {
			case "hosts":
				l.listHosts(name, v)
			case "vars":
				for _, vp := range l.entries(name, "vars", v, 2) {
					l.setVar(&g.layer, vp)
				}
			case "children":
				l.listChildren(name, v)
			default:
				l.errorf(kv.key, "Unknown key in group", fmt.Sprintf("Group %q has a key %q; a group has only hosts, vars and children.", name, kv.key.Value))
			}
		}
	default:
		l.errorf(val, "Invalid group", fmt.Sprintf("Group %q must be a list of hosts or a mapping with hosts, vars and children.", name))
	}
}

// listNames are the strings of a sequence, each a host or group name; anything else
// is reported.
func (l *yamlLoader) listNames(what string, n *yaml.Node) []*yaml.Node {
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		l.errorf(n, "Invalid "+what, fmt.Sprintf("%s must be a list of names.", what))
		return nil
	}
	var out []*yaml.Node
	for _, c := range n.Content {
		if c = resolveAlias(c); c.Kind == yaml.ScalarNode && c.Value != "" {
			out = append(out, c)
		} else {
			l.errorf(c, "Invalid name", fmt.Sprintf("Each entry of %s is a name.", what))
		}
	}
	return out
}

func (l *yamlLoader) listHosts(group string, n *yaml.Node) {
	for _, h := range l.listNames("hosts", n) {
		if ok, d := l.b.spendEntries(1, l.rng(h)); !ok {
			if d != nil {
				l.diags = append(l.diags, d)
			}
			return
		}
		l.b.addMember(group, l.b.host(h.Value, l.sf.name))
	}
}

func (l *yamlLoader) listChildren(group string, n *yaml.Node) {
	for _, c := range l.listNames("children", n) {
		if !validGroupName(c.Value) {
			l.errorf(c, "Invalid group name", fmt.Sprintf("%q cannot be a group name. %s", c.Value, groupNameRule))
			continue
		}
		l.b.addChild(group, c.Value, l.rng(c))
	}
}

// listHostVars reads _meta.hostvars: each host's variables. Those of a host no group
// names are ignored, as Ansible's script plugin does, with a warning.
func (l *yamlLoader) listHostVars(n *yaml.Node) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		l.errorf(n, "Invalid hostvars", "_meta.hostvars must be a mapping of host names to their variables.")
		return
	}
	for _, kv := range l.pairs(n, 2) {
		h := l.b.hostIdx[kv.key.Value]
		if h == nil {
			d := errorAt(l.rng(kv.key), "Variables of an unlisted host", fmt.Sprintf("No group lists host %q, so Ansible, and hostplan, ignore its hostvars. Add it to a group's hosts, or remove them.", kv.key.Value))
			d.Severity = hcl.DiagWarning
			l.diags = append(l.diags, d)
			continue
		}
		for _, vp := range l.entries(kv.key.Value, "vars", resolveAlias(kv.val), 3) {
			l.setVar(&h.layer, vp)
		}
	}
}
