package tasks

import (
	"context"
	"io"
	"slices"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/hostplan/hostplan/internal/facts"
	"github.com/hostplan/hostplan/internal/transport"
)

// recordingConn records the commands run on it; any other use panics (nil Conn).
type recordingConn struct {
	transport.Conn
	ran []string
}

func (c *recordingConn) Run(_ context.Context, cmd string, _ io.Reader) (*transport.Result, error) {
	c.ran = append(c.ran, cmd)
	return &transport.Result{}, nil
}

// Apply runs the commands of the change it is given, not ones it works out again, and
// depends on nothing but the host and the change: one resource value serves every
// host, whichever was planned last (a Windows host and a firewalld one here).
func TestFirewallApplyRunsThePlannedCommands(t *testing.T) {
	forward := build(t, "port_forward", "api", map[string]cty.Value{
		"listen_port": cty.NumberIntVal(8443), "to_address": cty.StringVal("10.0.0.5"), "to_port": cty.NumberIntVal(6443)})
	allow := build(t, "allowlist", "sc", map[string]cty.Value{
		"region": cty.StringVal("cn-hangzhou"), "ports": cty.ListVal([]cty.Value{cty.NumberIntVal(6443)})})
	hosts := []*facts.Facts{
		{OSFamily: "windows", DistroFamily: "windows"},
		{OSFamily: "linux", DistroFamily: "rhel", Firewalld: true},
	}
	for _, tc := range []struct {
		r     Resource
		facts *facts.Facts
	}{{forward, hosts[0]}, {forward, hosts[1]}, {allow, hosts[1]}} {
		conn := &recordingConn{}
		h := &Host{Name: "h1", Conn: conn, Facts: tc.facts}
		planned := []string{"reviewed command 1", "reviewed command 2"}
		if err := tc.r.Apply(context.Background(), h, &Change{Action: Update, Commands: planned}); err != nil {
			t.Fatalf("%s on %s: %v", tc.r.Type(), tc.facts.OSFamily, err)
		}
		if !slices.Equal(conn.ran, planned) {
			t.Errorf("%s on %s ran %q, want exactly the planned %q", tc.r.Type(), tc.facts.OSFamily, conn.ran, planned)
		}
	}
}
