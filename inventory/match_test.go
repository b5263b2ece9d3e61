package inventory

import (
	"strings"
	"testing"
)

func TestMatch(t *testing.T) {
	inv := mustLoad(t, "testdata/limit.ini")
	const (
		all = "web1.example.com web2.example.com web3.example.com db1.example.com db2.example.com"
		web = "web1.example.com web2.example.com web3.example.com"
	)
	tests := []struct {
		pattern string
		want    string
		err     string
	}{
		{pattern: "all", want: all},
		{pattern: "*", want: all},
		{pattern: "web", want: web},
		{pattern: "prod", want: all},
		{pattern: "web1.example.com", want: "web1.example.com"},
		{pattern: "web*", want: web},
		{pattern: "*.example.com", want: all},
		{pattern: "db?.example.com", want: "db1.example.com db2.example.com"},
		{pattern: "web[12].example.com", want: "web1.example.com web2.example.com"},
		{pattern: "web[!12].example.com", want: "web3.example.com"},
		{pattern: "db,web", want: all},
		{pattern: " web1.example.com , db1.example.com ", want: "web1.example.com db1.example.com"},
		{pattern: "web:db", want: all},
		{pattern: "prod:!staging", want: "web1.example.com web2.example.com db1.example.com"},
		{pattern: "!staging,prod", want: "web1.example.com web2.example.com db1.example.com"},
		{pattern: "prod,&staging", want: "web3.example.com db2.example.com"},
		{pattern: "web:&staging", want: "web3.example.com"},
		{pattern: "&staging", want: "web3.example.com db2.example.com"},
		{pattern: "!staging", want: "web1.example.com web2.example.com db1.example.com"},
		{pattern: "web,db,!db*", want: web},
		{pattern: "web[0]", want: "web1.example.com"},
		{pattern: "web[-1]", want: "web3.example.com"},
		{pattern: "web[1:2]", want: "web2.example.com web3.example.com"},
		{pattern: "web[1:]", want: "web2.example.com web3.example.com"},
		{pattern: "web[:0]", want: "web1.example.com"},
		{pattern: "web[7]", want: ""},
		{pattern: "web[1:2].example.com", want: "web1.example.com web2.example.com"},
		{pattern: "db[1:2].example.com:web[1:1]", want: "web2.example.com db1.example.com db2.example.com"},
		{pattern: "~web[12]", want: "web1.example.com web2.example.com"},
		{pattern: "~(web|db)1", want: "web1.example.com db1.example.com"},
		{pattern: "empty", want: ""},
		{pattern: "ungrouped", want: ""},
		{pattern: "empty,web2.example.com", want: "web2.example.com"},
		{pattern: "webz", err: `"webz" Did you mean "web"?`},
		{pattern: "web,nosuch,!alsonot", err: `these terms match no host or group: "nosuch", "alsonot"`},
		{pattern: "web,&nosuch", err: `"nosuch"`},
		{pattern: "mail*", err: `"mail*"`},
		{pattern: "~(", err: "bad regular expression"},
		{pattern: "", err: "empty host pattern"},
		{pattern: " , ", err: "empty host pattern"},
	}
	for _, tt := range tests {
		t.Run(tt.pattern, func(t *testing.T) {
			hosts, err := inv.Match(tt.pattern)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := hostNames(hosts); got != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestMatchIPv6(t *testing.T) {
	inv := mustLoadSrc(t, "hosts", "2001:db8::1\n[v4]\n10.0.0.1\n")
	hosts, err := inv.Match("2001:db8::1")
	if err != nil || hostNames(hosts) != "2001:db8::1" {
		t.Errorf("got %q, %v", hostNames(hosts), err)
	}
}

func TestHostsIn(t *testing.T) {
	inv := mustLoad(t, "testdata/limit.ini")
	hosts, unknown := inv.HostsIn([]string{"db", "web1.example.com", "nope", "db1.example.com", "empty", "web*"})
	if got := hostNames(hosts); got != "web1.example.com db1.example.com db2.example.com" {
		t.Errorf("hosts = %q", got)
	}
	if strings.Join(unknown, " ") != "nope web*" {
		t.Errorf("unknown = %q (HostsIn takes names, not patterns)", unknown)
	}
	hosts, unknown = inv.HostsIn([]string{"all"})
	if len(hosts) != 5 || len(unknown) != 0 {
		t.Errorf("all: %q %q", hostNames(hosts), unknown)
	}
	hosts, unknown = inv.HostsIn(nil)
	if len(hosts) != 0 || len(unknown) != 0 {
		t.Errorf("nil: %q %q", hostNames(hosts), unknown)
	}
}

func TestGroupNames(t *testing.T) {
	inv := mustLoad(t, "testdata/limit.ini")
	if got := strings.Join(inv.GroupNames(), " "); got != "all db empty prod staging ungrouped web" {
		t.Errorf("GroupNames = %q", got)
	}
	if got := hostNames(inv.GroupHosts("prod")); got != "web1.example.com web2.example.com web3.example.com db1.example.com db2.example.com" {
		t.Errorf("GroupHosts(prod) = %q", got)
	}
	if inv.GroupHosts("nope") != nil {
		t.Error("GroupHosts of an unknown group should be nil")
	}
	if inv.Host("db1.example.com").Vars["tier"].AsString() != "prod" {
		t.Error("child of prod lacks prod's vars")
	}
}

// Inventories built by hand (in other packages' tests) work with Match too.
func TestMatchHandBuilt(t *testing.T) {
	inv := &Inventory{
		Hosts: []*Host{
			{Name: "a", Groups: []string{"all", "g"}},
			{Name: "b", Groups: []string{"all"}},
		},
		Groups: map[string]*Group{"g": {Name: "g", Hosts: []string{"a"}}},
	}
	hosts, err := inv.Match("all,!g")
	if err != nil || hostNames(hosts) != "b" {
		t.Errorf("got %q, %v", hostNames(hosts), err)
	}
}
