package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/hostplan/hostplan/internal/cis"
	"github.com/hostplan/hostplan/inventory"
)

// The arguments of each command: its flags and positional arguments as plain values,
// parsed without touching hosts, files or the terminal (as Terraform's
// internal/command/arguments does), so that they have table tests of their own
// (arguments_test.go). The commands in run.go, check.go and history.go act on them.

// errShown is a parse error the flag package has printed already (with a hint to -h).
var errShown = errors.New("flag error shown")

type planArgs struct {
	sharedFlags
	out     string
	json    bool
	perHost bool
	pos     []string
}

// perHostUsage is -per-host's help: plan, apply and show group hosts with identical
// plans unless it is given.
const perHostUsage = "show the plan host by host, instead of each distinct change once with the hosts that share it"

func planFlags(p *planArgs, stderr io.Writer) *flag.FlagSet {
	fs := newFlagSet("plan", &p.sharedFlags, true, stderr)
	fs.StringVar(&p.out, "out", "", "save the plan to `FILE`, to review it and apply exactly it later (hostplan apply FILE)")
	fs.BoolVar(&p.json, "json", false, "print the plan as one JSON document (see README); messages go to stderr")
	fs.BoolVar(&p.perHost, "per-host", false, perHostUsage)
	return fs
}

func parsePlanArgs(args []string, stderr io.Writer) (*planArgs, error) {
	p := &planArgs{}
	var err error
	p.pos, err = parse(planFlags(p, stderr), args)
	return p, err
}

type applyArgs struct {
	sharedFlags
	journal      string
	autoApprove  bool
	json         bool
	allOrNothing bool
	perHost      bool
	pos          []string
}

func applyFlags(p *applyArgs, stderr io.Writer) *flag.FlagSet {
	fs := newFlagSet("apply", &p.sharedFlags, true, stderr)
	fs.StringVar(&p.journal, "journal", "", "append what was done to this journal (default $HOSTPLAN_JOURNAL or ~/.local/state/hostplan/journal.jsonl; none: keep no journal)")
	fs.BoolVar(&p.autoApprove, "auto-approve", false, "apply without asking for confirmation")
	fs.BoolVar(&p.noRollback, "no-rollback", false, "leave a host whose change or health gate failed as it is, to debug in place (the rollout still stops)")
	fs.BoolVar(&p.json, "json", false, "print the result as one JSON document (see README); messages go to stderr")
	fs.DurationVar(&p.lockTimeout, "lock-timeout", 0, "wait this long for a host another hostplan apply has locked (0: fail at once, naming the holder)")
	fs.BoolVar(&p.allOrNothing, "all-or-nothing", false, "with a saved plan: apply nothing if any host is stale or fails to plan")
	fs.BoolVar(&p.perHost, "per-host", false, perHostUsage)
	return fs
}

func parseApplyArgs(args []string, stderr io.Writer) (*applyArgs, error) {
	p := &applyArgs{}
	p.lock = true
	var err error
	p.pos, err = parse(applyFlags(p, stderr), args)
	return p, err
}

type showArgs struct {
	sharedFlags
	format  string // human, json or markdown
	asJSON  bool   // -json: -format json
	perHost bool
	file    string
}

func showFlags(p *showArgs, stderr io.Writer) *flag.FlagSet {
	fs := newFlagSet("show", &p.sharedFlags, false, stderr)
	fs.BoolVar(&p.asJSON, "json", false, "same as -format json")
	fs.StringVar(&p.format, "format", "human", "human, json or markdown (a summary with collapsible diffs for a change ticket)")
	fs.BoolVar(&p.perHost, "per-host", false, perHostUsage)
	return fs
}

func parseShowArgs(args []string, stderr io.Writer) (*showArgs, error) {
	p := &showArgs{}
	pos, err := parse(showFlags(p, stderr), args)
	if err != nil {
		return nil, err
	}
	if len(pos) != 1 {
		return nil, errors.New("hostplan show: give one saved plan file (made with hostplan plan -out FILE)")
	}
	p.file = pos[0]
	if p.asJSON {
		p.format = "json"
	}
	return p, nil
}

type checkArgs struct {
	sharedFlags
	json     bool
	window   time.Duration
	manifest string
	pos      []string
}

func checkFlags(p *checkArgs, stderr io.Writer) *flag.FlagSet {
	fs := newFlagSet("check", &p.sharedFlags, true, stderr)
	fs.BoolVar(&p.json, "json", false, "print the findings as one JSON document; messages go to stderr")
	fs.DurationVar(&p.window, "audit-window", 10*time.Minute, "how recent the last audit event on a master must be")
	fs.StringVar(&p.manifest, "manifest", cis.DefaultManifest, "the kube-apiserver static pod manifest; hosts without it are not masters")
	return fs
}

func parseCheckArgs(args []string, stderr io.Writer) (*checkArgs, error) {
	p := &checkArgs{}
	var err error
	p.pos, err = parse(checkFlags(p, stderr), args)
	return p, err
}

type historyArgs struct {
	sharedFlags
	journal string
	host    string
	last    int // the last N entries, 0 for all
	json    bool
}

func historyFlags(p *historyArgs, stderr io.Writer) *flag.FlagSet {
	fs := newFlagSet("history", &p.sharedFlags, false, stderr)
	fs.StringVar(&p.journal, "journal", "", "journal file (default $HOSTPLAN_JOURNAL or ~/.local/state/hostplan/journal.jsonl)")
	fs.StringVar(&p.host, "host", "", "only entries of this host")
	fs.IntVar(&p.last, "n", 50, "show the last N entries (0: all)")
	fs.BoolVar(&p.json, "json", false, "print the entries as JSON lines, as stored")
	return fs
}

func parseHistoryArgs(args []string, stderr io.Writer) (*historyArgs, error) {
	p := &historyArgs{}
	pos, err := parse(historyFlags(p, stderr), args)
	if err != nil {
		return nil, err
	}
	if len(pos) > 0 {
		return nil, fmt.Errorf("hostplan history: unexpected argument %q", pos[0])
	}
	return p, nil
}

type validateArgs struct {
	sharedFlags
	pos []string
}

func validateFlags(p *validateArgs, stderr io.Writer) *flag.FlagSet {
	return newFlagSet("validate", &p.sharedFlags, false, stderr)
}

func parseValidateArgs(args []string, stderr io.Writer) (*validateArgs, error) {
	p := &validateArgs{}
	var err error
	p.pos, err = parse(validateFlags(p, stderr), args)
	return p, err
}

type inventoryArgs struct {
	sharedFlags
}

func inventoryFlags(p *inventoryArgs, stderr io.Writer) *flag.FlagSet {
	return newFlagSet("inventory", &p.sharedFlags, false, stderr)
}

func parseInventoryArgs(args []string, stderr io.Writer) (*inventoryArgs, error) {
	p := &inventoryArgs{}
	pos, err := parse(inventoryFlags(p, stderr), args)
	if err != nil {
		return nil, err
	}
	if len(pos) > 0 {
		return nil, fmt.Errorf("hostplan inventory: unexpected argument %q (pass inventories with -i)", pos[0])
	}
	return p, nil
}

// newFlagSet defines the flags the plan-reading commands share; connect adds those of
// the commands that connect to hosts. A bad flag prints one line naming it and a hint,
// not every flag: the list is what -h is for.
func newFlagSet(name string, c *sharedFlags, connect bool, stderr io.Writer) *flag.FlagSet {
	fs := bareFlagSet(name, stderr)
	fs.Var(&c.inventories, "i", "inventory `FILE` (HCL, Ansible INI or YAML); repeatable")
	fs.Var(&c.inventories, "inventory", "same as -i `FILE`")
	fs.StringVar(&c.limit, "limit", "", "only hosts matching this Ansible-style `PATTERN` (names, groups, globs, !exclude, &intersect)")
	fs.Var(&c.vars, "var", "set a variable: `name=value`; repeatable")
	fs.Var(&c.varFiles, "var-file", "`FILE` of variable values: HCL name = value lines, or a JSON object if it ends in .json; repeatable")
	fs.BoolVar(&c.noColor, "no-color", false, "no colour in output (NO_COLOR is honoured too)")
	switch name {
	case "plan", "apply", "show":
		signingFlags(fs, &c.sign, name != "plan")
	}
	if connect || name == "inventory" || name == "validate" {
		fs.StringVar(&c.sshConfig, "ssh-config", "", "OpenSSH client config `FILE` to honour (default ~/.ssh/config; none: read none)")
		fs.DurationVar(&c.inventoryTimeout, "inventory-timeout", inventory.DefaultScriptTimeout, "bound on each run of a dynamic inventory script (an executable -i file); then it is killed with what it started")
	}
	if connect {
		fs.IntVar(&c.parallel, "parallel", 20, "hosts worked on at once")
		fs.DurationVar(&c.timeout, "timeout", 10*time.Second, "connect timeout per host (TCP and SSH handshake)")
		fs.DurationVar(&c.commandTimeout, "command-timeout", 10*time.Minute, "timeout for each resource's plan or apply step")
		fs.IntVar(&c.diffContext, "diff-context", 3, "lines of context in diffs")
		fs.BoolVar(&c.acceptNewHostKeys, "accept-new-host-keys", false, "add unknown host keys to known_hosts (changed keys are always refused)")
	}
	return fs
}

// bareFlagSet is a command's flag set before its flags: the flag package prints a bad
// flag's error on stderr, followed by this hint instead of the usage.
func bareFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("hostplan "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintf(fs.Output(), "run '%s -h' for its flags\n", fs.Name()) }
	return fs
}

// parse parses flags that may come before or after the positional arguments.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, fmt.Errorf("%w: %w", errShown, err) // flag.ErrHelp stays visible to helpRequested
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// argsFailed reports a parse error (unless the flag package printed it) and says
// whether there was one.
func argsFailed(err error, stderr io.Writer) bool {
	if err != nil && !errors.Is(err, errShown) {
		fmt.Fprintln(stderr, err)
	}
	return err != nil
}

type fmtArgs struct {
	check     bool // change nothing; exit 3 when a file would change
	diff      bool
	recursive bool
	paths     []string
}

func fmtFlags(p *fmtArgs, stderr io.Writer) *flag.FlagSet {
	fs := bareFlagSet("fmt", stderr)
	fs.BoolVar(&p.check, "check", false, "change no file: list those that are not formatted and exit 3 if any")
	fs.BoolVar(&p.diff, "diff", false, "print a unified diff of each change")
	fs.BoolVar(&p.recursive, "recursive", false, "also format the *.hcl files of every directory below each DIR")
	return fs
}

func parseFmtArgs(args []string, stderr io.Writer) (*fmtArgs, error) {
	p := &fmtArgs{}
	var err error
	p.paths, err = parse(fmtFlags(p, stderr), args)
	if len(p.paths) == 0 {
		p.paths = []string{"."}
	}
	return p, err
}
