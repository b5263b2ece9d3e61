package firewall

import (
	"context"
	"fmt"
	"strings"
)

// runChecks runs checks in one command (one SSH round trip, not one per check) and
// returns each one's exit code and output on one line.
func runChecks(ctx context.Context, h Host, checks []string) (codes, msgs []string, err error) {
	var script strings.Builder
	for _, q := range checks {
		fmt.Fprintf(&script, "o=$(%s 2>&1); c=$?; printf '%%s %%s\\n' \"$c\" \"$(printf '%%s' \"$o\" | tr '\\n' ' ')\"\n", q)
	}
	res, err := h.Conn.Run(ctx, script.String(), nil)
	if err != nil {
		return nil, nil, err
	}
	if res.ExitCode != 0 {
		return nil, nil, res.Failure("checks")
	}
	rest := string(res.Stdout)
	codes, msgs = make([]string, len(checks)), make([]string, len(checks))
	for i := range checks {
		var line string
		var ok bool
		if line, rest, ok = strings.Cut(rest, "\n"); !ok {
			return nil, nil, res.Failure("checks")
		}
		codes[i], msgs[i], _ = strings.Cut(line, " ")
	}
	return codes, msgs, nil
}

// queryAll reads checks that exit 0 for yes and 1 for no (firewall-cmd --query-*);
// anything else is an error quoting the tool.
func queryAll(ctx context.Context, h Host, tool string, checks []string) ([]bool, error) {
	codes, msgs, err := runChecks(ctx, h, checks)
	if err != nil {
		return nil, err
	}
	answers := make([]bool, len(checks))
	for i, code := range codes {
		switch code {
		case "0":
			answers[i] = true
		case "1":
		case "127":
			return nil, fmt.Errorf("%s is not installed on %s", tool, h.Name)
		default:
			return nil, fmt.Errorf("%s: exit %s: %s", checks[i], code, strings.TrimSpace(msgs[i]))
		}
	}
	return answers, nil
}

// output runs a command that must succeed and returns what it printed.
func output(ctx context.Context, h Host, cmd string) (string, error) {
	res, err := h.Conn.Run(ctx, cmd, nil)
	if err != nil {
		return "", err
	}
	if res.ExitCode != 0 {
		return "", res.Failure(cmd)
	}
	return string(res.Stdout), nil
}
