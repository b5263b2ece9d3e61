package inventory

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
)

// diagCase is one broken inventory and the diagnostic it must produce: its summary,
// where it points (line:column of Subject.Start) and a piece of its detail that tells
// the user what to fix.
type diagCase struct {
	name    string
	src     string
	summary string
	pos     string // "line:col"
	detail  string
}

func runDiagCases(t *testing.T, file string, cases []diagCase) {
	t.Helper()
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			inv, diags := loadSrc(t, file, tt.src)
			if !diags.HasErrors() {
				t.Fatalf("no error; want %q at %s", tt.summary, tt.pos)
			}
			for _, d := range diags {
				if d.Summary != tt.summary {
					continue
				}
				if d.Subject == nil {
					t.Fatalf("%q has no Subject", d.Summary)
				}
				if filepath.Base(d.Subject.Filename) != file {
					t.Errorf("Subject.Filename = %q, want …/%s", d.Subject.Filename, file)
				}
				if got := fmt.Sprintf("%d:%d", d.Subject.Start.Line, d.Subject.Start.Column); got != tt.pos {
					t.Errorf("%q at %s, want %s", d.Summary, got, tt.pos)
				}
				if !strings.Contains(d.Detail, tt.detail) {
					t.Errorf("detail %q does not contain %q", d.Detail, tt.detail)
				}
				// The byte offsets must agree with line and column, or the printed
				// snippet would show the wrong text.
				checkSubjectBytes(t, inv, d)
				return
			}
			t.Fatalf("no %q diagnostic; got:\n%s", tt.summary, renderDiags(inv, diags))
		})
	}
}

func checkSubjectBytes(t *testing.T, inv *Inventory, d *hcl.Diagnostic) {
	t.Helper()
	f := inv.Files[d.Subject.Filename]
	if f == nil {
		t.Fatalf("inv.Files has no %q", d.Subject.Filename)
	}
	sf := newSrcFile(d.Subject.Filename, f.Bytes)
	for _, p := range []hcl.Pos{d.Subject.Start, d.Subject.End} {
		if got := sf.posAt(p.Byte); got != p {
			t.Errorf("position %+v: byte offset %d is at %+v", p, p.Byte, got)
		}
	}
	if !strings.Contains(renderDiags(inv, hcl.Diagnostics{d}), fmt.Sprintf("%4d: ", d.Subject.Start.Line)) {
		t.Errorf("printed diagnostic has no source snippet:\n%s", renderDiags(inv, hcl.Diagnostics{d}))
	}
}

func TestHCLDiagnostics(t *testing.T) {
	runDiagCases(t, "inv.hcl", []diagCase{
		// Printed in full decimals, these numbers took minutes and a gigabyte: a port,
		// a string attribute or a variable interpolated (HCL prints it converting it),
		// or one made by arithmetic.
		{"huge port", "host \"a\" {\n  port = 1e100000000\n}\n",
			"Number out of range", "2:10", "a number beyond float64's range"},
		{"huge number in a string", "host \"a\" {\n  address = \"10.0.0.${1e100000000}\"\n}\n",
			"Number out of range", "2:23", "a number beyond float64's range"},
		{"tiny number in vars", "host \"a\" {\n  vars = { x = \"${1e-100000000}\" }\n}\n",
			"Number out of range", "2:19", "a number beyond float64's range"},
		{"arithmetic", "host \"a\" {\n  vars = { a = { b = [1e300 * 1e300] } }\n}\n",
			"Operation failed", "2:23", "the result would be a number beyond float64's range"},
		{"unknown attribute", "host \"a\" {\n  adress = \"10.0.0.1\"\n}\n",
			"Unsupported argument", "2:3", `"adress" is not expected here. Did you mean "address"?`},
		{"unknown block", "hosts \"a\" {\n}\n",
			"Unsupported block type", "1:1", `"hosts" are not expected here. Did you mean "host"?`},
		{"unknown attribute in defaults", "defaults {\n  user = \"ops\"\n  groups = [\"x\"]\n}\n",
			"Unsupported argument", "3:3", `"groups" is not expected here`},
		{"port as text", "host \"a\" {\n  port = \"ssh\"\n}\n",
			"Invalid port", "2:10", `port must be a whole number from 1 to 65535; got "ssh"`},
		{"port too big", "defaults {\n  port = 70000\n}\n",
			"Invalid port", "2:10", "got 70000"},
		{"port zero", "host \"a\" {\n  port = 0\n}\n",
			"Invalid port", "2:10", "got 0"},
		{"port fraction", "host \"a\" {\n  port = 22.5\n}\n",
			"Invalid port", "2:10", "got 22.5"},
		{"become not bool", "host \"a\" {\n  become = \"maybe\"\n}\n",
			"Invalid become", "2:12", "become must be true or false"},
		{"identity_file number", "host \"a\" {\n  identity_file = 5\n}\n",
			"Invalid identity_file", "2:19", "a path or a list of paths"},
		{"identity_file list of numbers", "host \"a\" {\n  identity_file = [\"k\", 5]\n}\n",
			"Invalid identity_file", "2:19", "a path or a list of paths"},
		{"user list", "host \"a\" {\n  user = [\"a\"]\n}\n",
			"Invalid user", "2:10", "user must be a string; got a list"},
		{"empty address", "host \"a\" {\n  address = \"\"\n}\n",
			"Empty address", "2:13", "give it a value or remove the line"},
		{"vars not an object", "host \"a\" {\n  vars = \"x=1\"\n}\n",
			"Invalid vars", "2:10", "vars must be an object"},
		{"groups not a list", "host \"a\" {\n  groups = \"masters\"\n}\n",
			"Invalid groups", "2:12", "must be a list of group names"},
		{"group name with space", "host \"a\" {\n  groups = [\"ok\", \"two words\"]\n}\n",
			"Invalid group name", "2:19", "letters, digits"},
		{"bad connection", "host \"a\" {\n  connection = \"winrm\"\n}\n",
			"Invalid connection", "2:16", `must be "ssh" or "local"; got "winrm"`},
		{"bad shell", "host \"a\" {\n  shell = \"powershell\"\n}\n",
			"Invalid shell", "2:11", `must be "sh" or "cmd"`},
		{"bad bastion port", "defaults {\n  bastion = \"jump@bastion:99999\"\n}\n",
			"Invalid bastion", "2:13", "port that is not a number"},
		{"bastion chain with an empty hop", "defaults {\n  bastion = \"a@one,,b@two\"\n}\n",
			"Invalid bastion", "2:13", "empty hop (number 2)"},
		{"bastion chain with a bad hop", "defaults {\n  bastion = \"a@one,b@two:0\"\n}\n",
			"Invalid bastion", "2:13", `bastion "b@two:0" has a port that is not a number`},
		{"duplicate host", "host \"a\" {\n}\n\nhost \"b\" {\n}\n\nhost \"a\" {\n  port = 22\n}\n",
			"Duplicate host", "7:6", `Host "a" is already defined on line 1`},
		{"duplicate group", "group \"g\" {\n}\ngroup \"g\" {\n}\n",
			"Duplicate group", "3:7", "already defined on line 1"},
		{"duplicate defaults", "defaults {\n}\ndefaults {\n}\n",
			"Duplicate defaults block", "3:1", "already has a defaults block on line 1"},
		{"unknown child group", "host \"m1\" {\n  groups = [\"masters\"]\n}\n\ngroup \"k8s\" {\n  children = [\"masters\", \"workers\"]\n}\n",
			"Unknown child group", "6:26", `no inventory file defines a group "workers"`},
		{"unknown child group suggestion", "host \"m1\" {\n  groups = [\"masters\"]\n}\ngroup \"k8s\" {\n  children = [\"master\"]\n}\n",
			"Unknown child group", "5:15", `Did you mean "masters"?`},
		{"child all", "group \"k8s\" {\n  children = [\"all\"]\n}\n",
			"Invalid child group", "2:15", "remove it"},
		{"cycle", "group \"a\" {\n  children = [\"b\"]\n}\ngroup \"b\" {\n  children = [\"c\"]\n}\ngroup \"c\" {\n  children = [\"a\"]\n}\n",
			"Cycle in group children", "8:15", "a → b → c → a"},
		{"self cycle", "group \"a\" {\n  children = [\"a\"]\n}\n",
			"Cycle in group children", "2:15", "a → a"},
		{"variables not allowed", "host \"a\" {\n  port = var.port\n}\n",
			"Variables not allowed", "2:10", ""},
		{"syntax error", "host \"a\" {\n  port = \n}\n",
			"Invalid expression", "2:10", ""},
		{"host name with space", "host \"web 1\" {\n}\n",
			"Invalid host name", "1:6", "contains a space"},
	})
}

func TestINIDiagnostics(t *testing.T) {
	runDiagCases(t, "hosts.ini", []diagCase{
		{"bad numeric range", "[web]\nweb[1-3].example.com\n",
			"Invalid host pattern", "2:1", "write [begin:end] or [begin:end:step]"},
		{"padding mismatch", "[web]\nweb[01:100]\n",
			"Invalid host pattern", "2:1", "same number of digits"},
		{"reversed range", "[web]\nweb[9:1]\n",
			"Invalid host pattern", "2:1", "begin greater than its end"},
		{"bad step", "[web]\nweb[1:9:0]\n",
			"Invalid host pattern", "2:1", "step that is not a positive number"},
		{"huge range", "[web]\nweb[1:999999999]\n",
			"Invalid host pattern", "2:1", "expands to more than"},
		{"bad port", "[web]\n  web1:http\n",
			"Invalid host pattern", "2:3", `port "http"`},
		{"unknown section type", "[web]\nweb1\n\n[web:hosts]\nweb2\n",
			"Unknown section type", "4:6", "use [web] for hosts, [web:vars] for variables or [web:children]"},
		{"section with spaces", "[web servers]\nweb1\n",
			"Invalid section header", "1:1", "no spaces"},
		{"vars for undefined group", "[web]\nweb1\n\n[webs:vars]\nhttp_port=80\n",
			"Variables for an undefined group", "4:2", `Did you mean "web"?`},
		{"unknown child group", "[masters]\nm1\n\n[k8s:children]\nmasters\nworkers\n",
			"Unknown child group", "6:1", `no inventory file defines a group "workers"`},
		{"cycle", "[a:children]\nb\n[b:children]\na\n",
			"Cycle in group children", "4:1", "a → b → a"},
		{"not key=value", "[web]\nweb1 ansible_user=deploy become\n",
			"Expected key=value", "2:26", `"become" is not one`},
		{"vars line without =", "[web]\nweb1\n[web:vars]\nhttp_port 80\n",
			"Expected key=value", "4:1", "key=value"},
		{"unterminated quote", "[web]\nweb1 motd=\"hello\n",
			"Invalid host line", "2:11", "This \" quote is never closed"},
		{"unterminated quote in vars", "[web]\nweb1\n[web:vars]\nmotd = 'hello\n",
			"Invalid value", "4:8", "This ' quote is never closed"},
		{"bad ansible_port", "[web]\nweb1 ansible_port=ssh\n",
			"Invalid ansible_port", "2:19", "port number from 1 to 65535"},
		{"bad ansible_become", "[web]\nweb1\n[web:vars]\nansible_become = maybe\n",
			"Invalid ansible_become", "4:18", `yes/no, true/false`},
		{"unsupported connection", "winhost ansible_connection=winrm\n",
			"Unsupported connection type", "1:28", `"ssh" or "local"`},
		{"empty ansible_host", "[web]\nweb1 ansible_host=\n",
			"Empty ansible_host", "2:19", "give it a value"},
		{"variable instead of host", "[web]\nansible_user=deploy\n",
			"Missing host name", "2:1", "[web:vars]"},
		{"children with vars", "[a]\nh\n[b:children]\na x=1\n",
			"Unexpected text after a child group", "4:3", "[a:vars]"},
		// Reading a number from text takes time quadratic in its length (7 s for 1 MB).
		{"long ansible_port", "[web]\nweb1 ansible_port=" + strings.Repeat("1", 100000) + "\n",
			"Invalid ansible_port", "2:19", "port number from 1 to 65535"},
		{"huge ansible_port", "[web]\nweb1 ansible_port=1e100000000\n",
			"Invalid ansible_port", "2:19", "port number from 1 to 65535"},
		{"column counts characters", "[web]\n# ünïcödé\nwéb1 ansible_port=ssh\n",
			"Invalid ansible_port", "3:19", "port number"},
	})
}

func TestYAMLDiagnostics(t *testing.T) {
	runDiagCases(t, "hosts.yml", []diagCase{
		{"tab indentation", "all:\n  hosts:\n\tweb1:\n",
			"Invalid YAML", "3:1", "found character that cannot start any token"},
		{"invalid yaml on line 1", "all: hosts: web1\n",
			"Invalid YAML", "1:1", "mapping values are not allowed"},
		{"top level list", "- web1\n- web2\n",
			"Invalid inventory", "1:1", `usually a single "all:"`},
		{"hosts as list", "all:\n  hosts:\n    - web1\n    - web2\n",
			"Invalid hosts", "3:5", `write each host as "web1:"`},
		{"unknown key in group", "all:\n  children:\n    web:\n      host:\n        web1:\n",
			"Unknown key in group", "4:7", "a group has only hosts, vars and children"},
		{"duplicate host key", "all:\n  hosts:\n    web1:\n    web2:\n    web1:\n      a: 1\n",
			"Duplicate key", "5:5", "on line 3"},
		{"vault", "all:\n  vars:\n    db_password: !vault |\n      $ANSIBLE_VAULT;1.1;AES256\n      6162\n",
			"Ansible Vault is not supported", "3:18", "cannot decrypt"},
		{"bad ansible_port", "all:\n  hosts:\n    web1:\n      ansible_port: \"twenty-two\"\n",
			"Invalid ansible_port", "4:21", `got "twenty-two"`},
		{"bad ansible_become", "all:\n  vars:\n    ansible_become: [yes]\n",
			"Invalid ansible_become", "3:21", "must be a boolean"},
		{"bad host range", "all:\n  hosts:\n    web[3:1]:\n",
			"Invalid host pattern", "3:5", "begin greater than its end"},
		{"host with a list", "all:\n  hosts:\n    web1: [a, b]\n",
			"Invalid host", "3:11", "mapping of its variables"},
		{"children as list", "all:\n  children:\n    - web\n",
			"Invalid children", "3:5", "not a list"},
		{"nan", "all:\n  vars:\n    x: .nan\n",
			"Invalid number", "3:8", "quote it"},
	})
}

func TestLoadUnreadable(t *testing.T) {
	dir := t.TempDir()
	// A directory is an inventory directory now (empty here: no diagnostic).
	_, diags := Load([]string{filepath.Join(dir, "missing.ini"), dir})
	if len(diags) != 1 {
		t.Fatalf("want 1 diagnostic, got %d: %v", len(diags), diags)
	}
	if !strings.Contains(diags[0].Detail, "no such file") {
		t.Errorf("missing file: %q", diags[0].Detail)
	}
}

// The printed form is what users see: summary, file:line, the source line, detail.
func TestDiagnosticPrintsSnippet(t *testing.T) {
	inv, diags := loadSrc(t, "hosts.ini", "[web]\nweb1\nweb[01:3] ansible_user=x\n")
	out := renderDiags(inv, diags)
	for _, want := range []string{
		"Error: Invalid host pattern",
		"hosts.ini line 3:",
		"   3: web[01:3] ansible_user=x",
		"same number of digits",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("printed diagnostic lacks %q:\n%s", want, out)
		}
	}
}
