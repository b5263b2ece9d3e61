package tasks

import (
	"math/big"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"
)

// hostileNumbers are number texts that took minutes to print in full, or sit on a
// limit: the seeds of the number fuzz targets.
var hostileNumbers = []string{
	"22", "0", "-1", "65535", "65536", "6443.5", "1e100", "9223372036854775807",
	"9223372036854775808", "-9223372036854775809", "1.7976931348623157e308", "1e309",
	"1e-309", "1e100000000", "-1e100000000", "1e-100000000", "0x1p1024", strings.Repeat("9", 400),
}

// maxMessage bounds an error's length: a number is described in at most 78 digits
// (whole numbers up to 2^256), else 20 significant ones or the words for out of range.
const maxMessage = 200

// numberVal is the fuzzer's text as a plan number, as HCL parses a literal.
func numberVal(t *testing.T, text string) cty.Value {
	v, err := cty.ParseNumberVal(text)
	if err != nil {
		t.Skip()
	}
	return v
}

// FuzzAttrsInt reads a whole-number attribute: the result is exactly the number, or
// a short error.
func FuzzAttrsInt(f *testing.F) {
	for _, n := range hostileNumbers {
		f.Add(n)
	}
	f.Fuzz(func(t *testing.T, text string) {
		v := numberVal(t, text)
		got, err := Attrs{Value: cty.ObjectVal(map[string]cty.Value{"n": v})}.Int("n", 0)
		if err != nil {
			if len(err.Error()) > maxMessage {
				t.Fatalf("Int(%.40s): %d-byte error", text, len(err.Error()))
			}
			return
		}
		if new(big.Float).SetInt64(int64(got)).Cmp(v.AsBigFloat()) != 0 {
			t.Fatalf("Int(%.40s) = %d", text, got)
		}
	})
}

// FuzzAttrsMode reads a file mode: a mode read is printed back as the same mode.
func FuzzAttrsMode(f *testing.F) {
	for _, s := range []string{"0644", "600", "4755", "01777", "0999", "17777", "-1", "+644", "0o644", " 644", "", strings.Repeat("7", 100)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a := Attrs{Value: cty.ObjectVal(map[string]cty.Value{"mode": cty.StringVal(s)})}
		m, ok, err := a.Mode("mode")
		if err != nil {
			return
		}
		if !ok {
			t.Fatalf("Mode(%q): neither a mode nor an error", s)
		}
		back, _, err := Attrs{Value: cty.ObjectVal(map[string]cty.Value{"mode": cty.StringVal(FormatMode(m))})}.Mode("mode")
		if err != nil || back != m {
			t.Fatalf("Mode(%q) = %v, printed %s, read back as %v, %v", s, m, FormatMode(m), back, err)
		}
	})
}

// FuzzPorts gives a number to the port attributes of allowlist and port_forward: each
// takes it exactly when it is a whole number from 1 to 65535, else says so briefly.
func FuzzPorts(f *testing.F) {
	for _, n := range hostileNumbers {
		f.Add(n)
	}
	f.Fuzz(func(t *testing.T, text string) {
		v := numberVal(t, text)
		n, acc := v.AsBigFloat().Int64()
		valid := acc == big.Exact && n >= 1 && n <= 65535
		for typ, set := range map[string]map[string]cty.Value{
			"allowlist":    {"region": cty.StringVal("cn-hangzhou"), "ports": cty.ListVal([]cty.Value{v})},
			"port_forward": {"listen_port": v, "to_port": cty.NumberIntVal(80), "to_address": cty.StringVal("10.0.0.1")},
		} {
			k, _ := Lookup(typ)
			_, err := k.Build("x", attrsOf(t, typ, set))
			if (err == nil) != valid {
				t.Fatalf("%s with port %.40s: %v", typ, text, err)
			}
			if err != nil && len(err.Error()) > maxMessage {
				t.Fatalf("%s with port %.40s: %d-byte error", typ, text, len(err.Error()))
			}
		}
	})
}
