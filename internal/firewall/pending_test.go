package firewall

import "testing"

func TestFailedPart(t *testing.T) {
	ends := []int{6, 10} // a port forward's 6 lines, then an allowlist's 4
	for _, tc := range []struct {
		msg  string
		want int
	}{
		{"exit 1: iptables-restore: line 2 failed: Bad rule (does a matching rule exist in that chain?).", 0},
		{"exit 1: iptables-restore: line 6 failed: No chain/target/match by that name.", 0},
		{"exit 1: iptables-restore: line 7 failed: No chain/target/match by that name.", 1},
		{"exit 2: iptables-restore v1.8.9 (nf_tables): Couldn't load match `nosuchmatch':No such file or directory\n\nError occurred at line: 9\nTry `iptables-restore -h'", 1},
		{"exit 1: iptables-restore: line 11 failed", -1},
		{"exit 127: sh: iptables-restore: not found", -1},
	} {
		if got := failedPart(tc.msg, ends); got != tc.want {
			t.Errorf("failedPart(%q) = %d, want %d", tc.msg, got, tc.want)
		}
	}
}
