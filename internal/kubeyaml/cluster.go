package kubeyaml

import (
	"fmt"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

const (
	kubeadmV1beta2 = "kubeadm.k8s.io/v1beta2"
	kubeadmV1beta3 = "kubeadm.k8s.io/v1beta3"
	kubeadmV1beta4 = "kubeadm.k8s.io/v1beta4"
)

// cluster is a validated ClusterConfiguration.
type cluster struct {
	listArgs     bool       // v1beta4: extraArgs is a list of {name, value}; before, a map
	apiServer    *yaml.Node // nil when absent or empty
	extraArgs    *yaml.Node // nil when absent or empty
	argIndex     map[string][]int
	extraVolumes *yaml.Node // nil when absent or empty
	volIndex     map[string]named
}

func validateCluster(d *doc) (*cluster, error) {
	root := d.root
	if err := checkKeys(root); err != nil {
		return nil, err
	}
	if k, kn, _ := str(root, "kind", "kind"); k == "ConfigMap" {
		return nil, &Error{Line: kn.Line, Msg: "this is the kubeadm-config ConfigMap: pass its ClusterConfiguration document " +
			"(kubectl -n kube-system get cm kubeadm-config -o jsonpath='{.data.ClusterConfiguration}')"}
	}
	av, err := checkKind(root, "ClusterConfiguration", kubeadmV1beta2, kubeadmV1beta3, kubeadmV1beta4)
	if err != nil {
		return nil, err
	}
	c := &cluster{listArgs: av == kubeadmV1beta4, argIndex: map[string][]int{}, volIndex: map[string]named{}}
	if c.apiServer, err = optional(root, "apiServer", yaml.MappingNode, "apiServer"); err != nil || c.apiServer == nil {
		return c, err
	}
	if c.listArgs {
		err = c.checkArgList(av)
	} else {
		err = c.checkArgMap(av)
	}
	if err != nil {
		return nil, err
	}
	if err := c.checkExtraVolumes(); err != nil {
		return nil, err
	}
	return c, nil
}

// checkArgList indexes the list form of apiServer.extraArgs (v1beta4) by flag name;
// every item needs a name and a string value.
func (c *cluster) checkArgList(av string) error {
	var err error
	if c.extraArgs, err = optional(c.apiServer, "extraArgs", yaml.SequenceNode, "apiServer.extraArgs (a list in "+av+")"); err != nil || c.extraArgs == nil {
		return err
	}
	for i, it := range c.extraArgs.Content {
		what := fmt.Sprintf("apiServer.extraArgs[%d]", i)
		if err := want(it, yaml.MappingNode, what); err != nil {
			return err
		}
		name, _, err := str(it, "name", what+".name")
		if err != nil {
			return err
		}
		if name == "" {
			return &Error{Line: it.Line, Msg: what + " has no name"}
		}
		if _, _, err := str(it, "value", what+".value"); err != nil {
			return err
		}
		// v1beta4 allows a flag to repeat; only an edit of such a flag is refused.
		c.argIndex[name] = append(c.argIndex[name], i)
	}
	return nil
}

// checkArgMap indexes the map form of apiServer.extraArgs (before v1beta4); every
// value must be a scalar.
func (c *cluster) checkArgMap(av string) error {
	var err error
	if c.extraArgs, err = optional(c.apiServer, "extraArgs", yaml.MappingNode, "apiServer.extraArgs (a mapping in "+av+")"); err != nil || c.extraArgs == nil {
		return err
	}
	for i := 0; i+1 < len(c.extraArgs.Content); i += 2 {
		k := c.extraArgs.Content[i]
		if err := want(c.extraArgs.Content[i+1], yaml.ScalarNode, "apiServer.extraArgs."+k.Value); err != nil {
			return err
		}
		c.argIndex[k.Value] = []int{i / 2}
	}
	return nil
}

// checkExtraVolumes indexes apiServer.extraVolumes by name (each once); every entry
// needs a hostPath and a mountPath.
func (c *cluster) checkExtraVolumes() error {
	var err error
	if c.extraVolumes, err = optional(c.apiServer, "extraVolumes", yaml.SequenceNode, "apiServer.extraVolumes"); err != nil || c.extraVolumes == nil {
		return err
	}
	for i, v := range c.extraVolumes.Content {
		what := fmt.Sprintf("apiServer.extraVolumes[%d]", i)
		name, err := itemName(v, what, "extraVolumes", c.volIndex, i)
		if err != nil {
			return err
		}
		for _, key := range []string{"hostPath", "mountPath"} {
			s, _, err := str(v, key, what+"."+key)
			if err != nil {
				return err
			}
			if s == "" {
				return &Error{Line: v.Line, Msg: fmt.Sprintf("extraVolumes entry %q has no %s", name, key)}
			}
		}
	}
	return nil
}

func (e *ClusterEdit) check() error {
	if err := validUTF8(e); err != nil {
		return err
	}
	set := map[string]bool{}
	for _, f := range e.ExtraArgs {
		if err := checkFlagName(f.Name); err != nil {
			return &Error{Msg: fmt.Sprintf("edit: extra arg %q: %v", f.Name, err)}
		}
		if strings.ContainsAny(f.Value, "\n\r") {
			return &Error{Msg: fmt.Sprintf("edit: the value of extra arg %s contains a line break", f.Name)}
		}
		if set[f.Name] {
			return &Error{Msg: fmt.Sprintf("edit: extra arg %s is given twice", f.Name)}
		}
		set[f.Name] = true
	}
	for _, name := range e.RemoveArgs {
		if err := checkFlagName(name); err != nil {
			return &Error{Msg: fmt.Sprintf("edit: extra arg to remove %q: %v", name, err)}
		}
		if set[name] {
			return &Error{Msg: fmt.Sprintf("edit: extra arg %s is both set and removed", name)}
		}
	}
	if err := uniqueNames("ExtraVolumes", len(e.ExtraVolumes), func(i int) string { return e.ExtraVolumes[i].Name }); err != nil {
		return err
	}
	for _, v := range e.ExtraVolumes {
		if v.HostPath == "" || v.MountPath == "" {
			return &Error{Msg: fmt.Sprintf("edit: extraVolume %q needs both hostPath and mountPath", v.Name)}
		}
	}
	return nil
}

// EditClusterConfiguration edits a kubeadm ClusterConfiguration document, as stored in the
// kubeadm-config ConfigMap (data.ClusterConfiguration), with the same minimal-diff rules as
// EditStaticPod. kubeadm.k8s.io/v1beta2 and v1beta3 hold apiServer.extraArgs as a map
// (name: value), v1beta4 (kubeadm >= 1.31) as a list of {name, value}; apiServer,
// extraArgs and extraVolumes are created where missing. v1beta4 lets a flag repeat: setting
// or removing one that does is refused (removal of every copy is not).
func EditClusterConfiguration(src []byte, e ClusterEdit) ([]byte, error) {
	if err := e.check(); err != nil {
		return nil, err
	}
	d, err := parseDoc(src)
	if err != nil {
		return nil, err
	}
	ops, err := planClusterEdit(d, e)
	if err != nil {
		return nil, err
	}
	return finish(d, ops, "ClusterConfiguration", func(d2 *doc) ([]op, error) { return planClusterEdit(d2, e) })

}

func planClusterEdit(d *doc, e ClusterEdit) ([]op, error) {
	c, err := validateCluster(d)
	if err != nil {
		return nil, err
	}
	vops, newVols := c.planVolumes(e.ExtraVolumes)
	ops, newArgs, err := c.planArgs(d, e, newVols != nil)
	if err != nil {
		return nil, err
	}
	ops = append(ops, vops...)

	// What apiServer lacks entirely is written as one block, in kubeadm's key order.
	var sub omap
	if newArgs != nil && c.extraArgs == nil {
		sub = append(sub, kv{"extraArgs", newArgs})
	}
	if newVols != nil && c.extraVolumes == nil {
		sub = append(sub, kv{"extraVolumes", newVols})
	}
	if c.apiServer == nil {
		if len(sub) > 0 {
			ops = append(ops, fillOrAdd(d.root, nil, "apiServer", sub))
		}
		return ops, nil
	}
	for _, s := range sub {
		ops = append(ops, fillOrAdd(c.apiServer, []any{"apiServer"}, s.key, s.value))
	}
	return ops, nil
}

// fillOrAdd plans giving key of mapping m (at path) a value, replacing an empty one.
func fillOrAdd(m *yaml.Node, path []any, key string, value any) op {
	if _, v := mapGet(m, key); v != nil {
		return op{kind: opFill, node: m, path: path, key: key, value: value}
	}
	return op{kind: opAddKey, node: m, path: path, key: key, value: value}
}

// planArgs returns the ops on existing extraArgs and the new arguments (an omap for the map
// form, a []any of {name, value} for the list form; nil when there are none) for the
// caller to add when extraArgs does not exist yet.
func (c *cluster) planArgs(d *doc, e ClusterEdit, addingVolumes bool) ([]op, any, error) {
	path := []any{"apiServer", "extraArgs"}
	ops, add, err := c.setArgs(e.ExtraArgs, path)
	if err != nil {
		return nil, nil, err
	}
	var removeIdx []int
	removed := 0
	for _, name := range unique(e.RemoveArgs) {
		idx := c.argIndex[name]
		removed += len(idx)
		if c.listArgs {
			removeIdx = append(removeIdx, idx...)
		} else if len(idx) > 0 {
			ops = append(ops, op{kind: opRemoveKey, node: c.extraArgs, path: path, key: name})
		}
	}
	if removed > 0 && removed == len(c.argIndexEntries()) && len(add) == 0 {
		// Nothing left: drop extraArgs, or leave `apiServer: {}` as kubeadm writes it.
		ops = dropRemovals(ops)
		if len(c.apiServer.Content) > 2 || addingVolumes {
			ops = append(ops, op{kind: opRemoveKey, node: c.apiServer, path: []any{"apiServer"}, key: "extraArgs"})
		} else {
			ops = append(ops, op{kind: opClear, node: d.root, key: "apiServer", value: omap{}})
		}
		return ops, nil, nil
	}
	if len(removeIdx) > 0 {
		ops = append(ops, op{kind: opRemoveItems, node: c.extraArgs, path: path, idxs: removeIdx})
	}
	if len(add) == 0 {
		return ops, nil, nil
	}
	ops, newArgs := c.addArgs(ops, add, path)
	return ops, newArgs, nil
}

// setArgs plans setting the arguments that exist (at path) and returns the ones to add.
// An argument that repeats is refused: there is no telling which copy to set.
func (c *cluster) setArgs(args []Flag, path []any) ([]op, []Flag, error) {
	var ops []op
	var add []Flag
	for _, f := range args {
		idx := c.argIndex[f.Name]
		switch {
		case len(idx) == 0:
			add = append(add, f)
		case len(idx) > 1:
			return nil, nil, c.repeated(f.Name, idx)
		case c.listArgs:
			ops = append(ops, ensureString(c.extraArgs.Content[idx[0]], at(path, idx[0]), "value", f.Value, false)...)
		default:
			ops = append(ops, ensureString(c.extraArgs, path, f.Name, f.Value, false)...)
		}
	}
	return ops, add, nil
}

// addArgs plans adding the arguments add to extraArgs (at path) after ops, or, when
// extraArgs does not exist yet, returns them in its form for the caller to write.
func (c *cluster) addArgs(ops []op, add []Flag, path []any) ([]op, any) {
	if c.listArgs {
		items := make([]any, len(add))
		for i, f := range add {
			items[i] = omap{{"name", f.Name}, {"value", f.Value}}
		}
		if c.extraArgs != nil {
			return append(ops, op{kind: opAppend, node: c.extraArgs, path: path, items: items}), nil
		}
		return ops, items
	}
	// kubeadm writes a map's keys sorted; keep them so unless the file does not.
	if c.extraArgs == nil || sortedKeys(c.extraArgs) {
		sort.SliceStable(add, func(i, j int) bool { return add[i].Name < add[j].Name })
	}
	if c.extraArgs != nil {
		for _, f := range add {
			ops = append(ops, op{kind: opAddKey, node: c.extraArgs, path: path, key: f.Name, value: f.Value})
		}
		return ops, nil
	}
	m := make(omap, len(add))
	for i, f := range add {
		m[i] = kv{f.Name, f.Value}
	}
	return ops, m
}

func unique(names []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, n := range names {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}

func (c *cluster) argIndexEntries() []int {
	var all []int
	for _, idx := range c.argIndex {
		all = append(all, idx...)
	}
	return all
}

func dropRemovals(ops []op) []op {
	var out []op
	for _, o := range ops {
		if o.kind != opRemoveKey {
			out = append(out, o)
		}
	}
	return out
}

func (c *cluster) repeated(name string, idx []int) error {
	var lines []string
	for _, i := range idx[1:] {
		lines = append(lines, fmt.Sprint(c.extraArgs.Content[i].Line))
	}
	return &Error{Line: c.extraArgs.Content[idx[0]].Line, Msg: fmt.Sprintf(
		"extraArgs has %s more than once (also on line %s): cannot tell which one to set", name, strings.Join(lines, ", "))}
}

func sortedKeys(m *yaml.Node) bool {
	var keys []string
	for i := 0; i < len(m.Content); i += 2 {
		keys = append(keys, m.Content[i].Value)
	}
	return sort.StringsAreSorted(keys)
}

// planVolumes returns the ops on existing extraVolumes and the new entries (nil when none).
func (c *cluster) planVolumes(vols []ExtraVolume) ([]op, []any) {
	var ops []op
	var add []any
	path := []any{"apiServer", "extraVolumes"}
	for _, v := range vols {
		n, ok := c.volIndex[v.Name]
		if !ok {
			m := omap{{"hostPath", v.HostPath}, {"mountPath", v.MountPath}, {"name", v.Name}}
			if v.PathType != "" {
				m = append(m, kv{"pathType", v.PathType})
			}
			if v.ReadOnly {
				m = append(m, kv{"readOnly", true})
			}
			add = append(add, m)
			continue
		}
		item, p := c.extraVolumes.Content[n.idx], at(path, n.idx)
		ops = append(ops, ensureString(item, p, "hostPath", v.HostPath, false)...)
		ops = append(ops, ensureString(item, p, "mountPath", v.MountPath, false)...)
		ops = append(ops, ensureString(item, p, "pathType", v.PathType, true)...)
		ops = append(ops, ensureBool(item, p, "readOnly", v.ReadOnly)...)
	}
	if add != nil && c.extraVolumes != nil {
		return append(ops, op{kind: opAppend, node: c.extraVolumes, path: path, items: add}), nil
	}
	return ops, add
}
