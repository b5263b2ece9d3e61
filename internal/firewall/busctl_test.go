package firewall

import (
	"net/netip"
	"strings"
	"testing"
)

// listedBus is the zone of listed as busctl prints firewalld 1.3.3's getZoneSettings2
// (captured from a lab host, the two rich rules added); emptyBus is the zone of empty.
const (
	listedBus = `a{sv} 9 "short" s "Public" "description" s "For use in public areas. You do not trust the other computers on networks to not harm your computer. Only selected incoming connections are accepted." "target" s "default" "services" as 2 "ssh" "dhcpv6-client" "masquerade" b true "icmp_block_inversion" b false "forward" b true "forward_ports" a(ssss) 1 "16443" "tcp" "6443" "10.0.0.5" "rules_str" as 2 "rule family=\"ipv4\" source address=\"1.2.3.4/32\" port port=\"6443\" protocol=\"tcp\" accept" "rule family=\"ipv4\" source address=\"1.2.3.5/32\" port port=\"6443\" protocol=\"tcp\" accept"`
	emptyBus  = `a{sv} 7 "short" s "Public" "description" s "For use in public areas. You do not trust the other computers on networks to not harm your computer. Only selected incoming connections are accepted." "target" s "default" "services" as 2 "ssh" "dhcpv6-client" "masquerade" b false "icmp_block_inversion" b false "forward" b true`
)

func TestParseZoneSettings(t *testing.T) {
	for _, tc := range []struct {
		name, reply string
		want        *zone
		err         string
	}{
		{"1.3.3 with items", listedBus, listedZone(), ""},
		{"1.3.3 empty", emptyBus, &zone{}, ""},
		// The permanent configuration, as getSettings2 gives it: a forward with no address.
		{"no toaddr", `a{sv} 2 "masquerade" b false "forward_ports" a(ssss) 1 "81" "udp" "8081" ""`,
			&zone{forwards: []forwardPort{{port: "81", proto: "udp", toPort: "8081"}}}, ""},
		{"IPv6 target", `a{sv} 2 "masquerade" b false "forward_ports" a(ssss) 2 "80" "tcp" "8080" "fd00::1" "81" "tcp" "8081" "[fd00::2]"`,
			&zone{forwards: []forwardPort{{"80", "tcp", "8080", netip.MustParseAddr("fd00::1")}, {"81", "tcp", "8081", netip.MustParseAddr("fd00::2")}}}, ""},
		// Settings of other types and nesting are read past; cescape's escapes undone.
		{"other settings", `a{sv} 5 "masquerade" b false "ingress_priority" i -5 "sources" as 0 "x" a{sas} 1 "k" 2 "v w" "\\\"\101\t" "rules_str" as 1 "rule \"a b\"\012"`,
			&zone{rich: []string{"rule \"a b\"\n"}}, ""},
		{"not a dict", `s "RUNNING"`, nil, `reply of type "s"`},
		{"short", `a{sv} 2 "masquerade" b true`, nil, "reply ends before"},
		{"long", `a{sv} 1 "masquerade" b true "x"`, nil, "1 unread values"},
		{"bad bool", `a{sv} 1 "masquerade" b yes`, nil, `boolean "yes"`},
		{"bad length", `a{sv} many`, nil, "bad length"},
		{"no masquerade", `a{sv} 1 "rules_str" as 0`, nil, "no masquerade setting"},
		{"bad variant", `a{sv} 1 "masquerade" (s "x"`, nil, `variant: signature "(s": empty or unclosed struct`},
		{"array of nothing", `a{sv} 1 "x" (a) 1 00`, nil, "variant: signature"},
		{"empty struct", `a{sv} 1 "x" aa() 2 9 9`, nil, "empty or unclosed struct"},
		{"dict entry of three", `a{sv} 1 "x" a{sss} 0`, nil, "not of one key and one value"},
		{"dict entry with a struct key", `a{sv} 1 "x" a{(s)s} 0`, nil, "without a basic key"},
		{"deep arrays", `a{sv} 1 "x" ` + strings.Repeat("a", 100) + `s 0`, nil, "nested over 64 deep"},
		{"long signature", `a{sv} 1 "x" ` + strings.Repeat("(", 60) + "s" + strings.Repeat("s", 200) + strings.Repeat(")", 60) + ` 0`, nil, "variant: signature"},
		{"deep variants", `a{sv} 1 "x" ` + strings.Repeat("v ", 100) + `s "y"`, nil, "nested over 64 deep"},
		{"array longer than the reply", `a{sv} 1 "x" as 1000000 "a"`, nil, "bad length"},
		{"rule not a string", `a{sv} 2 "masquerade" b false "rules_str" av 1 b true`, nil, `setting "rules_str" of an unexpected type`},
		{"port not a string", `a{sv} 2 "masquerade" b false "forward_ports" av 1 (sssb) "80" "tcp" "8080" true`, nil, "want (port, protocol, to port, to address)"},
		{"wrong type", `a{sv} 1 "masquerade" s "yes"`, nil, `setting "masquerade" of an unexpected type`},
		{"wrong struct", `a{sv} 2 "masquerade" b false "forward_ports" a(ss) 1 "80" "tcp"`, nil, "want (port, protocol, to port, to address)"},
		{"bad address", `a{sv} 2 "masquerade" b false "forward_ports" a(ssss) 1 "80" "tcp" "8080" "host"`, nil, `forward port to "host"`},
		{"unterminated", `a{sv} 1 "rules_str" as 1 "rule`, nil, "without its closing quote"},
		{"bad escape", `a{sv} 1 "rules_str" as 1 "\9x"`, nil, "bad escape"},
	} {
		got, err := parseZoneSettings(tc.reply)
		checkZone(t, tc.name, got, err, tc.want, tc.err)
	}
}

func TestParseZoneRead(t *testing.T) {
	for _, tc := range []struct {
		name, out string
		err       string
	}{
		{"dbus", "hostplan-zone permanent dbus " + testZoneObject + "\n" + emptyBus + "\nhostplan-zone runtime dbus\n" + listedBus + "\n", ""},
		{"dbus without the object", "hostplan-zone permanent dbus\n" + emptyBus + "\nhostplan-zone runtime dbus\n" + listedBus + "\n", `unexpected section "hostplan-zone permanent dbus"`},
		{"dbus with another object", "hostplan-zone permanent dbus /org/fedoraproject/FirewallD1/config/zone/6;x\n" + emptyBus + "\nhostplan-zone runtime dbus\n" + listedBus + "\n", `unexpected section`},
		{"runtime with an object", "hostplan-zone permanent dbus " + testZoneObject + "\n" + emptyBus + "\nhostplan-zone runtime dbus " + testZoneObject + "\n" + listedBus + "\n", `unexpected section`},
		{"list-all", "hostplan-zone permanent list-all\n" + empty + "hostplan-zone runtime list-all\n" + listed, ""},
		{"runtime first", "hostplan-zone runtime dbus\n" + listedBus + "\nhostplan-zone permanent dbus " + testZoneObject + "\n" + emptyBus + "\n", `unexpected section "hostplan-zone runtime dbus"`},
		{"one", "hostplan-zone permanent dbus " + testZoneObject + "\n" + emptyBus + "\n", "1 of the 2 configurations"},
		{"none", "Error: INVALID_ZONE\n", "0 of the 2 configurations"},
		{"unknown format", "hostplan-zone permanent xml\n<zone/>\n", `unexpected section "hostplan-zone permanent xml"`},
		{"a mark inside a rule", "hostplan-zone permanent list-all\n" + empty + "hostplan-zone runtime list-all\n" +
			strings.Replace(listed, " accept\n", ` log prefix="hostplan-zone runtime dbus" accept`+"\n", 1), ""},
		{"bad runtime", "hostplan-zone permanent dbus " + testZoneObject + "\n" + emptyBus + "\nhostplan-zone runtime dbus\na{sv} 1\n", "runtime configuration: array of type \"a{sv}\": bad length"},
	} {
		perm, run, err := parseZoneRead(tc.out)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: err %v, want %q", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil || len(perm.rich) != 0 || len(run.rich) != 2 || !run.masquerade {
			t.Errorf("%s: %+v, %+v, %v; want the empty zone, then the listed one", tc.name, perm, run, err)
		}
	}
}

// FuzzZoneSettings: any reply is read or refused, never a panic (the output comes from
// the host).
func FuzzZoneSettings(f *testing.F) {
	for _, seed := range []string{listedBus, emptyBus, `a{sv} 1 "x" a{sas} 1 "k" 2 "v w" "\\\"\101"`, `a{sv} 1 "x" v s "y"`,
		`a{sv} 1 0 (a) 1 00`, `a{sv} 1 "x" aa() 2 9 9`} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, reply string) {
		if z, err := parseZoneSettings(reply); (z == nil) == (err == nil) {
			t.Fatalf("%q: zone %+v and error %v", reply, z, err)
		}
	})
}
