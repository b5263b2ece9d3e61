package allowlist

import (
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The tests in this file check the claimed output formats against the real
// tools, in namespaces of their own so the machine's firewall is untouched.
// They need root and the tools, and skip otherwise: the package itself never
// runs anything.

func needRoot(t *testing.T, tools ...string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for a private namespace")
	}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
}

// netns starts a process in a new network namespace and returns a function
// that runs a command inside it (stdout, and the error with stderr).
func netns(t *testing.T) func(args ...string) (string, error) {
	t.Helper()
	holder := exec.Command("unshare", "--net", "sleep", "600")
	if err := holder.Start(); err != nil {
		t.Skipf("unshare --net: %v", err)
	}
	t.Cleanup(func() {
		_ = holder.Process.Kill()
		_ = holder.Wait()
	})
	nsPath := "/proc/" + strconv.Itoa(holder.Process.Pid) + "/ns/net"
	self, _ := os.Readlink("/proc/self/ns/net")
	for deadline := time.Now().Add(5 * time.Second); ; {
		if l, err := os.Readlink(nsPath); err == nil && l != self {
			break
		}
		if time.Now().After(deadline) {
			t.Skip("no private network namespace appeared")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return func(args ...string) (string, error) {
		cmd := exec.Command("nsenter", append([]string{"--net=" + nsPath}, args...)...)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			err = errors.New(strings.Join(args, " ") + ": " + err.Error() + ": " + strings.TrimSpace(stderr.String()))
		}
		return string(out), err
	}
}

// TestRealIPTables drives a real iptables through DiffIPTables until it
// converges, checking that `iptables -S` prints our rules exactly as
// ChainRules and JumpRules write them.
func TestRealIPTables(t *testing.T) {
	needRoot(t, "iptables", "unshare", "nsenter")
	run := netns(t)
	if _, err := run("iptables", "-w", "-A", "INPUT", "-p", "tcp", "--dport", "6443", "-j", "DROP"); err != nil {
		t.Skipf("iptables does not work here: %v", err)
	}
	shanghai, _ := Lookup("cn-shanghai")
	hangzhou, _ := Lookup("cn-hangzhou")
	steps := []struct {
		name   string
		a      Allow
		absent bool
	}{
		{"create", Allow{Sources: Sources(shanghai, true, true), Ports: []int{6443, 443}}, false},
		{"change region and ports", Allow{Sources: Sources(hangzhou, true, false), Ports: []int{6443}}, false},
		{"absent", Allow{}, true},
	}
	for _, st := range steps {
		for round := 0; round < 2; round++ {
			chainOut, _ := run("iptables", "-w", "-S", Chain) // fails, printing nothing, when the chain is missing
			inputOut, err := run("iptables", "-w", "-S", "INPUT")
			if err != nil {
				t.Fatal(err)
			}
			cmds, err := st.a.DiffIPTables(chainOut, inputOut, st.absent)
			if err != nil {
				t.Fatalf("%s: %v", st.name, err)
			}
			if round == 1 {
				if len(cmds) != 0 {
					t.Fatalf("%s: not converged, still %q\nchain:\n%s\nINPUT:\n%s", st.name, argLines(cmds), chainOut, inputOut)
				}
				if st.absent {
					if chainOut != "" || strings.Contains(inputOut, Chain) {
						t.Errorf("%s: left\n%s\n%s", st.name, chainOut, inputOut)
					}
					break
				}
				want, _ := st.a.ChainRules()
				if got := strings.Split(strings.TrimSpace(chainOut), "\n"); !sameSet(got, want) {
					t.Errorf("%s: iptables -S prints\n%s\nwant\n%s", st.name, chainOut, strings.Join(want, "\n"))
				}
				jumps, _ := st.a.JumpRules()
				if !strings.Contains(inputOut, strings.Join(jumps, "\n")+"\n-A INPUT -p tcp -m tcp --dport 6443 -j DROP") {
					t.Errorf("%s: jumps not ahead of the host's rule:\n%s", st.name, inputOut)
				}
				break
			}
			if len(cmds) == 0 {
				t.Fatalf("%s: nothing to do on the first round", st.name)
			}
			for _, c := range cmds {
				if _, err := run(c...); err != nil {
					t.Fatalf("%s: %v", st.name, err)
				}
			}
		}
	}
}

// TestRealFirewalldCanonicalForm has firewalld itself (offline, on a tmpfs
// over /etc/firewalld in a private mount namespace) store rules given in a
// loose spelling and in ours, and checks that --list-rich-rules prints ours
// back byte for byte, so that DiffRichRules finds nothing to do.
func TestRealFirewalldCanonicalForm(t *testing.T) {
	needRoot(t, "firewall-offline-cmd", "unshare")
	if _, err := os.Stat("/etc/firewalld"); err != nil {
		t.Skip("no /etc/firewalld to mount over")
	}
	a := Allow{Sources: []netip.Prefix{pfx("139.224.15.48/32"), pfx("100.104.43.0/26")}, Ports: []int{6443}}
	want, _ := a.RichRules()
	c, err := a.DiffRichRules("", false)
	if err != nil {
		t.Fatal(err)
	}
	var script strings.Builder
	script.WriteString("set -e; mount -t tmpfs hostplan-test /etc/firewalld\n")
	// A loose spelling of the first rule: unquoted, attributes out of order.
	script.WriteString(`firewall-offline-cmd --zone=public --add-rich-rule='rule family=ipv4 source address=139.224.15.48/32 port protocol=tcp port=6443 accept' >/dev/null 2>&1` + "\n")
	for _, argv := range FirewallCmdArgs("public", false, RichRuleChanges{Add: c.Add[1:]}) {
		script.WriteString("firewall-offline-cmd " + shellQuote(argv[1:]) + " >/dev/null 2>&1\n")
	}
	script.WriteString("firewall-offline-cmd --zone=public --list-rich-rules 2>/dev/null\n")
	out, err := exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-c", script.String()).Output()
	if err != nil {
		t.Skipf("firewall-offline-cmd in a private mount namespace: %v", err)
	}
	if got := strings.Split(strings.TrimSpace(string(out)), "\n"); !sameSet(got, want) {
		t.Fatalf("firewalld lists\n%s\nwant\n%s", out, strings.Join(want, "\n"))
	}
	if again, err := a.DiffRichRules(string(out), false); err != nil || !again.Empty() {
		t.Fatalf("diff after adding: %+v, %v", again, err)
	}
}

func shellQuote(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(out, " ")
}
