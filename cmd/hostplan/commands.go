package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// command is one of hostplan's commands as its help texts and shell completion know it.
type command struct {
	name    string
	args    string // what follows the name in its usage line
	summary string // one or more lines
	// flags makes the command's flag set (its values are thrown away): the one place
	// -h, completion and the command itself learn its flags from.
	flags func(stderr io.Writer) *flag.FlagSet
}

// commands in the order hostplan -h lists them.
var commands = []command{
	{"plan", "[flags] [DIR|FILE]", "show what would change on every host (exit 0: no changes, 2: changes, 1: error);\n-out FILE saves the plan for review",
		func(w io.Writer) *flag.FlagSet { return planFlags(&planArgs{}, w) }},
	{"apply", "[flags] [DIR|FILE|SAVED-PLAN]", "plan, confirm, then change what differs (exit 0: success, 1: any host failed);\napply FILE applies a saved plan exactly, refusing hosts that changed since",
		func(w io.Writer) *flag.FlagSet { return applyFlags(&applyArgs{}, w) }},
	{"show", "[flags] SAVED-PLAN", "print a saved plan: as plan does, -json, or -format markdown\n(exit 0: printed, 1: unreadable, a bad signature, or a host that failed to plan)",
		func(w io.Writer) *flag.FlagSet { return showFlags(&showArgs{}, w) }},
	{"history", "[flags]", "list what applies did, from the local journal",
		func(w io.Writer) *flag.FlagSet { return historyFlags(&historyArgs{}, w) }},
	{"check", "[flags] [DIR|FILE]", "read-only audit: drift from the plan, and the CIS audit settings of masters\n(exit 0: all pass, 3: a check failed, 1: error)",
		func(w io.Writer) *flag.FlagSet { return checkFlags(&checkArgs{}, w) }},
	{"validate", "[flags] [DIR|FILE]", "parse and type-check the plan, building its resources; with -i also the inventory,\ntask targets and each host's values; connects nowhere",
		func(w io.Writer) *flag.FlagSet { return validateFlags(&validateArgs{}, w) }},
	{"inventory", "[flags]", "list hosts, groups and resolved connection settings",
		func(w io.Writer) *flag.FlagSet { return inventoryFlags(&inventoryArgs{}, w) }},
	{"fmt", "[flags] [DIR|FILE...]", "rewrite plan, inventory and var files in the canonical HCL layout, as terraform fmt;\nDIR: its *.hcl files (default .); -check changes nothing and exits 3 if a file would change",
		func(w io.Writer) *flag.FlagSet { return fmtFlags(&fmtArgs{}, w) }},
	{"completion", "bash|zsh|fish", "print the shell completion script: commands, flags, files, and the host and group\nnames of the inventory given with -i (source <(hostplan completion bash))",
		completionFlags},
	{"version", "", "print the version, module version and VCS revision this binary was built from",
		func(w io.Writer) *flag.FlagSet { return bareFlagSet("version", w) }},
	{"help", "[COMMAND]", "print this help, or a command's",
		func(w io.Writer) *flag.FlagSet { return bareFlagSet("help", w) }},
}

func lookupCommand(name string) (command, bool) {
	for _, c := range commands {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

// usage is hostplan's overview, for hostplan -h and a missing or unknown command.
func usage() string {
	var b strings.Builder
	b.WriteString("Usage: hostplan <command> [flags] [DIR|FILE]\n\nCommands:\n")
	for _, c := range commands {
		lines := strings.Split(c.summary, "\n")
		fmt.Fprintf(&b, "  %-10s %s\n", c.name, lines[0])
		for _, l := range lines[1:] {
			fmt.Fprintf(&b, "  %-10s %s\n", "", l)
		}
	}
	b.WriteString("\nRun 'hostplan <command> -h' for the flags of a command.\n")
	return b.String()
}

// helpRequested says whether args ask for the command's help: -h, -help or --help
// where a flag may be (not as the value of another flag).
func helpRequested(c command, args []string) bool {
	_, err := parse(c.flags(io.Discard), args)
	return errors.Is(err, flag.ErrHelp)
}

// printHelp prints a command's usage line, summary and flags.
func printHelp(w io.Writer, c command) {
	fmt.Fprintf(w, "Usage: %s\n\n%s\n", strings.TrimSpace("hostplan "+c.name+" "+c.args), c.summary)
	fs := c.flags(w)
	if hasFlags(fs) {
		fmt.Fprintln(w, "\nFlags:")
		fs.PrintDefaults()
	}
}

func hasFlags(fs *flag.FlagSet) bool {
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	return n > 0
}

// help is hostplan help [COMMAND].
func help(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stdout, usage())
		return exitOK
	}
	c, ok := lookupCommand(args[0])
	if !ok || len(args) > 1 {
		fmt.Fprintf(stderr, "hostplan help: unknown command %q\nrun 'hostplan -h' for the commands\n", strings.Join(args, " "))
		return exitError
	}
	printHelp(stdout, c)
	return exitOK
}
