package tasks

import "testing"

func TestSysctlEditFile(t *testing.T) {
	const key = "net.ipv4.ip_forward"
	for _, tc := range []struct {
		name   string
		old    string
		exists bool
		value  string // "" means state = "absent"
		want   string // "<nil>" means no file
	}{
		{"new file", "", false, "1", "# Managed by hostplan.\nnet.ipv4.ip_forward = 1\n"},
		{"already set", "# Managed by hostplan.\nnet.ipv4.ip_forward = 1\n", true, "1", "# Managed by hostplan.\nnet.ipv4.ip_forward = 1\n"},
		{"same value other spacing kept", "net.ipv4.ip_forward=1\n", true, "1", "net.ipv4.ip_forward=1\n"},
		{"replaced in place", "a.b = 2\nnet.ipv4.ip_forward = 0\nc.d = 3\n", true, "1", "a.b = 2\nnet.ipv4.ip_forward = 1\nc.d = 3\n"},
		{"slash form and duplicate", "net/ipv4/ip_forward = 0\nnet.ipv4.ip_forward = 0\n", true, "1", "net.ipv4.ip_forward = 1\n"},
		{"ignore-error prefix", "-net.ipv4.ip_forward = 0\n", true, "1", "net.ipv4.ip_forward = 1\n"},
		{"commented line untouched", "# net.ipv4.ip_forward = 0\n", true, "1", "# net.ipv4.ip_forward = 0\nnet.ipv4.ip_forward = 1\n"},
		{"no final newline", "a.b = 2", true, "1", "a.b = 2\nnet.ipv4.ip_forward = 1\n"},
		{"absent removes our file", "# Managed by hostplan.\nnet.ipv4.ip_forward = 1\n", true, "", "<nil>"},
		{"absent keeps others", "a.b = 2\nnet.ipv4.ip_forward = 1\n", true, "", "a.b = 2\n"},
		{"absent and missing", "", false, "", "<nil>"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &Sysctl{Key: key, Value: tc.value, Absent: tc.value == "", File: "/etc/sysctl.d/x.conf"}
			got := s.editFile([]byte(tc.old), tc.exists)
			gs := "<nil>"
			if got != nil {
				gs = string(got)
			}
			if gs != tc.want {
				t.Errorf("got %q, want %q", gs, tc.want)
			}
			if got != nil {
				// Idempotent: editing the result changes nothing.
				if again := s.editFile(got, true); string(again) != string(got) {
					t.Errorf("second edit %q != %q", again, got)
				}
			}
		})
	}
}
