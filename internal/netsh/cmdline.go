package netsh

import (
	"fmt"
	"net/netip"
	"strings"
)

// Command is one netsh invocation. Args is the argument vector netsh sees
// (Args[0] is "netsh"); Text is the same command as a cmd.exe command line.
type Command struct {
	Args []string
	Text string
}

func (c Command) String() string { return c.Text }

// cmdMeta are the characters cmd.exe acts on even inside double quotes (% and
// ! expand variables) or that end or split a quoted value (" and, outside
// quotes, & | < > ^). Refusing them is simpler and safer than escaping, which
// differs between quoted and unquoted text and between cmd.exe and netsh.
const cmdMeta = "\"&|<>^%!"

// checkCmdSafe reports the first character of s that cannot be passed to
// netsh through cmd.exe unchanged. Non-ASCII is refused because OpenSSH
// hands cmd.exe UTF-8 while netsh reads the console's OEM code page.
func checkCmdSafe(what, s string) error {
	for _, r := range s {
		switch {
		case strings.ContainsRune(cmdMeta, r):
			return fmt.Errorf("%s %q: character %q cannot be passed safely through cmd.exe", what, s, r)
		case r < 0x20 || r == 0x7f:
			return fmt.Errorf("%s %q: control character %U cannot be passed through cmd.exe", what, s, r)
		case r > 0x7e:
			return fmt.Errorf("%s %q: non-ASCII character %q would be garbled between UTF-8 and the console code page", what, s, r)
		}
	}
	return nil
}

// newCommand builds a Command from netsh's arguments (without "netsh").
// Values with spaces are quoted after the "=", which is how netsh's own help
// writes them and how its argument parsing (the C runtime's) expects them.
func newCommand(args ...string) (Command, error) {
	argv := append([]string{"netsh"}, args...)
	text := make([]string, len(argv))
	for i, a := range argv {
		if err := checkCmdSafe("argument", a); err != nil {
			return Command{}, err
		}
		text[i] = quoteArg(a)
	}
	return Command{Args: argv, Text: strings.Join(text, " ")}, nil
}

func quoteArg(a string) string {
	if a != "" && !strings.ContainsAny(a, " \t") {
		return a
	}
	if k, v, ok := strings.Cut(a, "="); ok && !strings.ContainsAny(k, " \t") {
		return k + `="` + v + `"`
	}
	return `"` + a + `"`
}

func checkPort(what string, p int) error {
	if p < 1 || p > 65535 {
		return fmt.Errorf("%s %d: must be between 1 and 65535", what, p)
	}
	return nil
}

// checkHost accepts an IPv4 address or a host name, the two forms netsh
// documents for listenaddress and connectaddress.
func checkHost(what, s string) error {
	if s == "" {
		return fmt.Errorf("%s is empty", what)
	}
	if a, err := netip.ParseAddr(s); err == nil {
		if !a.Is4() {
			return fmt.Errorf("%s %q: not an IPv4 address (v4tov4 forwards IPv4 only)", what, s)
		}
		return nil
	}
	if err := checkHostname(s); err != nil {
		return fmt.Errorf("%s %q: neither an IPv4 address nor a host name: %w", what, s, err)
	}
	return nil
}

// checkHostname applies RFC 1123 host name syntax, plus the RFC 3696 rule
// that the last label is not all digits, so that malformed addresses such as
// "10.1" or "010.0.0.1" (which Windows might read as IPv4 shorthand or octal)
// are not taken for names.
func checkHostname(s string) error {
	if len(s) > 253 {
		return fmt.Errorf("longer than 253 characters")
	}
	labels := strings.Split(s, ".")
	for _, l := range labels {
		if l == "" || len(l) > 63 {
			return fmt.Errorf("label %q must be 1 to 63 characters", l)
		}
		if l[0] == '-' || l[len(l)-1] == '-' {
			return fmt.Errorf("label %q starts or ends with '-'", l)
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return fmt.Errorf("character %q is not allowed in a host name", rune(c))
			}
		}
	}
	if last := labels[len(labels)-1]; strings.Trim(last, "0123456789") == "" {
		return fmt.Errorf("last label %q is numeric", last)
	}
	return nil
}
