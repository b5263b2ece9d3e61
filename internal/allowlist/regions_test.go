package allowlist

import (
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// domainTable is section 2 of the domain brief, copied as written, so that
// the test checks the package's table against the source and not against
// itself.
const domainTable = `
| cn-hangzhou | 47.96.166.214 | 100.104.12.64/26 |
| cn-shanghai | 139.224.15.48, 101.132.180.26, 47.100.18.171, 47.100.0.176, 139.224.8.64, 101.132.70.106, 101.132.156.228, 106.15.36.12, 139.196.168.125, 47.101.178.223, 47.101.220.176 | 100.104.43.0/26 |
| cn-qingdao | 47.104.111.68 | 100.104.87.192/26 |
| cn-beijing | 47.95.202.245 | 100.104.114.192/26 |
| cn-zhangjiakou | 39.99.229.195 | 100.104.187.64/26 |
| cn-huhehaote | 39.104.147.68 | 100.104.36.0/26 |
| cn-shenzhen | 120.78.64.225 | 100.104.250.64/26 |
| cn-guangzhou | 8.134.118.184 | 100.104.111.0/26 |
| cn-hongkong | 8.218.59.176 | 100.104.130.128/26 |
| ap-northeast-1 (Tokyo) | 47.74.24.20 | 100.104.69.0/26 |
| ap-southeast-1 (Singapore) | 8.219.240.137 | 100.104.67.64/26 |
| us-west-1 (Silicon Valley) | 47.254.39.224 | 100.104.145.64/26 |
| us-east-1 (Virginia) | 47.252.4.238 | 100.104.36.0/26 |
| eu-central-1 (Frankfurt) | 47.254.158.71 | 172.16.0.0/20 |
| eu-west-1 (London) | 8.208.14.12 | 172.16.0.0/20 |
| ap-southeast-5 (Jakarta) | 149.129.238.99 | 100.104.193.128/26 |
`

// "Clusters in a VPC must be in cn-hangzhou, cn-beijing, cn-shanghai,
// cn-shenzhen or cn-hongkong".
var domainVPC = []string{"cn-hangzhou", "cn-beijing", "cn-shanghai", "cn-shenzhen", "cn-hongkong"}

func TestLookupMatchesDomainTable(t *testing.T) {
	var names []string
	for _, row := range strings.Split(strings.TrimSpace(domainTable), "\n") {
		cells := strings.Split(strings.Trim(row, "| "), "|")
		if len(cells) != 3 {
			t.Fatalf("bad row %q", row)
		}
		name, city, _ := strings.Cut(strings.TrimSpace(cells[0]), " (")
		city = strings.TrimSuffix(city, ")")
		names = append(names, name)
		var public []netip.Addr
		for _, a := range strings.Split(cells[1], ",") {
			public = append(public, netip.MustParseAddr(strings.TrimSpace(a)))
		}
		private := netip.MustParsePrefix(strings.TrimSpace(cells[2]))

		t.Run(name, func(t *testing.T) {
			r, err := Lookup(name)
			if err != nil {
				t.Fatal(err)
			}
			if r.Name != name {
				t.Errorf("Name %q", r.Name)
			}
			if city != "" && r.City != city {
				t.Errorf("City %q, want %q", r.City, city)
			}
			if r.City == "" {
				t.Error("City is empty")
			}
			if !slices.Equal(r.Public, public) {
				t.Errorf("Public %v, want %v", r.Public, public)
			}
			if r.Private != private {
				t.Errorf("Private %v, want %v", r.Private, private)
			}
			if want := slices.Contains(domainVPC, name); r.VPCAllowed != want {
				t.Errorf("VPCAllowed %v, want %v", r.VPCAllowed, want)
			}
		})
	}
	slices.Sort(names)
	if got := Names(); !slices.Equal(got, names) {
		t.Errorf("Names() = %v, want exactly the domain's %v", got, names)
	}
}

func TestLookupUnknown(t *testing.T) {
	valid := "valid regions: ap-northeast-1, ap-southeast-1, ap-southeast-5, cn-beijing, cn-guangzhou, cn-hangzhou, cn-hongkong, cn-huhehaote, cn-qingdao, cn-shanghai, cn-shenzhen, cn-zhangjiakou, eu-central-1, eu-west-1, us-east-1, us-west-1"
	tests := []struct {
		in      string
		suggest string // "" for no suggestion
	}{
		{"cn-shanghia", "cn-shanghai"},
		{"cn_hangzhou", "cn-hangzhou"},
		{"CN-Beijing", "cn-beijing"},
		{"ap-northeast1", "ap-northeast-1"},
		{"Tokyo", "ap-northeast-1"},
		{"hong kong", "cn-hongkong"},
		{"siliconvalley", "us-west-1"},
		{"us-east-2", "us-east-1"},
		{"mars-base-7", ""},
		{"", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			_, err := Lookup(tt.in)
			if err == nil {
				t.Fatal("want an error")
			}
			msg := err.Error()
			if !strings.Contains(msg, `unknown Security Center region "`+tt.in+`"`) || !strings.HasSuffix(msg, valid) {
				t.Errorf("message %q", msg)
			}
			hint := `did you mean "` + tt.suggest + `"?`
			if tt.suggest != "" && !strings.Contains(msg, hint) {
				t.Errorf("message %q lacks %q", msg, hint)
			}
			if tt.suggest == "" && strings.Contains(msg, "did you mean") {
				t.Errorf("message %q suggests something", msg)
			}
		})
	}
}

func TestLookupReturnsACopy(t *testing.T) {
	r, _ := Lookup("cn-shanghai")
	r.Public[0] = netip.MustParseAddr("1.2.3.4")
	again, _ := Lookup("cn-shanghai")
	if again.Public[0] != netip.MustParseAddr("139.224.15.48") {
		t.Fatal("Lookup shares its table with callers")
	}
}

func TestSources(t *testing.T) {
	sh, _ := Lookup("cn-shanghai")
	tokyo, _ := Lookup("ap-northeast-1")
	p := netip.MustParsePrefix
	tests := []struct {
		name            string
		r               Region
		public, private bool
		want            []netip.Prefix
	}{
		{"public only", tokyo, true, false, []netip.Prefix{p("47.74.24.20/32")}},
		{"private only", tokyo, false, true, []netip.Prefix{p("100.104.69.0/26")}},
		{"both, public first", tokyo, true, true, []netip.Prefix{p("47.74.24.20/32"), p("100.104.69.0/26")}},
		{"neither", tokyo, false, false, nil},
		{"vendor order kept", sh, true, false, []netip.Prefix{
			p("139.224.15.48/32"), p("101.132.180.26/32"), p("47.100.18.171/32"), p("47.100.0.176/32"),
			p("139.224.8.64/32"), p("101.132.70.106/32"), p("101.132.156.228/32"), p("106.15.36.12/32"),
			p("139.196.168.125/32"), p("47.101.178.223/32"), p("47.101.220.176/32"),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Sources(tt.r, tt.public, tt.private)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
			if again := Sources(tt.r, tt.public, tt.private); !reflect.DeepEqual(again, got) {
				t.Errorf("not deterministic: %v then %v", got, again)
			}
		})
	}
}
