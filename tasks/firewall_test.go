package tasks

import (
	"context"
	"io"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/hostplan/hostplan/internal/facts"
	"github.com/hostplan/hostplan/internal/transport"
)

// recordingConn records the commands run on it; any other use panics (nil Conn).
type recordingConn struct {
	transport.Conn
	shell transport.Shell
	ran   []string
}

func (c *recordingConn) Shell() transport.Shell { return c.shell }

func (c *recordingConn) Run(_ context.Context, cmd string, _ io.Reader) (*transport.Result, error) {
	c.ran = append(c.ran, cmd)
	return &transport.Result{}, nil
}

// batchCommands finds the commands in a batch script; the test's commands all start so.
var batchCommands = regexp.MustCompile(`reviewed command \d`)

// Apply runs the commands of the change it is given, not ones it works out again, and
// depends on nothing but the host and the change: one resource value serves every
// host, whichever was planned last (a Windows host and a firewalld one here).
func TestFirewallApplyRunsThePlannedCommands(t *testing.T) {
	forward := build(t, "port_forward", "api", map[string]cty.Value{
		"listen_port": cty.NumberIntVal(8443), "to_address": cty.StringVal("10.0.0.5"), "to_port": cty.NumberIntVal(6443)})
	allow := build(t, "allowlist", "sc", map[string]cty.Value{
		"region": cty.StringVal("cn-hangzhou"), "ports": cty.ListVal([]cty.Value{cty.NumberIntVal(6443)})})
	windows := &facts.Facts{OSFamily: "windows", DistroFamily: "windows"}
	firewalld := &facts.Facts{OSFamily: "linux", DistroFamily: "rhel", Firewalld: true}
	planned := []string{"reviewed command 1", "reviewed command 2"}
	for _, tc := range []struct {
		r     Resource
		facts *facts.Facts
		shell transport.Shell
	}{{forward, windows, transport.ShellCmd}, {forward, firewalld, transport.ShellSh}, {allow, firewalld, transport.ShellSh}} {
		conn := &recordingConn{shell: tc.shell}
		h := &Host{Name: "h1", Conn: conn, Facts: tc.facts}
		if err := tc.r.Apply(context.Background(), h, &Change{Action: Update, Commands: planned}); err != nil {
			t.Fatalf("%s on %s: %v", tc.r.Type(), tc.facts.OSFamily, err)
		}
		ran := conn.ran
		if tc.shell != transport.ShellCmd {
			// One session runs the batch (transport.RunAll): the planned commands, in order.
			if len(ran) != 1 {
				t.Fatalf("%s on %s ran %d sessions, want one batch", tc.r.Type(), tc.facts.OSFamily, len(ran))
			}
			if n := strings.Count(ran[0], `echo "hostplan-exit $?"`); n != len(planned) {
				t.Errorf("%s on %s: the batch checks %d commands, want %d:\n%s", tc.r.Type(), tc.facts.OSFamily, n, len(planned), ran[0])
			}
			ran = batchCommands.FindAllString(ran[0], -1)
		}
		if !slices.Equal(ran, planned) {
			t.Errorf("%s on %s ran %q, want exactly the planned %q", tc.r.Type(), tc.facts.OSFamily, ran, planned)
		}
	}
}

// Before the facts, port_forward and allowlist guess firewalld's zone read for methods
// auto and firewalld (it runs in the facts' session), and with auto also the iptables
// backend's read (and port_forward the forwarding sysctl's).
func TestFirewallReadsBeforeFacts(t *testing.T) {
	zoneRead := func(r string) bool { return strings.Contains(r, "getZoneSettings2") }
	for _, method := range []string{"auto", "firewalld"} {
		forward := build(t, "port_forward", "api", map[string]cty.Value{"method": cty.StringVal(method),
			"listen_port": cty.NumberIntVal(8443), "to_address": cty.StringVal("10.0.0.5"), "to_port": cty.NumberIntVal(6443)})
		allow := build(t, "allowlist", "sc", map[string]cty.Value{"method": cty.StringVal(method),
			"region": cty.StringVal("cn-hangzhou"), "ports": cty.ListVal([]cty.Value{cty.NumberIntVal(6443)})})
		for _, r := range []Resource{forward, allow} {
			reads := r.(Prefetcher).Reads(&Host{Name: "h1"})
			if !slices.ContainsFunc(reads, zoneRead) {
				t.Errorf("%s with method %s: reads %q, without firewalld's zone read", r.Type(), method, reads)
			}
			want := 1
			switch {
			case method == "auto" && r == forward:
				want = 3 // iptables-save and the sysctl's read too
			case method == "auto":
				want = 2 // iptables-save too
			}
			if len(reads) != want {
				t.Errorf("%s with method %s: %d reads, want %d: %q", r.Type(), method, len(reads), want, reads)
			}
		}
	}
}
