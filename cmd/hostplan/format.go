package main

import (
	"bytes"
	"fmt"
	"os"

	"github.com/hostplan/hostplan/internal/diff"
	"github.com/hostplan/hostplan/internal/hclfmt"
	"github.com/hostplan/hostplan/internal/render"
)

// exitUnformatted is fmt -check's exit code when a file would change, as terraform fmt
// -check's (1 stays "error", as for every command).
const exitUnformatted = 3

// format is hostplan fmt: it lists each file it changes (or, with -check, would).
func (a *app) format(args []string) int {
	argv, err := parseFmtArgs(args, a.stderr)
	if argsFailed(err, a.stderr) {
		return exitError
	}
	files, err := hclfmt.Files(argv.paths, argv.recursive)
	if err != nil {
		fmt.Fprintf(a.stderr, "hostplan fmt: %v\n", err)
		return exitError
	}
	// Var files and inventories may hold secrets: a syntax error's snippet does not
	// show a line that looks like it sets one.
	r := &render.Human{W: a.stderr, HideLine: render.PrivateLines(nil, files)}
	changed, failed := 0, false
	for _, f := range files {
		c, ok := a.formatFile(f, argv, r)
		if c {
			changed++
		}
		failed = failed || !ok
	}
	switch {
	case failed:
		return exitError
	case argv.check && changed > 0:
		return exitUnformatted
	}
	return exitOK
}

func (a *app) formatFile(path string, argv *fmtArgs, r *render.Human) (changed, ok bool) {
	src, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintf(a.stderr, "hostplan fmt: %v\n", err)
		return false, false
	}
	out, diags := hclfmt.Format(src, path)
	if diags.HasErrors() {
		r.Diagnostics(diags)
		return false, false
	}
	if bytes.Equal(src, out) {
		return false, true
	}
	fmt.Fprintln(a.stdout, path)
	if argv.diff {
		fmt.Fprint(a.stdout, diff.Unified(path, path, src, out, diff.DefaultContext))
	}
	if !argv.check {
		if err := hclfmt.WriteFile(path, out); err != nil {
			fmt.Fprintf(a.stderr, "hostplan fmt: %v\n", err)
			return true, false
		}
	}
	return true, true
}
