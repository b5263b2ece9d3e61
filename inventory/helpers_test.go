package inventory

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// testHome is $HOME during tests, so "~" expands the same everywhere.
const testHome = "/home/tester"

// dump renders an inventory as stable text for golden files.
func dump(inv *Inventory) string {
	var b strings.Builder
	for _, h := range inv.Hosts {
		fmt.Fprintf(&b, "host %s\n", h.Name)
		fmt.Fprintf(&b, "  groups: %s\n", strings.Join(h.Groups, " "))
		c := h.Conn
		var conn []string
		add := func(k, v string) {
			if v != "" {
				conn = append(conn, k+"="+v)
			}
		}
		add("connection", c.Connection)
		add("address", c.Address)
		if c.Port != 0 {
			add("port", fmt.Sprint(c.Port))
		}
		add("user", c.User)
		if len(c.IdentityFile) > 0 {
			add("identity_file", "["+strings.Join(c.IdentityFile, " ")+"]")
		}
		add("known_hosts", c.KnownHosts)
		add("bastion", c.Bastion)
		if h.noBastion {
			add("bastion", "none")
		}
		if c.Become {
			add("become", "true")
		}
		add("become_user", c.BecomeUser)
		fmt.Fprintf(&b, "  conn: %s\n", strings.Join(conn, " "))
		writeVars(&b, h.Vars)
	}
	for _, name := range inv.GroupNames() {
		g := inv.Groups[name]
		fmt.Fprintf(&b, "group %s\n", name)
		fmt.Fprintf(&b, "  hosts: %s\n", strings.Join(g.Hosts, " "))
		fmt.Fprintf(&b, "  children: %s\n", strings.Join(g.Children, " "))
		writeVars(&b, g.Vars)
	}
	for _, w := range inv.Warnings {
		fmt.Fprintf(&b, "warning: %s\n", w)
	}
	return b.String()
}

func writeVars(b *strings.Builder, vars map[string]cty.Value) {
	keys := make([]string, 0, len(vars))
	for k := range vars {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(b, "  var %s = %s (%s)\n", k, showHCL(vars[k]), vars[k].Type().FriendlyName())
	}
}

// showHCL renders a value in HCL-like syntax (object keys sorted).
func showHCL(v cty.Value) string {
	switch {
	case v.IsNull():
		return "null"
	case v.Type() == cty.String:
		return fmt.Sprintf("%q", v.AsString())
	case v.Type() == cty.Number:
		if f := v.AsBigFloat(); f.IsInt() {
			return f.Text('f', 0)
		}
		return v.AsBigFloat().Text('g', -1)
	case v.Type() == cty.Bool:
		return fmt.Sprint(v.True())
	case v.Type().IsTupleType() || v.Type().IsListType():
		var parts []string
		for it := v.ElementIterator(); it.Next(); {
			_, e := it.Element()
			parts = append(parts, showHCL(e))
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case v.Type().IsObjectType() || v.Type().IsMapType():
		var parts []string
		for it := v.ElementIterator(); it.Next(); {
			k, e := it.Element()
			parts = append(parts, k.AsString()+" = "+showHCL(e))
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	return v.GoString()
}

// writeFiles writes name→content files into a fresh directory and returns their paths
// in the order given by names.
func writeFiles(t *testing.T, names []string, files map[string]string) []string {
	t.Helper()
	dir := t.TempDir()
	var paths []string
	for _, n := range names {
		p := filepath.Join(dir, n)
		if err := os.WriteFile(p, []byte(files[n]), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	return paths
}

// loadSrc loads one inventory file written from src.
func loadSrc(t *testing.T, name, src string) (*Inventory, hcl.Diagnostics) {
	t.Helper()
	return Load(writeFiles(t, []string{name}, map[string]string{name: src}))
}

func mustLoad(t *testing.T, paths ...string) *Inventory {
	t.Helper()
	inv, diags := Load(paths)
	if diags.HasErrors() {
		t.Fatalf("Load(%v): %s", paths, renderDiags(inv, diags))
	}
	return inv
}

func mustLoadSrc(t *testing.T, name, src string) *Inventory {
	t.Helper()
	inv, diags := loadSrc(t, name, src)
	if len(diags) > 0 {
		t.Fatalf("Load: %s", renderDiags(inv, diags))
	}
	return inv
}

func renderDiags(inv *Inventory, diags hcl.Diagnostics) string {
	var buf bytes.Buffer
	files := map[string]*hcl.File{}
	if inv != nil {
		files = inv.Files
	}
	_ = hcl.NewDiagnosticTextWriter(&buf, files, 0, false).WriteDiagnostics(diags)
	return buf.String()
}

func hostNames(hosts []*Host) string {
	names := make([]string, len(hosts))
	for i, h := range hosts {
		names[i] = h.Name
	}
	return strings.Join(names, " ")
}
