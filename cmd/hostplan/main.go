// Command hostplan plans and applies idempotent host configuration over SSH.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

// Exit codes, like Terraform's -detailed-exitcode.
const (
	exitOK      = 0
	exitError   = 1
	exitChanges = 2
)

// exitInterrupted is the exit status after a second Ctrl-C, as a shell reports SIGINT.
const exitInterrupted = 130

func main() {
	setGC(os.Getenv)
	ctx, cancel := context.WithCancel(context.Background())
	go interrupts(cancel, os.Stderr)
	stop := startProfile(os.Getenv, os.Stderr)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Environ())
	stop()
	cancel()
	os.Exit(code)
}

// interrupts turns the first Ctrl-C (or SIGTERM) into a cancelled run: remote commands
// are stopped with their process groups, host locks released and the report printed. A
// second one exits at once.
func interrupts(cancel context.CancelFunc, stderr io.Writer) {
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	fmt.Fprintln(stderr, "\nhostplan: interrupted: stopping the commands running on hosts and releasing locks (interrupt again to exit at once)")
	cancel()
	<-sig
	fmt.Fprintln(stderr, "hostplan: interrupted again: exiting now; hosts may keep a lock until its lease ends")
	os.Exit(exitInterrupted)
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, environ []string) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage())
		return exitError
	}
	cmd, rest := args[0], args[1:]
	app := &app{ctx: ctx, stdin: stdin, stdout: stdout, stderr: stderr, environ: environ}
	switch cmd {
	case "-h", "-help", "--help":
		return help(rest, stdout, stderr)
	case "--version", "-version":
		cmd = "version"
	case "__complete": // hidden: what the shell completion scripts call
		return app.completeCommand(rest)
	}
	c, ok := lookupCommand(cmd)
	if !ok {
		fmt.Fprintf(stderr, "hostplan: unknown command %q\n\n%s", cmd, usage())
		return exitError
	}
	if helpRequested(c, rest) {
		printHelp(stdout, c)
		return exitOK
	}
	return app.dispatch(ctx, cmd, rest)
}

// dispatch runs a command of the table.
func (a *app) dispatch(ctx context.Context, cmd string, rest []string) int {
	switch cmd {
	case "plan":
		return a.plan(ctx, rest)
	case "apply":
		return a.apply(ctx, rest)
	case "check":
		return a.check(ctx, rest)
	case "history":
		return a.history(rest)
	case "show":
		return a.show(rest)
	case "validate":
		return a.validate(rest)
	case "inventory":
		return a.inventory(rest)
	case "fmt":
		return a.format(rest)
	case "completion":
		return a.completion(rest)
	case "version":
		return versionCommand(rest, a.stdout, a.stderr)
	case "help":
		return help(rest, a.stdout, a.stderr)
	}
	panic("hostplan: command " + cmd + " is in the table but not dispatched")
}

// gcPercent is the collector's target unless GOGC is set. An apply to 1,000 hosts at
// once peaks at about three times its live heap with Go's 100: most of it garbage of
// the hosts' SSH and SFTP traffic waiting for a collection. At 60 its peak RSS went from
// 296 to 249 MiB, with the same CPU per host (`make bench-scale`,
// bench/results/2026-12-04T182142Z-scale-gogc60.txt).
const gcPercent = 60

// setGC sets the collector's target to gcPercent, unless the environment says (GOGC).
func setGC(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
}
