package engine

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/hostplan/hostplan/tasks"
)

// TestGuessSkips: a port forward with method auto skips its guessed iptables reads
// where firewalld may run; a read another resource needs anyway (a sysctl of the same
// key) or one of method iptables is never skipped.
func TestGuessSkips(t *testing.T) {
	h := &tasks.Host{Name: "h1"}
	fwd := func(method string) *tasks.PortForward {
		return &tasks.PortForward{Name: "api", ListenPort: 16443, To: netip.MustParseAddr("10.0.0.5"), ToPort: 6443, Protocol: "tcp", Method: method, Zone: "public"}
	}
	sysctl := &tasks.Sysctl{Key: "net.ipv4.ip_forward", Value: "1", File: "/etc/sysctl.d/90-x.conf"}
	for _, tc := range []struct {
		name      string
		resources []tasks.Resource
		skipped   []string // the reads skipped, by their first word
	}{
		{"auto", []tasks.Resource{fwd("auto")}, []string{"iptables-save", "p=/proc/sys/net/ipv4/ip_forward;"}},
		{"auto beside a sysctl of the same key", []tasks.Resource{fwd("auto"), sysctl}, []string{"iptables-save"}},
		{"iptables", []tasks.Resource{fwd("iptables")}, nil},
		{"auto beside iptables", []tasks.Resource{fwd("auto"), fwd("iptables")}, nil},
	} {
		skip := guessSkips(h, tc.resources)
		var got []string
		for read, cond := range skip {
			if !strings.Contains(cond, "/run/firewalld") {
				t.Errorf("%s: %q skipped unless %q", tc.name, read, cond)
			}
			got = append(got, strings.Fields(read)[0])
		}
		slices.Sort(got)
		if !slices.Equal(got, tc.skipped) {
			t.Errorf("%s: skipped %q, want %q", tc.name, got, tc.skipped)
		}
	}
}
