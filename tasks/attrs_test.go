package tasks

import (
	"io/fs"
	"testing"

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
