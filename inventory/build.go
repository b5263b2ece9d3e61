package inventory

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/hostplan/hostplan/internal/textdist"
)

// Load reads inventory files and directories and merges them into one inventory. The
// format follows the file name: ".hcl" is an HCL inventory, ".yml"/".yaml" an Ansible
// YAML inventory, ".json" either that or `ansible-inventory --list` output, anything
// else an Ansible INI inventory; an executable script is run (script.go). A host or
// group found in several files is merged: its groups are the union, and a setting or
// variable given in a later file replaces the earlier one. The group_vars and host_vars
// beside each file are read too.
//
// Every problem is an hcl.Diagnostic whose Subject points into the file; print them
// with hcl.NewDiagnosticTextWriter and inv.Files. The returned inventory is never nil;
// when the diagnostics have errors it may be incomplete and should be used only to print
// them.
func Load(paths []string) (*Inventory, hcl.Diagnostics) {
	return LoadWith(paths, LoadOptions{Files: OSFiles()})
}

// Files is where Load reads from: the local file system (OSFiles), or what a saved
// plan recorded (the methods of config.Recorder and config.Snapshot fit).
type Files struct {
	ReadFile func(path string) ([]byte, error)
	// ListDir lists a directory in name order, a subdirectory's name with a trailing
	// "/"; a directory that does not exist is an error wrapping fs.ErrNotExist.
	ListDir func(path string) ([]string, error)
	// Scripts runs the dynamic inventory scripts among the files (script.go); nil runs
	// none, and a file that starts like a program is then an error.
	Scripts *Scripts
}

// OSFiles reads the local file system, running dynamic inventory scripts with the
// default bounds.
func OSFiles() Files {
	return Files{ReadFile: os.ReadFile, ListDir: listDir, Scripts: &Scripts{}}
}

func listDir(path string) ([]string, error) {
	entries, err := os.ReadDir(path)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		name := e.Name()
		if st, err := os.Stat(filepath.Join(path, name)); err == nil && st.IsDir() {
			name += "/" // through a symbolic link too, as Ansible's isdir follows them
		}
		names = append(names, name)
	}
	return names, nil
}

// LoadOptions say where LoadWith reads from.
type LoadOptions struct {
	Files
	// PlanDir is the plan's directory, whose group_vars and host_vars apply above the
	// inventory's own, as Ansible reads them beside the playbook; "" for none.
	PlanDir string
}

// LoadWith is Load reading through opts.Files, such as a config.Recorder or
// config.Snapshot, so a saved plan can carry its inventory too.
func LoadWith(paths []string, opts LoadOptions) (*Inventory, hcl.Diagnostics) {
	ld := &loader{inv: &Inventory{Files: map[string]*hcl.File{}, Groups: map[string]*Group{}}, b: newBuilder(), files: opts.Files}
	for _, path := range paths {
		ld.loadSource(path)
	}
	ld.loadVarsDirs(varsDirs(ld.sources, opts.PlanDir))
	ld.diags = diagsOnce(ld.diags) // a directory that is also the plan's is read twice
	ld.diags = append(ld.diags, ld.b.finish(ld.inv)...)
	return ld.inv, hideSecrets(ld.inv.Files, ld.diags)
}

// loader is one LoadWith call.
type loader struct {
	inv     *Inventory
	b       *builder
	files   Files
	sources []string // the directories of the sources read: their group_vars apply, as in Ansible
	diags   hcl.Diagnostics
}

// loadSource reads one -i path: an inventory file, or a directory of them.
func (ld *loader) loadSource(path string) {
	if names, err := ld.files.ListDir(path); err == nil {
		ld.loadDir(path, names)
		ld.sources = append(ld.sources, path)
		return
	}
	if ld.loadFile(path) {
		ld.sources = append(ld.sources, filepath.Dir(path))
	}
}

// inventoryIgnoreExts are the endings Ansible skips in an inventory directory: its
// INVENTORY_IGNORE_EXTS default, REJECT_EXTS plus .orig, .cfg and .retry (ansible-core
// no longer skips .ini).
var inventoryIgnoreExts = []string{".pyc", ".pyo", ".swp", ".bak", "~", ".rpm", ".md", ".txt", ".rst", ".orig", ".cfg", ".retry"}

// ignoredInDir reports a name Ansible does not read as an inventory source in an
// inventory directory: hidden names, the variable directories, and ignored endings.
func ignoredInDir(name string) bool {
	if strings.HasPrefix(name, ".") || name == "group_vars" || name == "host_vars" || name == "vars_plugins" {
		return true
	}
	for _, ext := range inventoryIgnoreExts {
		if strings.HasSuffix(name, ext) {
			return true
		}
	}
	return false
}

// loadDir reads every inventory file of a directory in name order, subdirectories
// included, as Ansible does for -i DIR: later files win as with several -i.
func (ld *loader) loadDir(dir string, names []string) {
	for _, n := range names {
		sub := strings.HasSuffix(n, "/")
		n = strings.TrimSuffix(n, "/")
		if ignoredInDir(n) {
			continue
		}
		p := filepath.Join(dir, n)
		if !sub {
			ld.loadFile(p)
			continue
		}
		names, err := ld.files.ListDir(p)
		if err != nil {
			ld.diags = append(ld.diags, errorNoFile("Cannot read inventory directory", err.Error()))
			continue
		}
		ld.loadDir(p, names)
	}
}

// loadFile reads one inventory file in the format its name says, or runs it if it is
// a dynamic inventory script; false if it could not be read.
func (ld *loader) loadFile(path string) bool {
	src, err := ld.files.ReadFile(path)
	if err != nil {
		ld.diags = append(ld.diags, errorNoFile("Cannot read inventory file", err.Error()))
		return false
	}
	if ld.loadMaybeScript(path, src) {
		return true
	}
	var f *hcl.File
	var ds hcl.Diagnostics
	switch format(path) {
	case "hcl":
		f, ds = loadHCL(ld.b, path, src)
	case "yaml":
		f, ds = loadYAML(ld.b, path, src)
	case "json":
		f, ds = loadJSON(ld.b, path, src)
	default:
		f, ds = loadINI(ld.b, path, src)
	}
	ld.inv.Files[path] = f
	ld.diags = append(ld.diags, ds...)
	return true
}

// errorNoFile is an error about a file that could not be read, so has no range.
func errorNoFile(summary, detail string) *hcl.Diagnostic {
	return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: detail}
}

func format(path string) string {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".hcl":
		return "hcl"
	case ".yml", ".yaml":
		return "yaml"
	case ".json":
		return "json"
	}
	return "ini"
}

// connLayer is one level of connection settings: a field is set when it is not its
// zero value, except Become and Bastion, which have flags (false and "" are settings).
type connLayer struct {
	ConnSettings
	becomeSet  bool
	bastionSet bool // Bastion == "" with bastionSet means "no jump host"
}

func (c *connLayer) overlay(o *connLayer) {
	if o.Connection != "" {
		c.Connection = o.Connection
	}
	if o.Address != "" {
		c.Address = o.Address
	}
	if o.Port != 0 {
		c.Port = o.Port
	}
	if o.User != "" {
		c.User = o.User
	}
	if len(o.IdentityFile) > 0 {
		c.IdentityFile = append([]string(nil), o.IdentityFile...)
	}
	if o.KnownHosts != "" {
		c.KnownHosts = o.KnownHosts
	}
	if o.bastionSet {
		c.Bastion, c.bastionSet = o.Bastion, true
	}
	if o.becomeSet {
		c.Become, c.becomeSet = o.Become, true
	}
	if o.BecomeUser != "" {
		c.BecomeUser = o.BecomeUser
	}
	if o.Shell != "" {
		c.Shell = o.Shell
	}
}

// note is a warning about an ansible_* variable set in a layer; msg "" means the
// variable was set to a supported value (it overrides a note of a lower layer).
type note struct {
	msg  string
	file string
}

// layer is what one host or group contributes: variables, connection settings and
// notes about ansible_* variables.
type layer struct {
	vars  map[string]cty.Value
	conn  connLayer
	notes map[string]note
	file  string // the file being loaded, for notes
}

func (l *layer) setVar(name string, v cty.Value) {
	if l.vars == nil {
		l.vars = map[string]cty.Value{}
	}
	l.vars[name] = v
}

func (l *layer) note(name, msg string) {
	if l.notes == nil {
		l.notes = map[string]note{}
	}
	l.notes[name] = note{msg: msg, file: l.file}
}

type bHost struct {
	name     string
	defaults connLayer // defaults{} blocks of the HCL files declaring the host
	layer
	files  [numStages]layer // host_vars beside the inventory, then beside the plan
	groups []string         // direct groups, first seen first
}

// ref is a mention of a group name somewhere in a file.
type ref struct {
	name string
	rng  hcl.Range
}

type bGroup struct {
	name     string
	declared bool // has a section, block, YAML key, or a host lists it
	layer
	files     [numStages]layer // group_vars beside the inventory, then beside the plan
	hosts     []string
	hostSet   map[string]bool // the names in hosts, so a 100000-host range is not quadratic
	children  []string
	childRefs []ref // every `children` mention, for unknown-group and cycle diagnostics
	varsRefs  []ref // INI [name:vars] sections
}

// maxHostEntries bounds the host entries of one load: a host once for each time a host
// line, YAML key or HCL block names it, ranges expanded. One range may name
// maxRangeHosts hosts, and repeating it in a few hundred bytes (an INI line per group,
// a YAML alias per group) would otherwise take minutes and gigabytes to load. At this
// bound an inventory of distinct hosts loads in about 2 s and 500 MiB; at 1,000,000 it
// took 24 s and 2.2 GiB, from 110 bytes of INI.
const maxHostEntries = 200_000

// builder collects every file's hosts and groups; finish turns them into an Inventory.
type builder struct {
	hosts      []*bHost
	hostIdx    map[string]*bHost
	groups     map[string]*bGroup
	groupOrder []string
	entries    int // host entries so far, against maxHostEntries
}

// spendEntries counts n host entries named at rng. Past maxHostEntries it returns false,
// with an error the first time; the caller then skips the entries.
func (b *builder) spendEntries(n int, rng hcl.Range) (bool, *hcl.Diagnostic) {
	was := b.entries
	b.entries += n
	if b.entries <= maxHostEntries {
		return true, nil
	}
	if was > maxHostEntries {
		return false, nil
	}
	return false, errorAt(rng, "Too many host entries", fmt.Sprintf("With this host, the inventory names hosts more than %d times (a range counts each of its hosts, and a host listed in several groups counts once per group). List a large range once, in one group, and make the other groups its parents with children.", maxHostEntries))
}

func newBuilder() *builder {
	b := &builder{hostIdx: map[string]*bHost{}, groups: map[string]*bGroup{}}
	b.group("all").declared = true
	b.group("ungrouped").declared = true
	return b
}

func (b *builder) host(name, file string) *bHost {
	h := b.hostIdx[name]
	if h == nil {
		h = &bHost{name: name}
		b.hosts = append(b.hosts, h)
		b.hostIdx[name] = h
	}
	h.file = file
	return h
}

func (b *builder) group(name string) *bGroup {
	g := b.groups[name]
	if g == nil {
		g = &bGroup{name: name}
		b.groups[name] = g
		b.groupOrder = append(b.groupOrder, name)
	}
	return g
}

func (b *builder) groupIn(name, file string) *bGroup {
	g := b.group(name)
	g.file = file
	return g
}

func (b *builder) addMember(group string, h *bHost) {
	g := b.group(group)
	g.declared = true
	g.addHost(h.name)
	if !contains(h.groups, group) {
		h.groups = append(h.groups, group)
	}
}

// addHost appends a host name to the group's direct members unless it is one already.
func (g *bGroup) addHost(name string) {
	if g.hostSet == nil {
		g.hostSet = map[string]bool{}
	}
	if !g.hostSet[name] {
		g.hostSet[name] = true
		g.hosts = append(g.hosts, name)
	}
}

func (b *builder) addChild(parent, child string, rng hcl.Range) {
	p := b.group(parent)
	b.group(child)
	p.childRefs = append(p.childRefs, ref{name: child, rng: rng})
	if !contains(p.children, child) {
		p.children = append(p.children, child)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// validGroupName reports whether name can be a group name: host patterns (Match)
// separate terms with ',' and ':' and use '!', '&', '~', '*', '?' and '[' themselves.
func validGroupName(name string) bool {
	if name == "" {
		return false
	}
	for _, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '-', r == '.':
		default:
			return false
		}
	}
	return true
}

const groupNameRule = "Group names may use letters, digits, '_', '-' and '.'."

// finish checks group references and cycles, works out memberships and merges every
// host's layers into inv.
func (b *builder) finish(inv *Inventory) hcl.Diagnostics {
	edges, diags := b.childEdges()
	diags = append(diags, b.breakCycles(edges)...)
	g := newGroupGraph(b.groupOrder, edges)
	b.settleUngrouped()
	uses := varUses{}
	inv.Hosts = inv.Hosts[:0]
	for _, bh := range b.hosts {
		inv.Hosts = append(inv.Hosts, b.resolveHost(bh, g, uses))
	}
	// Notes on groups without hosts still deserve a word.
	for _, name := range b.groupOrder {
		for k, n := range b.groups[name].notes {
			if n.msg != "" {
				uses.use(k, n)
			}
		}
	}
	inv.Warnings = append(inv.Warnings, uses.warnings()...)
	b.finishGroups(inv, edges)
	return diags
}

// childEdges checks the child references (known groups only, never "all") and
// returns the children of each group; cycles are broken afterwards.
func (b *builder) childEdges() (map[string][]string, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	edges := map[string][]string{}
	for _, name := range b.groupOrder {
		g := b.groups[name]
		for _, r := range g.childRefs {
			c := b.groups[r.name]
			switch {
			case r.name == "all":
				diags = append(diags, errorAt(r.rng, "Invalid child group", fmt.Sprintf("Group %q lists \"all\" as a child; every group is already inside \"all\", so remove it.", name)))
				continue
			case !c.declared:
				diags = append(diags, errorAt(r.rng, "Unknown child group", fmt.Sprintf("Group %q lists %q as a child, but no inventory file defines a group %q. Define it (with its hosts) or fix the name.%s", name, r.name, r.name, suggest(r.name, b.declaredGroups()))))
				continue
			}
			if !contains(edges[name], r.name) {
				edges[name] = append(edges[name], r.name)
			}
		}
		if len(g.varsRefs) > 0 && !g.declared {
			r := g.varsRefs[0]
			diags = append(diags, errorAt(r.rng, "Variables for an undefined group", fmt.Sprintf("This section sets variables of group %q, but no inventory file defines that group (a [%s] or [%s:children] section, or hosts in it).%s", name, name, name, suggest(name, b.declaredGroups()))))
		}
	}
	return edges, diags
}

// groupGraph is the acyclic group hierarchy: every group's parents ("all" for a
// group without any) and its depth (all = 0, a group = 1 + its deepest parent).
type groupGraph struct {
	parents map[string][]string
	depth   map[string]int
}

// newGroupGraph makes the graph of edges (parent -> children), adding the edges from
// "all" to the groups without another parent.
func newGroupGraph(order []string, edges map[string][]string) *groupGraph {
	g := &groupGraph{parents: map[string][]string{}, depth: map[string]int{"all": 0}}
	for _, p := range order {
		for _, c := range edges[p] {
			g.parents[c] = append(g.parents[c], p)
		}
	}
	edges["all"] = nil
	for _, name := range order {
		if name != "all" && len(g.parents[name]) == 0 {
			g.parents[name] = []string{"all"}
		}
		if contains(g.parents[name], "all") {
			edges["all"] = append(edges["all"], name)
		}
	}
	return g
}

func (g *groupGraph) depthOf(name string) int {
	if d, ok := g.depth[name]; ok {
		return d
	}
	d := 0
	for _, p := range g.parents[name] {
		if pd := g.depthOf(p) + 1; pd > d {
			d = pd
		}
	}
	g.depth[name] = d
	return d
}

// memberships returns the groups a host in groups is in, their ancestors and "all"
// included, shallowest first (then by name): the order their variables apply in.
func (g *groupGraph) memberships(groups []string) []string {
	member := map[string]bool{"all": true}
	var walk func(string)
	walk = func(name string) {
		for _, p := range g.parents[name] {
			if !member[p] {
				member[p] = true
				walk(p)
			}
		}
	}
	for _, name := range groups {
		member[name] = true
		walk(name)
	}
	names := make([]string, 0, len(member))
	for name := range member {
		names = append(names, name)
	}
	sort.Slice(names, func(i, j int) bool {
		di, dj := g.depthOf(names[i]), g.depthOf(names[j])
		if di != dj {
			return di < dj
		}
		return names[i] < names[j]
	})
	return names
}

// settleUngrouped makes "ungrouped" hold exactly the hosts that are in no group but
// all and ungrouped.
func (b *builder) settleUngrouped() {
	ung := b.groups["ungrouped"]
	for _, h := range b.hosts {
		other := false
		for _, g := range h.groups {
			if g != "all" && g != "ungrouped" {
				other = true
			}
		}
		if other {
			delete(ung.hostSet, h.name)
			h.groups = remove(h.groups, "ungrouped")
		} else if !ung.hostSet[h.name] {
			ung.addHost(h.name)
			h.groups = append(h.groups, "ungrouped")
		}
	}
	kept := ung.hosts[:0]
	for _, name := range ung.hosts {
		if ung.hostSet[name] {
			kept = append(kept, name)
		}
	}
	ung.hosts = kept
}

// resolveHost layers a host's settings and variables as Ansible does (its default
// VARIABLE_PRECEDENCE): the inventory files' vars of its groups (shallowest first),
// then group_vars of "all" beside the inventory and beside the plan, then the other
// groups' group_vars (beside the inventory, then beside the plan), then the host's own
// vars and its host_vars files. So group_vars/all.yml beats a child group's vars in
// the inventory file. Notes on the variables it ends up with are counted in uses.
func (b *builder) resolveHost(bh *bHost, g *groupGraph, uses varUses) *Host {
	names := g.memberships(bh.groups) // "all" first: it is the only group at depth 0
	r := &merge{conn: bh.defaults, vars: map[string]cty.Value{}, notes: map[string]note{}}
	for _, name := range names {
		r.apply(&b.groups[name].layer)
	}
	for st := 0; st < numStages; st++ {
		r.apply(&b.groups["all"].files[st])
	}
	for st := 0; st < numStages; st++ {
		for _, name := range names[1:] {
			r.apply(&b.groups[name].files[st])
		}
	}
	r.apply(&bh.layer)
	for st := 0; st < numStages; st++ {
		r.apply(&bh.files[st])
	}
	for name, n := range r.notes {
		if n.msg != "" {
			uses.use(name, n).hosts++
		}
	}
	groups := append([]string(nil), names...)
	sort.Strings(groups)
	return &Host{
		Name:      bh.name,
		Groups:    groups,
		Vars:      r.vars,
		Conn:      r.conn.ConnSettings,
		noBastion: r.conn.bastionSet && r.conn.Bastion == "",
	}
}

// merge is a host's layers merged so far: a later layer's settings and variables
// replace an earlier one's.
type merge struct {
	conn  connLayer
	vars  map[string]cty.Value
	notes map[string]note
}

func (m *merge) apply(l *layer) {
	m.conn.overlay(&l.conn)
	for k, v := range l.vars {
		m.vars[k] = v
	}
	for k, n := range l.notes {
		m.notes[k] = n
	}
}

// varUses are the inventory variables hostplan notes something about (an Ansible
// setting it ignores, say), by name: which files set them and how many hosts use them.
type varUses map[string]*varUse

type varUse struct {
	hosts int
	msg   string
	files []string
}

func (u varUses) use(name string, n note) *varUse {
	v := u[name]
	if v == nil {
		v = &varUse{msg: n.msg}
		u[name] = v
	}
	if !contains(v.files, n.file) {
		v.files = append(v.files, n.file)
	}
	return v
}

// warnings are one line per variable, by name.
func (u varUses) warnings() []string {
	names := make([]string, 0, len(u))
	for name := range u {
		names = append(names, name)
	}
	sort.Strings(names)
	var out []string
	for _, name := range names {
		v := u[name]
		count := "used by no host"
		switch {
		case v.hosts == 1:
			count = "used by 1 host"
		case v.hosts > 1:
			count = fmt.Sprintf("used by %d hosts", v.hosts)
		}
		msg, hint, _ := strings.Cut(v.msg, "; ")
		w := fmt.Sprintf("inventory %s: %s %s (%s)", strings.Join(v.files, ", "), name, msg, count)
		if hint != "" {
			w += "; " + hint
		}
		out = append(out, w)
	}
	return out
}

// finishGroups fills inv.Groups; "all" holds every host.
func (b *builder) finishGroups(inv *Inventory, edges map[string][]string) {
	all := b.groups["all"]
	all.hosts = make([]string, 0, len(b.hosts))
	for _, h := range b.hosts {
		all.hosts = append(all.hosts, h.name)
	}
	all.children = edges["all"]
	for _, name := range b.groupOrder {
		g := b.groups[name]
		vars := make(map[string]cty.Value, len(g.vars))
		for k, v := range g.vars {
			vars[k] = v
		}
		inv.Groups[name] = &Group{
			Name:     name,
			Hosts:    append([]string{}, g.hosts...),
			Children: append([]string{}, edges[name]...),
			Vars:     vars,
		}
	}
}

// breakCycles reports every cycle in the children graph and removes the edge that
// closes it, so the rest of finish can walk the graph.
func (b *builder) breakCycles(edges map[string][]string) hcl.Diagnostics {
	var diags hcl.Diagnostics
	const (
		white = iota
		grey
		black
	)
	color := map[string]int{}
	var stack []string
	var visit func(string)
	visit = func(g string) {
		color[g] = grey
		stack = append(stack, g)
		kept := edges[g][:0:0]
		for _, c := range edges[g] {
			switch color[c] {
			case grey:
				i := len(stack) - 1
				for stack[i] != c {
					i--
				}
				path := append(append([]string{}, stack[i:]...), c)
				rng := hcl.Range{}
				for _, r := range b.groups[g].childRefs {
					if r.name == c {
						rng = r.rng
						break
					}
				}
				diags = append(diags, errorAt(rng, "Cycle in group children", fmt.Sprintf("Groups contain each other: %s. A group cannot be its own descendant; remove one of these children entries.", strings.Join(path, " → "))))
				continue
			case white:
				visit(c)
			}
			kept = append(kept, c)
		}
		edges[g] = kept
		stack = stack[:len(stack)-1]
		color[g] = black
	}
	for _, g := range b.groupOrder {
		if color[g] == white {
			visit(g)
		}
	}
	return diags
}

func (b *builder) declaredGroups() []string {
	var out []string
	for _, name := range b.groupOrder {
		if b.groups[name].declared {
			out = append(out, name)
		}
	}
	return out
}

func remove(list []string, s string) []string {
	out := list[:0]
	for _, x := range list {
		if x != s {
			out = append(out, x)
		}
	}
	return out
}

// suggest returns ` Did you mean "x"?` for the closest candidate, or "".
func suggest(name string, candidates []string) string {
	best, bestD := "", 3
	lower := strings.ToLower(name)
	n := utf8.RuneCountInString(lower)
	for _, c := range candidates {
		lc := strings.ToLower(c)
		// The distance is at least the difference in length: skip the far ones
		// without computing it, as a large inventory's host names are many.
		if diff := utf8.RuneCountInString(lc) - n; diff >= bestD || -diff >= bestD {
			continue
		}
		if d := textdist.Distance(lower, lc); d < bestD && c != name {
			best, bestD = c, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" Did you mean %q?", best)
}

// expandPath expands a leading "~" to the home directory and makes a relative path
// relative to dir (the inventory file's directory).
func expandPath(p, dir string) string {
	if p == "~" || strings.HasPrefix(p, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			p = filepath.Join(home, p[1:])
		}
	}
	if !filepath.IsAbs(p) && !strings.HasPrefix(p, "~") {
		p = filepath.Join(dir, p)
	}
	return p
}

// fileDir is the absolute directory of an inventory file, which relative paths in it
// are relative to.
func fileDir(path string) string {
	dir := filepath.Dir(path)
	if abs, err := filepath.Abs(dir); err == nil {
		return abs
	}
	return dir
}
