package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/hostplan/hostplan/tasks"
)

// writePlan writes files into a fresh directory and returns it.
func writePlan(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func testHost(vars map[string]cty.Value) cty.Value {
	return HostValue("m1", "10.0.0.1", []string{"all", "masters"}, vars, cty.ObjectVal(map[string]cty.Value{
		"distro": cty.StringVal("debian"),
	}))
}

func buildAll(t *testing.T, p *Plan, host cty.Value) []tasks.Resource {
	t.Helper()
	ctx, diags := p.EvalContext(host)
	if diags.HasErrors() {
		t.Fatalf("eval context: %s", diags.Error())
	}
	var out []tasks.Resource
	for _, task := range p.Tasks {
		for _, r := range task.Resources {
			res, diags := p.Build(r, ctx)
			if diags.HasErrors() {
				t.Fatalf("build %s: %s", r.Address(), diags.Error())
			}
			out = append(out, res)
		}
	}
	return out
}

func TestLoadAndBuild(t *testing.T) {
	dir := writePlan(t, map[string]string{
		"a.hcl": `
variable "cluster_id" {
  type        = string
  description = "from the console"
  validation {
    condition     = length(var.cluster_id) > 3
    error_message = "cluster_id is too short."
  }
}
variable "ports" {
  type    = list(number)
  default = [6443]
}
locals {
  greeting = "hello ${local.who}"
  who      = upper(var.cluster_id)
  node     = host.vars.node_ip
}
task "base" {
  on = ["masters"]
  directory "/etc/demo" { mode = "0750" }
  file "/etc/demo/motd" {
    content = "${local.greeting} on ${host.name} (${host.facts.distro}) ${local.node} ${join(",", var.ports)}\n"
    mode    = "0600"
  }
  file "/etc/demo/tpl" {
    template = "tpl/motd.tpl"
    vars     = { name = host.name, ports = var.ports }
  }
  command "touch" {
    run     = "touch /etc/demo/done"
    creates = "/etc/demo/done"
  }
}
`,
		"b.hcl":          `task "second" { on = ["all"] }`,
		"tpl/motd.tpl":   "name=${name}\n%{ for p in ports ~}\nport ${p}\n%{ endfor ~}\n",
		"vars/x.hpvars":  `ports = [1, 2]`,
		"vars/bad.txt":   ``,
		"vars/other.txt": ``,
	})
	p, diags := Load(dir, Inputs{
		Vars:     []string{"cluster_id=abcd"},
		VarFiles: []string{filepath.Join(dir, "vars/x.hpvars")},
	})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	if got := strings.Join(p.TaskNames(), ","); got != "base,second" {
		t.Fatalf("tasks in file order: got %s", got)
	}
	if got := p.Tasks[0].On; len(got) != 1 || got[0] != "masters" {
		t.Fatalf("on: %v", got)
	}
	res := buildAll(t, p, testHost(map[string]cty.Value{"node_ip": cty.StringVal("192.168.0.11")}))
	motd := res[1].(*tasks.File)
	if want := "hello ABCD on m1 (debian) 192.168.0.11 1,2\n"; string(motd.Content) != want {
		t.Fatalf("content: got %q want %q", motd.Content, want)
	}
	if tasks.FormatMode(motd.Mode) != "0600" {
		t.Fatalf("mode: %v", motd.Mode)
	}
	tpl := res[2].(*tasks.File)
	if want := "name=m1\nport 1\nport 2\n"; string(tpl.Content) != want {
		t.Fatalf("template: got %q want %q", tpl.Content, want)
	}
	if cmd := res[3].(*tasks.Command); cmd.Creates != "/etc/demo/done" {
		t.Fatalf("command: %+v", cmd)
	}
}

func TestVariablePrecedence(t *testing.T) {
	dir := writePlan(t, map[string]string{
		"p.hcl": `
variable "a" { default = "default" }
variable "n" { type = number }
task "t" {
  on = ["all"]
  file "/x" { content = "${var.a} ${var.n}" }
}`,
		"v.hpvars": "a = \"file\"\n",
	})
	cases := []struct {
		name string
		in   Inputs
		want string
	}{
		{"default", Inputs{Vars: []string{"n=1"}}, "default 1"},
		{"env beats default", Inputs{Environ: []string{"HOSTPLAN_VAR_a=env", "HOSTPLAN_VAR_n=2"}}, "env 2"},
		{"file beats env", Inputs{Environ: []string{"HOSTPLAN_VAR_a=env", "HOSTPLAN_VAR_n=2"}, VarFiles: []string{filepath.Join(dir, "v.hpvars")}}, "file 2"},
		{"flag beats file", Inputs{Vars: []string{"a=flag", "n=3"}, VarFiles: []string{filepath.Join(dir, "v.hpvars")}}, "flag 3"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, diags := Load(dir, tc.in)
			if diags.HasErrors() {
				t.Fatal(diags.Error())
			}
			f := buildAll(t, p, testHost(nil))[0].(*tasks.File)
			if string(f.Content) != tc.want {
				t.Fatalf("got %q want %q", f.Content, tc.want)
			}
		})
	}
}

func TestSensitiveMarksReachResources(t *testing.T) {
	dir := writePlan(t, map[string]string{"p.hcl": `
variable "token" {
  type      = string
  sensitive = true
}
task "t" {
  on = ["all"]
  file "/etc/token" { content = "token=${var.token}\n" }
  file "/etc/plain" { content = "plain\n" }
  command "login" { run = "login ${var.token}" }
}`})
	p, diags := Load(dir, Inputs{Vars: []string{"token=s3cr3t"}})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	res := buildAll(t, p, testHost(nil))
	if !res[0].(*tasks.File).Sensitive {
		t.Error("a file whose content uses a sensitive variable is not marked sensitive")
	}
	if res[1].(*tasks.File).Sensitive {
		t.Error("a plain file is marked sensitive")
	}
	if !res[2].(*tasks.Command).Sensitive {
		t.Error("a command using a sensitive variable is not marked sensitive")
	}
}

// go-cty's functions quote their argument in errors (tonumber: cannot convert "..." to
// number); with a sensitive argument the message must not carry it. The same calls on a
// plain value keep their full message, and a call that succeeds keeps its result.
func TestFunctionErrorsHideSensitive(t *testing.T) {
	const secret = "hunter2pin"
	for _, call := range []string{
		"tonumber(var.v)", "tobool(var.v)", "parseint(var.v, 10)", "regex(var.v, \"x\")",
		"jsondecode(var.v)", "base64decode(var.v)", "file(var.v)",
		"templatefile(\"t.tpl\", { x = var.v })", "tonumber(\"${var.v}x\")",
	} {
		for _, sensitive := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/sensitive=%v", call, sensitive), func(t *testing.T) {
				dir := writePlan(t, map[string]string{"t.tpl": "${tonumber(x)}", "p.hcl": fmt.Sprintf(`
variable "v" {
  type      = string
  sensitive = %v
}
task "t" {
  on = ["all"]
  file "/x" { content = "${%s}" }
}`, sensitive, call)})
				p, diags := Load(dir, Inputs{Vars: []string{"v=" + secret + "("}})
				if diags.HasErrors() {
					t.Fatal(diags.Error())
				}
				ctx, diags := p.EvalContext(testHost(nil))
				if diags.HasErrors() {
					t.Fatal(diags.Error())
				}
				_, diags = p.Build(p.Tasks[0].Resources[0], ctx)
				if !diags.HasErrors() {
					t.Fatal("the call did not fail")
				}
				msg := diags.Error()
				if sensitive && (strings.Contains(msg, secret) || !strings.Contains(msg, "failed on a sensitive value")) {
					t.Errorf("error: %s", msg)
				}
				if !sensitive && strings.Contains(msg, "failed on a sensitive value") {
					t.Errorf("a plain value's error was hidden: %s", msg)
				}
			})
		}
	}
}

func TestYAMLEncode(t *testing.T) {
	dir := writePlan(t, map[string]string{"p.hcl": `
task "t" {
  on = ["all"]
  file "/x" {
    content = yamlencode({ b = ["x", "true", 1.5], a = { n = 2, ok = true } })
  }
}`})
	p, diags := Load(dir, Inputs{})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	f := buildAll(t, p, testHost(nil))[0].(*tasks.File)
	want := "a:\n    n: 2\n    ok: true\nb:\n    - x\n    - \"true\"\n    - 1.5\n"
	if string(f.Content) != want {
		t.Fatalf("got\n%s\nwant\n%s", f.Content, want)
	}
}

// TestDiagnostics checks that each kind of bad input fails with a diagnostic that names
// the file and line and says what to fix.
func TestDiagnostics(t *testing.T) {
	cases := []struct {
		name    string
		plan    string
		in      Inputs
		summary string
		line    int
		detail  string
	}{
		{
			name:    "unknown resource type",
			plan:    "task \"t\" {\n  on = [\"all\"]\n  fiel \"/x\" {}\n}\n",
			summary: "Unsupported block type", line: 3, detail: `Did you mean "file"?`,
		},
		{
			name:    "unknown attribute",
			plan:    "task \"t\" {\n  on = [\"all\"]\n  file \"/x\" {\n    content = \"a\"\n    mdoe = \"0644\"\n  }\n}\n",
			summary: "Unsupported argument", line: 5, detail: `Did you mean "mode"?`,
		},
		{
			name:    "type mismatch in resource",
			plan:    "task \"t\" {\n  on = [\"all\"]\n  file \"/x\" {\n    content = [\"a\"]\n  }\n}\n",
			summary: "Incorrect attribute value type", line: 4, detail: "string required",
		},
		{
			name:    "bad mode",
			plan:    "task \"t\" {\n  on = [\"all\"]\n  file \"/x\" {\n    content = \"a\"\n    mode = \"0999\"\n  }\n}\n",
			summary: `Invalid file "/x"`, line: 5, detail: "not an octal file mode",
		},
		{
			name:    "relative path",
			plan:    "task \"t\" {\n  on = [\"all\"]\n  file \"etc/x\" {\n    content = \"a\"\n  }\n}\n",
			summary: `Invalid file "etc/x"`, line: 3, detail: "not an absolute path",
		},
		{
			name:    "content and source",
			plan:    "task \"t\" {\n  on = [\"all\"]\n  file \"/x\" {\n    content = \"a\"\n    source = \"b\"\n  }\n}\n",
			summary: `Invalid file "/x"`, line: 5, detail: "set only one of content, source and template",
		},
		{
			name:    "missing required variable",
			plan:    "variable \"cluster_id\" {\n  type = string\n}\n",
			summary: "No value for required variable", line: 1, detail: "--var cluster_id=",
		},
		{
			name:    "variable type mismatch",
			plan:    "variable \"n\" {\n  type = number\n}\n",
			in:      Inputs{Vars: []string{"n=abc"}},
			summary: "Invalid value for variable", detail: `--var n: variable "n" must be number`,
		},
		{
			name:    "bad default",
			plan:    "variable \"n\" {\n  type = number\n  default = \"x\"\n}\n",
			summary: "Invalid default value for variable", line: 3, detail: "does not fit its type number",
		},
		{
			name:    "validation fails",
			plan:    "variable \"id\" {\n  default = \"a\"\n  validation {\n    condition = length(var.id) > 3\n    error_message = \"id is too short.\"\n  }\n}\n",
			summary: "Invalid value for variable", line: 3, detail: "id is too short.",
		},
		{
			name:    "undeclared --var",
			plan:    "variable \"a\" {\n  default = \"x\"\n}\n",
			in:      Inputs{Vars: []string{"b=1"}},
			summary: "Undeclared variable", detail: "Declared: a.",
		},
		{
			name:    "duplicate task",
			plan:    "task \"t\" {\n  on = [\"all\"]\n}\ntask \"t\" {\n  on = [\"all\"]\n}\n",
			summary: `Duplicate task "t"`, line: 4,
		},
		{
			name:    "duplicate resource",
			plan:    "task \"t\" {\n  on = [\"all\"]\n  file \"/x\" { content = \"a\" }\n  file \"/x\" { content = \"b\" }\n}\n",
			summary: `Duplicate resource "file \"/x\""`, line: 4,
		},
		{
			name:    "on missing",
			plan:    "task \"t\" {\n}\n",
			summary: "Missing required argument", line: 1, detail: `"on" is required`,
		},
		{
			name:    "on not a list",
			plan:    "task \"t\" {\n  on = \"masters\"\n}\n",
			summary: "Invalid task targets", line: 2,
		},
		{
			name:    "cycle in locals",
			plan:    "locals {\n  a = local.b\n  b = local.a\n}\n",
			summary: "Cycle in locals", line: 2,
		},
		{
			name:    "inventory among plan files",
			plan:    "host \"m1\" {\n  address = \"10.0.0.1\"\n}\n",
			summary: "Unsupported block type", line: 1, detail: "This looks like an inventory",
		},
		{
			name:    "serial zero",
			plan:    "task \"t\" {\n  on = [\"all\"]\n  serial = 0\n}\n",
			summary: "Invalid serial", line: 3, detail: "at least 1",
		},
		{
			// Printed in full decimals, this number took seconds (1e100000000: minutes).
			name:    "serial huge",
			plan:    "task \"t\" {\n  on = [\"all\"]\n  serial = 1e10000000\n}\n",
			summary: "Number out of range", line: 3, detail: "beyond float64's range",
		},
		{
			name:    "serial bad percentage",
			plan:    "task \"t\" {\n  on = [\"all\"]\n  serial = \"150%\"\n}\n",
			summary: "Invalid serial", line: 3, detail: "between 1% and 100%",
		},
		{
			name:    "run_once not a bool",
			plan:    "task \"t\" {\n  on = [\"all\"]\n  run_once = \"yes please\"\n}\n",
			summary: "Invalid run_once", line: 3,
		},
		{
			name:    "unknown health gate",
			plan:    "task \"t\" {\n  on = [\"all\"]\n  health \"http\" {}\n}\n",
			summary: "Unknown health gate", line: 3, detail: "kube_apiserver",
		},
		{
			name:    "health timeout",
			plan:    "task \"t\" {\n  on = [\"all\"]\n  health \"kube_apiserver\" {\n    timeout = \"5 minutes\"\n  }\n}\n",
			summary: "Invalid timeout", line: 4,
		},
		{
			name:    "health unknown attribute",
			plan:    "task \"t\" {\n  on = [\"all\"]\n  health \"kube_apiserver\" {\n    timout = \"5m\"\n  }\n}\n",
			summary: "Unsupported argument", line: 4, detail: `Did you mean "timeout"?`,
		},
		{
			name:    "two health gates",
			plan:    "task \"t\" {\n  on = [\"all\"]\n  health \"kube_apiserver\" {}\n  health \"kube_apiserver\" {}\n}\n",
			summary: "Duplicate health block", line: 4,
		},
		{
			name:    "validation with can()",
			plan:    "variable \"id\" {\n  type = string\n  default = \"no spaces allowed\"\n  validation {\n    condition = can(regex(\"^[a-z]+$\", var.id))\n    error_message = \"id is letters only.\"\n  }\n}\n",
			summary: "Invalid value for variable", detail: "id is letters only.",
		},
		{
			name:    "static_pod flag with dashes",
			plan:    "task \"t\" {\n  on = [\"all\"]\n  static_pod \"/etc/kubernetes/manifests/a.yaml\" {\n    container = \"a\"\n    flags = { \"--v\" = \"2\" }\n  }\n}\n",
			summary: `Invalid static_pod "/etc/kubernetes/manifests/a.yaml"`, line: 5, detail: "without dashes",
		},
		{
			name:    "static_pod backups inside manifests",
			plan:    "task \"t\" {\n  on = [\"all\"]\n  static_pod \"/etc/kubernetes/manifests/a.yaml\" {\n    container = \"a\"\n    backup_dir = \"/etc/kubernetes/manifests/old\"\n  }\n}\n",
			summary: `Invalid static_pod "/etc/kubernetes/manifests/a.yaml"`, line: 5, detail: "kubelet would run the backups",
		},
		{
			name:    "audit_policy for an old cluster",
			plan:    "task \"t\" {\n  on = [\"all\"]\n  audit_policy \"/etc/kubernetes/p.yaml\" {\n    kubernetes_version = \"v1.15.3\"\n  }\n}\n",
			summary: `Invalid audit_policy "/etc/kubernetes/p.yaml"`, line: 4, detail: "1.16",
		},
		{
			name:    "sysctl without value",
			plan:    "task \"t\" {\n  on = [\"all\"]\n  sysctl \"net.ipv4.ip_forward\" {\n    file = \"/etc/sysctl.d/a.conf\"\n  }\n}\n",
			summary: `Invalid sysctl "net.ipv4.ip_forward"`, line: 3, detail: "needs a value",
		},
		{
			name:    "sysctl file not .conf",
			plan:    "task \"t\" {\n  on = [\"all\"]\n  sysctl \"net.ipv4.ip_forward\" {\n    value = \"1\"\n    file = \"/etc/sysctl.d/a\"\n  }\n}\n",
			summary: `Invalid sysctl "net.ipv4.ip_forward"`, line: 5, detail: "ending in .conf",
		},
		{
			name:    "port out of range",
			plan:    "task \"t\" {\n  on = [\"all\"]\n  port_forward \"api\" {\n    listen_port = 70000\n    to_address = \"10.0.0.1\"\n    to_port = 6443\n  }\n}\n",
			summary: `Invalid port_forward "api"`, line: 4, detail: "is not a port",
		},
		{
			name:    "address not an IP",
			plan:    "task \"t\" {\n  on = [\"all\"]\n  port_forward \"api\" {\n    listen_port = 8443\n    to_address = \"apiserver.local\"\n    to_port = 6443\n  }\n}\n",
			summary: `Invalid port_forward "api"`, line: 5, detail: "not an IPv4 address",
		},
		{
			name:    "unknown method",
			plan:    "task \"t\" {\n  on = [\"all\"]\n  port_forward \"api\" {\n    listen_port = 8443\n    to_address = \"10.0.0.1\"\n    to_port = 6443\n    method = \"nft\"\n  }\n}\n",
			summary: `Invalid port_forward "api"`, line: 7, detail: "is not a method",
		},
		{
			name:    "syntax error",
			plan:    "task \"t\" {\n  on = [\"all\"\n}\n",
			summary: "Missing item separator", line: 3,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := writePlan(t, map[string]string{"plan.hcl": tc.plan})
			_, diags := Load(dir, tc.in)
			if !diags.HasErrors() {
				// Resource attribute checks happen at build time.
				p, _ := Load(dir, tc.in)
				ctx, _ := p.EvalContext(testHost(nil))
				for _, task := range p.Tasks {
					for _, r := range task.Resources {
						_, d := p.Build(r, ctx)
						diags = append(diags, d...)
					}
				}
			}
			d := find(diags, tc.summary)
			if d == nil {
				t.Fatalf("no diagnostic %q; got: %s", tc.summary, diags.Error())
			}
			if tc.detail != "" && !strings.Contains(d.Detail, tc.detail) {
				t.Errorf("detail %q does not contain %q", d.Detail, tc.detail)
			}
			if tc.line != 0 {
				if d.Subject == nil {
					t.Fatalf("diagnostic has no source range: %s", d.Error())
				}
				if d.Subject.Start.Line != tc.line || !strings.HasSuffix(d.Subject.Filename, "plan.hcl") {
					t.Errorf("at %s, want plan.hcl line %d", d.Subject, tc.line)
				}
			}
		})
	}
}

func TestRollout(t *testing.T) {
	dir := writePlan(t, map[string]string{"plan.hcl": `
variable "batch" {
  default = "25%"
}
task "a" {
  on     = ["masters"]
  serial = var.batch
  health "kube_apiserver" {
    timeout = "90s"
    port    = 7443
  }
}
task "b" {
  on       = ["all"]
  serial   = 2
  run_once = true
}
task "c" {
  on = ["all"]
}
`})
	p, diags := Load(dir, Inputs{})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	a, b, c := p.Tasks[0], p.Tasks[1], p.Tasks[2]
	if a.Serial != (Serial{Percent: 25}) || a.Health == nil || a.Health.Port != 7443 || a.Health.Timeout.String() != "1m30s" {
		t.Errorf("task a: %+v %+v", a.Serial, a.Health)
	}
	if b.Serial != (Serial{Count: 2}) || !b.RunOnce || c.Serial.Rolling() || c.Health != nil || c.RunOnce {
		t.Errorf("tasks b, c: %+v %+v", b, c)
	}
	for _, tc := range []struct {
		s       Serial
		n, want int
	}{
		{Serial{}, 7, 7}, {Serial{Count: 1}, 7, 1}, {Serial{Count: 10}, 3, 3},
		{Serial{Percent: 25}, 7, 1}, {Serial{Percent: 30}, 10, 3}, {Serial{Percent: 50}, 1, 1}, {Serial{Percent: 100}, 4, 4},
	} {
		if got := tc.s.BatchSize(tc.n); got != tc.want {
			t.Errorf("%+v.BatchSize(%d) = %d, want %d", tc.s, tc.n, got, tc.want)
		}
	}
}

func find(diags hcl.Diagnostics, summary string) *hcl.Diagnostic {
	for _, d := range diags {
		if d.Summary == summary {
			return d
		}
	}
	return nil
}

// yamlencode of a number beyond float64 is an error, at once: its decimal form took
// seconds per host. Such a number is refused where it is written, before any function.
func TestYAMLEncodeHugeNumber(t *testing.T) {
	dir := writePlan(t, map[string]string{"p.hcl": `
task "t" {
  on = ["all"]
  file "/x" { content = yamlencode({ n = 1e10000000 }) }
}`})
	_, diags := Load(dir, Inputs{})
	if !strings.Contains(diags.Error(), "p.hcl:4,42-52: Number out of range") {
		t.Errorf("want the range error at the literal, got %v", diags)
	}
}
