package transport

// Helpers over a Conn that resource types and firewall backends share.

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
)

// Failure describes a command that exited non-zero, quoting what it printed (its
// standard error, else its standard output), for a result whose exit code the caller
// found wrong.
func (r *Result) Failure(what string) error {
	msg := strings.TrimSpace(string(r.Stderr))
	if msg == "" {
		msg = strings.TrimSpace(string(r.Stdout))
	}
	return fmt.Errorf("%s: exit %d: %s", what, r.ExitCode, msg)
}

// RunAll runs commands in order and stops at the first that fails, quoting it.
func RunAll(ctx context.Context, c Conn, commands []string) error {
	for _, s := range commands {
		res, err := c.Run(ctx, s, nil)
		if err != nil {
			return err
		}
		if res.ExitCode != 0 {
			return res.Failure(s)
		}
	}
	return nil
}

// MissingParents lists the ancestors of p that do not exist, outermost first.
func MissingParents(ctx context.Context, c Conn, p string) ([]string, error) {
	var missing []string
	for dir := path.Dir(p); dir != "/"; dir = path.Dir(dir) {
		_, err := c.Stat(ctx, dir)
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		missing = append([]string{dir}, missing...)
	}
	return missing, nil
}

// MkdirAll creates dir and its missing parents, all with attrs.
func MkdirAll(ctx context.Context, c Conn, dir string, attrs FileAttrs) error {
	if _, err := c.Stat(ctx, dir); err == nil {
		return nil
	}
	missing, err := MissingParents(ctx, c, dir)
	if err != nil {
		return err
	}
	for _, p := range append(missing, dir) {
		if err := c.Mkdir(ctx, p, attrs); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
	}
	return nil
}
