package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/hostplan/hostplan/internal/cis"
)

// The arguments of each command: its flags and positional arguments as plain values,
// parsed without touching hosts, files or the terminal (as Terraform's
// internal/command/arguments does), so that they have table tests of their own
// (arguments_test.go). The commands in run.go, check.go and history.go act on them.

// errShown is a parse error the flag package has printed already (with the usage).
var errShown = errors.New("flag error shown")

type planArgs struct {
	sharedFlags
	out  string
	json bool
	pos  []string
}

func parsePlanArgs(args []string, stderr io.Writer) (*planArgs, error) {
	p := &planArgs{}
	fs := newFlagSet("plan", &p.sharedFlags, true, stderr)
	fs.StringVar(&p.out, "out", "", "save the plan to `FILE`, to review it and apply exactly it later (hostplan apply FILE)")
	fs.BoolVar(&p.json, "json", false, "print the plan as one JSON document (see README); messages go to stderr")
	var err error
	p.pos, err = parse(fs, args)
	return p, err
}

type applyArgs struct {
	sharedFlags
	journal      string
	autoApprove  bool
	json         bool
	allOrNothing bool
	pos          []string
}

func parseApplyArgs(args []string, stderr io.Writer) (*applyArgs, error) {
	p := &applyArgs{}
	p.lock = true
	fs := newFlagSet("apply", &p.sharedFlags, true, stderr)
	fs.StringVar(&p.journal, "journal", "", "append what was done to this journal (default $HOSTPLAN_JOURNAL or ~/.local/state/hostplan/journal.jsonl; none: keep no journal)")
	fs.BoolVar(&p.autoApprove, "auto-approve", false, "apply without asking for confirmation")
	fs.BoolVar(&p.noRollback, "no-rollback", false, "leave a host whose change or health gate failed as it is, to debug in place (the rollout still stops)")
	fs.BoolVar(&p.json, "json", false, "print the result as one JSON document (see README); messages go to stderr")
	fs.DurationVar(&p.lockTimeout, "lock-timeout", 0, "wait this long for a host another hostplan apply has locked (0: fail at once, naming the holder)")
	fs.BoolVar(&p.allOrNothing, "all-or-nothing", false, "with a saved plan: apply nothing if any host is stale or fails to plan")
	var err error
	p.pos, err = parse(fs, args)
	return p, err
}

type showArgs struct {
	sharedFlags
	format string // human, json or markdown
	file   string
}

func parseShowArgs(args []string, stderr io.Writer) (*showArgs, error) {
	p := &showArgs{}
	var asJSON bool
	fs := newFlagSet("show", &p.sharedFlags, false, stderr)
	fs.BoolVar(&asJSON, "json", false, "same as -format json")
	fs.StringVar(&p.format, "format", "human", "human, json or markdown (a summary with collapsible diffs for a change ticket)")
	pos, err := parse(fs, args)
	if err != nil {
		return nil, err
	}
	if len(pos) != 1 {
		return nil, errors.New("hostplan show: give one saved plan file (made with hostplan plan -out FILE)")
	}
	p.file = pos[0]
	if asJSON {
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

func parseCheckArgs(args []string, stderr io.Writer) (*checkArgs, error) {
	p := &checkArgs{}
	fs := newFlagSet("check", &p.sharedFlags, true, stderr)
	fs.BoolVar(&p.json, "json", false, "print the findings as one JSON document; messages go to stderr")
	fs.DurationVar(&p.window, "audit-window", 10*time.Minute, "how recent the last audit event on a master must be")
	fs.StringVar(&p.manifest, "manifest", cis.DefaultManifest, "the kube-apiserver static pod manifest; hosts without it are not masters")
	var err error
	p.pos, err = parse(fs, args)
	return p, err
}

type historyArgs struct {
	sharedFlags
	journal string
	host    string
	last    int // the last N entries, 0 for all
	json    bool
}

func parseHistoryArgs(args []string, stderr io.Writer) (*historyArgs, error) {
	p := &historyArgs{}
	fs := newFlagSet("history", &p.sharedFlags, false, stderr)
	fs.StringVar(&p.journal, "journal", "", "journal file (default $HOSTPLAN_JOURNAL or ~/.local/state/hostplan/journal.jsonl)")
	fs.StringVar(&p.host, "host", "", "only entries of this host")
	fs.IntVar(&p.last, "n", 50, "show the last N entries (0: all)")
	fs.BoolVar(&p.json, "json", false, "print the entries as JSON lines, as stored")
	pos, err := parse(fs, args)
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

func parseValidateArgs(args []string, stderr io.Writer) (*validateArgs, error) {
	p := &validateArgs{}
	var err error
	p.pos, err = parse(newFlagSet("validate", &p.sharedFlags, false, stderr), args)
	return p, err
}

type inventoryArgs struct {
	sharedFlags
}

func parseInventoryArgs(args []string, stderr io.Writer) (*inventoryArgs, error) {
	p := &inventoryArgs{}
	fs := newFlagSet("inventory", &p.sharedFlags, false, stderr)
	fs.StringVar(&p.sshConfig, "ssh-config", "", "OpenSSH client config to honour (default ~/.ssh/config)")
	pos, err := parse(fs, args)
	if err != nil {
		return nil, err
	}
	if len(pos) > 0 {
		return nil, fmt.Errorf("hostplan inventory: unexpected argument %q (pass inventories with -i)", pos[0])
	}
	return p, nil
}

// newFlagSet defines the flags the plan-reading commands share; connect adds those of
// the commands that connect to hosts.
func newFlagSet(name string, c *sharedFlags, connect bool, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("hostplan "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Var(&c.inventories, "i", "inventory file (HCL, Ansible INI or YAML); repeatable")
	fs.Var(&c.inventories, "inventory", "same as -i")
	fs.StringVar(&c.limit, "limit", "", "only hosts matching this Ansible-style pattern (names, groups, globs, !exclude, &intersect)")
	fs.Var(&c.vars, "var", "set a variable: name=value; repeatable")
	fs.Var(&c.varFiles, "var-file", "HCL file of variable values; repeatable")
	fs.BoolVar(&c.noColor, "no-color", false, "no colour in output (NO_COLOR is honoured too)")
	switch name {
	case "plan", "apply", "show":
		signingFlags(fs, &c.sign, name != "plan")
	}
	if connect {
		fs.IntVar(&c.parallel, "parallel", 20, "hosts worked on at once")
		fs.DurationVar(&c.timeout, "timeout", 10*time.Second, "connect timeout per host (TCP and SSH handshake)")
		fs.DurationVar(&c.commandTimeout, "command-timeout", 10*time.Minute, "timeout for each resource's plan or apply step")
		fs.IntVar(&c.diffContext, "diff-context", 3, "lines of context in diffs")
		fs.BoolVar(&c.acceptNewHostKeys, "accept-new-host-keys", false, "add unknown host keys to known_hosts (changed keys are always refused)")
		fs.StringVar(&c.sshConfig, "ssh-config", "", "OpenSSH client config to honour (default ~/.ssh/config)")
	}
	return fs
}

// parse parses flags that may come before or after the positional arguments.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, errShown
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
