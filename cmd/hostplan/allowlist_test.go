package main

import (
	"strings"
	"testing"

	"github.com/hostplan/hostplan/internal/lab"
)

const allowPlan = `
task "allow" {
  on = ["h1"]
  allowlist "security-center" {
    region = "cn-hangzhou"
    ports  = [6443]
    method = %q
    state  = %q
  }
}
`

func allowFiles(method, state string) map[string]string {
	return map[string]string{"main.hcl": strings.Replace(strings.Replace(allowPlan, "%q", `"`+method+`"`, 1), "%q", `"`+state+`"`, 1)}
}

func TestLabAllowlistIptables(t *testing.T) {
	t.Parallel()
	l, inv := startLab(t, 1, "root")
	h := l.Host("h1")
	planDir := writeFiles(t, allowFiles("auto", "present"))
	r := hostplan(t, "plan", "-i", inv, planDir)
	if r.code != 2 || !strings.Contains(r.stdout, "method iptables (auto: firewalld is not running); region cn-hangzhou: 2 sources, ports [6443]") {
		t.Fatalf("plan:\n%s", r)
	}
	r0 := r
	for range 2 {
		if r = hostplan(t, "apply", "--auto-approve", "-i", inv, planDir); r.code != 0 {
			t.Fatalf("apply:\n%s", r)
		}
	}
	chain := remote(t, h, "iptables -S HOSTPLAN-ALLOW")
	for _, want := range []string{"-A HOSTPLAN-ALLOW -s 47.96.166.214/32 -p tcp -m tcp --dport 6443 -j ACCEPT",
		"-A HOSTPLAN-ALLOW -s 100.104.12.64/26 -p tcp -m tcp --dport 6443 -j ACCEPT"} {
		if strings.Count(chain, want) != 1 {
			t.Errorf("chain should hold %q once:\n%s", want, chain)
		}
	}
	if input := remote(t, h, "iptables -S INPUT"); strings.Count(input, "-j HOSTPLAN-ALLOW") != 1 {
		t.Errorf("INPUT should jump to the chain once:\n%s", input)
	}
	// The plan predicted the saved file line for line (it had none: all lines added).
	saved := remote(t, h, "cat /etc/iptables/rules.v4")
	if got, want := addedLines(r0.stdout), savedLines(saved); !strings.Contains(saved, "47.96.166.214/32") || strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("the plan's rules.v4:\n%s\nsaved:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if r = hostplan(t, "plan", "-i", inv, planDir); r.code != 0 {
		t.Errorf("second plan must be empty:\n%s", r)
	}
	absent := writeFiles(t, allowFiles("iptables", "absent"))
	if r = hostplan(t, "apply", "--auto-approve", "-i", inv, absent); r.code != 0 {
		t.Fatalf("apply absent:\n%s", r)
	}
	if all := remote(t, h, "iptables-save"); strings.Contains(all, "HOSTPLAN-ALLOW") {
		t.Errorf("chain left after absent:\n%s", all)
	}
	bad := writeFiles(t, map[string]string{"main.hcl": strings.Replace(allowFiles("auto", "present")["main.hcl"], "cn-hangzhou", "cn-hangzou", 1)})
	if r = hostplan(t, "validate", "-i", inv, bad); r.code != 1 || !strings.Contains(r.stdout+r.stderr, "cn-hangzhou") {
		t.Errorf("unknown region must fail validate with a suggestion:\n%s", r)
	}
}

func TestLabAllowlistFirewalld(t *testing.T) {
	t.Parallel()
	l, inv := startLab(t, 1, "root")
	h := l.Host("h1")
	lab.StartFirewalldForTest(t, h)
	planDir := writeFiles(t, allowFiles("auto", "present"))
	if r := hostplan(t, "apply", "--auto-approve", "-i", inv, planDir); r.code != 0 || !strings.Contains(r.stdout, "done allowlist") {
		t.Fatalf("apply:\n%s", r)
	}
	want := `rule family="ipv4" source address="47.96.166.214/32" port port="6443" protocol="tcp" accept`
	for _, q := range []string{"", "--permanent "} {
		if got := remote(t, h, "firewall-cmd "+q+"--list-rich-rules"); !strings.Contains(got, want) {
			t.Errorf("firewall-cmd %s--list-rich-rules lacks our rule:\n%s", q, got)
		}
	}
	if r := hostplan(t, "plan", "-i", inv, planDir); r.code != 0 {
		t.Errorf("second plan must be empty:\n%s", r)
	}
}

// addedLines are the lines a plan's diffs add.
func addedLines(plan string) []string {
	var out []string
	for _, l := range strings.Split(plan, "\n") {
		if l = strings.TrimSpace(l); strings.HasPrefix(l, "+") && !strings.HasPrefix(l, "+++ ") {
			out = append(out, l[1:])
		}
	}
	return out
}

// savedLines are the lines of an iptables-save file but its comments.
func savedLines(saved string) []string {
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(saved), "\n") {
		if !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out
}
