package inventory

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"
)

// Ansible's host_group_vars plugin: group_vars/ and host_vars/ beside each inventory
// source (and beside the playbook, here the plan) hold a host's or group's variables
// in NAME.yml, NAME.yaml, NAME.json or NAME, the first of these that exists, and when
// that is a directory, in every file under it with one of those extensions or none
// (in name order, subdirectories without an extension walked too). Names starting
// with '.' or ending in '~' are skipped everywhere.

// varsExts are the extensions Ansible tries, in its order (YAML_FILENAME_EXTENSIONS),
// before the bare name.
var varsExts = []string{".yml", ".yaml", ".json", ""}

// Stages of variable files: beside an inventory source, then beside the plan, which
// Ansible ranks above the inventory's own (VARIABLE_PRECEDENCE).
const (
	stageInventory = iota
	stagePlan
	numStages
)

// varsDir is one directory holding group_vars/host_vars, and the stage its files are at.
type varsDir struct {
	dir   string
	stage int
}

// varsDirs lists where variable files are looked for: beside every inventory source
// (a file's directory, or a directory given with -i), then beside the plan. A directory named twice is read twice,
// as Ansible does: the result is the same, and comparing absolute paths instead would
// make a saved plan's replay from another directory look for files it never recorded.
func varsDirs(sourceDirs []string, planDir string) []varsDir {
	var out []varsDir
	seen := map[string]bool{}
	for _, dir := range sourceDirs {
		if !seen[dir] {
			seen[dir] = true
			out = append(out, varsDir{dir: dir, stage: stageInventory})
		}
	}
	if planDir != "" {
		out = append(out, varsDir{dir: planDir, stage: stagePlan})
	}
	return out
}

// loadVarsDirs reads the group_vars and host_vars of every directory into the stage
// layers of the groups and hosts they name.
func (ld *loader) loadVarsDirs(dirs []varsDir) {
	for _, vd := range dirs {
		ld.loadVarsKind(vd, "group_vars")
		ld.loadVarsKind(vd, "host_vars")
	}
}

// loadVarsKind reads dir/kind ("group_vars" or "host_vars") for every group or host.
// An entry that names no group or host is reported: Ansible ignores it, and it is
// nearly always a typo or a file meant for another inventory.
func (ld *loader) loadVarsKind(vd varsDir, kind string) {
	base := filepath.Join(vd.dir, kind)
	names, ok := ld.listDir(base)
	if !ok {
		return
	}
	entries := map[string]bool{}
	for _, n := range names {
		entries[n] = true
	}
	used := map[string]string{} // entry → the entity it was read for
	for _, name := range ld.entityNames(kind) {
		entry := findVarsEntry(entries, name)
		if entry == "" {
			continue
		}
		used[entry] = name
		ly := ld.stageLayer(kind, name, vd.stage)
		for _, file := range ld.varsFilesOf(filepath.Join(base, strings.TrimSuffix(entry, "/")), strings.HasSuffix(entry, "/")) {
			ld.loadVarsFile(ly, file, vd.dir)
		}
	}
	ld.warnUnused(base, kind, names, used)
}

// warnUnused reports the entries of a group_vars or host_vars listing that were not
// read: Ansible ignores them too, but they are nearly always a typo, a file meant for
// another inventory, or a second file for a name that has one already.
func (ld *loader) warnUnused(base, kind string, names []string, used map[string]string) {
	read := map[string]string{}
	for entry, name := range used {
		read[name] = entry
	}
	what := strings.TrimSuffix(kind, "_vars")
	for _, n := range names {
		if _, ok := used[n]; ok || skippedName(strings.TrimSuffix(n, "/")) {
			continue
		}
		name := varsEntryName(n)
		msg := fmt.Sprintf("no %s named %q in the inventory; ignored, as Ansible does", what, name)
		if first, ok := read[name]; ok {
			msg = fmt.Sprintf("ignored, as Ansible reads only the first of %s.yml, .yaml, .json and %s for %s %q: %s", name, name, what, name, first)
		}
		ld.inv.warn(fmt.Sprintf("inventory %s: %s", filepath.Join(base, n), msg))
	}
}

// findVarsEntry is the entry of a group_vars or host_vars listing for name: the first
// of NAME.yml, NAME.yaml, NAME.json and NAME that exists, as file or directory.
func findVarsEntry(entries map[string]bool, name string) string {
	for _, ext := range varsExts {
		for _, e := range []string{name + ext, name + ext + "/"} {
			if entries[e] {
				return e
			}
		}
	}
	return ""
}

// varsEntryName is the group or host name an entry would be for, for warnings.
func varsEntryName(entry string) string {
	entry = strings.TrimSuffix(entry, "/")
	for _, ext := range varsExts[:3] {
		if strings.HasSuffix(entry, ext) {
			return strings.TrimSuffix(entry, ext)
		}
	}
	return entry
}

// skippedName reports a name Ansible skips in variable directories: hidden files and
// editor backups.
func skippedName(name string) bool {
	return strings.HasPrefix(name, ".") || strings.HasSuffix(name, "~")
}

// varsFilesOf lists the files of one entry: the file itself, or a directory's files
// with a valid extension or none, in name order, subdirectories without an extension
// included.
func (ld *loader) varsFilesOf(path string, dir bool) []string {
	if !dir {
		return []string{path}
	}
	names, ok := ld.listDir(path)
	if !ok {
		return nil
	}
	var out []string
	for _, n := range names {
		sub := strings.HasSuffix(n, "/")
		n = strings.TrimSuffix(n, "/")
		ext := filepath.Ext(n)
		switch {
		case skippedName(n):
		case sub && ext == "":
			out = append(out, ld.varsFilesOf(filepath.Join(path, n), true)...)
		case !sub && (ext == "" || ext == ".yml" || ext == ".yaml" || ext == ".json"):
			out = append(out, filepath.Join(path, n))
		}
	}
	return out
}

// listDir lists a directory; a missing one is no error (most inventories have no
// group_vars), any other failure is.
func (ld *loader) listDir(path string) ([]string, bool) {
	names, err := ld.files.ListDir(path)
	if err == nil {
		return names, true
	}
	if !errors.Is(err, fs.ErrNotExist) {
		ld.diags = append(ld.diags, errorNoFile("Cannot read inventory variables directory", err.Error()))
	}
	return nil, false
}

// entityNames are the names of the inventory's groups (for group_vars) or hosts.
func (ld *loader) entityNames(kind string) []string {
	if kind == "host_vars" {
		names := make([]string, len(ld.b.hosts))
		for i, h := range ld.b.hosts {
			names[i] = h.name
		}
		return names
	}
	return ld.b.declaredGroups()
}

func (ld *loader) stageLayer(kind, name string, stage int) *layer {
	if kind == "host_vars" {
		return &ld.b.hostIdx[name].files[stage]
	}
	return &ld.b.groups[name].files[stage]
}

// loadVarsFile reads one variables file (YAML, or JSON, which YAML reads too): a
// mapping of variable names to values, set in ly. dir is the directory holding
// group_vars, which relative key paths are relative to.
func (ld *loader) loadVarsFile(ly *layer, path, dir string) {
	src, err := ld.files.ReadFile(path)
	if err != nil {
		ld.diags = append(ld.diags, errorNoFile("Cannot read inventory variables file", err.Error()))
		return
	}
	l := &yamlLoader{b: ld.b, sf: newSrcFile(path, src), dir: dir}
	ld.inv.Files[path] = l.sf.hclFile()
	if d := vaultFile(l.sf); d != nil {
		ld.diags = append(ld.diags, d)
		return
	}
	root, ok := l.parse()
	if ok && root != nil {
		if root.Kind != yaml.MappingNode {
			l.errorf(root, "Invalid variables file", "A group_vars or host_vars file is a mapping of variable names to values.")
		} else {
			ly.file = path
			for _, kv := range l.pairs(root, 0) {
				l.setVar(ly, kv)
			}
		}
	}
	ld.diags = append(ld.diags, l.diags...)
}
