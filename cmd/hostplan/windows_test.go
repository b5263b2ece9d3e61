package main

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hostplan/hostplan/internal/lab"
	"github.com/hostplan/hostplan/internal/lab/winstandin"
	"github.com/hostplan/hostplan/internal/netsh"
)

// netshOn runs a cmd.exe line on a Windows stand-in directly (not over SSH), the way an
// administrator would change the host behind our back. The stand-in logs it too.
func netshOn(t *testing.T, h *lab.Host, line string) string {
	t.Helper()
	var out, errb bytes.Buffer
	if code := winstandin.Run(line, h.WindowsState(), &out, &errb); code != 0 {
		t.Fatalf("%s: %s: exit %d: %s%s", h.Name, line, code, out.String(), errb.String())
	}
	return out.String()
}

// proxies lists a Windows stand-in's port proxy entries, as netsh shows them.
func proxies(t *testing.T, h *lab.Host) []string {
	t.Helper()
	entries, err := netsh.ParseShowV4ToV4(netshOn(t, h, "netsh interface portproxy show v4tov4"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.String())
	}
	slices.Sort(out)
	return out
}

// changing counts the netsh commands in a stand-in's log that change something.
func changing(t *testing.T, h *lab.Host) int {
	t.Helper()
	log, err := h.WindowsLog()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(log, "\n") {
		f := strings.Fields(strings.ToLower(line))
		if len(f) > 3 && f[0] == "netsh" && slices.ContainsFunc(f[1:4], func(w string) bool { return w == "add" || w == "set" || w == "delete" }) {
			n++
		}
	}
	return n
}

func TestLabPortForwardNetsh(t *testing.T) {
	t.Parallel()
	l, inv := startLab(t, 2, "root")
	h2 := l.Host("h2")
	if err := h2.MakeWindows(); err != nil {
		t.Fatal(err)
	}
	// Someone else's entry and a stale one of ours on the same listener ("0.0.0.0" and
	// "*" are the same listener to the proxy): the first is left alone, the second re-pointed.
	netshOn(t, h2, "netsh interface portproxy add v4tov4 listenport=9000 listenaddress=0.0.0.0 connectaddress=10.9.9.9 connectport=80")
	netshOn(t, h2, "netsh interface portproxy add v4tov4 listenport=8443 listenaddress=0.0.0.0 connectaddress=198.18.0.99 connectport=6443")
	foreign := "0.0.0.0:9000 -> 10.9.9.9:80"
	setup := changing(t, h2)

	present := writeFiles(t, map[string]string{"main.hcl": forwardPlan("198.18.0.2", "auto", "present")})
	r := hostplan(t, "plan", "-i", inv, present)
	for _, want := range []string{
		"method netsh (auto: Windows host)",
		"would run: netsh interface portproxy set v4tov4 listenport=8443 listenaddress=0.0.0.0 connectaddress=198.18.0.2 connectport=6443 protocol=tcp",
		`would run: netsh advfirewall firewall add rule name="hostplan apiserver" dir=in action=allow protocol=TCP localport=8443`,
		"masquerade: nothing to do",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("plan lacks %q:\n%s", want, r)
		}
	}
	if r.code != 2 || changing(t, h2) != setup {
		t.Fatalf("plan (exit %d, %d changing commands run):\n%s", r.code, changing(t, h2)-setup, r)
	}

	for i := range 2 {
		if r = hostplan(t, "apply", "--auto-approve", "-i", inv, present); r.code != 0 {
			t.Fatalf("apply %d:\n%s", i+1, r)
		}
		if n := changing(t, h2) - setup; n != 2 {
			t.Errorf("after apply %d: %d changing netsh commands in all, want the 2 of the first apply", i+1, n)
		}
	}
	if got, want := proxies(t, h2), []string{"0.0.0.0:8443 -> 198.18.0.2:6443", foreign}; !slices.Equal(got, want) {
		t.Errorf("port proxy entries %q, want %q", got, want)
	}
	rules, err := netsh.ParseShowRule(netshOn(t, h2, `netsh advfirewall firewall show rule name="hostplan apiserver"`), 0)
	if err != nil || len(rules) != 1 || !rules[0].Matches(8443) {
		t.Errorf("firewall rules %+v, %v; want one inbound TCP 8443 allow", rules, err)
	}
	if r = hostplan(t, "plan", "-i", inv, present); r.code != 0 || !strings.Contains(r.stdout, "no changes") {
		t.Errorf("second plan:\n%s", r)
	}

	// A duplicate rule of our name, added by hand, is collapsed back to one.
	netshOn(t, h2, `netsh advfirewall firewall add rule name="hostplan apiserver" dir=in action=allow protocol=TCP localport=8444`)
	if r = hostplan(t, "apply", "--auto-approve", "-i", inv, present); r.code != 0 {
		t.Fatalf("apply over a duplicate rule:\n%s", r)
	}
	rules, err = netsh.ParseShowRule(netshOn(t, h2, `netsh advfirewall firewall show rule name="hostplan apiserver"`), 0)
	if err != nil || len(rules) != 1 || !rules[0].Matches(8443) {
		t.Errorf("after the duplicate: rules %+v, %v", rules, err)
	}

	absent := writeFiles(t, map[string]string{"main.hcl": forwardPlan("198.18.0.2", "netsh", "absent")})
	for i := range 2 {
		if r = hostplan(t, "apply", "--auto-approve", "-i", inv, absent); r.code != 0 {
			t.Fatalf("absent apply %d:\n%s", i+1, r)
		}
	}
	if got := proxies(t, h2); !slices.Equal(got, []string{foreign}) {
		t.Errorf("after absent: entries %q, want only %q", got, foreign)
	}
	var out, errb bytes.Buffer
	if code := winstandin.Run(`netsh advfirewall firewall show rule name="hostplan apiserver"`, h2.WindowsState(), &out, &errb); code != 1 {
		t.Errorf("after absent the rule still exists:\n%s", out.String())
	}
	if r = hostplan(t, "plan", "-i", inv, absent); r.code != 0 {
		t.Errorf("plan after absent:\n%s", r)
	}

	// hostplan said nothing to the host but cmd.exe lines: facts and netsh.
	log, err := h2.WindowsLog()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(log), "\n") {
		if !strings.HasPrefix(line, "netsh ") && !strings.HasPrefix(line, "echo hostname=%COMPUTERNAME%") {
			t.Errorf("a command cmd.exe would not run was sent: %q", line)
		}
	}
}

func TestLabWindowsRefusals(t *testing.T) {
	t.Parallel()
	l, inv := startLab(t, 2, "root")
	h2 := l.Host("h2")
	if err := h2.MakeWindows(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, body, want string }{
		{"iptables", forwardPlan("198.18.0.2", "iptables", "present"), `method "iptables" on Windows host h2; use "netsh"`},
		{"udp", strings.Replace(forwardPlan("198.18.0.2", "auto", "present"), "masquerade", "protocol = \"udp\"\n    masquerade", 1),
			`protocol "udp" on Windows host h2: the netsh port proxy forwards TCP only`},
		{"file", "task \"motd\" {\n  on = [\"h2\"]\n  file \"/etc/motd\" {\n    content = \"hi\\n\"\n  }\n}\n",
			"file does not support Windows hosts yet"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := hostplan(t, "apply", "--auto-approve", "-i", inv, writeFiles(t, map[string]string{"main.hcl": tc.body}))
			if r.code != 1 || !strings.Contains(r.stdout+r.stderr, tc.want) {
				t.Errorf("want exit 1 and %q:\n%s", tc.want, r)
			}
		})
	}
	// An inventory that insists on shell = "sh" for a Windows host gets cmd.exe's own
	// answer in the error, and the host is left alone.
	src, err := os.ReadFile(inv)
	if err != nil {
		t.Fatal(err)
	}
	shInv := filepath.Join(t.TempDir(), "sh.hcl")
	forced := strings.Replace(string(src), "host \"h2\" {", "host \"h2\" {\n  shell = \"sh\"", 1)
	if err := os.WriteFile(shInv, []byte(forced), 0o644); err != nil {
		t.Fatal(err)
	}
	r := hostplan(t, "plan", "-i", shInv, writeFiles(t, map[string]string{"main.hcl": forwardPlan("198.18.0.2", "auto", "present")}))
	// cmd.exe takes the quoted /bin/sh line apart (single quotes mean nothing to it): the
	// facts fail with what cmd.exe said, before any resource.
	if r.code != 1 || !strings.Contains(r.stdout, "host h2: FAILED") || !strings.Contains(r.stdout, "gather facts: run a command on h2: /bin/sh did not start on h2") {
		t.Errorf("shell = \"sh\" on a Windows host:\n%s", r)
	}
	if r = hostplan(t, "inventory", "-i", shInv); !strings.Contains(r.stdout, "shell:      sh") {
		t.Errorf("inventory does not show the shell setting:\n%s", r)
	}
	if n := changing(t, h2); n != 0 {
		t.Errorf("refused plans ran %d changing netsh commands", n)
	}
}
