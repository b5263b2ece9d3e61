package kubeyaml

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// pod is a validated static pod manifest and the container an edit is about.
type pod struct {
	spec       *yaml.Node
	path       []any // of the container
	c          *yaml.Node
	cmd, args  *yaml.Node // values of command and args, nil when absent or empty
	items      []argItem  // what flags are parsed from
	flags      []flagRef
	env        *yaml.Node
	envByName  map[string]named
	mounts     *yaml.Node
	mountIndex map[string]named
	volumes    *yaml.Node
	volIndex   map[string]named
}

// ValidateStaticPod checks a static pod manifest: one YAML document, kind Pod with
// apiVersion v1, the named container exists, every volumeMount has a volume of the same
// name, and there are no duplicate keys, container names, volume names, or volumeMount
// names, mount paths, env names or flags in the container.
func ValidateStaticPod(src []byte, container string) error {
	d, err := parseDoc(src)
	if err != nil {
		return err
	}
	_, err = validatePod(d, container)
	return err
}

func validatePod(d *doc, name string) (*pod, error) {
	if name == "" {
		return nil, &Error{Msg: "no container name given"}
	}
	if err := checkKeys(d.root); err != nil {
		return nil, err
	}
	if _, err := checkKind(d.root, "Pod", "v1"); err != nil {
		return nil, err
	}
	_, spec := mapGet(d.root, "spec")
	if spec == nil {
		return nil, &Error{Line: d.root.Line, Msg: "no spec"}
	}
	if err := want(spec, yaml.MappingNode, "spec"); err != nil {
		return nil, err
	}
	p := &pod{spec: spec, volIndex: map[string]named{}}
	if err := p.checkVolumes(); err != nil {
		return nil, err
	}
	if err := p.findContainer(name); err != nil {
		return nil, err
	}
	if err := p.checkContainer(); err != nil {
		return nil, err
	}
	return p, nil
}

// checkVolumes indexes spec.volumes by name (each once) and checks every hostPath
// volume has a path.
func (p *pod) checkVolumes() error {
	var err error
	if p.volumes, err = optional(p.spec, "volumes", yaml.SequenceNode, "spec.volumes"); err != nil || p.volumes == nil {
		return err
	}
	for i, v := range p.volumes.Content {
		what := fmt.Sprintf("spec.volumes[%d]", i)
		vn, err := itemName(v, what, "volume", p.volIndex, i)
		if err != nil {
			return err
		}
		_, hp := mapGet(v, "hostPath")
		if hp == nil || isEmpty(hp) {
			continue
		}
		if err := want(hp, yaml.MappingNode, what+".hostPath"); err != nil {
			return err
		}
		if path, _, err := str(hp, "path", what+".hostPath.path"); err != nil {
			return err
		} else if path == "" {
			return &Error{Line: hp.Line, Msg: fmt.Sprintf("hostPath volume %q has no path", vn)}
		}
	}
	return nil
}

// findContainer checks every container and init container (names unique across both,
// mounts of known volumes) and finds the container called name.
func (p *pod) findContainer(name string) error {
	containers, err := optional(p.spec, "containers", yaml.SequenceNode, "spec.containers")
	if err != nil {
		return err
	}
	if containers == nil {
		return &Error{Line: p.spec.Line, Msg: "spec.containers is missing or empty"}
	}
	names := map[string]named{}
	var found []string
	for _, list := range []string{"containers", "initContainers"} {
		cs, err := optional(p.spec, list, yaml.SequenceNode, "spec."+list)
		if err != nil {
			return err
		}
		if cs == nil {
			continue
		}
		for i, c := range cs.Content {
			what := fmt.Sprintf("spec.%s[%d]", list, i)
			cn, err := itemName(c, what, "container", names, i)
			if err != nil {
				return err
			}
			if err := p.checkMounts(c, cn, what); err != nil {
				return err
			}
			if list == "containers" {
				found = append(found, cn)
				if cn == name {
					p.path, p.c = []any{"spec", "containers", i}, c
				}
			}
		}
	}
	if p.c == nil {
		return &Error{Line: containers.Line, Msg: fmt.Sprintf("no container %q in spec.containers (found: %s)", name, strings.Join(found, ", "))}
	}
	return nil
}

// named is where a name was seen: the item's index and the name's line.
type named struct{ idx, line int }

// itemName checks that item is a mapping with a unique name and records it in seen.
func itemName(item *yaml.Node, what, noun string, seen map[string]named, i int) (string, error) {
	if err := want(item, yaml.MappingNode, what); err != nil {
		return "", err
	}
	name, nn, err := str(item, "name", what+".name")
	if err != nil {
		return "", err
	}
	if name == "" {
		return "", &Error{Line: item.Line, Msg: fmt.Sprintf("%s has no name", what)}
	}
	if first, dup := seen[name]; dup {
		return "", &Error{Line: nn.Line, Msg: fmt.Sprintf("duplicate %s name %q (also on line %d)", noun, name, first.line)}
	}
	seen[name] = named{i, nn.Line}
	return name, nil
}

// checkMounts checks that every volumeMount of container c has a volume, and that mount
// paths are unique (the API server would refuse the pod otherwise).
func (p *pod) checkMounts(c *yaml.Node, cname, what string) error {
	mounts, err := optional(c, "volumeMounts", yaml.SequenceNode, what+".volumeMounts")
	if err != nil || mounts == nil {
		return err
	}
	paths := map[string]int{}
	for i, m := range mounts.Content {
		mw := fmt.Sprintf("%s.volumeMounts[%d]", what, i)
		if err := want(m, yaml.MappingNode, mw); err != nil {
			return err
		}
		name, nn, err := str(m, "name", mw+".name")
		if err != nil {
			return err
		}
		if name == "" {
			return &Error{Line: m.Line, Msg: mw + " has no name"}
		}
		if _, ok := p.volIndex[name]; !ok {
			return &Error{Line: nn.Line, Msg: fmt.Sprintf("volumeMount %q of container %q has no volume of that name in spec.volumes", name, cname)}
		}
		mp, mpn, err := str(m, "mountPath", mw+".mountPath")
		if err != nil {
			return err
		}
		if mp == "" {
			return &Error{Line: m.Line, Msg: fmt.Sprintf("volumeMount %q of container %q has no mountPath", name, cname)}
		}
		if first, dup := paths[mp]; dup {
			return &Error{Line: mpn.Line, Msg: fmt.Sprintf("container %q mounts two volumes at %s (also on line %d)", cname, mp, first)}
		}
		paths[mp] = mpn.Line
	}
	return nil
}

// checkContainer validates the parts of the container an edit touches.
func (p *pod) checkContainer() error {
	var err error
	if p.cmd, err = optional(p.c, "command", yaml.SequenceNode, "command"); err != nil {
		return err
	}
	if p.args, err = optional(p.c, "args", yaml.SequenceNode, "args"); err != nil {
		return err
	}
	cmd, err := scalars(p.cmd, "command")
	if err != nil {
		return err
	}
	args, err := scalars(p.args, "args")
	if err != nil {
		return err
	}
	p.items = argItems(cmd, args)
	if p.flags, err = parseFlags(p.items); err != nil {
		return err
	}
	if err := p.checkEnv(); err != nil {
		return err
	}
	return p.indexMounts()
}

// checkEnv indexes the container's env by name (each once); a variable has a scalar
// value or a valueFrom, not both.
func (p *pod) checkEnv() error {
	var err error
	p.envByName = map[string]named{}
	if p.env, err = optional(p.c, "env", yaml.SequenceNode, "env"); err != nil || p.env == nil {
		return err
	}
	for i, e := range p.env.Content {
		what := fmt.Sprintf("env[%d]", i)
		en, err := itemName(e, what, "env", p.envByName, i)
		if err != nil {
			return err
		}
		_, v := mapGet(e, "value")
		_, vf := mapGet(e, "valueFrom")
		if v != nil && vf != nil {
			return &Error{Line: e.Line, Msg: fmt.Sprintf("env %q has both value and valueFrom", en)}
		}
		if v != nil {
			if err := want(v, yaml.ScalarNode, what+".value"); err != nil {
				return err
			}
		}
	}
	return nil
}

// indexMounts indexes the container's volumeMounts by name (each once).
func (p *pod) indexMounts() error {
	var err error
	p.mountIndex = map[string]named{}
	if p.mounts, err = optional(p.c, "volumeMounts", yaml.SequenceNode, "volumeMounts"); err != nil || p.mounts == nil {
		return err
	}
	for i, m := range p.mounts.Content {
		if _, err := itemName(m, fmt.Sprintf("volumeMounts[%d]", i), "volumeMount", p.mountIndex, i); err != nil {
			return err
		}
	}
	return nil
}

// ParseContainer returns one container of a static pod manifest. It checks less than
// ValidateStaticPod, so that facts can be read from a manifest an edit would refuse.
func ParseContainer(src []byte, name string) (*Container, error) {
	d, err := parseDoc(src)
	if err != nil {
		return nil, err
	}
	if _, err := checkKind(d.root, "Pod", "v1"); err != nil {
		return nil, err
	}
	_, spec := mapGet(d.root, "spec")
	if spec == nil {
		return nil, &Error{Line: d.root.Line, Msg: "no spec"}
	}
	containers, err := optional(spec, "containers", yaml.SequenceNode, "spec.containers")
	if err != nil {
		return nil, err
	}
	var found []string
	if containers != nil {
		for _, cn := range containers.Content {
			n, _, _ := str(cn, "name", "name")
			if n != name {
				found = append(found, n)
				continue
			}
			return readContainer(cn, name)
		}
	}
	line := spec.Line
	if containers != nil {
		line = containers.Line
	}
	return nil, &Error{Line: line, Msg: fmt.Sprintf("no container %q in spec.containers (found: %s)", name, strings.Join(found, ", "))}
}

func readContainer(cn *yaml.Node, name string) (*Container, error) {
	c := &Container{Name: name}
	var err error
	if c.Image, _, err = str(cn, "image", "image"); err != nil {
		return nil, err
	}
	for _, list := range []string{"command", "args"} {
		seq, err := optional(cn, list, yaml.SequenceNode, list)
		if err != nil {
			return nil, err
		}
		items, err := scalars(seq, list)
		if err != nil {
			return nil, err
		}
		for _, it := range items {
			if list == "command" {
				c.Command, c.commandLines = append(c.Command, it.value), append(c.commandLines, it.line)
			} else {
				c.Args, c.argLines = append(c.Args, it.value), append(c.argLines, it.line)
			}
		}
	}
	env, err := optional(cn, "env", yaml.SequenceNode, "env")
	if err != nil {
		return nil, err
	}
	if env == nil {
		return c, nil
	}
	for i, e := range env.Content {
		if err := want(e, yaml.MappingNode, fmt.Sprintf("env[%d]", i)); err != nil {
			return nil, err
		}
		n, _, err := str(e, "name", "env name")
		if err != nil {
			return nil, err
		}
		v, _, err := str(e, "value", fmt.Sprintf("env %q value", n))
		if err != nil {
			return nil, err
		}
		c.Env = append(c.Env, EnvVar{Name: n, Value: v})
	}
	return c, nil
}

// check refuses edits that contradict themselves or could not be written back.
func (e *PodEdit) check() error {
	if e.Container == "" {
		return &Error{Msg: "edit: no container name given"}
	}
	if err := validUTF8(e); err != nil {
		return err
	}
	set := map[string]bool{}
	for _, f := range e.Flags {
		if err := checkFlagName(f.Name); err != nil {
			return &Error{Msg: fmt.Sprintf("edit: flag %q: %v", f.Name, err)}
		}
		if strings.ContainsAny(f.Value, "\n\r") {
			return &Error{Msg: fmt.Sprintf("edit: the value of --%s contains a line break", f.Name)}
		}
		if set[f.Name] {
			return &Error{Msg: fmt.Sprintf("edit: flag --%s is given twice", f.Name)}
		}
		set[f.Name] = true
	}
	for _, name := range e.RemoveFlags {
		if err := checkFlagName(name); err != nil {
			return &Error{Msg: fmt.Sprintf("edit: flag to remove %q: %v", name, err)}
		}
		if set[name] {
			return &Error{Msg: fmt.Sprintf("edit: flag --%s is both set and removed", name)}
		}
	}
	if err := uniqueNames("Env", len(e.Env), func(i int) string { return e.Env[i].Name }); err != nil {
		return err
	}
	if err := uniqueNames("VolumeMounts", len(e.VolumeMounts), func(i int) string { return e.VolumeMounts[i].Name }); err != nil {
		return err
	}
	for _, m := range e.VolumeMounts {
		if m.MountPath == "" {
			return &Error{Msg: fmt.Sprintf("edit: volumeMount %q has no mountPath", m.Name)}
		}
	}
	if err := uniqueNames("Volumes", len(e.Volumes), func(i int) string { return e.Volumes[i].Name }); err != nil {
		return err
	}
	for _, v := range e.Volumes {
		if v.Path == "" {
			return &Error{Msg: fmt.Sprintf("edit: volume %q has no path", v.Name)}
		}
	}
	return nil
}

// validUTF8 refuses edits with text YAML cannot hold (fmt prints every string field).
func validUTF8(e any) error {
	if s := fmt.Sprintf("%+v", e); !utf8.ValidString(s) {
		return &Error{Msg: "edit: a name or value is not valid UTF-8"}
	}
	return nil
}

// uniqueNames checks the names of the n entries of the edit's field.
func uniqueNames(field string, n int, name func(int) string) error {
	seen := map[string]bool{}
	for i := 0; i < n; i++ {
		s := name(i)
		if s == "" {
			return &Error{Msg: fmt.Sprintf("edit: %s[%d] has no name", field, i)}
		}
		if seen[s] {
			return &Error{Msg: fmt.Sprintf("edit: %s has %q twice", field, s)}
		}
		seen[s] = true
	}
	return nil
}

// EditStaticPod returns the edited manifest. When nothing needs to change it returns src
// itself. It validates the input first and the result after (see the package comment).
func EditStaticPod(src []byte, e PodEdit) ([]byte, error) {
	if err := e.check(); err != nil {
		return nil, err
	}
	d, err := parseDoc(src)
	if err != nil {
		return nil, err
	}
	ops, err := planPodEdit(d, e)
	if err != nil {
		return nil, err
	}
	return finish(d, ops, "manifest", func(d2 *doc) ([]op, error) { return planPodEdit(d2, e) })
}

func planPodEdit(d *doc, e PodEdit) ([]op, error) {
	p, err := validatePod(d, e.Container)
	if err != nil {
		return nil, err
	}
	for _, m := range e.VolumeMounts {
		if _, ok := p.volIndex[m.Name]; ok {
			continue
		}
		if !hasVolume(e.Volumes, m.Name) {
			return nil, &Error{Msg: fmt.Sprintf("edit: volumeMount %q has no volume of that name in the manifest or in the edit", m.Name)}
		}
	}
	ops, err := p.planFlags(e)
	if err != nil {
		return nil, err
	}
	ops = append(ops, p.planEnv(e.Env)...)
	ops = append(ops, p.planMounts(e.VolumeMounts)...)
	vops, err := p.planVolumes(e.Volumes)
	if err != nil {
		return nil, err
	}
	return append(ops, vops...), nil
}

func hasVolume(vs []HostPathVolume, name string) bool {
	for _, v := range vs {
		if v.Name == name {
			return true
		}
	}
	return false
}

// addTo plans adding items to the list under key of mapping m (at path), whose current
// value is list (nil when absent or empty).
func addTo(m *yaml.Node, path []any, key string, list *yaml.Node, items []any) op {
	_, v := mapGet(m, key)
	switch {
	case v == nil:
		return op{kind: opAddKey, node: m, path: path, key: key, value: items}
	case list == nil:
		return op{kind: opFill, node: m, path: path, key: key, value: items}
	}
	return op{kind: opAppend, node: list, path: at(path, key), items: items}
}

func (p *pod) planFlags(e PodEdit) ([]op, error) {
	byName := map[string]flagRef{}
	argsHasFlags := false
	for _, f := range p.flags {
		byName[f.Name] = f
		argsHasFlags = argsHasFlags || p.items[f.item].list == "args"
	}
	rm := removals{}
	ops, add := p.setFlags(e.Flags, byName, rm)
	for _, name := range unique(e.RemoveFlags) {
		if r, ok := byName[name]; ok {
			rm.add(p.items[r.item])
			if r.valItem >= 0 {
				rm.add(p.items[r.valItem])
			}
		}
	}
	// New flags go after the existing ones: into args when args holds flags, else into
	// command after the executable.
	target := "args"
	if !argsHasFlags && p.cmd != nil {
		target = "command"
	}
	if len(add) > 0 {
		for _, it := range p.items {
			if it.value == "--" {
				return nil, &Error{Line: it.line, Msg: `cannot add flags: "--" ends the flags here and what follows is positional`}
			}
		}
	}
	return append(ops, p.planLists(target, rm, add)...), nil
}

// removals are the items to remove from command and args: indexes by list.
type removals map[string][]int

func (rm removals) add(it argItem) { rm[it.list] = append(rm[it.list], it.idx) }

// setFlags plans setting flags where they are (byName) and returns the new ones to add,
// as "--name=value" items. A separate value item made redundant is added to rm.
func (p *pod) setFlags(flags []Flag, byName map[string]flagRef, rm removals) ([]op, []any) {
	var ops []op
	var add []any
	itemPath := func(it argItem) []any { return at(p.path, it.list, it.idx) }
	for _, f := range flags {
		r, ok := byName[f.Name]
		switch {
		case !ok:
			add = append(add, "--"+f.Name+"="+f.Value)
		case r.Value == f.Value:
		case r.valItem >= 0 && !strings.HasPrefix(f.Value, "-"):
			vi := p.items[r.valItem]
			ops = append(ops, op{kind: opSet, node: vi.node, path: itemPath(vi), value: f.Value, style: vi.node.Style})
		default:
			// A value starting with "-" would read as a flag of its own in the
			// "--name value" form: switch to "--name=value".
			it := p.items[r.item]
			ops = append(ops, op{kind: opSet, node: it.node, path: itemPath(it), value: r.dashes + f.Name + "=" + f.Value, style: it.node.Style})
			if r.valItem >= 0 {
				rm.add(p.items[r.valItem])
			}
		}
	}
	return ops, add
}

// planLists plans the removals rm from command and args, and adding the items add to
// target. A list left empty is removed, unless the new items go into it.
func (p *pod) planLists(target string, rm removals, add []any) []op {
	var ops []op
	for _, list := range []string{"command", "args"} {
		seq := p.cmd
		if list == "args" {
			seq = p.args
		}
		idxs := rm[list]
		switch {
		case len(idxs) == 0:
		case len(idxs) == len(seq.Content) && (list != target || len(add) == 0):
			ops = append(ops, op{kind: opRemoveKey, node: p.c, path: p.path, key: list})
		default:
			ops = append(ops, op{kind: opRemoveItems, node: seq, path: at(p.path, list), idxs: idxs})
		}
		if list == target && len(add) > 0 {
			ops = append(ops, addTo(p.c, p.path, list, seq, add))
		}
	}
	return ops
}

func (p *pod) planEnv(env []EnvVar) []op {
	var ops []op
	var add []any
	path := at(p.path, "env")
	for _, ev := range env {
		n, ok := p.envByName[ev.Name]
		i := n.idx
		if !ok {
			add = append(add, omap{{"name", ev.Name}, {"value", ev.Value}})
			continue
		}
		item := p.env.Content[i]
		_, v := mapGet(item, "value")
		if _, vf := mapGet(item, "valueFrom"); vf != nil {
			style := yaml.Style(0)
			if v != nil {
				style = v.Style
			}
			ops = append(ops, op{kind: opReplaceKey, node: item, path: at(path, i), key: "valueFrom", newKey: "value", value: ev.Value, style: style})
			continue
		}
		if v != nil && v.ShortTag() == "!!null" && ev.Value == "" {
			continue // the API server reads a null value as ""
		}
		ops = append(ops, ensureString(item, at(path, i), "value", ev.Value, false)...)
	}
	if len(add) > 0 {
		ops = append(ops, addTo(p.c, p.path, "env", p.env, add))
	}
	return ops
}

func (p *pod) planMounts(mounts []VolumeMount) []op {
	var ops []op
	var add []any
	path := at(p.path, "volumeMounts")
	for _, vm := range mounts {
		n, ok := p.mountIndex[vm.Name]
		i := n.idx
		if !ok {
			m := omap{{"mountPath", vm.MountPath}, {"name", vm.Name}}
			if vm.ReadOnly {
				m = append(m, kv{"readOnly", true})
			}
			add = append(add, m)
			continue
		}
		item := p.mounts.Content[i]
		ops = append(ops, ensureString(item, at(path, i), "mountPath", vm.MountPath, false)...)
		ops = append(ops, ensureBool(item, at(path, i), "readOnly", vm.ReadOnly)...)
	}
	if len(add) > 0 {
		ops = append(ops, addTo(p.c, p.path, "volumeMounts", p.mounts, add))
	}
	return ops
}

// volumeSources are the keys of a volume other than its name: its source type.
func volumeSources(v *yaml.Node) []string {
	var s []string
	for i := 0; i+1 < len(v.Content); i += 2 {
		if k := v.Content[i].Value; k != "name" {
			s = append(s, k)
		}
	}
	return s
}

func (p *pod) planVolumes(vols []HostPathVolume) ([]op, error) {
	var ops []op
	var add []any
	path := []any{"spec", "volumes"}
	for _, v := range vols {
		hp := omap{{"path", v.Path}}
		if v.Type != "" {
			hp = append(hp, kv{"type", v.Type})
		}
		n, ok := p.volIndex[v.Name]
		i := n.idx
		if !ok {
			add = append(add, omap{{"hostPath", hp}, {"name", v.Name}})
			continue
		}
		item := p.volumes.Content[i]
		srcs := volumeSources(item)
		_, hn := mapGet(item, "hostPath")
		switch {
		case hn == nil && len(srcs) == 0:
			return nil, &Error{Line: item.Line, Msg: fmt.Sprintf("volume %q has no source (an emptyDir by default), not a hostPath; refusing to replace it", v.Name)}
		case hn == nil:
			return nil, &Error{Line: item.Line, Msg: fmt.Sprintf("volume %q is a %s volume, not a hostPath volume; refusing to replace it", v.Name, srcs[0])}
		case len(srcs) > 1:
			return nil, &Error{Line: item.Line, Msg: fmt.Sprintf("volume %q has several sources (%s)", v.Name, strings.Join(srcs, ", "))}
		case isEmpty(hn):
			ops = append(ops, op{kind: opFill, node: item, path: at(path, i), key: "hostPath", value: hp})
			continue
		}
		ops = append(ops, ensureString(hn, at(path, i, "hostPath"), "path", v.Path, false)...)
		ops = append(ops, ensureString(hn, at(path, i, "hostPath"), "type", v.Type, true)...)
	}
	if len(add) > 0 {
		ops = append(ops, addTo(p.spec, []any{"spec"}, "volumes", p.volumes, add))
	}
	return ops, nil
}
