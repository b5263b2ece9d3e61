package netsh

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseShowRuleSamples(t *testing.T) {
	english := Rule{
		Name: "hostplan apiserver", Enabled: "Yes", Direction: "In", Protocol: "TCP", LocalPort: "6443", Action: "Allow",
		Values: []string{"Yes", "In", "Domain,Private,Public", "", "Any", "Any", "TCP", "6443", "Any", "No", "Allow"},
	}
	udp := english
	udp.Protocol = "UDP"
	udp.Values = append([]string(nil), english.Values...)
	udp.Values[6] = "UDP"

	tests := []struct {
		file      string
		exitCode  int
		want      []Rule
		matches   []bool // Matches(6443) per rule
		wantError string
	}{
		{"rule_en.txt", 0, []Rule{english}, []bool{true}, ""},
		{"rule_en_duplicate.txt", 0, []Rule{english, udp}, []bool{true, false}, ""},
		{"rule_none_en.txt", 1, nil, nil, ""},
		{"rule_none_zh_gbk.txt", 1, nil, nil, ""},
		{"rule_zh_gbk.txt", 0, nil, []bool{true}, ""},
		{"rule_none_en.txt", 0, nil, nil, "printed no rule"},
		{"rule_en.txt", 1, nil, nil, "exited 1 but printed 1 rule"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got, err := ParseShowRule(readTestdata(t, tt.file), tt.exitCode)
			if tt.wantError != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantError) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantError)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.want != nil && !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
			if len(got) != len(tt.matches) {
				t.Fatalf("got %d rules, want %d", len(got), len(tt.matches))
			}
			for i, r := range got {
				if r.Name != "hostplan apiserver" {
					t.Errorf("rule %d name %q", i, r.Name)
				}
				if m := r.Matches(6443); m != tt.matches[i] {
					t.Errorf("rule %d Matches(6443) = %v", i, m)
				}
				if r.Matches(8443) {
					t.Errorf("rule %d matches another port", i)
				}
			}
		})
	}
}

func TestParseShowRuleLocalized(t *testing.T) {
	got, err := ParseShowRule(readTestdata(t, "rule_zh_gbk.txt"), 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || !got[0].Localized || got[0].Enabled != "" || len(got[0].Values) != 11 {
		t.Fatalf("got %+v", got)
	}
}

func TestRuleMatches(t *testing.T) {
	base := Rule{Enabled: "Yes", Direction: "In", Protocol: "TCP", LocalPort: "6443", Action: "Allow"}
	tests := []struct {
		name   string
		change func(*Rule)
		want   bool
	}{
		{"as created", func(*Rule) {}, true},
		{"case of values", func(r *Rule) { r.Protocol, r.Action = "tcp", "ALLOW" }, true},
		{"disabled", func(r *Rule) { r.Enabled = "No" }, false},
		{"outbound", func(r *Rule) { r.Direction = "Out" }, false},
		{"block", func(r *Rule) { r.Action = "Block" }, false},
		{"udp", func(r *Rule) { r.Protocol = "UDP" }, false},
		{"port list", func(r *Rule) { r.LocalPort = "6443,8443" }, false},
		{"any port", func(r *Rule) { r.LocalPort = "Any" }, false},
		{"localized with port", func(r *Rule) { *r = Rule{Localized: true, Values: []string{"是", "入", "TCP", "6443"}} }, true},
		{"localized without port", func(r *Rule) { *r = Rule{Localized: true, Values: []string{"是", "入", "TCP", "64430"}} }, false},
	}
	for _, tt := range tests {
		r := base
		tt.change(&r)
		if got := r.Matches(6443); got != tt.want {
			t.Errorf("%s: Matches = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestPlanRule(t *testing.T) {
	ok := Rule{Name: "hostplan api", Enabled: "Yes", Direction: "In", Protocol: "TCP", LocalPort: "6443", Action: "Allow"}
	wrongPort := ok
	wrongPort.LocalPort = "8443"
	const (
		add = `netsh advfirewall firewall add rule name="hostplan api" dir=in action=allow protocol=TCP localport=6443`
		del = `netsh advfirewall firewall delete rule name="hostplan api"`
	)
	tests := []struct {
		name    string
		current []Rule
		absent  bool
		want    []string
	}{
		{"missing", nil, false, []string{add}},
		{"present", []Rule{ok}, false, nil},
		{"other port", []Rule{wrongPort}, false, []string{del, add}},
		{"duplicates", []Rule{ok, ok}, false, []string{del, add}},
		{"absent, present", []Rule{ok, wrongPort}, true, []string{del}},
		{"absent, missing", nil, true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmds, err := PlanRule(tt.current, "api", 6443, tt.absent)
			if err != nil {
				t.Fatal(err)
			}
			if got := texts(cmds); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestPlanRuleIdempotent renders the rule AddRuleCommand creates as netsh
// shows it, parses it back and expects no further commands.
func TestPlanRuleIdempotent(t *testing.T) {
	cmds, err := PlanRule(nil, "api", 6443, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(cmds) != 1 || cmds[0].Args[3] != "add" {
		t.Fatalf("first plan %v", texts(cmds))
	}
	out := "\r\nRule Name:                            hostplan api\r\n" +
		"----------------------------------------------------------------------\r\n" +
		"Enabled:                              Yes\r\nDirection:                            In\r\n" +
		"Profiles:                             Domain,Private,Public\r\nGrouping:                             \r\n" +
		"LocalIP:                              Any\r\nRemoteIP:                             Any\r\n" +
		"Protocol:                             TCP\r\nLocalPort:                            6443\r\n" +
		"RemotePort:                           Any\r\nEdge traversal:                       No\r\n" +
		"Action:                               Allow\r\nOk.\r\n\r\n"
	rules, err := ParseShowRule(out, 0)
	if err != nil {
		t.Fatal(err)
	}
	again, err := PlanRule(rules, "api", 6443, false)
	if err != nil || len(again) != 0 {
		t.Fatalf("second plan %v, %v", texts(again), err)
	}
}

func TestRuleCommands(t *testing.T) {
	show, err := ShowRuleCommand("kube api (6443)")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"netsh", "advfirewall", "firewall", "show", "rule", "name=hostplan kube api (6443)"}; !reflect.DeepEqual(show.Args, want) {
		t.Errorf("args %q", show.Args)
	}
	if want := `netsh advfirewall firewall show rule name="hostplan kube api (6443)"`; show.Text != want {
		t.Errorf("text %q, want %q", show.Text, want)
	}

	tests := []struct {
		name    string
		rule    string
		port    int
		wantErr string
	}{
		{"empty", "", 80, "empty"},
		{"blank", "  ", 80, "empty"},
		{"quote", `a"b`, 80, `'"'`},
		{"ampersand", "a&b", 80, `'&'`},
		{"pipe", "a|b", 80, `'|'`},
		{"redirect", "a>b", 80, `'>'`},
		{"caret", "a^b", 80, `'^'`},
		{"percent", "%USERNAME%", 80, `'%'`},
		{"bang", "a!b", 80, `'!'`},
		{"newline", "a\nb", 80, "control character"},
		{"non-ASCII", "Größe", 80, "non-ASCII"},
		{"equals", "a=b", 80, "not allowed"},
		{"port 0", "api", 0, "between 1 and 65535"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := AddRuleCommand(tt.rule, tt.port)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
			}
			if tt.port != 0 {
				if _, err := DeleteRuleCommand(tt.rule); err == nil {
					t.Error("DeleteRuleCommand accepted it")
				}
				if _, err := PlanRule(nil, tt.rule, tt.port, true); err == nil {
					t.Error("PlanRule accepted it")
				}
			}
		})
	}
}

func TestQuoteArg(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain", "plain"},
		{"name=hostplan api", `name="hostplan api"`},
		{"a b", `"a b"`},
		{"", `""`},
		{"name=", "name="},
	}
	for _, tt := range tests {
		if got := quoteArg(tt.in); got != tt.want {
			t.Errorf("quoteArg(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
