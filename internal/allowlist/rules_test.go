package allowlist

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

var (
	pfx   = netip.MustParsePrefix
	allow = Allow{
		Sources: []netip.Prefix{pfx("139.224.15.48/32"), pfx("100.104.43.0/26")},
		Ports:   []int{6443},
	}
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		a       Allow
		wantErr string
	}{
		{"ok", allow, ""},
		{"no sources", Allow{Ports: []int{1}}, "no sources"},
		{"no ports", Allow{Sources: allow.Sources}, "no ports"},
		{"IPv6 source", Allow{Sources: []netip.Prefix{pfx("2001:db8::/32")}, Ports: []int{1}}, "not an IPv4 prefix"},
		{"zero prefix", Allow{Sources: []netip.Prefix{{}}, Ports: []int{1}}, "not an IPv4 prefix"},
		{"port 0", Allow{Sources: allow.Sources, Ports: []int{0}}, "port 0"},
		{"port 65536", Allow{Sources: allow.Sources, Ports: []int{65536}}, "port 65536"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.a.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
			}
			if _, err := tt.a.RichRules(); err == nil {
				t.Error("RichRules accepted it")
			}
			if _, err := tt.a.ChainRules(); err == nil {
				t.Error("ChainRules accepted it")
			}
			if _, err := tt.a.DiffRichRules("", true); err == nil {
				t.Error("DiffRichRules accepted it")
			}
			if _, err := tt.a.DiffIPTables("", "-P INPUT ACCEPT", false); err == nil {
				t.Error("DiffIPTables accepted it")
			}
		})
	}
}

func TestRichRule(t *testing.T) {
	tests := []struct {
		src  netip.Prefix
		port int
		want string
	}{
		{pfx("139.224.15.48/32"), 6443, `rule family="ipv4" source address="139.224.15.48/32" port port="6443" protocol="tcp" accept`},
		{pfx("100.104.43.0/26"), 443, `rule family="ipv4" source address="100.104.43.0/26" port port="443" protocol="tcp" accept`},
		{pfx("100.104.43.5/26"), 443, `rule family="ipv4" source address="100.104.43.0/26" port port="443" protocol="tcp" accept`},
	}
	for _, tt := range tests {
		if got := RichRule(tt.src, tt.port); got != tt.want {
			t.Errorf("RichRule(%v, %d) =\n%s\nwant\n%s", tt.src, tt.port, got, tt.want)
		}
	}
}

func TestRichRulesOrderAndDedup(t *testing.T) {
	a := Allow{
		Sources: []netip.Prefix{pfx("10.0.0.9/32"), pfx("10.1.0.0/16"), pfx("10.0.0.9/32"), pfx("10.1.2.3/16")},
		Ports:   []int{8443, 6443, 8443},
	}
	got, err := a.RichRules()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`rule family="ipv4" source address="10.0.0.9/32" port port="6443" protocol="tcp" accept`,
		`rule family="ipv4" source address="10.1.0.0/16" port port="6443" protocol="tcp" accept`,
		`rule family="ipv4" source address="10.0.0.9/32" port port="8443" protocol="tcp" accept`,
		`rule family="ipv4" source address="10.1.0.0/16" port port="8443" protocol="tcp" accept`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestDiffRichRules(t *testing.T) {
	r1 := `rule family="ipv4" source address="139.224.15.48/32" port port="6443" protocol="tcp" accept`
	r2 := `rule family="ipv4" source address="100.104.43.0/26" port port="6443" protocol="tcp" accept`
	foreignSameMeaning := `rule family="ipv4" source address="139.224.15.48" port port="6443" protocol="tcp" accept`
	otherRegion := `rule family="ipv4" source address="47.96.166.214/32" port port="6443" protocol="tcp" accept`
	tests := []struct {
		name    string
		listed  string
		absent  bool
		want    RichRuleChanges
		wantErr string
	}{
		{"nothing there", "", false, RichRuleChanges{Add: []string{r1, r2}}, ""},
		{"all there", r1 + "\n" + r2 + "\n", false, RichRuleChanges{}, ""},
		{"CRLF and order", r2 + "\r\n" + r1 + "\r\n", false, RichRuleChanges{}, ""},
		{"one missing", r2 + "\n", false, RichRuleChanges{Add: []string{r1}}, ""},
		{"foreign spelling is not ours", foreignSameMeaning + "\n" + r2, false, RichRuleChanges{Add: []string{r1}}, ""},
		{"other rules untouched", otherRegion + "\n" + r1 + "\n" + r2, false, RichRuleChanges{}, ""},
		{"absent removes ours only", otherRegion + "\n" + foreignSameMeaning + "\n" + r1 + "\n" + r2, true, RichRuleChanges{Remove: []string{r1, r2}}, ""},
		{"absent, partly there", r2, true, RichRuleChanges{Remove: []string{r2}}, ""},
		{"absent, nothing there", "", true, RichRuleChanges{}, ""},
		{"not a rich rule listing", "FirewallD is not running\n", false, RichRuleChanges{}, "not a rich rule"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := allow.DiffRichRules(tt.listed, tt.absent)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
			if got.Empty() != tt.want.Empty() {
				t.Error("Empty disagrees")
			}
		})
	}
}

// TestDiffRichRulesIdempotent applies the changes to a modelled rule set,
// lists it as firewalld does and expects nothing more to do.
func TestDiffRichRulesIdempotent(t *testing.T) {
	other := `rule family="ipv4" source address="10.9.9.9" port port="22" protocol="tcp" accept`
	for _, absent := range []bool{false, true} {
		set := map[string]bool{other: true, RichRule(pfx("139.224.15.48/32"), 6443): true}
		for round := 0; round < 2; round++ {
			var listed []string
			for r := range set {
				listed = append(listed, r)
			}
			c, err := allow.DiffRichRules(strings.Join(listed, "\n"), absent)
			if err != nil {
				t.Fatal(err)
			}
			if round == 1 && !c.Empty() {
				t.Fatalf("absent=%v: second diff %+v", absent, c)
			}
			for _, r := range c.Add {
				set[r] = true
			}
			for _, r := range c.Remove {
				delete(set, r)
			}
		}
		if !set[other] {
			t.Errorf("absent=%v removed a rule that is not ours", absent)
		}
	}
}

func TestFirewallCmdArgs(t *testing.T) {
	c := RichRuleChanges{Add: []string{"rule A", "rule C"}, Remove: []string{"rule B"}}
	tests := []struct {
		zone      string
		permanent bool
		c         RichRuleChanges
		want      [][]string
	}{
		{"", false, c, [][]string{
			{"firewall-cmd", "--add-rich-rule=rule A", "--add-rich-rule=rule C"},
			{"firewall-cmd", "--remove-rich-rule=rule B"},
		}},
		{"public", true, c, [][]string{
			{"firewall-cmd", "--permanent", "--zone=public", "--add-rich-rule=rule A", "--add-rich-rule=rule C"},
			{"firewall-cmd", "--permanent", "--zone=public", "--remove-rich-rule=rule B"},
		}},
		{"public", false, RichRuleChanges{Remove: []string{"rule B", "rule D"}}, [][]string{
			{"firewall-cmd", "--zone=public", "--remove-rich-rule=rule B", "--remove-rich-rule=rule D"},
		}},
		{"public", true, RichRuleChanges{}, nil},
	}
	for _, tt := range tests {
		if got := FirewallCmdArgs(tt.zone, tt.permanent, tt.c); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("FirewallCmdArgs(%q, %v, %v) = %q, want %q", tt.zone, tt.permanent, tt.c, got, tt.want)
		}
	}
}

func TestChainAndJumpRules(t *testing.T) {
	a := Allow{Sources: []netip.Prefix{pfx("139.224.15.48/32"), pfx("100.104.43.7/26")}, Ports: []int{8443, 6443}}
	chain, err := a.ChainRules()
	if err != nil {
		t.Fatal(err)
	}
	wantChain := []string{
		"-N HOSTPLAN-ALLOW",
		"-A HOSTPLAN-ALLOW -s 139.224.15.48/32 -p tcp -m tcp --dport 6443 -j ACCEPT",
		"-A HOSTPLAN-ALLOW -s 100.104.43.0/26 -p tcp -m tcp --dport 6443 -j ACCEPT",
		"-A HOSTPLAN-ALLOW -s 139.224.15.48/32 -p tcp -m tcp --dport 8443 -j ACCEPT",
		"-A HOSTPLAN-ALLOW -s 100.104.43.0/26 -p tcp -m tcp --dport 8443 -j ACCEPT",
	}
	if !reflect.DeepEqual(chain, wantChain) {
		t.Errorf("chain\n%s\nwant\n%s", strings.Join(chain, "\n"), strings.Join(wantChain, "\n"))
	}
	jumps, err := a.JumpRules()
	if err != nil {
		t.Fatal(err)
	}
	wantJumps := []string{
		"-A INPUT -p tcp -m tcp --dport 6443 -j HOSTPLAN-ALLOW",
		"-A INPUT -p tcp -m tcp --dport 8443 -j HOSTPLAN-ALLOW",
	}
	if !reflect.DeepEqual(jumps, wantJumps) {
		t.Errorf("jumps %q, want %q", jumps, wantJumps)
	}
}

func argLines(cmds [][]string) []string {
	var out []string
	for _, c := range cmds {
		out = append(out, strings.Join(c, " "))
	}
	return out
}

func TestDiffIPTables(t *testing.T) {
	const (
		policy = "-P INPUT ACCEPT\n"
		n      = "-N HOSTPLAN-ALLOW\n"
		rPub   = "-A HOSTPLAN-ALLOW -s 139.224.15.48/32 -p tcp -m tcp --dport 6443 -j ACCEPT\n"
		rPriv  = "-A HOSTPLAN-ALLOW -s 100.104.43.0/26 -p tcp -m tcp --dport 6443 -j ACCEPT\n"
		jump   = "-A INPUT -p tcp -m tcp --dport 6443 -j HOSTPLAN-ALLOW\n"
		drop   = "-A INPUT -p tcp -m tcp --dport 6443 -j DROP\n"
		ipt    = "iptables -w "
	)
	tests := []struct {
		name   string
		chain  string
		input  string
		absent bool
		want   []string
	}{
		{"fresh host", "", policy + drop, false, []string{
			ipt + "-N HOSTPLAN-ALLOW",
			ipt + "-A HOSTPLAN-ALLOW -s 139.224.15.48/32 -p tcp -m tcp --dport 6443 -j ACCEPT",
			ipt + "-A HOSTPLAN-ALLOW -s 100.104.43.0/26 -p tcp -m tcp --dport 6443 -j ACCEPT",
			ipt + "-I INPUT 1 -p tcp -m tcp --dport 6443 -j HOSTPLAN-ALLOW",
		}},
		{"exactly right", n + rPub + rPriv, policy + jump + drop, false, nil},
		{"right, other order", n + rPriv + rPub, policy + drop + jump, false, nil},
		{"empty chain, jump there", n, policy + jump, false, []string{
			ipt + "-A HOSTPLAN-ALLOW -s 139.224.15.48/32 -p tcp -m tcp --dport 6443 -j ACCEPT",
			ipt + "-A HOSTPLAN-ALLOW -s 100.104.43.0/26 -p tcp -m tcp --dport 6443 -j ACCEPT",
		}},
		{"stale and foreign rules in our chain go, after the adds", n + rPub +
			"-A HOSTPLAN-ALLOW -s 47.96.166.214/32 -p tcp -m tcp --dport 6443 -j ACCEPT\n" +
			"-A HOSTPLAN-ALLOW -m comment --comment \"it\\'s \\\"x\\\"\" -j RETURN\n",
			policy + jump, false, []string{
				ipt + "-A HOSTPLAN-ALLOW -s 100.104.43.0/26 -p tcp -m tcp --dport 6443 -j ACCEPT",
				ipt + "-D HOSTPLAN-ALLOW -s 47.96.166.214/32 -p tcp -m tcp --dport 6443 -j ACCEPT",
				ipt + `-D HOSTPLAN-ALLOW -m comment --comment it's "x" -j RETURN`,
			}},
		{"duplicate rule deleted once", n + rPub + rPriv + rPub, policy + jump, false, []string{
			ipt + "-D HOSTPLAN-ALLOW -s 139.224.15.48/32 -p tcp -m tcp --dport 6443 -j ACCEPT",
		}},
		{"stale and duplicate jumps", n + rPub + rPriv,
			policy + jump + "-A INPUT -p tcp -m tcp --dport 8443 -j HOSTPLAN-ALLOW\n" + jump + "-A INPUT -s 10.0.0.0/8 -g HOSTPLAN-ALLOW\n",
			false, []string{
				ipt + "-D INPUT -p tcp -m tcp --dport 8443 -j HOSTPLAN-ALLOW",
				ipt + "-D INPUT -p tcp -m tcp --dport 6443 -j HOSTPLAN-ALLOW",
				ipt + "-D INPUT -s 10.0.0.0/8 -g HOSTPLAN-ALLOW",
			}},
		{"jumps to other chains untouched", n + rPub + rPriv, policy + jump + "-A INPUT -j HOSTPLAN-ALLOW-X\n", false, nil},
		{"absent", n + rPub + rPriv, policy + jump + drop, true, []string{
			ipt + "-D INPUT -p tcp -m tcp --dport 6443 -j HOSTPLAN-ALLOW",
			ipt + "-F HOSTPLAN-ALLOW",
			ipt + "-X HOSTPLAN-ALLOW",
		}},
		{"absent, chain without jump", n, policy, true, []string{
			ipt + "-F HOSTPLAN-ALLOW",
			ipt + "-X HOSTPLAN-ALLOW",
		}},
		{"absent, nothing there", "", policy + drop, true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmds, err := allow.DiffIPTables(tt.chain, tt.input, tt.absent)
			if err != nil {
				t.Fatal(err)
			}
			if got := argLines(cmds); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestDiffIPTablesRejectsOtherOutput(t *testing.T) {
	const n, policy = "-N HOSTPLAN-ALLOW\n", "-P INPUT ACCEPT\n"
	tests := []struct {
		name, chain, input, wantErr string
		presentOnly                 bool // absent flushes the chain without reading its rules
	}{
		{"wrong chain output", "-N OTHER\n", policy, "not about HOSTPLAN-ALLOW", false},
		{"rules without -N", "-A HOSTPLAN-ALLOW -j ACCEPT\n", policy, "no -N", false},
		{"empty INPUT output", n, "", "INPUT output is empty", false},
		{"wrong INPUT output", n, "-P FORWARD DROP\n", "not about INPUT", false},
		{"unterminated quote in chain", n + "-A HOSTPLAN-ALLOW -m comment --comment \"x -j RETURN\n", policy, "unterminated quote", true},
		{"unterminated quote in INPUT", n, policy + "-A INPUT -m comment --comment \"x -j DROP\n", "unterminated quote", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, absent := range []bool{false, true} {
				if absent && tt.presentOnly {
					continue
				}
				_, err := allow.DiffIPTables(tt.chain, tt.input, absent)
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("absent=%v: err = %v, want it to contain %q", absent, err, tt.wantErr)
				}
			}
		})
	}
}

func TestDiffIPTablesAbsentNeedsNoAllowlist(t *testing.T) {
	cmds, err := Allow{}.DiffIPTables("-N HOSTPLAN-ALLOW\n", "-P INPUT ACCEPT\n", true)
	if err != nil || len(cmds) != 2 {
		t.Fatalf("got %q, %v", argLines(cmds), err)
	}
}

func TestSplitRule(t *testing.T) {
	tests := []struct {
		line string
		want []string
	}{
		{"-A X -j ACCEPT", []string{"-A", "X", "-j", "ACCEPT"}},
		{"-A X  -m comment --comment plain", []string{"-A", "X", "-m", "comment", "--comment", "plain"}},
		{`-A X --comment "a b"`, []string{"-A", "X", "--comment", "a b"}},
		{`-A X --comment "it\'s \"q\" c\\d"`, []string{"-A", "X", "--comment", `it's "q" c\d`}},
		{`-A X --comment ""`, []string{"-A", "X", "--comment", ""}},
	}
	for _, tt := range tests {
		got, err := splitRule(tt.line)
		if err != nil {
			t.Errorf("splitRule(%q): %v", tt.line, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("splitRule(%q) = %q, want %q", tt.line, got, tt.want)
		}
	}
}
