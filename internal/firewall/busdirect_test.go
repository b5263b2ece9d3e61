package firewall

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/hostplan/hostplan/internal/transport"
)

// TestParseBusCalls: every line busCaller writes parses to the call it says, and a
// line changed in any way the shell would read differently does not.
func TestParseBusCalls(t *testing.T) {
	const perm = "/org/fedoraproject/FirewallD1/config/zone/4"
	runtime := busCaller{zone: "public", object: busRuntime}
	permanent := busCaller{zone: "public", permanent: true, object: perm}
	f := Forward{ListenPort: 16443, Protocol: "tcp", To: netip.MustParseAddr("10.0.0.5"), ToPort: 6443}
	rule := `rule family="ipv4" source address="192.0.2.7/32" port port="6443" protocol="tcp" log prefix="it's" accept`
	zoneIface, configIface := busName+".zone.", busName+".config.zone."
	for _, tc := range []struct {
		line string
		want busCall
	}{
		{runtime.forward(true, f), busCall{object: busRuntime, method: zoneIface + "addForwardPort",
			args: []any{"public", "16443", "tcp", "6443", "10.0.0.5", int32(0)}}},
		{runtime.forward(false, f), busCall{object: busRuntime, method: zoneIface + "removeForwardPort",
			args: []any{"public", "16443", "tcp", "6443", "10.0.0.5"}}},
		{permanent.forward(true, Forward{ListenPort: 81, Protocol: "udp", ToPort: 8081}), busCall{object: perm,
			method: configIface + "addForwardPort", args: []any{"81", "udp", "8081", ""}}},
		{permanent.forward(false, f), busCall{object: perm, method: configIface + "removeForwardPort",
			args: []any{"16443", "tcp", "6443", "10.0.0.5"}}},
		{runtime.masquerade(), busCall{object: busRuntime, method: zoneIface + "addMasquerade", args: []any{"public", int32(0)}}},
		{permanent.masquerade(), busCall{object: perm, method: configIface + "addMasquerade", args: []any{}}},
		{runtime.rich(true, []string{rule})[0], busCall{object: busRuntime, method: zoneIface + "addRichRule", args: []any{"public", rule, int32(0)}}},
		{runtime.rich(false, []string{rule})[0], busCall{object: busRuntime, method: zoneIface + "removeRichRule", args: []any{"public", rule}}},
		{permanent.rich(true, []string{rule})[0], busCall{object: perm, method: configIface + "addRichRule", args: []any{rule}}},
		{permanent.rich(false, []string{rule})[0], busCall{object: perm, method: configIface + "removeRichRule", args: []any{rule}}},
		{permanent.check(), busCall{object: perm, zone: "public"}},
	} {
		tc.want.line = tc.line
		got, ok := parseBusCall(tc.line)
		if !ok || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s:\n got %#v, %v\nwant %#v", tc.line, got, ok, tc.want)
		}
	}

	add := runtime.rich(true, []string{rule})[0]
	for _, line := range []string{
		"", "busctl", add + " ", " " + add, strings.Replace(add, " ", "  ", 1),
		strings.Replace(add, "'rule", "\"rule", 1),               // another quoting
		strings.Replace(add, "public", "$(reboot)", 1),           // a word the shell expands
		strings.Replace(add, "public", "'pub'lic", 1),            // the same word, quoted otherwise
		strings.Replace(add, "--auto-start=no ", "", 1),          // may start firewalld
		strings.Replace(add, "addRichRule", "setDefaultZone", 1), // another method
		strings.Replace(add, " 0", " 0x10", 1),                   // not a decimal int32
		strings.Replace(add, " 0", " 010", 1),                    // octal to busctl
		strings.Replace(add, " 0", " 08", 1),                     // refused by busctl
		strings.Replace(add, " 0", " 00", 1),
		strings.Replace(add, " 0", " +0", 1),
		strings.Replace(add, " 0", " 4294967296", 1),                           // past int32
		strings.Replace(add, " ssi ", " ssib ", 1),                             // a type busCaller never writes
		strings.Replace(add, " ssi ", " ss ", 1),                               // more values than types
		strings.Replace(add, busRuntime+" ", busRuntime+"/config ", 1),         // another object
		strings.Replace(permanent.masquerade(), perm, busRuntime, 1),           // the permanent interface on the runtime object
		strings.Replace(permanent.masquerade(), perm, perm+"/x", 1),            // not a zone object
		strings.Replace(permanent.check(), "exit 1", "exit 0", 1),              // a check that lets the calls run
		strings.Replace(permanent.check(), "'s \"public\"'", "'s \"dmz\"'", 1), // a check of another zone than it says
		add + "; reboot", add + "\nreboot", "firewall-cmd --zone=public --add-masquerade",
	} {
		if got, ok := parseBusCall(line); ok {
			t.Errorf("%q parsed as %#v", line, got)
		}
	}
	if _, ok := parseBusCalls([]string{permanent.check(), add, "firewall-cmd --reload"}); ok {
		t.Error("lines with one that is not a call parsed as calls")
	}
	if _, ok := parseBusCalls(nil); ok {
		t.Error("no lines parsed as calls")
	}
}

// TestOpenBusStalled: a bus that never answers holds the connection's start only until
// the context ends, and leaves no goroutine behind; a missing socket is errNoBus (the
// lines then run in the shell), a socket in a directory others may write is not.
func TestOpenBusStalled(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the path rule wants the socket in a directory only root can change")
	}
	dir, err := os.MkdirTemp("/run", "hostplan-bus-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "bus")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close() // accepted, never answered
		}
	}()
	d := transport.NewDialer(transport.DialerOptions{})
	defer d.Close()
	conn, err := d.Dial(context.Background(), transport.Target{Local: true})
	if err != nil {
		t.Fatal(err)
	}
	h := Host{Name: "local", Conn: conn}
	before := runtime.NumGoroutine()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := openBusAt(ctx, h, sock); !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, errNoBus) {
		t.Errorf("open a bus that never answers: %v, want the context's deadline", err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("open a bus that never answers took %v", took)
	}
	for deadline := time.Now().Add(5 * time.Second); runtime.NumGoroutine() > before && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines after, %d before", n, before)
	}
	if _, err := openBusAt(context.Background(), h, filepath.Join(dir, "none")); !errors.Is(err, errNoBus) {
		t.Errorf("open a missing bus: %v, want errNoBus", err)
	}
	if _, err := openBusAt(context.Background(), h, "/tmp/bus"); !errors.Is(err, transport.ErrUnsafePath) || errors.Is(err, errNoBus) {
		t.Errorf("open a bus in /tmp: %v, want ErrUnsafePath and no fallback to busctl", err)
	}
}
