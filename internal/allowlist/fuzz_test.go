package allowlist

import "testing"

// FuzzDiffIPTables checks that arbitrary `iptables -S` output never panics
// the diff and that every command it returns names a chain.
func FuzzDiffIPTables(f *testing.F) {
	f.Add("-N HOSTPLAN-ALLOW\n-A HOSTPLAN-ALLOW -s 1.2.3.4/32 -p tcp -m tcp --dport 6443 -j ACCEPT\n", "-P INPUT ACCEPT\n-A INPUT -p tcp -m tcp --dport 6443 -j HOSTPLAN-ALLOW\n")
	f.Add("-N HOSTPLAN-ALLOW\n-A HOSTPLAN-ALLOW -m comment --comment \"a \\\"b\\\"\" -j RETURN\n", "-P INPUT DROP\n-A INPUT -g HOSTPLAN-ALLOW\n")
	f.Add("", "")
	f.Add("-A HOSTPLAN-ALLOW \\", "-A INPUT \"")
	f.Fuzz(func(t *testing.T, chainOut, inputOut string) {
		for _, absent := range []bool{false, true} {
			cmds, err := allow.DiffIPTables(chainOut, inputOut, absent)
			if err != nil {
				continue
			}
			for _, c := range cmds {
				if len(c) < 4 || c[0] != "iptables" {
					t.Fatalf("malformed command %q", c)
				}
			}
		}
	})
}
