package firewall

import (
	"slices"
	"strings"
	"testing"

	"github.com/hostplan/hostplan/internal/facts"
)

func TestSelect(t *testing.T) {
	debian := &facts.Facts{OSFamily: "linux", DistroFamily: "debian"}
	rhelFirewalld := &facts.Facts{OSFamily: "linux", DistroFamily: "rhel", Firewalld: true}
	rhel := &facts.Facts{OSFamily: "linux", DistroFamily: "rhel"}
	windows := &facts.Facts{OSFamily: "windows", DistroFamily: "windows"}
	for _, tc := range []struct {
		facts          *facts.Facts
		method         string
		want, why, err string
		rulesFile      string
	}{
		{debian, Auto, IPTables, "method iptables (auto: firewalld is not running)", "", "/etc/iptables/rules.v4"},
		{rhel, Auto, IPTables, "method iptables (auto: firewalld is not running)", "", "/etc/sysconfig/iptables"},
		{rhelFirewalld, Auto, Firewalld, "method firewalld (auto: firewalld is running)", "", ""},
		{rhelFirewalld, IPTables, IPTables, "method iptables (as set)", "", "/etc/sysconfig/iptables"},
		{debian, Firewalld, "", "", `method "firewalld", but firewalld is not running on h1`, ""},
		{debian, Netsh, "", "", `method "netsh" needs a Windows host; h1 runs linux`, ""},
		{windows, Auto, Netsh, "method netsh (auto: Windows host)", "", ""},
		{windows, Netsh, Netsh, "method netsh (as set)", "", ""},
		{windows, IPTables, "", "", `method "iptables" on Windows host h1; use "netsh" (or "auto")`, ""},
		// Without facts (the engine's guess of the reads): Linux without firewalld.
		{nil, Auto, IPTables, "method iptables (auto: firewalld is not running)", "", "/etc/iptables/rules.v4"},
		{nil, Netsh, "", "", `method "netsh" needs a Windows host; h1 runs an unknown system`, ""},
		{nil, Firewalld, "", "", `method "firewalld", but firewalld is not running on h1`, ""},
	} {
		b, why, err := Select(Host{Name: "h1", Facts: tc.facts}, tc.method)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s on %+v: err = %v, want %q", tc.method, tc.facts, err, tc.err)
			}
			continue
		}
		if err != nil || b.Method() != tc.want || why != tc.why {
			t.Errorf("%s on %+v = %v, %q, %v; want %s, %q", tc.method, tc.facts, b, why, err, tc.want, tc.why)
			continue
		}
		if ipt, ok := b.(iptables); ok && ipt.rulesFile != tc.rulesFile {
			t.Errorf("%s on %+v: rules file %s, want %s", tc.method, tc.facts, ipt.rulesFile, tc.rulesFile)
		}
		if b.KernelForwarding() != (tc.want == IPTables) {
			t.Errorf("%s: KernelForwarding = %v", tc.want, b.KernelForwarding())
		}
	}
}

func TestReads(t *testing.T) {
	debian := &facts.Facts{OSFamily: "linux", DistroFamily: "debian"}
	running := &facts.Facts{OSFamily: "linux", DistroFamily: "rhel", Firewalld: true}
	windows := &facts.Facts{OSFamily: "windows", DistroFamily: "windows"}
	zone := zoneRead("public")
	for _, tc := range []struct {
		facts  *facts.Facts
		method string
		want   []string
	}{
		{debian, Auto, []string{saveCommand}},
		{running, Auto, []string{zone}},
		{running, IPTables, []string{saveCommand}},
		{windows, Auto, nil},
		{debian, Firewalld, nil},
		// Before the facts: what either backend may read.
		{nil, Auto, []string{saveCommand, zone}},
		{nil, Firewalld, []string{zone}},
		{nil, IPTables, []string{saveCommand}},
		{nil, Netsh, nil},
	} {
		if got := Reads(Host{Name: "h1", Facts: tc.facts}, tc.method, "public"); !slices.Equal(got, tc.want) {
			t.Errorf("%s on %+v: %q, want %q", tc.method, tc.facts, got, tc.want)
		}
	}
}
