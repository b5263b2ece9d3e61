package tasks

import (
	"io/fs"
	"testing"

	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"
)

func TestMode(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
		err  bool
	}{
		{"0644", "0644", false},
		{"600", "0600", false},
		{"4755", "4755", false},
		{"1777", "1777", false},
		{"0999", "", true},
		{"rw-r--r--", "", true},
		{"17777", "", true},
	} {
		a := Attrs{Value: cty.ObjectVal(map[string]cty.Value{"mode": cty.StringVal(tc.in)})}
		m, ok, err := a.Mode("mode")
		if tc.err {
			if err == nil {
				t.Errorf("Mode(%q): no error", tc.in)
			}
			continue
		}
		if err != nil || !ok || FormatMode(m) != tc.want {
			t.Errorf("Mode(%q) = %s, %v, %v; want %s", tc.in, FormatMode(m), ok, err, tc.want)
		}
	}
	if FormatMode(fs.ModeDir|0o755) != "0755" {
		t.Errorf("type bits leak into FormatMode")
	}
}

// attrsOf is the decoded attributes of a block of type typ: every attribute of its spec,
// null unless set.
func attrsOf(t *testing.T, typ string, set map[string]cty.Value) Attrs {
	t.Helper()
	k, ok := Lookup(typ)
	if !ok {
		t.Fatalf("no resource type %q", typ)
	}
	obj := map[string]cty.Value{}
	for name, spec := range k.Spec {
		if as, ok := spec.(*hcldec.AttrSpec); ok {
			obj[name] = cty.NullVal(as.Type)
		}
	}
	for name, v := range set {
		obj[name] = v
	}
	return Attrs{Value: cty.ObjectVal(obj)}
}

// Numbers beyond float64's range are described, not printed: the decimal form of
// 1e100000000 took big.Float 10+ minutes and 1.2 GB (the test's timeout catches that).
func TestIntHostileNumbers(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
		err  string
	}{
		{in: "22", want: 22},
		{in: "-5", want: -5},
		{in: "1.5", err: "n: 1.5 is not a whole number"},
		{in: "1e100", err: "n: 1e+100 is too large"},
		{in: "9223372036854775808", err: "n: 9223372036854775808 is too large"},
		{in: "1e100000000", err: "n: a number beyond float64's range (about ±1e308) is too large"},
		{in: "-1e100000000", err: "n: a number beyond float64's range (about ±1e308) is too large"},
		{in: "1e-100000000", err: "n: a number beyond float64's range (about ±1e308) is not a whole number"},
	} {
		a := Attrs{Value: cty.ObjectVal(map[string]cty.Value{"n": cty.MustParseNumberVal(tc.in)})}
		got, err := a.Int("n", 0)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("Int(%s) = %d, %v; want error %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("Int(%s) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
}

// Ports are numbers of the plan language too: an allowlist's and a port_forward's.
func TestPortsHostileNumbers(t *testing.T) {
	huge := cty.MustParseNumberVal("1e100000000")
	for _, tc := range []struct {
		typ string
		set map[string]cty.Value
		err string
	}{
		{"allowlist", map[string]cty.Value{"region": cty.StringVal("cn-hangzhou"), "ports": cty.ListVal([]cty.Value{huge})},
			"ports: a number beyond float64's range (about ±1e308) is not a port (1-65535)"},
		{"allowlist", map[string]cty.Value{"region": cty.StringVal("cn-hangzhou"), "ports": cty.ListVal([]cty.Value{cty.MustParseNumberVal("1e-100000000")})},
			"ports: a number beyond float64's range (about ±1e308) is not a port (1-65535)"},
		{"allowlist", map[string]cty.Value{"region": cty.StringVal("cn-hangzhou"), "ports": cty.ListVal([]cty.Value{cty.MustParseNumberVal("6443.5")})},
			"ports: 6443.5 is not a port (1-65535)"},
		{"port_forward", map[string]cty.Value{"listen_port": huge, "to_port": cty.NumberIntVal(80), "to_address": cty.StringVal("10.0.0.1")},
			"listen_port: a number beyond float64's range (about ±1e308) is too large"},
	} {
		k, _ := Lookup(tc.typ)
		_, err := k.Build("x", attrsOf(t, tc.typ, tc.set))
		if err == nil || err.Error() != tc.err {
			t.Errorf("%s %v: got %v, want %q", tc.typ, tc.set, err, tc.err)
		}
	}
}
