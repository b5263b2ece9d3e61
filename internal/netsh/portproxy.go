package netsh

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Entry is one v4tov4 port proxy entry. ListenAddress is kept as netsh
// prints it ("*", "0.0.0.0", an IP or a host name), because that spelling is
// the entry's key for `set` and `delete`.
type Entry struct {
	ListenAddress  string
	ListenPort     int
	ConnectAddress string
	ConnectPort    int
}

func (e Entry) String() string {
	return fmt.Sprintf("%s:%d -> %s:%d", e.ListenAddress, e.ListenPort, e.ConnectAddress, e.ConnectPort)
}

// Validate checks that e can be passed to netsh: ports 1-65535, a listen
// address that is "*", an IPv4 address or a host name, and a connect address
// that is an IPv4 address or a host name.
func (e Entry) Validate() error {
	if err := e.validateListen(); err != nil {
		return err
	}
	if err := checkHost("connect address", e.ConnectAddress); err != nil {
		return err
	}
	if a, err := netip.ParseAddr(e.ConnectAddress); err == nil && a.IsUnspecified() {
		return fmt.Errorf("connect address %q: the proxy cannot connect to the unspecified address", e.ConnectAddress)
	}
	return checkPort("connect port", e.ConnectPort)
}

func (e Entry) validateListen() error {
	if e.ListenAddress != "*" {
		if err := checkHost("listen address", e.ListenAddress); err != nil {
			if e.ListenAddress == "" {
				return fmt.Errorf("%w (use * for every address)", err)
			}
			return err
		}
	}
	return checkPort("listen port", e.ListenPort)
}

// Normalize returns e with its addresses in the form in which two entries
// mean the same thing to the port proxy: "*" becomes "0.0.0.0" (both listen
// on every IPv4 address) and host names are lower-cased (netsh keys entries by
// case-insensitive registry value names, and DNS names are case-insensitive).
func Normalize(e Entry) Entry {
	e.ListenAddress = normAddr(e.ListenAddress)
	e.ConnectAddress = normAddr(e.ConnectAddress)
	return e
}

func normAddr(a string) string {
	if a == "*" {
		return "0.0.0.0"
	}
	return strings.ToLower(a)
}

// ShowV4ToV4Command lists the v4tov4 entries; parse its output with
// ParseShowV4ToV4.
func ShowV4ToV4Command() Command {
	c, err := newCommand("interface", "portproxy", "show", "v4tov4")
	if err != nil {
		panic(err) // constant arguments
	}
	return c
}

// AddCommand creates the entry e; Plan decides between it and SetCommand.
func AddCommand(e Entry) (Command, error) { return entryCommand("add", e) }

// SetCommand re-points the existing entry for e's listen address and port.
func SetCommand(e Entry) (Command, error) { return entryCommand("set", e) }

// DeleteCommand removes the entry for e's listen address and port.
func DeleteCommand(e Entry) (Command, error) {
	if err := e.validateListen(); err != nil {
		return Command{}, fmt.Errorf("delete port proxy entry: %w", err)
	}
	return deleteCommand(e)
}

func entryCommand(verb string, e Entry) (Command, error) {
	if err := e.Validate(); err != nil {
		return Command{}, fmt.Errorf("%s port proxy entry: %w", verb, err)
	}
	return rawEntryCommand(verb, e)
}

// rawEntryCommand and deleteCommand take the listen address as it is, so
// that Plan can address an entry under whatever spelling netsh stored it
// (another tool may have used a NetBIOS name Validate would refuse);
// newCommand still refuses anything cmd.exe would reinterpret.
func rawEntryCommand(verb string, e Entry) (Command, error) {
	return newCommand("interface", "portproxy", verb, "v4tov4",
		"listenport="+strconv.Itoa(e.ListenPort), "listenaddress="+e.ListenAddress,
		"connectaddress="+e.ConnectAddress, "connectport="+strconv.Itoa(e.ConnectPort),
		"protocol=tcp")
}

func deleteCommand(e Entry) (Command, error) {
	if e.ListenAddress == "" {
		return Command{}, fmt.Errorf("delete port proxy entry: listen address is empty")
	}
	return newCommand("interface", "portproxy", "delete", "v4tov4",
		"listenport="+strconv.Itoa(e.ListenPort), "listenaddress="+e.ListenAddress)
}

// Plan returns the netsh commands that make want the entry for its listener
// (or, with absent, remove it): none when an entry for the same listener
// already forwards to want's target, `set` when it forwards elsewhere, `add`
// when there is none. "*" and "0.0.0.0" count as the same listener, as they
// do to the proxy; an entry that exists under the other spelling is edited in
// place, and a second one that would collide on the port is deleted.
func Plan(current []Entry, want Entry, absent bool) ([]Command, error) {
	var err error
	if absent {
		err = want.validateListen()
	} else {
		err = want.Validate()
	}
	if err != nil {
		return nil, fmt.Errorf("plan port proxy %s:%d: %w", want.ListenAddress, want.ListenPort, err)
	}
	cmds, err := listenerCommands(sameListener(current, want), want, absent)
	if err != nil {
		return nil, fmt.Errorf("plan port proxy %s:%d: %w", want.ListenAddress, want.ListenPort, err)
	}
	return cmds, nil
}

// sameListener are the entries of current for want's listener, once per spelling of
// the listen address (netsh keys entries case-insensitively).
func sameListener(current []Entry, want Entry) []Entry {
	listener := normAddr(want.ListenAddress)
	var same []Entry
	seen := map[string]bool{}
	for _, c := range current {
		key := strings.ToLower(c.ListenAddress)
		if c.ListenPort != want.ListenPort || normAddr(c.ListenAddress) != listener || seen[key] {
			continue
		}
		seen[key] = true
		same = append(same, c)
	}
	return same
}

// listenerCommands makes same, the entries for want's listener, into want: one is kept
// (re-pointed if need be) and the others deleted, or all are deleted with absent.
func listenerCommands(same []Entry, want Entry, absent bool) ([]Command, error) {
	if absent {
		return deleteCommands(nil, same, -1)
	}
	if len(same) == 0 {
		c, err := AddCommand(want)
		if err != nil {
			return nil, err
		}
		return []Command{c}, nil
	}
	var cmds []Command
	keep := pickEntry(same, want)
	if !sameTarget(same[keep], want) {
		e := want
		e.ListenAddress = same[keep].ListenAddress
		c, err := rawEntryCommand("set", e)
		if err != nil {
			return nil, err
		}
		cmds = append(cmds, c)
	}
	return deleteCommands(cmds, same, keep)
}

// deleteCommands appends to cmds the commands that delete the entries except
// entries[keep].
func deleteCommands(cmds []Command, entries []Entry, keep int) ([]Command, error) {
	for i, e := range entries {
		if i == keep {
			continue
		}
		c, err := deleteCommand(e)
		if err != nil {
			return nil, err
		}
		cmds = append(cmds, c)
	}
	return cmds, nil
}

// pickEntry chooses which of several entries for want's listener to keep:
// one that needs no change if possible, then one spelled as want is.
func pickEntry(same []Entry, want Entry) int {
	best, bestScore := 0, -1
	for i, c := range same {
		score := 0
		if sameTarget(c, want) {
			score += 2
		}
		if strings.EqualFold(c.ListenAddress, want.ListenAddress) {
			score++
		}
		if score > bestScore {
			best, bestScore = i, score
		}
	}
	return best
}

func sameTarget(a, b Entry) bool {
	return a.ConnectPort == b.ConnectPort && normAddr(a.ConnectAddress) == normAddr(b.ConnectAddress)
}

// ParseShowV4ToV4 parses the output of `netsh interface portproxy show
// v4tov4`. The header is skipped whatever its language or encoding: rows are
// the lines after the dash line, each four fields (address, port, address,
// port). Output that is only blank lines means no entries. Anything else
// (a row of another shape, a second table, text without a table) is an error,
// since guessing would let Plan add an entry that already exists.
func ParseShowV4ToV4(out string) ([]Entry, error) {
	lines := textLines(out)
	var entries []Entry
	inTable := false
	firstText := ""
	for i, line := range lines {
		trimmed := strings.TrimSpace(line)
		if trimmed == "" {
			continue
		}
		if firstText == "" {
			firstText = trimmed
		}
		if isDashLine(trimmed) {
			if n := len(strings.Fields(trimmed)); n != 4 {
				return nil, fmt.Errorf("portproxy output line %d: separator with %d columns, want 4 (is this `show v4tov4` output?)", i+1, n)
			}
			if inTable {
				return nil, fmt.Errorf("portproxy output line %d: a second table (is this `show all` output? use `show v4tov4`)", i+1)
			}
			inTable = true
			continue
		}
		if !inTable {
			continue // header, in whatever language and code page
		}
		e, err := parseRow(trimmed)
		if err != nil {
			for j := i + 1; j < len(lines); j++ {
				if isDashLine(strings.TrimSpace(lines[j])) {
					return nil, fmt.Errorf("portproxy output line %d: a second table (is this `show all` output? use `show v4tov4`)", j+1)
				}
			}
			return nil, fmt.Errorf("portproxy output line %d %q: %w", i+1, clip(trimmed), err)
		}
		entries = append(entries, e)
	}
	if !inTable && firstText != "" {
		return nil, fmt.Errorf("portproxy output has no table: %q", clip(firstText))
	}
	return entries, nil
}

func parseRow(line string) (Entry, error) {
	f := strings.Fields(line)
	if len(f) != 4 {
		return Entry{}, fmt.Errorf("%d fields, want 4 (address, port, address, port)", len(f))
	}
	var e Entry
	var err error
	if e.ListenAddress, err = rowAddr("listen address", f[0]); err != nil {
		return Entry{}, err
	}
	if e.ListenPort, err = rowPort("listen port", f[1]); err != nil {
		return Entry{}, err
	}
	if e.ConnectAddress, err = rowAddr("connect address", f[2]); err != nil {
		return Entry{}, err
	}
	if e.ConnectPort, err = rowPort("connect port", f[3]); err != nil {
		return Entry{}, err
	}
	return e, nil
}

// rowAddr accepts what netsh can have stored rather than what Validate
// would let us write: an entry made by another tool must still parse, so
// that Plan sees it. The character set keeps the value safe for cmd.exe.
func rowAddr(what, s string) (string, error) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte(".-_:*", c) >= 0) {
			return "", fmt.Errorf("%s %q: unexpected character %q", what, s, rune(c))
		}
	}
	return s, nil
}

func rowPort(what, s string) (int, error) {
	if s == "" || strings.Trim(s, "0123456789") != "" || len(s) > 5 {
		return 0, fmt.Errorf("%s %q is not a port number", what, s)
	}
	p, _ := strconv.Atoi(s)
	if err := checkPort(what, p); err != nil {
		return 0, err
	}
	return p, nil
}

func isDashLine(s string) bool {
	return strings.Trim(s, "- \t") == "" && strings.Contains(s, "-")
}

// textLines splits command output into lines, accepting CRLF and lone CR,
// a UTF-8 byte order mark, and UTF-16LE (what netsh writes when redirected
// by PowerShell rather than read through cmd.exe).
func textLines(out string) []string {
	if strings.HasPrefix(out, "\xff\xfe") {
		b := []byte(out[2:])
		u := make([]uint16, len(b)/2)
		for i := range u {
			u[i] = binary.LittleEndian.Uint16(b[2*i:])
		}
		out = string(utf16.Decode(u))
	}
	out = strings.TrimPrefix(out, "\ufeff")
	out = strings.ReplaceAll(out, "\r\n", "\n")
	out = strings.ReplaceAll(out, "\r", "\n")
	return strings.Split(out, "\n")
}

// clip keeps error messages readable when handed a whole foreign output.
func clip(s string) string {
	const max = 80
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}
