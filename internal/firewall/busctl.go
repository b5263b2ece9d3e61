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
// first, each after a "hostplan-zone CONFIG FORMAT" line. name is a checked zone name
// (letters, digits, _ and -: nothing the shell reads). Where firewalld has not run since
// boot it fails at once, as a read guessed before the facts (Reads) does on hosts
// without firewalld.
func zoneRead(name string) string {
	return `[ -d /run/firewalld ] || { echo "firewalld is not running (no /run/firewalld)" >&2; exit 3; }
z=` + name + `
d=org.fedoraproject.FirewallD1 o=/org/fedoraproject/FirewallD1
if p=$(busctl call $d $o/config $d.config getZoneByName s "$z" 2>/dev/null) && p=${p#o \"} && p=${p%\"} &&
  p=$(busctl call $d "$p" $d.config.zone getSettings2 2>/dev/null) &&
  r=$(busctl call $d $o $d.zone getZoneSettings2 s "$z" 2>/dev/null); then
  printf 'hostplan-zone permanent dbus\n%s\nhostplan-zone runtime dbus\n%s\n' "$p" "$r"
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
		config, format, _ := strings.Cut(head, " ")
		if want := []string{"permanent", "runtime"}; i >= len(want) || config != want[i] {
			return nil, nil, fmt.Errorf("unexpected section %q", mark+head)
		}
		var z *zone
		switch format {
		case "dbus":
			z, err = parseZoneSettings(strings.TrimSpace(body))
		case "list-all":
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
	v, err := r.value("a{sv}")
	if err != nil {
		return nil, err
	}
	if r.i != len(r.toks) {
		return nil, fmt.Errorf("%d unread values after the settings", len(r.toks)-r.i)
	}
	z := &zone{}
	for _, e := range v.([]any) {
		kv := e.([]any)
		if err := z.setting(kv[0].(string), kv[1]); err != nil {
			return nil, err
		}
	}
	return z, nil
}

// setting takes one of the settings hostplan manages; the others are not its business.
func (z *zone) setting(key string, v any) error {
	var ok bool
	switch key {
	case "masquerade":
		z.masquerade, ok = v.(bool)
	case "forward_ports":
		for _, item := range listOf(v, &ok) {
			f, isStruct := item.([]any)
			if !isStruct || len(f) != 4 {
				return fmt.Errorf("forward_ports item %v, want (port, protocol, to port, to address)", item)
			}
			p := forwardPort{port: fmt.Sprint(f[0]), proto: fmt.Sprint(f[1]), toPort: fmt.Sprint(f[2])}
			if a := fmt.Sprint(f[3]); a != "" {
				addr, err := netip.ParseAddr(strings.Trim(a, "[]"))
				if err != nil {
					return fmt.Errorf("forward port to %q: %w", a, err)
				}
				p.toAddr = addr
			}
			z.forwards = append(z.forwards, p)
		}
	case "rules_str":
		for _, r := range listOf(v, &ok) {
			z.rich = append(z.rich, fmt.Sprint(r))
		}
	default:
		return nil
	}
	if !ok {
		return fmt.Errorf("setting %q of an unexpected type", key)
	}
	return nil
}

func listOf(v any, ok *bool) []any {
	l, isList := v.([]any)
	*ok = isList
	return l
}

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

// value reads one value of the single complete type sig: a string for strings and
// numbers, a bool, or a []any for arrays, structs and dict entries (key, value).
func (r *busReader) value(sig string) (any, error) {
	if r.i >= len(r.toks) {
		return nil, fmt.Errorf("reply ends before a value of type %q", sig)
	}
	switch sig[0] {
	case 'a':
		n, err := strconv.Atoi(r.next())
		if err != nil || n < 0 || n > len(r.toks) {
			return nil, fmt.Errorf("array of type %q: bad length", sig)
		}
		items := make([]any, 0, n)
		for range n {
			v, err := r.value(sig[1:])
			if err != nil {
				return nil, err
			}
			items = append(items, v)
		}
		return items, nil
	case '(', '{':
		var fields []any
		for _, t := range memberTypes(sig[1 : len(sig)-1]) {
			v, err := r.value(t)
			if err != nil {
				return nil, err
			}
			fields = append(fields, v)
		}
		return fields, nil
	case 'v':
		// D-Bus caps a signature at 255 bytes; the cap also bounds this recursion.
		inner := r.next()
		if n, ok := typeLen(inner); !ok || n != len(inner) || n > 255 {
			return nil, fmt.Errorf("variant of type %q", inner)
		}
		return r.value(inner)
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

// memberTypes splits a signature into its complete types.
func memberTypes(sig string) []string {
	var out []string
	for sig != "" {
		n, _ := typeLen(sig)
		out = append(out, sig[:n])
		sig = sig[n:]
	}
	return out
}

// typeLen is the length of the complete type sig starts with; false if sig ends
// before the type does.
func typeLen(sig string) (int, bool) {
	depth := 0
	for i := 0; i < len(sig); i++ {
		switch sig[i] {
		case 'a':
			continue
		case '(', '{':
			depth++
		case ')', '}':
			depth--
		}
		if depth <= 0 {
			return i + 1, depth == 0
		}
	}
	return len(sig), false
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
			return "", 0, fmt.Errorf("bad escape in %q", s)
		}
		o, err := strconv.ParseUint(s[i:i+3], 8, 8)
		if err != nil {
			return "", 0, fmt.Errorf("bad escape in %q", s)
		}
		b.WriteByte(byte(o))
		i += 2
	}
	return "", 0, fmt.Errorf("string without its closing quote: %q", s)
}
