package inventory

import (
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
)

// The fuzz targets read inventories from memory (LoadWith) and resolve hosts without
// ~/.ssh/config, the local user database or $HOME, so an iteration touches no disk.
var fuzzResolveOpts = ResolveOptions{SSHConfig: "none", Home: "/home/fuzz", LocalUser: "fuzz"}

// fuzzMatchHosts bounds the per-host pattern checks: a range may expand to 100000
// hosts, and matching each of them against the whole inventory is quadratic.
const fuzzMatchHosts = 20

// fuzzManyHosts is the inventory size above which only a few patterns are tried, to keep
// an iteration (and the regression seed of 40000 hosts) fast.
const fuzzManyHosts = 1000

// fuzzPatterns are host patterns tried on every inventory that loads.
var fuzzPatterns = []string{
	"all", "*", "ungrouped", "all:!ungrouped", "all,&ungrouped", "!all", "&all",
	"~.*", "~(", "web*", "*.example.com", "web[0]", "all[0]", "all[-1]", "all[1:]",
	"all[:2]", "all[9223372036854775807]", "all[-9223372036854775808]", "web[01:03]",
	"host[a:c]", "2001:db8::1", "[", "]", "a,b", "a:b", ",", "!", "&",
	"h[9223372036854775806:9223372036854775807]", "h[b:c:9223372036854775807]",
}

// fuzzInventory loads name (holding src) and checks what every inventory must satisfy:
// Load never panics and always returns an inventory; diagnostics point inside the file
// and print; and an inventory without errors resolves every host, answers host
// patterns, and loads again to the same result.
func fuzzInventory(t *testing.T, name string, src []byte) {
	read := func(p string) ([]byte, error) {
		if p != name {
			return nil, &fs.PathError{Op: "open", Path: p, Err: fs.ErrNotExist}
		}
		return append([]byte(nil), src...), nil
	}
	files := LoadOptions{Files: Files{ReadFile: read, ListDir: func(p string) ([]string, error) {
		return nil, &fs.PathError{Op: "open", Path: p, Err: fs.ErrNotExist}
	}}}
	inv, diags := LoadWith([]string{name}, files)
	if inv == nil {
		t.Fatal("LoadWith returned a nil inventory")
	}
	f := inv.Files[name]
	if f == nil {
		t.Fatalf("inv.Files has no %q", name)
	}
	for _, d := range diags {
		for _, r := range []*hcl.Range{d.Subject, d.Context} {
			if r == nil || r.Filename != name {
				continue
			}
			if r.Start.Byte < 0 || r.Start.Byte > r.End.Byte || r.End.Byte > len(f.Bytes) {
				t.Fatalf("diagnostic %q has range %s (bytes %d-%d) outside the %d-byte file", d.Summary, r, r.Start.Byte, r.End.Byte, len(f.Bytes))
			}
			if format(name) != "hcl" {
				// The line-based formats compute line and column from the offsets;
				// they must agree or the printed snippet shows the wrong text.
				sf := newSrcFile(name, f.Bytes)
				for _, p := range []hcl.Pos{r.Start, r.End} {
					if got := sf.posAt(p.Byte); got != p {
						t.Fatalf("diagnostic %q: position %+v, but byte %d is at %+v", d.Summary, p, p.Byte, got)
					}
				}
			}
		}
	}
	if err := hcl.NewDiagnosticTextWriter(io.Discard, inv.Files, 80, false).WriteDiagnostics(diags); err != nil {
		t.Fatalf("printing diagnostics: %v", err)
	}
	if diags.HasErrors() {
		return
	}

	byName := map[string]*Host{}
	for i, h := range inv.Hosts {
		if h.Name == "" {
			t.Fatal("a host without a name")
		}
		if byName[h.Name] != nil {
			t.Fatalf("host %q is listed twice", h.Name)
		}
		byName[h.Name] = h
		if i < fuzzMatchHosts && inv.Host(h.Name) != h {
			t.Fatalf("inv.Host(%q) is another host", h.Name)
		}
		if !slices.IsSorted(h.Groups) || !slices.Contains(h.Groups, "all") {
			t.Fatalf("host %q has groups %v: want them sorted, with all", h.Name, h.Groups)
		}
		for _, g := range h.Groups {
			if g != "all" && inv.Groups[g] == nil {
				t.Fatalf("host %q is in group %q, which the inventory does not have", h.Name, g)
			}
		}
		c, err := inv.Resolve(h, fuzzResolveOpts)
		if err != nil && strings.Contains(err.Error(), "ProxyJump loop: ") {
			// A host whose bastion chain comes back to it (defaults { bastion = "b" }
			// and a host b) loads, and is refused when resolved, naming the loop,
			// before anything connects.
			continue
		}
		if err != nil {
			t.Fatalf("host %q does not resolve: %v", h.Name, err)
		}
		if c.Connection != "ssh" && c.Connection != "local" {
			t.Fatalf("host %q resolved to connection %q", h.Name, c.Connection)
		}
		if c.Address == "" || c.User == "" || c.BecomeUser == "" || c.KnownHosts == "" || c.Port < 1 || c.Port > 65535 {
			t.Fatalf("host %q resolved with a setting missing: %+v", h.Name, c)
		}
		if c.Bastion != "" {
			if _, err := inv.ResolveBastion(c, fuzzResolveOpts); err != nil {
				t.Fatalf("host %q: bastion %q does not resolve: %v", h.Name, c.Bastion, err)
			}
		}
	}
	for name, g := range inv.Groups {
		if g.Name != name {
			t.Fatalf("group %q is named %q", name, g.Name)
		}
		for _, c := range g.Children {
			if inv.Groups[c] == nil {
				t.Fatalf("group %q has an unknown child %q", name, c)
			}
		}
		for _, hn := range g.Hosts {
			if byName[hn] == nil {
				t.Fatalf("group %q lists an unknown host %q", name, hn)
			}
		}
		if hosts, err := inv.Match(name); err != nil {
			t.Fatalf("Match(%q) of a group: %v", name, err)
		} else if want := inv.GroupHosts(name); len(hosts) < len(want) {
			t.Fatalf("Match(%q) found %d hosts, the group has %d", name, len(hosts), len(want))
		}
	}
	all, err := inv.Match("all")
	if err != nil || len(all) != len(inv.Hosts) {
		t.Fatalf("Match(all) = %d hosts, %v; the inventory has %d", len(all), err, len(inv.Hosts))
	}
	matchHosts := fuzzMatchHosts
	if len(inv.Hosts) <= fuzzManyHosts {
		for _, p := range fuzzPatterns {
			_, _ = inv.Match(p)
		}
	} else {
		// A pattern that matches nothing looks for a suggestion among all the names.
		matchHosts = 2
	}
	for i, h := range inv.Hosts {
		if i == matchHosts {
			break
		}
		hosts, err := inv.Match(h.Name)
		if plainName(h.Name) && (err != nil || !slices.Contains(hosts, h)) {
			t.Fatalf("Match(%q) does not find the host: %v", h.Name, err)
		}
		for _, p := range []string{h.Name + "*", "~" + h.Name, h.Name + ",!" + h.Name, h.Name + "[0]", h.Name + ":all"} {
			_, _ = inv.Match(p)
		}
	}
	_, _ = inv.HostsIn(inv.GroupNames())

	again, diags := LoadWith([]string{name}, files)
	if diags.HasErrors() {
		t.Fatalf("the second load fails: %s", renderDiags(again, diags))
	}
	if a, b := dump(inv), dump(again); a != b {
		t.Fatalf("loading twice differs:\n%s\n---\n%s", a, b)
	}
}

// plainName reports whether a host name is one Match takes literally.
func plainName(s string) bool {
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '-', r == '.':
		default:
			return false
		}
	}
	return s != ""
}

// addFuzzSeeds adds the testdata inventories of a format ("ini", "yaml", "hcl") and extra.
func addFuzzSeeds(f *testing.F, kind string, extra ...string) {
	f.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "*"))
	if err != nil {
		f.Fatal(err)
	}
	n := 0
	for _, p := range files {
		if st, err := os.Stat(p); err != nil || st.IsDir() || strings.HasSuffix(p, ".golden") || format(p) != kind {
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		n++
	}
	if n == 0 {
		f.Fatalf("no %s inventories in testdata", kind)
	}
	for _, s := range extra {
		f.Add([]byte(s))
	}
}

// FuzzINIInventory fuzzes the Ansible INI inventory parser.
func FuzzINIInventory(f *testing.F) {
	addFuzzSeeds(f, "ini",
		"web1.example.com ansible_port=2222\n[webservers]\nweb[01:20].example.com ansible_user=deploy\n[webservers:vars]\nhttp_port = 80\n[prod:children]\nwebservers\n",
		"\ufeff[a]\r\nh1 x='a b' y=\"c \\\" d\" # comment\r\n[a:vars]\r\nz = \"q\" # c\r\n",
		"[v6]\n2001:db8::1\n[2001:db8::2]:2222\nnode[1:10:3]:22 ansible_become=yes ansible_connection=local\n[all:vars]\nansible_user=ops\nansible_ssh_private_key_file=~/.ssh/k\n",
		"[a:children]\nb\n[b:children]\na\n",
		"h ansible_host=10.0.0.1 ansible_ssh_pass=x ansible_winrm_transport=ntlm ansible_foo=1 ansible_become_method=su ansible_shell_type=cmd\n",
	)
	f.Fuzz(func(t *testing.T, src []byte) { fuzzInventory(t, "inv/hosts.ini", src) })
}

// FuzzYAMLInventory fuzzes the Ansible YAML inventory parser.
func FuzzYAMLInventory(f *testing.F) {
	addFuzzSeeds(f, "yaml",
		"all:\n  hosts:\n    web[01:03].example.com:\n      ansible_port: 2222\n  children:\n    db:\n      hosts:\n        db-[a:c]:\n      vars: {x: 1, y: [1, 2], z: {a: yes}}\n",
		"base: &base\n  vars:\n    ntp: ntp.example.com\n    mode: 0644\nall:\n  children:\n    web:\n      <<: *base\n      hosts:\n        web1:\n          <<: {ansible_user: deploy}\n    db:\n      <<: [*base]\n",
		"all:\n  children:\n    a: &a\n      children:\n        b: *a\n",
		"all:\n  vars:\n    big: 18446744073709551615\n    neg: -9223372036854775808\n    f: 1.5e300\n    t: !!timestamp 2001-12-14\n    s: !unsafe '{{ x }}'\n    q: \"yes\"\n    n: ~\n",
	)
	f.Fuzz(func(t *testing.T, src []byte) { fuzzInventory(t, "inv/hosts.yml", src) })
}

// FuzzHCLInventory fuzzes the HCL inventory loader.
func FuzzHCLInventory(f *testing.F) {
	addFuzzSeeds(f, "hcl",
		"defaults {\n  user = \"ops\"\n  bastion = \"jump@bastion:22\"\n}\nhost \"a\" {\n  address = \"10.0.0.1\"\n  groups = [\"g\"]\n  identity_file = [\"k1\", \"~/k2\"]\n  vars = { x = 1, y = [true, null] }\n}\ngroup \"g\" {\n  children = [\"h\"]\n}\ngroup \"h\" {\n  vars = { z = \"q\" }\n}\n",
		"host \"w\" {\n  connection = \"local\"\n  bastion = \"\"\n  become = \"true\"\n  port = \"22\"\n  shell = \"cmd\"\n}\n",
		"host \"a\" {\n  bastion = \"[2001:db8::1]:2222\"\n}\n",
	)
	f.Fuzz(func(t *testing.T, src []byte) { fuzzInventory(t, "inv/hosts.hcl", src) })
}
