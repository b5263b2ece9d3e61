package config

import (
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// fuzzSource is an in-memory Source for FuzzLoadPlan: the plan directory fuzzDir holds
// main.hcl and, when it is not empty, extra.hcl; every other path reads as data,
// except paths with "missing" in their name, which do not exist. Nothing touches disk.
type fuzzSource struct {
	plan map[string][]byte // plan files by path
	data []byte
}

const fuzzDir = "/fuzz/plan"

func newFuzzSource(main, extra, data string) *fuzzSource {
	s := &fuzzSource{plan: map[string][]byte{path.Join(fuzzDir, "main.hcl"): []byte(main)}, data: []byte(data)}
	if extra != "" {
		s.plan[path.Join(fuzzDir, "extra.hcl")] = []byte(extra)
	}
	return s
}

func (s *fuzzSource) PlanFiles(p string) ([]string, string, error) {
	if p != fuzzDir {
		return nil, "", &fs.PathError{Op: "stat", Path: p, Err: fs.ErrNotExist}
	}
	files := make([]string, 0, len(s.plan))
	for f := range s.plan {
		files = append(files, f)
	}
	sort.Strings(files)
	return files, fuzzDir, nil
}

func (s *fuzzSource) ReadPrivate(p string) ([]byte, error) { return s.ReadFile(p) }

func (s *fuzzSource) ReadFile(p string) ([]byte, error) {
	if b, ok := s.plan[p]; ok {
		return append([]byte(nil), b...), nil
	}
	if strings.Contains(p, "missing") {
		return nil, &fs.PathError{Op: "open", Path: p, Err: fs.ErrNotExist}
	}
	return append([]byte(nil), s.data...), nil
}

// fuzzInputs turns the fuzzer's vars text into Inputs: one entry a line, a line
// starting with HOSTPLAN_VAR_ goes to Environ, any other to Vars (--var). Var files are
// read from disk, never through the Source, so the fuzzer gives none.
func fuzzInputs(vars string, src Source) Inputs {
	in := Inputs{Source: src}
	if vars == "" {
		return in
	}
	for _, line := range strings.Split(vars, "\n") {
		if strings.HasPrefix(line, "HOSTPLAN_VAR_") {
			in.Environ = append(in.Environ, line)
		} else {
			in.Vars = append(in.Vars, line)
		}
	}
	return in
}

// fuzzHosts are the hosts each loaded plan is built for: one with facts, as apply has
// them, and one without, as validate has it.
func fuzzHosts() []cty.Value {
	vars := map[string]cty.Value{
		"node_ip": cty.StringVal("192.0.2.1"),
		"port":    cty.NumberIntVal(6443),
		"list":    cty.TupleVal([]cty.Value{cty.StringVal("a"), cty.NumberIntVal(1)}),
		"map":     cty.ObjectVal(map[string]cty.Value{"k": cty.StringVal("v")}),
	}
	facts := cty.ObjectVal(map[string]cty.Value{
		"distro":         cty.StringVal("debian"),
		"distro_version": cty.StringVal("12"),
		"os":             cty.StringVal("linux"),
	})
	return []cty.Value{
		HostValue("m1", "192.0.2.1", []string{"all", "masters"}, vars, facts),
		HostValue("w1", "192.0.2.2", nil, nil, cty.DynamicVal),
	}
}

// checkRanges fails when a diagnostic points outside the file it names: the CLI prints
// source snippets by slicing the file at these offsets.
func checkRanges(t *testing.T, diags hcl.Diagnostics, src func(string) ([]byte, bool)) {
	t.Helper()
	for _, d := range diags {
		for _, r := range []*hcl.Range{d.Subject, d.Context} {
			if r == nil {
				continue
			}
			b, ok := src(r.Filename)
			if !ok {
				continue
			}
			if r.Start.Byte < 0 || r.End.Byte < 0 || r.Start.Byte > len(b) || r.End.Byte > len(b) {
				t.Fatalf("diagnostic %q has range %s (bytes %d-%d) outside its %d-byte file", d.Summary, r, r.Start.Byte, r.End.Byte, len(b))
			}
		}
	}
}

// FuzzLoadPlan loads a plan of one or two files (main, extra), with data as the content
// of every other file it reads (file(), templatefile(), source, template) and vars as
// --var/HOSTPLAN_VAR_ values. Any input gives either error diagnostics or a plan, never
// a panic; a loaded plan builds every resource for sample hosts without a panic.
func FuzzLoadPlan(f *testing.F) {
	f.Add("task \"t\" {\n  on = [\"all\"]\n  file \"/etc/motd\" { content = \"hi ${host.name}\\n\" }\n}\n", "", "", "")
	f.Add("locals {\n  a = file(\"data.txt\")\n  b = try(file(\"missing.txt\"), \"none\")\n}\ntask \"t\" {\n  on = [\"all\"]\n  file \"/x\" { content = \"${local.a}|${local.b}\" }\n  file \"/y\" {\n    template = \"t.tpl\"\n    vars     = { name = host.name }\n  }\n}\n",
		"", "name=${name}\n%{ for p in [1, 2] ~}\nport ${p}\n%{ endfor ~}\n", "")
	f.Add("variable \"n\" {\n  type = number\n}\ntask \"t\" {\n  on     = [\"all\"]\n  serial = var.n\n}\n", "", "", "n=2")
	f.Add("variable \"s\" {\n  type      = string\n  sensitive = true\n}\ntask \"t\" {\n  on = [\"all\"]\n  command \"c\" { run = \"echo ${var.s}\" }\n}\n", "", "", "HOSTPLAN_VAR_s=x")
	// The repository's own plans.
	for _, ex := range []struct{ dir, vars string }{
		{"../../examples/quickstart", ""},
		{"../../examples/security-center", "apiserver_address=10.0.0.10\ncluster_id=c0ffee"},
	} {
		dir := ex.dir
		files, err := filepath.Glob(filepath.Join(dir, "*.hcl"))
		if err != nil || len(files) == 0 {
			f.Fatalf("no plans in %s: %v", dir, err)
		}
		var main, extra []byte
		for i, name := range files {
			b, err := os.ReadFile(name)
			if err != nil {
				f.Fatal(err)
			}
			if i == 0 {
				main = b
			} else {
				extra = append(append(extra, b...), '\n')
			}
		}
		f.Add(string(main), string(extra), "", ex.vars)
	}

	f.Fuzz(func(t *testing.T, main, extra, data, vars string) {
		src := newFuzzSource(main, extra, data)
		p, diags := Load(fuzzDir, fuzzInputs(vars, src))
		checkRanges(t, diags, func(name string) ([]byte, bool) {
			b, ok := src.plan[name]
			return b, ok
		})
		if p == nil {
			if !diags.HasErrors() {
				t.Fatalf("no plan and no error diagnostics: %v", diags)
			}
			return
		}
		if diags.HasErrors() {
			t.Fatalf("a plan and error diagnostics: %s", diags.Error())
		}
		for _, task := range p.Tasks {
			if len(task.On) == 0 {
				t.Fatalf("task %q loaded without targets", task.Name)
			}
			_ = task.Serial.BatchSize(3)
			_ = task.Serial.String()
		}
		for _, v := range p.Variables {
			_ = p.VariableValue(v.Name)
		}
		for _, host := range fuzzHosts() {
			ctx, diags := p.EvalContext(host)
			checkRanges(t, diags, func(name string) ([]byte, bool) {
				b, ok := src.plan[name]
				return b, ok
			})
			for _, task := range p.Tasks {
				for _, r := range task.Resources {
					_ = r.Address()
					res, diags := p.Build(r, ctx)
					checkRanges(t, diags, func(name string) ([]byte, bool) {
						b, ok := src.plan[name]
						return b, ok
					})
					if res != nil && res.Type() != r.Kind.Type {
						t.Fatalf("%s built a %s resource", r.Address(), res.Type())
					}
					if res != nil && diags.HasErrors() {
						t.Fatalf("%s built despite errors: %s", r.Address(), diags.Error())
					}
				}
			}
		}
	})
}
