package allowlist

import (
	"slices"
	"strings"
	"testing"
)

// iptablesModel is the part of iptables DiffIPTables drives: the chain and
// INPUT, as lists of `-S` lines.
type iptablesModel struct {
	chainExists bool
	chain       []string
	input       []string
}

func (m *iptablesModel) apply(t *testing.T, argv []string) {
	t.Helper()
	if len(argv) < 4 || argv[0] != "iptables" || argv[1] != "-w" {
		t.Fatalf("unexpected command %q", argv)
	}
	op, name, rest := argv[2], argv[3], argv[4:]
	line := "-A " + name + " " + joinRule(rest)
	list := &m.chain
	if name == "INPUT" {
		list = &m.input
	}
	switch op {
	case "-N":
		if m.chainExists {
			t.Fatal("-N of an existing chain")
		}
		m.chainExists = true
	case "-A":
		*list = append(*list, line)
	case "-I":
		if rest[0] != "1" {
			t.Fatalf("insert at %s", rest[0])
		}
		*list = append([]string{"-A " + name + " " + joinRule(rest[1:])}, *list...)
	case "-D":
		i := slices.Index(*list, line)
		if i < 0 {
			t.Fatalf("-D of a missing rule %q", line)
		}
		*list = slices.Delete(*list, i, i+1)
	case "-F":
		m.chain = nil
	case "-X":
		if len(m.chain) > 0 {
			t.Fatal("-X of a non-empty chain")
		}
		m.chainExists = false
	default:
		t.Fatalf("unexpected op %q", op)
	}
}

// joinRule quotes arguments the way iptables -S does.
func joinRule(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " \"'\\") {
			r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, `'`, `\'`)
			a = `"` + r.Replace(a) + `"`
		}
		out[i] = a
	}
	return strings.Join(out, " ")
}

func (m *iptablesModel) chainS() string {
	if !m.chainExists {
		return ""
	}
	return strings.Join(append([]string{"-N " + Chain}, m.chain...), "\n") + "\n"
}

func (m *iptablesModel) inputS() string {
	return strings.Join(append([]string{"-P INPUT ACCEPT"}, m.input...), "\n") + "\n"
}

func TestDiffIPTablesConverges(t *testing.T) {
	shanghai, _ := Lookup("cn-shanghai")
	hangzhou, _ := Lookup("cn-hangzhou")
	steps := []struct {
		name   string
		a      Allow
		absent bool
	}{
		{"shanghai public 6443", Allow{Sources: Sources(shanghai, true, false), Ports: []int{6443}}, false},
		{"add private and 443", Allow{Sources: Sources(shanghai, true, true), Ports: []int{443, 6443}}, false},
		{"move to hangzhou", Allow{Sources: Sources(hangzhou, true, true), Ports: []int{6443}}, false},
		{"absent", Allow{}, true},
		{"back again", Allow{Sources: Sources(hangzhou, true, false), Ports: []int{6443}}, false},
	}
	m := &iptablesModel{
		input: []string{
			"-A INPUT -m comment --comment \"kubernetes firewall\" -j KUBE-FIREWALL",
			"-A INPUT -p tcp -m tcp --dport 6443 -j DROP",
		},
	}
	for _, st := range steps {
		cmds, err := st.a.DiffIPTables(m.chainS(), m.inputS(), st.absent)
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if len(cmds) == 0 {
			t.Fatalf("%s: no commands", st.name)
		}
		for _, c := range cmds {
			m.apply(t, c)
		}
		again, err := st.a.DiffIPTables(m.chainS(), m.inputS(), st.absent)
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if len(again) != 0 {
			t.Fatalf("%s: second diff %q", st.name, argLines(again))
		}
		if st.absent {
			if m.chainExists || strings.Contains(m.inputS(), Chain) {
				t.Fatalf("%s: left %q / %q", st.name, m.chainS(), m.inputS())
			}
			continue
		}
		want, _ := st.a.ChainRules()
		if got := strings.Split(strings.TrimSpace(m.chainS()), "\n"); !sameSet(got, want) {
			t.Errorf("%s: chain %q, want %q", st.name, got, want)
		}
		jumps, _ := st.a.JumpRules()
		if !slices.Equal(m.input[:len(jumps)], jumps) {
			t.Errorf("%s: INPUT %q does not start with %q", st.name, m.input, jumps)
		}
		if !slices.Contains(m.input, "-A INPUT -p tcp -m tcp --dport 6443 -j DROP") {
			t.Errorf("%s: the host's own rule went missing", st.name)
		}
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func TestJoinRuleRoundTrip(t *testing.T) {
	args := []string{"-m", "comment", "--comment", `it's "x" \ y`, "-j", "ACCEPT"}
	got, err := splitRule("-A " + Chain + " " + joinRule(args))
	if err != nil || !slices.Equal(got[2:], args) {
		t.Fatalf("got %q, %v", got, err)
	}
}
