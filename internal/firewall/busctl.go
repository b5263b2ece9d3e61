package firewall

// Reading a zone from firewalld over D-Bus with busctl (systemd's, on every host that
// runs firewalld under systemd): about 20 ms of a host's CPU per call, where a
// firewall-cmd call starts Python, about 0.25 s. busctl prints a reply as its D-Bus
// signature and then the values: strings C-escaped in double quotes, booleans as
// true/false, an array as its length and then its items, a variant as its signature
// and then its value. firewalld 0.9 and later answer getZoneSettings2 (runtime) and
// getSettings2 (permanent) with an a{sv} of the zone's settings, empty lists left out.
// Older firewalld, or a host without busctl, is read with firewall-cmd --list-all.

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// zoneRead is the shell command that prints both configurations of a zone, permanent
// first, each after a "hostplan-zone CONFIG FORMAT" line (over D-Bus, the permanent
// one's line ends in the zone's configuration object). name is a checked zone name
// (letters, digits, _ and -: nothing the shell reads; "--" keeps busctl from reading a
// leading "-" as an option). Where firewalld has not run since boot it fails at once,
// as a read guessed before the facts (Reads) does on hosts without firewalld. A plan
// starts nothing: busctl must not have the bus start firewalld for a call.
func zoneRead(name string) string {
	return `[ -d /run/firewalld ] || { echo "firewalld is not running (no /run/firewalld)" >&2; exit 3; }
z=` + name + `
d=org.fedoraproject.FirewallD1 o=/org/fedoraproject/FirewallD1
call() { busctl --auto-start=no -- call $d "$@" 2>/dev/null; }
if zp=$(call $o/config $d.config getZoneByName s "$z") && zp=${zp#o \"} && zp=${zp%\"} &&
  perm=$(call "$zp" $d.config.zone getSettings2) && run=$(call $o $d.zone getZoneSettings2 s "$z"); then
  printf 'hostplan-zone permanent dbus %s\n%s\nhostplan-zone runtime dbus\n%s\n' "$zp" "$perm" "$run"
  exit 0
fi
echo 'hostplan-zone permanent list-all'; ` + listAll(name, true) + ` || exit
echo 'hostplan-zone runtime list-all'; ` + listAll(name, false)
}

// listAll lists one configuration of a zone with firewall-cmd.
func listAll(name string, permanent bool) string {
	return firewallCmd(name, permanent) + " --list-all"
}

// parseZoneRead reads zoneRead's output: the permanent configuration, then the runtime.
// A section starts at a line of its own (a rich rule's log prefix may say anything).
func parseZoneRead(out string) (permanent, runtime *zone, err error) {
	const mark = "hostplan-zone "
	var zs []*zone
	for i, part := range strings.Split("\n"+out, "\n"+mark)[1:] {
		head, body, _ := strings.Cut(part, "\n")
		fields := strings.Fields(head)
		if want := []string{"permanent", "runtime"}; i >= len(want) || len(fields) < 2 || fields[0] != want[i] {
			return nil, nil, fmt.Errorf("unexpected section %q", mark+head)
		}
		config, format := fields[0], strings.Join(fields[1:], " ")
		var z *zone
		switch {
		case format == "dbus" && config == "runtime":
			z, err = parseZoneSettings(strings.TrimSpace(body))
			if z != nil {
				z.object = busRuntime
			}
		case len(fields) == 3 && fields[1] == "dbus" && config == "permanent" && configZonePath.MatchString(fields[2]):
			z, err = parseZoneSettings(strings.TrimSpace(body))
			if z != nil {
				z.object = fields[2]
			}
		case format == "list-all":
			z, err = parseListAll(body)
		default:
			err = fmt.Errorf("unexpected section %q", mark+head)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("%s configuration: %w", config, err)
		}
		zs = append(zs, z)
	}
	if len(zs) != 2 {
		return nil, nil, fmt.Errorf("%d of the 2 configurations in its output", len(zs))
	}
	return zs[0], zs[1], nil
}

// parseZoneSettings reads busctl's print of a zone's a{sv} settings.
func parseZoneSettings(reply string) (*zone, error) {
	toks, err := busctlTokens(reply)
	if err != nil {
		return nil, err
	}
	r := &busReader{toks: toks}
	if sig := r.next(); sig != "a{sv}" {
		return nil, fmt.Errorf("reply of type %q, want a{sv}", sig)
	}
	v, err := r.value("a{sv}", 0)
	if err != nil {
		return nil, err
	}
	if r.i != len(r.toks) {
		return nil, fmt.Errorf("%d unread values after the settings", len(r.toks)-r.i)
	}
	z := &zone{}
	masquerade := false
	for _, e := range v.([]any) {
		kv := e.([]any)
		key := kv[0].(string)
		masquerade = masquerade || key == "masquerade"
		if err := z.setting(key, kv[1]); err != nil {
			return nil, err
		}
	}
	if !masquerade { // firewalld always sends it; --list-all's reader asks for its line too
		return nil, fmt.Errorf("no masquerade setting in the reply")
	}
	return z, nil
}

// setting takes one of the settings hostplan manages; the others are not its business.
func (z *zone) setting(key string, v any) error {
	bad := fmt.Errorf("setting %q of an unexpected type", key)
	switch key {
	case "masquerade":
		b, ok := v.(bool)
		if !ok {
			return bad
		}
		z.masquerade = b
	case "forward_ports":
		items, ok := v.([]any)
		if !ok {
			return bad
		}
		for _, item := range items {
			f, ok := strings4(item)
			if !ok {
				return fmt.Errorf("forward_ports item %v, want (port, protocol, to port, to address)", item)
			}
			p := forwardPort{port: f[0], proto: f[1], toPort: f[2]}
			if f[3] != "" {
				addr, err := netip.ParseAddr(strings.Trim(f[3], "[]"))
				if err != nil {
					return fmt.Errorf("forward port to %q: %w", f[3], err)
				}
				p.toAddr = addr
			}
			z.forwards = append(z.forwards, p)
		}
	case "rules_str":
		items, ok := v.([]any)
		if !ok {
			return bad
		}
		for _, item := range items {
			r, ok := item.(string)
			if !ok {
				return bad
			}
			z.rich = append(z.rich, r)
		}
	}
	return nil
}

// strings4 is a struct of four strings (a forward port).
func strings4(v any) ([4]string, bool) {
	var out [4]string
	fields, ok := v.([]any)
	if !ok || len(fields) != len(out) {
		return out, false
	}
	for i, f := range fields {
		if out[i], ok = f.(string); !ok {
			return out, false
		}
	}
	return out, true
}

// maxDepth is D-Bus's limit on nesting (32 arrays and 32 structs deep), and the most a
// reply may take of this reader's stack.
const maxDepth = 64

// busReader reads busctl's values by their signature.
type busReader struct {
	toks []string
	i    int
}

func (r *busReader) next() string {
	if r.i >= len(r.toks) {
		return ""
	}
	r.i++
	return r.toks[r.i-1]
}

// value reads one value of sig, a checked single complete type, depth levels down: a
// string for strings and numbers, a bool, or a []any for arrays, structs and dict
// entries (key, value).
func (r *busReader) value(sig string, depth int) (any, error) {
	switch {
	case depth > maxDepth:
		return nil, fmt.Errorf("values nested over %d deep", maxDepth)
	case r.i >= len(r.toks):
		return nil, fmt.Errorf("reply ends before a value of type %q", sig)
	}
	switch sig[0] {
	case 'a':
		// Every item takes a token at least (no empty structs): a length beyond the
		// tokens left is a lie, not an allocation to make.
		n, err := strconv.Atoi(r.next())
		if err != nil || n < 0 || n > len(r.toks)-r.i {
			return nil, fmt.Errorf("array of type %q: bad length", sig)
		}
		items := make([]any, 0, n)
		for range n {
			v, err := r.value(sig[1:], depth+1)
			if err != nil {
				return nil, err
			}
			items = append(items, v)
		}
		return items, nil
	case '(', '{':
		var fields []any
		for rest := sig[1 : len(sig)-1]; rest != ""; {
			n, _ := oneType(rest, 0) // sig was checked
			v, err := r.value(rest[:n], depth+1)
			if err != nil {
				return nil, err
			}
			fields, rest = append(fields, v), rest[n:]
		}
		return fields, nil
	case 'v':
		inner := r.next()
		if err := checkSignature(inner); err != nil {
			return nil, fmt.Errorf("variant: %w", err)
		}
		return r.value(inner, depth+1)
	case 'b':
		switch t := r.next(); t {
		case "true", "false":
			return t == "true", nil
		default:
			return nil, fmt.Errorf("boolean %q", t)
		}
	}
	return r.next(), nil
}

// checkSignature accepts a single complete D-Bus type of at most 255 bytes.
func checkSignature(sig string) error {
	n, err := oneType(sig, 0)
	switch {
	case err != nil:
		return fmt.Errorf("signature %.40q: %w", sig, err)
	case n != len(sig) || n > 255:
		return fmt.Errorf("signature %.40q is not one type", sig)
	}
	return nil
}

// oneType returns the length of the complete type sig starts with: a basic type or a
// variant, an array of a complete type, a struct of one or more, or a dict entry of a
// basic key and one value.
func oneType(sig string, depth int) (int, error) {
	const basic = "ybnqiuxtdhsog"
	switch {
	case depth > maxDepth:
		return 0, fmt.Errorf("nested over %d deep", maxDepth)
	case sig == "":
		return 0, fmt.Errorf("incomplete")
	case strings.IndexByte(basic+"v", sig[0]) >= 0:
		return 1, nil
	case sig[0] == 'a':
		n, err := oneType(sig[1:], depth+1)
		return n + 1, err
	case sig[0] == '(':
		i := 1
		for i < len(sig) && sig[i] != ')' {
			n, err := oneType(sig[i:], depth+1)
			if err != nil {
				return 0, err
			}
			i += n
		}
		if i == 1 || i == len(sig) {
			return 0, fmt.Errorf("empty or unclosed struct")
		}
		return i + 1, nil
	case sig[0] == '{':
		if len(sig) < 2 || strings.IndexByte(basic, sig[1]) < 0 {
			return 0, fmt.Errorf("dict entry without a basic key")
		}
		n, err := oneType(sig[2:], depth+1)
		if err != nil {
			return 0, err
		}
		if 2+n >= len(sig) || sig[2+n] != '}' {
			return 0, fmt.Errorf("dict entry not of one key and one value")
		}
		return n + 3, nil
	}
	return 0, fmt.Errorf("unknown type %q", sig[0])
}

// busctlTokens splits busctl's line into words and unescaped quoted strings.
func busctlTokens(s string) ([]string, error) {
	var toks []string
	for s = strings.TrimLeft(s, " "); s != ""; s = strings.TrimLeft(s, " ") {
		if s[0] != '"' {
			word, rest, _ := strings.Cut(s, " ")
			toks, s = append(toks, word), rest
			continue
		}
		str, n, err := unescapeC(s[1:])
		if err != nil {
			return nil, err
		}
		toks, s = append(toks, str), s[1+n:]
	}
	return toks, nil
}

// unescapeC reads a string systemd's cescape wrote, up to its closing quote, and
// returns it and how much of s it took (the quote included).
func unescapeC(s string) (string, int, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"':
			return b.String(), i + 1, nil
		case c != '\\':
			b.WriteByte(c)
			continue
		}
		i++
		if i == len(s) {
			break
		}
		if j := strings.IndexByte(`abfnrtv\"'`, s[i]); j >= 0 {
			b.WriteByte("\a\b\f\n\r\t\v\\\"'"[j])
			continue
		}
		if i+3 > len(s) {
			return "", 0, fmt.Errorf("bad escape in %.40q", s)
		}
		o, err := strconv.ParseUint(s[i:i+3], 8, 8)
		if err != nil {
			return "", 0, fmt.Errorf("bad escape in %.40q", s)
		}
		b.WriteByte(byte(o))
		i += 2
	}
	return "", 0, fmt.Errorf("string without its closing quote: %.40q", s)
}
