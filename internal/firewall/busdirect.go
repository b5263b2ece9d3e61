package firewall

// Making a firewalld host's busctl calls from hostplan itself. The plan shows (and a
// saved plan keeps) the busctl command lines a reviewer reads; the apply makes exactly
// those calls over the host's system bus, reached through the SSH connection (sshd's
// streamlocal forwarding), so no busctl process starts: about 17 ms of the host's CPU a
// call, most of it busctl's start, 14 calls for a first forward and allowlist. A line
// is called this way only when it is one of the forms buscalls.go writes and writing
// the call it parses to gives the line back byte for byte; the socket's server sees
// the login user, so only where commands run as that user (no sudo: DialUnix refuses
// otherwise). Any other line, or a bus that cannot be reached, and the lines run in the
// shell as before.

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/hostplan/hostplan/internal/transport"
)

// systemBus is the system bus's socket (dbus-daemon and dbus-broker, every distro).
const systemBus = "/run/dbus/system_bus_socket"

// busCall is one command line of a firewalld step as a D-Bus call.
type busCall struct {
	line   string // the command as the plan shows it
	object string
	// method is interface.member; args match its signature.
	method string
	args   []any
	// zone, for a check: the permanent object must still be that zone.
	zone string
}

// busMethods are the members buscalls.go calls.
var busMethods = []string{"addForwardPort", "removeForwardPort", "addMasquerade", "addRichRule", "removeRichRule"}

// checkLine is the form of busCaller.check, for its object and zone.
var checkLine = regexp.MustCompile(`^\[ "\$\(busctl --auto-start=no -- get-property ` + regexp.QuoteMeta(busName) +
	` (/org/fedoraproject/FirewallD1/config/zone/[0-9]+) .* = 's "([A-Za-z0-9_-]{1,17})"' \]`)

// parseBusCalls turns every line into its call, or says no when one is not a call.
func parseBusCalls(lines []string) ([]busCall, bool) {
	calls := make([]busCall, len(lines))
	for i, l := range lines {
		c, ok := parseBusCall(l)
		if !ok {
			return nil, false
		}
		calls[i] = c
	}
	return calls, len(calls) > 0
}

func parseBusCall(line string) (busCall, bool) {
	if m := checkLine.FindStringSubmatch(line); m != nil {
		c := busCaller{zone: m[2], permanent: true, object: m[1]}
		return busCall{line: line, object: m[1], zone: m[2]}, c.check() == line
	}
	words, ok := shellWords(line)
	if !ok || len(words) < 8 || !slices.Equal(words[:5], []string{"busctl", "--auto-start=no", "--", "call", busName}) {
		return busCall{}, false
	}
	object, iface, member := words[5], words[6], words[7]
	c := busCaller{object: object, permanent: iface == busName+".config.zone"}
	switch {
	case c.permanent && !configZonePath.MatchString(object),
		!c.permanent && (iface != busName+".zone" || object != busRuntime),
		!slices.Contains(busMethods, member):
		return busCall{}, false
	}
	sig, values := "", words[8:]
	if len(values) > 0 {
		sig, values = values[0], values[1:]
	}
	args, ok := busArgs(sig, values)
	if !ok || c.call(member, sig, values...) != line {
		return busCall{}, false
	}
	return busCall{line: line, object: object, method: iface + "." + member, args: args}, true
}

// busArgs are values as the D-Bus types of sig, which holds only s and i.
func busArgs(sig string, values []string) ([]any, bool) {
	if len(sig) != len(values) {
		return nil, false
	}
	args := make([]any, len(values))
	for i, v := range values {
		switch sig[i] {
		case 's':
			args[i] = v
		case 'i':
			// Decimal as strconv writes it: busctl reads "010" as octal, "+1" too.
			n, err := strconv.ParseInt(v, 10, 32)
			if err != nil || strconv.FormatInt(n, 10) != v {
				return nil, false
			}
			args[i] = int32(n)
		default:
			return nil, false
		}
	}
	return args, true
}

// shellWords splits a line of words as transport.ShellQuote writes them: single
// spaces between, each word bare characters or single-quoted parts joined by \'.
// Anything else the shell would read differently (a $, a double quote) says no.
func shellWords(line string) ([]string, bool) {
	var words []string
	var w strings.Builder
	for i := 0; i <= len(line); i++ {
		switch {
		case i == len(line) || line[i] == ' ':
			if i > 0 && line[i-1] == ' ' || i == 0 {
				return nil, false // an empty word: two spaces, or one at an end
			}
			words = append(words, w.String())
			w.Reset()
		case strings.HasPrefix(line[i:], `\'`):
			w.WriteByte('\'')
			i++
		case line[i] == '\'':
			end := strings.IndexByte(line[i+1:], '\'')
			if end < 0 {
				return nil, false
			}
			w.WriteString(line[i+1 : i+1+end])
			i += 1 + end
		case isBare(line[i]):
			w.WriteByte(line[i])
		default:
			return nil, false
		}
	}
	return words, true
}

func isBare(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("@%_-+:,./=", c) >= 0
}

// errNoBus says the calls were not made: the lines are to run in the shell.
var errNoBus = errors.New("system bus not reachable")

// busTimeout bounds each call, and the connection's start, as busctl's default does.
const busTimeout = 25 * time.Second

// busFlags are busctl's for a call made with --auto-start=no: no bus activation, and
// polkit may ask an agent (busctl's default; there is none for a root login).
const busFlags = dbus.FlagNoAutoStart | dbus.FlagAllowInteractiveAuthorization

// busCallOn calls method on obj as busctl would, within busTimeout.
func busCallOn(ctx context.Context, obj dbus.BusObject, method string, args ...any) *dbus.Call {
	ctx, cancel := context.WithTimeout(ctx, busTimeout)
	defer cancel()
	return obj.CallWithContext(ctx, method, busFlags, args...)
}

// callBus makes the calls in order over the host's system bus and stops at the first
// that fails, quoting its line. errNoBus (wrapped) when the bus could not be reached
// or authenticated to: no call was made then.
func callBus(ctx context.Context, h Host, calls []busCall) error {
	return withBus(ctx, h, func(bus *dbus.Conn) error {
		for _, c := range calls {
			if err := c.make(ctx, bus); err != nil {
				if ctx.Err() != nil {
					return fmt.Errorf("%s: %w", c.line, ctx.Err())
				}
				return fmt.Errorf("%s: %w", c.line, err)
			}
		}
		return nil
	})
}

// openBus connects to the host's system bus as the login user (EXTERNAL: the bus takes
// the user from the socket) and says hello. The connection closes when ctx ends (the
// godbus connection's context), the authentication included.
func openBus(ctx context.Context, h Host) (*dbus.Conn, error) {
	return openBusAt(ctx, h, systemBus)
}

// openBusAt is openBus with the bus at socket.
func openBusAt(ctx context.Context, h Host, socket string) (*dbus.Conn, error) {
	return openBusFor(ctx, ctx, h, socket)
}

// openBusFor is openBusAt for a connection that lasts until life ends: ctx bounds
// only its making (the authentication and the Hello are cut short when it ends).
func openBusFor(ctx, life context.Context, h Host, socket string) (*dbus.Conn, error) {
	nc, err := h.Conn.DialUnix(ctx, socket)
	switch {
	case ctx.Err() != nil:
		return nil, ctx.Err()
	case errors.Is(err, transport.ErrUnsafePath):
		// Not the bus, nor a path busctl should take as root instead.
		return nil, err
	case err != nil:
		return nil, fmt.Errorf("%w: %w", errNoBus, err)
	}
	bus, err := dbus.NewConn(nc, dbus.WithContext(life))
	if err == nil {
		stop := time.AfterFunc(busTimeout, func() { bus.Close() })
		cut := context.AfterFunc(ctx, func() { bus.Close() })
		if err = bus.Auth([]dbus.Auth{dbus.AuthExternal("")}); err == nil {
			err = bus.Hello()
		}
		cut()
		if !stop.Stop() && err == nil {
			err = errors.New("no answer in time")
		}
		if err != nil {
			bus.Close()
		}
	}
	if err != nil {
		nc.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("%w: the system bus of %s: %w", errNoBus, h.Name, err)
	}
	return bus, nil
}

// readZoneBus reads both configurations of zone name over the host's system bus, with
// the calls zoneRead makes with busctl.
func readZoneBus(ctx context.Context, h Host, name string) (perm, run *zone, err error) {
	var object dbus.ObjectPath
	var settings [2]map[string]dbus.Variant
	err = withBus(ctx, h, func(bus *dbus.Conn) error {
		err := busCallOn(ctx, bus.Object(busName, busRuntime+"/config"), busName+".config.getZoneByName", name).Store(&object)
		if err == nil && !configZonePath.MatchString(string(object)) {
			err = fmt.Errorf("zone %s's configuration object %q", name, object)
		}
		if err == nil {
			err = busCallOn(ctx, bus.Object(busName, object), busName+".config.zone.getSettings2").Store(&settings[0])
		}
		if err == nil {
			err = busCallOn(ctx, bus.Object(busName, busRuntime), busName+".zone.getZoneSettings2", name).Store(&settings[1])
		}
		return err
	})
	if errors.Is(err, errNoBus) || errors.Is(err, transport.ErrUnsafePath) {
		return nil, nil, err
	}
	var zs [2]*zone
	for i := 0; err == nil && i < len(zs); i++ {
		zs[i], err = zoneOfSettings(settings[i])
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read firewalld zone %s over the system bus of %s: %w", name, h.Name, err)
	}
	zs[0].object, zs[1].object = string(object), busRuntime
	return zs[0], zs[1], nil
}

// zoneOfSettings is parseZoneSettings for the settings as godbus decoded them.
func zoneOfSettings(settings map[string]dbus.Variant) (*zone, error) {
	if _, ok := settings["masquerade"]; !ok { // as parseZoneSettings
		return nil, fmt.Errorf("no masquerade setting in the reply")
	}
	z := &zone{}
	for key, v := range settings {
		if err := z.setting(key, plainValue(v.Value())); err != nil {
			return nil, err
		}
	}
	return z, nil
}

// plainValue is v as busReader gives values: arrays and structs (which godbus decodes
// to typed slices, or []any) as []any, recursively.
func plainValue(v any) any {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Slice {
		return v
	}
	out := make([]any, rv.Len())
	for i := range out {
		out[i] = plainValue(rv.Index(i).Interface())
	}
	return out
}

// make makes the call (or the check) as busctl --auto-start=no would.
func (c busCall) make(ctx context.Context, bus *dbus.Conn) error {
	obj := bus.Object(busName, dbus.ObjectPath(c.object))
	if c.zone == "" {
		return busError(busCallOn(ctx, obj, c.method, c.args...).Err)
	}
	var name dbus.Variant
	if err := busCallOn(ctx, obj, "org.freedesktop.DBus.Properties.Get", busName+".config.zone", "name").Store(&name); err != nil {
		return busError(err)
	}
	if s, ok := name.Value().(string); !ok || s != c.zone {
		return fmt.Errorf("firewalld renumbered its zones since the plan: %s is not zone %s any more; plan again", c.object, c.zone)
	}
	return nil
}

// busError says what firewalld answered, as busctl does ("Call failed: ...").
func busError(err error) error {
	var de dbus.Error
	if errors.As(err, &de) {
		return fmt.Errorf("call failed: %s (%s)", de.Error(), de.Name)
	}
	return err
}
