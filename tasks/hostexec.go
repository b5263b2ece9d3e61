package tasks

// Helpers that run commands on a host, shared by the resource types.

import (
	"context"
	"fmt"
	"strings"

	"github.com/hostplan/hostplan/internal/transport"
)

// run runs a command; a failure's output is the caller's to quote (toolError).
func run(ctx context.Context, h *Host, cmd string) (*transport.Result, error) {
	return h.Conn.Run(ctx, cmd, nil)
}

func toolError(what string, res *transport.Result) error {
	msg := strings.TrimSpace(string(res.Stderr))
	if msg == "" {
		msg = strings.TrimSpace(string(res.Stdout))
	}
	return fmt.Errorf("%s: exit %d: %s", what, res.ExitCode, msg)
}

// runAll runs commands in order and stops at the first that fails, quoting it.
func runAll(ctx context.Context, h *Host, commands []string) error {
	for _, s := range commands {
		res, err := run(ctx, h, s)
		if err != nil {
			return err
		}
		if res.ExitCode != 0 {
			return toolError(s, res)
		}
	}
	return nil
}
