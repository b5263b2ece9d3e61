package winstandin

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/hostplan/hostplan/internal/netsh"
)

// sample reads one of package netsh's hand-made netsh outputs, which the
// stand-in's output has to reproduce.
func sample(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "netsh", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// mustRun runs line and fails the test unless it exits with code.
func mustRun(t *testing.T, statePath, line string, code int) string {
	t.Helper()
	stdout, stderr, got := run(t, statePath, line)
	if got != code {
		t.Fatalf("Run(%q) exit %d, want %d\nstdout %q\nstderr %q", line, got, code, stdout, stderr)
	}
	return stdout
}

// ent is a netsh.Entry in the order `show` prints its fields.
func ent(listenAddress string, listenPort int, connectAddress string, connectPort int) netsh.Entry {
	return netsh.Entry{ListenAddress: listenAddress, ListenPort: listenPort, ConnectAddress: connectAddress, ConnectPort: connectPort}
}

const showProxy = "netsh interface portproxy show v4tov4"

func showEntries(t *testing.T, statePath string) []netsh.Entry {
	t.Helper()
	entries, err := netsh.ParseShowV4ToV4(mustRun(t, statePath, showProxy, 0))
	if err != nil {
		t.Fatal(err)
	}
	return entries
}

func TestPortProxyShowMatchesSample(t *testing.T) {
	st := newState(t)
	if got := mustRun(t, st, showProxy, 0); got != sample(t, "portproxy_empty.txt") {
		t.Errorf("empty show = %q, want portproxy_empty.txt", got)
	}
	// Added out of order: show sorts by registry value name, which is the
	// sample's order.
	for _, line := range []string{
		"netsh interface portproxy add v4tov4 listenport=5433 listenaddress=127.0.0.1 connectaddress=wsl-host connectport=5432",
		"netsh interface portproxy add v4tov4 listenport=6443 connectaddress=192.168.10.21",
		"netsh interface portproxy add v4tov4 listenport=8443 listenaddress=10.0.0.5 connectaddress=apiserver.corp.example.com connectport=443 protocol=tcp",
		"netsh interface portproxy add v4tov4 listenport=2222 listenaddress=0.0.0.0 connectaddress=172.23.21.232 connectport=22",
	} {
		if out := mustRun(t, st, line, 0); out != "\r\n" {
			t.Errorf("%s: output %q, want an empty line", line, out)
		}
	}
	// The sample's one trailing-space row is hand-made to test the parser;
	// apart from it the layout must be the same byte for byte.
	trim := func(s string) string {
		lines := strings.Split(s, "\r\n")
		for i, l := range lines {
			lines[i] = strings.TrimRight(l, " ")
		}
		return strings.Join(lines, "\r\n")
	}
	got, want := mustRun(t, st, showProxy, 0), sample(t, "portproxy_en.txt")
	if trim(got) != trim(want) {
		t.Errorf("show:\n%s\nwant (portproxy_en.txt):\n%s", got, want)
	}
	entries, err := netsh.ParseShowV4ToV4(got)
	if err != nil {
		t.Fatal(err)
	}
	wantEntries, err := netsh.ParseShowV4ToV4(want)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(entries, wantEntries) {
		t.Errorf("parsed %v, want %v", entries, wantEntries)
	}
	if all := mustRun(t, st, "netsh interface portproxy show all", 0); all != got {
		t.Errorf("show all = %q, want the v4tov4 table %q", all, got)
	}
}

func TestPortProxyCommands(t *testing.T) {
	const (
		add = "netsh interface portproxy add v4tov4 "
		set = "netsh interface portproxy set v4tov4 "
		del = "netsh interface portproxy delete v4tov4 "
	)
	tests := []struct {
		name  string
		setup []string
		line  string
		out   string
		code  int
		after []netsh.Entry
	}{
		{"add", nil, add + "listenport=80 listenaddress=* connectaddress=10.0.0.1 connectport=8080 protocol=tcp",
			"\r\n", 0, []netsh.Entry{ent("*", 80, "10.0.0.1", 8080)}},
		{"connectport defaults to listenport", nil, add + "listenport=80 connectaddress=10.0.0.1",
			"\r\n", 0, []netsh.Entry{ent("*", 80, "10.0.0.1", 80)}},
		{"keywords and tags are case-insensitive", nil, "NETSH.EXE Interface PortProxy ADD V4toV4 ListenPort=80 CONNECTADDRESS=Host-A Protocol=TCP",
			"\r\n", 0, []netsh.Entry{ent("*", 80, "Host-A", 80)}},
		{"* and 0.0.0.0 are different entries", []string{add + "listenport=80 listenaddress=* connectaddress=10.0.0.1"},
			add + "listenport=80 listenaddress=0.0.0.0 connectaddress=10.0.0.2",
			"\r\n", 0, []netsh.Entry{ent("*", 80, "10.0.0.1", 80), ent("0.0.0.0", 80, "10.0.0.2", 80)}},
		{"add overwrites its listener", []string{add + "listenport=80 listenaddress=MyHost connectaddress=10.0.0.1 connectport=81"},
			add + "listenport=80 listenaddress=myhost connectaddress=10.0.0.2",
			"\r\n", 0, []netsh.Entry{ent("MyHost", 80, "10.0.0.2", 80)}},
		{"other ports untouched", []string{add + "listenport=81 connectaddress=10.0.0.1"},
			add + "listenport=80 connectaddress=10.0.0.2",
			"\r\n", 0, []netsh.Entry{ent("*", 80, "10.0.0.2", 80), ent("*", 81, "10.0.0.1", 81)}},

		{"set", []string{add + "listenport=80 listenaddress=0.0.0.0 connectaddress=10.0.0.1"},
			set + "listenport=80 listenaddress=0.0.0.0 connectaddress=10.0.0.9 connectport=90 protocol=tcp",
			"\r\n", 0, []netsh.Entry{ent("0.0.0.0", 80, "10.0.0.9", 90)}},
		{"set keeps what it is not given", []string{add + "listenport=80 connectaddress=10.0.0.1 connectport=81"},
			set + "listenport=80 connectaddress=10.0.0.9",
			"\r\n", 0, []netsh.Entry{ent("*", 80, "10.0.0.9", 81)}},
		{"set missing", nil, set + "listenport=80 connectaddress=10.0.0.1",
			msgFileNotFound, 1, nil},
		{"set under the other spelling", []string{add + "listenport=80 listenaddress=* connectaddress=10.0.0.1"},
			set + "listenport=80 listenaddress=0.0.0.0 connectaddress=10.0.0.9",
			msgFileNotFound, 1, []netsh.Entry{ent("*", 80, "10.0.0.1", 80)}},

		{"delete", []string{add + "listenport=80 connectaddress=10.0.0.1", add + "listenport=81 connectaddress=10.0.0.1"},
			del + "listenport=80 listenaddress=*",
			"\r\n", 0, []netsh.Entry{ent("*", 81, "10.0.0.1", 81)}},
		{"delete keys case-insensitively", []string{add + "listenport=80 listenaddress=MyHost connectaddress=10.0.0.1"},
			del + "listenport=80 listenaddress=MYHOST",
			"\r\n", 0, nil},
		{"delete missing", nil, del + "listenport=80", msgFileNotFound, 1, nil},
		{"delete leaves the other spelling", []string{add + "listenport=80 listenaddress=* connectaddress=10.0.0.1"},
			del + "listenport=80 listenaddress=0.0.0.0",
			msgFileNotFound, 1, []netsh.Entry{ent("*", 80, "10.0.0.1", 80)}},

		{"port 0", nil, add + "listenport=0 connectaddress=10.0.0.1", msgParamIncorrect, 1, nil},
		{"port 65536", nil, add + "listenport=80 connectaddress=10.0.0.1 connectport=65536", msgParamIncorrect, 1, nil},
		{"port not a number", nil, add + "listenport=http connectaddress=10.0.0.1", msgParamIncorrect, 1, nil},
		{"missing listenport", nil, add + "connectaddress=10.0.0.1", msgParamIncorrect, 1, nil},
		{"missing connectaddress", nil, add + "listenport=80", msgParamIncorrect, 1, nil},
		{"unknown parameter", nil, add + "listenport=80 connectaddress=10.0.0.1 bogus=1", msgParamIncorrect, 1, nil},
		{"parameter twice", nil, add + "listenport=80 listenport=81 connectaddress=10.0.0.1", msgParamIncorrect, 1, nil},
		{"argument without a tag", nil, add + "80 10.0.0.1", msgParamIncorrect, 1, nil},
		{"udp", nil, add + "listenport=80 connectaddress=10.0.0.1 protocol=udp", msgParamIncorrect, 1, nil},
		{"bad address", nil, add + "listenport=80 connectaddress=10.0.0.1/8", msgParamIncorrect, 1, nil},
		{"error leaves state alone", []string{add + "listenport=80 connectaddress=10.0.0.1"},
			set + "listenport=80 connectaddress=10.0.0.2 connectport=0", msgParamIncorrect, 1, []netsh.Entry{ent("*", 80, "10.0.0.1", 80)}},
		{"show with parameters", nil, showProxy + " verbose", msgParamIncorrect, 1, nil},

		{"other object", nil, "netsh interface portproxy show v6tov6",
			"The following command was not found: interface portproxy show v6tov6.\r\n", 1, nil},
		{"abbreviation", nil, "netsh int portproxy show v4tov4",
			"The following command was not found: int portproxy show v4tov4.\r\n", 1, nil},
		{"incomplete", nil, "netsh interface portproxy",
			"The following command was not found: interface portproxy.\r\n", 1, nil},
		{"not found joins unquoted arguments", nil, `netsh interface "port proxy" reset`,
			"The following command was not found: interface port proxy reset.\r\n", 1, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := newState(t)
			for _, line := range tt.setup {
				mustRun(t, st, line, 0)
			}
			if out := mustRun(t, st, tt.line, tt.code); out != tt.out {
				t.Errorf("output %q, want %q", out, tt.out)
			}
			if got := showEntries(t, st); !reflect.DeepEqual(got, tt.after) {
				t.Errorf("entries after: %v, want %v", got, tt.after)
			}
		})
	}
}

func showRule(t *testing.T, statePath, name string) (string, int, []netsh.Rule) {
	t.Helper()
	c, err := netsh.ShowRuleCommand(name)
	if err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := run(t, statePath, c.Text)
	if stderr != "" {
		t.Errorf("%s: stderr %q", c.Text, stderr)
	}
	rules, err := netsh.ParseShowRule(stdout, code)
	if err != nil {
		t.Fatal(err)
	}
	return stdout, code, rules
}

func TestFirewallMatchesSamples(t *testing.T) {
	st := newState(t)
	out, code, rules := showRule(t, st, "apiserver")
	if out != sample(t, "rule_none_en.txt") || code != 1 || rules != nil {
		t.Errorf("show with no rule: exit %d %q, want 1 and rule_none_en.txt", code, out)
	}

	add, err := netsh.AddRuleCommand("apiserver", 6443)
	if err != nil {
		t.Fatal(err)
	}
	if out := mustRun(t, st, add.Text, 0); out != msgOk {
		t.Errorf("add: %q, want %q", out, msgOk)
	}
	out, code, rules = showRule(t, st, "apiserver")
	if out != sample(t, "rule_en.txt") || code != 0 {
		t.Errorf("show: exit %d\n%s\nwant rule_en.txt:\n%s", code, out, sample(t, "rule_en.txt"))
	}
	if len(rules) != 1 || !rules[0].Matches(6443) || rules[0].Matches(6444) || rules[0].Name != "hostplan apiserver" {
		t.Errorf("parsed %+v", rules)
	}

	// A second rule of the same name, as an administrator might add it.
	mustRun(t, st, `netsh advfirewall firewall add rule name="hostplan apiserver" dir=in action=allow protocol=UDP localport=6443`, 0)
	out, code, rules = showRule(t, st, "apiserver")
	if out != sample(t, "rule_en_duplicate.txt") || code != 0 {
		t.Errorf("show duplicates: exit %d\n%s\nwant rule_en_duplicate.txt", code, out)
	}
	if len(rules) != 2 || !rules[0].Matches(6443) || rules[1].Matches(6443) {
		t.Errorf("parsed %+v", rules)
	}

	del, err := netsh.DeleteRuleCommand("apiserver")
	if err != nil {
		t.Fatal(err)
	}
	if out := mustRun(t, st, del.Text, 0); out != "\r\nDeleted 2 rule(s).\r\nOk.\r\n\r\n" {
		t.Errorf("delete: %q", out)
	}
	if out := mustRun(t, st, del.Text, 1); out != sample(t, "rule_none_en.txt") {
		t.Errorf("second delete: %q", out)
	}
	if _, code, rules = showRule(t, st, "apiserver"); code != 1 || rules != nil {
		t.Errorf("after delete: exit %d, %+v", code, rules)
	}
}

func TestFirewallCommands(t *testing.T) {
	const (
		add  = "netsh advfirewall firewall add rule "
		show = "netsh advfirewall firewall show rule "
		del  = "netsh advfirewall firewall delete rule "
	)
	tests := []struct {
		name  string
		setup []string
		line  string
		out   string // "" checks only the exit code
		code  int
		after []string // names and ports left, as "name/protocol/port"
	}{
		{"add", nil, add + `name="a b" dir=in action=allow protocol=TCP localport=80`, msgOk, 0, []string{"a b/TCP/80"}},
		{"add, keywords any case", nil, `NetSh AdvFirewall Firewall ADD RULE Name=x DIR=IN Action=Allow protocol=tcp LocalPort=80,443,8000-8080`, msgOk, 0, []string{"x/TCP/80,443,8000-8080"}},
		{"add without protocol", nil, add + "name=x dir=out action=block", msgOk, 0, []string{"x/Any/Any"}},
		{"add duplicate", []string{add + "name=x dir=in action=allow"}, add + "name=x dir=in action=allow", msgOk, 0, []string{"x/Any/Any", "x/Any/Any"}},
		{"missing name", nil, add + "dir=in action=allow", msgMissingParams, 1, nil},
		{"missing dir", nil, add + "name=x action=allow", msgMissingParams, 1, nil},
		{"missing action", nil, add + "name=x dir=in", msgMissingParams, 1, nil},
		{"empty name", nil, add + `name="" dir=in action=allow`, msgMissingParams, 1, nil},
		{"bad dir", nil, add + "name=x dir=sideways action=allow", msgBadValue, 1, nil},
		{"bad action", nil, add + "name=x dir=in action=maybe", msgBadValue, 1, nil},
		{"bad protocol", nil, add + "name=x dir=in action=allow protocol=sctp", msgBadValue, 1, nil},
		{"port without protocol", nil, add + "name=x dir=in action=allow localport=80", msgBadValue, 1, nil},
		{"bad port", nil, add + "name=x dir=in action=allow protocol=tcp localport=0", msgBadValue, 1, nil},
		{"unknown option", nil, add + "name=x dir=in action=allow program=c:\\x.exe", msgBadValue, 1, nil},
		{"name all", nil, add + "name=all dir=in action=allow", msgBadValue, 1, nil},

		{"show all", []string{add + "name=x dir=in action=allow", add + "name=y dir=out action=block"}, show + "name=all", "", 0, []string{"x/Any/Any", "y/Any/Any"}},
		{"show all, none", nil, show + "name=all", msgNoRules, 1, nil},
		{"show is case-insensitive", []string{add + "name=Abc dir=in action=allow"}, show + "name=aBC", "", 0, []string{"Abc/Any/Any"}},
		{"show by direction", []string{add + "name=x dir=in action=allow"}, show + "name=x dir=out", msgNoRules, 1, []string{"x/Any/Any"}},
		{"show without name", nil, show, msgMissingParams, 1, nil},

		{"delete only that name", []string{add + "name=x dir=in action=allow", add + "name=y dir=in action=allow", add + "name=X dir=out action=allow"},
			del + "name=x", "\r\nDeleted 2 rule(s).\r\nOk.\r\n\r\n", 0, []string{"y/Any/Any"}},
		{"delete by direction", []string{add + "name=x dir=in action=allow", add + "name=x dir=out action=allow"},
			del + "name=x dir=out", "\r\nDeleted 1 rule(s).\r\nOk.\r\n\r\n", 0, []string{"x/Any/Any"}},
		{"delete none", []string{add + "name=x dir=in action=allow"}, del + "name=y", msgNoRules, 1, []string{"x/Any/Any"}},

		{"other advfirewall command", nil, "netsh advfirewall firewall set rule name=x new enable=no",
			"The following command was not found: advfirewall firewall set rule name=x new enable=no.\r\n", 1, nil},
		{"other context", nil, "netsh advfirewall show allprofiles",
			"The following command was not found: advfirewall show allprofiles.\r\n", 1, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := newState(t)
			for _, line := range tt.setup {
				mustRun(t, st, line, 0)
			}
			out := mustRun(t, st, tt.line, tt.code)
			if tt.out != "" && out != tt.out {
				t.Errorf("output %q, want %q", out, tt.out)
			}
			var after []string
			if out, _, code := run(t, st, show+"name=all"); code == 0 {
				rules, err := netsh.ParseShowRule(out, code)
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range rules {
					port := r.LocalPort
					if port == "" {
						port = "Any" // no port lines for protocol Any
					}
					after = append(after, r.Name+"/"+r.Protocol+"/"+port)
				}
			}
			if !reflect.DeepEqual(after, tt.after) {
				t.Errorf("rules after: %q, want %q", after, tt.after)
			}
		})
	}
}

// TestPlansConverge applies what netsh.Plan and netsh.PlanRule ask for to the
// stand-in, then plans again from its `show` output: a second plan with
// anything in it means either the stand-in or the planner is wrong about
// what a command does.
func TestPlansConverge(t *testing.T) {
	const add = "netsh interface portproxy add v4tov4 "
	want := netsh.Entry{ListenAddress: "*", ListenPort: 6443, ConnectAddress: "192.168.1.10", ConnectPort: 6443}
	proxyTests := []struct {
		name   string
		setup  []string
		want   netsh.Entry
		absent bool
	}{
		{"missing", nil, want, false},
		{"identical", []string{add + "listenport=6443 listenaddress=* connectaddress=192.168.1.10"}, want, false},
		{"other target", []string{add + "listenport=6443 listenaddress=* connectaddress=10.0.0.1 connectport=443"}, want, false},
		{"other spelling of the listener", []string{add + "listenport=6443 listenaddress=0.0.0.0 connectaddress=10.0.0.1"}, want, false},
		{"both spellings", []string{
			add + "listenport=6443 listenaddress=0.0.0.0 connectaddress=10.0.0.1",
			add + "listenport=6443 listenaddress=* connectaddress=10.0.0.2",
		}, want, false},
		{"both spellings, one right", []string{
			add + "listenport=6443 listenaddress=0.0.0.0 connectaddress=192.168.1.10",
			add + "listenport=6443 listenaddress=* connectaddress=10.0.0.2",
		}, want, false},
		{"host name in other case", []string{add + "listenport=8443 listenaddress=WinHost connectaddress=API.example connectport=443"},
			netsh.Entry{ListenAddress: "winhost", ListenPort: 8443, ConnectAddress: "api.example", ConnectPort: 443}, false},
		{"neighbours", []string{
			add + "listenport=6444 listenaddress=* connectaddress=10.0.0.1",
			add + "listenport=6443 listenaddress=10.0.0.5 connectaddress=10.0.0.1",
		}, want, false},
		{"absent, none", nil, want, true},
		{"absent, both spellings", []string{
			add + "listenport=6443 listenaddress=0.0.0.0 connectaddress=10.0.0.1",
			add + "listenport=6443 listenaddress=* connectaddress=10.0.0.2",
			add + "listenport=6444 listenaddress=* connectaddress=10.0.0.2",
		}, want, true},
	}
	for _, tt := range proxyTests {
		t.Run("portproxy/"+tt.name, func(t *testing.T) {
			st := newState(t)
			for _, line := range tt.setup {
				mustRun(t, st, line, 0)
			}
			cmds, err := netsh.Plan(showEntries(t, st), tt.want, tt.absent)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range cmds {
				mustRun(t, st, c.Text, 0)
			}
			entries := showEntries(t, st)
			again, err := netsh.Plan(entries, tt.want, tt.absent)
			if err != nil {
				t.Fatal(err)
			}
			if len(again) > 0 {
				t.Errorf("after %q the plan is still %q (entries %v)", cmds, again, entries)
			}
			n := 0
			for _, e := range entries {
				if e.ListenPort == tt.want.ListenPort && netsh.Normalize(e).ListenAddress == netsh.Normalize(tt.want).ListenAddress {
					n++
					if got, w := netsh.Normalize(e), netsh.Normalize(tt.want); !tt.absent && got != w {
						t.Errorf("entry %v, want %v", e, tt.want)
					}
				}
			}
			if tt.absent && n != 0 || !tt.absent && n != 1 {
				t.Errorf("%d entries for the listener after %q: %v", n, cmds, entries)
			}
		})
	}

	const addRule = "netsh advfirewall firewall add rule "
	ruleTests := []struct {
		name   string
		setup  []string
		port   int
		absent bool
	}{
		{"missing", nil, 6443, false},
		{"matching", []string{addRule + `name="hostplan apiserver" dir=in action=allow protocol=TCP localport=6443`}, 6443, false},
		{"other port", []string{addRule + `name="hostplan apiserver" dir=in action=allow protocol=TCP localport=6444`}, 6443, false},
		{"blocking", []string{addRule + `name="hostplan apiserver" dir=in action=block protocol=TCP localport=6443`}, 6443, false},
		{"any protocol", []string{addRule + `name="hostplan apiserver" dir=in action=allow`}, 6443, false},
		{"duplicates", []string{
			addRule + `name="hostplan apiserver" dir=in action=allow protocol=TCP localport=6443`,
			addRule + `name="hostplan apiserver" dir=in action=allow protocol=TCP localport=6443`,
		}, 6443, false},
		{"name in other case", []string{addRule + `name="HOSTPLAN APISERVER" dir=in action=allow protocol=TCP localport=6443`}, 6443, false},
		{"absent, none", nil, 6443, true},
		{"absent, duplicates", []string{
			addRule + `name="hostplan apiserver" dir=in action=allow protocol=TCP localport=6443`,
			addRule + `name="hostplan apiserver" dir=out action=allow protocol=UDP localport=53`,
		}, 6443, true},
	}
	for _, tt := range ruleTests {
		t.Run("rule/"+tt.name, func(t *testing.T) {
			st := newState(t)
			mustRun(t, st, addRule+`name="hostplan other" dir=in action=allow protocol=TCP localport=22`, 0)
			for _, line := range tt.setup {
				mustRun(t, st, line, 0)
			}
			_, _, rules := showRule(t, st, "apiserver")
			cmds, err := netsh.PlanRule(rules, "apiserver", tt.port, tt.absent)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range cmds {
				mustRun(t, st, c.Text, 0)
			}
			_, _, rules = showRule(t, st, "apiserver")
			again, err := netsh.PlanRule(rules, "apiserver", tt.port, tt.absent)
			if err != nil {
				t.Fatal(err)
			}
			if len(again) > 0 {
				t.Errorf("after %q the plan is still %q (rules %+v)", cmds, again, rules)
			}
			if tt.absent && len(rules) != 0 || !tt.absent && (len(rules) != 1 || !rules[0].Matches(tt.port)) {
				t.Errorf("rules after %q: %+v", cmds, rules)
			}
			if _, _, other := showRule(t, st, "other"); len(other) != 1 {
				t.Errorf("another rule was touched: %+v", other)
			}
		})
	}
}
