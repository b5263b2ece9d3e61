package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/hcl/v2"
	"golang.org/x/term"

	"github.com/hostplan/hostplan/internal/config"
	"github.com/hostplan/hostplan/internal/engine"
	"github.com/hostplan/hostplan/internal/hostlock"
	"github.com/hostplan/hostplan/internal/render"
	"github.com/hostplan/hostplan/internal/transport"
	"github.com/hostplan/hostplan/inventory"
)

type app struct {
	// ctx is cancelled by Ctrl-C: it also kills a dynamic inventory script still running.
	ctx            context.Context
	stdin          io.Reader
	stdout, stderr io.Writer
	environ        []string

	// prog shows the hosts' progress on stderr while a session works (nil before one).
	prog *render.Progress
	// run names this invocation in host locks and the journal.
	run string
}

// sharedFlags are the flags every plan-reading command shares.
type sharedFlags struct {
	inventories       multiFlag
	limit             string
	vars              multiFlag
	varFiles          multiFlag
	parallel          int
	timeout           time.Duration
	commandTimeout    time.Duration
	diffContext       int
	noColor           bool
	acceptNewHostKeys bool
	sshConfig         string
	inventoryTimeout  time.Duration // each run of a dynamic inventory script
	noRollback        bool          // apply only
	lockTimeout       time.Duration // apply only
	lock              bool          // apply only: take host locks
	planOnly          bool          // plan only: close each host's connection once planned
	sign              signFlags     // plan, apply, show: saved plan signatures
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func (a *app) colorOn(c *sharedFlags) bool {
	if c.noColor {
		return false
	}
	if a.getenv("NO_COLOR") != "" {
		return false
	}
	return isTerminal(a.stdout)
}

// loaded is a plan with its inventory and the hosts this run targets.
type loaded struct {
	plan    *config.Plan
	inv     *inventory.Inventory
	targets []*engine.Target
}

// runSources are where a run's plan, inventory and variables come from: the command line,
// or a saved plan's snapshot of them.
type runSources struct {
	planPath    string
	inventories []string
	limit       string
	sshConfig   string
	// scriptTimeout bounds each run of a dynamic inventory script; 0: the default.
	scriptTimeout time.Duration
	vars          []string
	varFiles      []string
	planSource    config.Source    // nil: the file system
	invFiles      *inventory.Files // nil: the file system
}

// flagSources are the sources the flags and the positional argument name.
func (a *app) flagSources(c *sharedFlags, pos []string) (runSources, bool) {
	in, ok := a.planSources(c, pos)
	if ok && len(in.inventories) == 0 {
		fmt.Fprintln(a.stderr, "hostplan: no inventory: pass -i FILE (HCL, Ansible INI or YAML) or -i DIR (an Ansible inventory directory), or set HOSTPLAN_INVENTORY")
		return in, false
	}
	return in, ok
}

// planSources are flagSources where the inventory may be missing (validate).
func (a *app) planSources(c *sharedFlags, pos []string) (runSources, bool) {
	in := runSources{planPath: ".", limit: c.limit, sshConfig: c.sshConfig, scriptTimeout: c.inventoryTimeout, vars: c.vars, varFiles: c.varFiles}
	switch len(pos) {
	case 0:
	case 1:
		in.planPath = pos[0]
	default:
		fmt.Fprintf(a.stderr, "hostplan: expected one plan directory or file, got %d: %s\n", len(pos), strings.Join(pos, " "))
		return in, false
	}
	in.inventories = []string(c.inventories)
	if v := a.getenv("HOSTPLAN_INVENTORY"); len(in.inventories) == 0 && v != "" {
		in.inventories = strings.Split(v, string(os.PathListSeparator))
	}
	return in, true
}

func (a *app) load(c *sharedFlags, pos []string, r *render.Human) (*loaded, bool) {
	in, ok := a.flagSources(c, pos)
	if !ok {
		return nil, false
	}
	return a.loadSources(in, r)
}

func (a *app) loadSources(in runSources, r *render.Human) (*loaded, bool) {
	inv, diags := inventory.LoadWith(in.inventories, a.withScripts(in.loadOptions(), in.scriptTimeout))
	r.HideLine = render.PrivateLines(in.varFiles, inventoryFiles(inv))
	if len(diags) > 0 {
		a.diagnostics(r, diags)
	}
	if diags.HasErrors() {
		return nil, false
	}
	p, ok := a.loadPlan(in, r)
	if !ok {
		return nil, false
	}
	resolved, err := inv.Targets(in.limit, inventory.ResolveOptions{SSHConfig: in.sshConfig})
	if err == nil && len(resolved) == 0 {
		err = noHosts(in.inventories, in.limit)
	}
	if err != nil {
		fmt.Fprintf(a.stderr, "hostplan: %v\n", err)
		return nil, false
	}
	var targets []*engine.Target
	for _, t := range resolved {
		targets = append(targets, &engine.Target{Host: t.Host, Conn: t.Conn})
	}
	a.warnings(inv)
	return &loaded{plan: p, inv: inv, targets: targets}, true
}

// loadOptions read the inventory from where in says, with the group_vars and
// host_vars beside the plan (a directory, or a file's directory).
func (in runSources) loadOptions() inventory.LoadOptions {
	opts := inventory.LoadOptions{Files: inventory.OSFiles()}
	if in.invFiles != nil {
		opts.Files = *in.invFiles
	}
	src := in.planSource
	if src == nil {
		src = config.OS
	}
	if _, dir, err := src.PlanFiles(in.planPath); err == nil {
		opts.PlanDir = dir // else no plan: loading it reports why
	}
	return opts
}

// withScripts has the dynamic inventory scripts of opts (none for a saved plan) stop at
// Ctrl-C, and each of their runs at timeout (0: the default).
func (a *app) withScripts(opts inventory.LoadOptions, timeout time.Duration) inventory.LoadOptions {
	if opts.Scripts != nil {
		s := *opts.Scripts
		s.Context = a.ctx
		if timeout > 0 {
			s.Timeout = timeout
		}
		opts.Scripts = &s
	}
	return opts
}

// inventoryFiles are the names of every file an inventory was read from, group_vars
// and host_vars included, whose lines that set credentials diagnostics do not show.
func inventoryFiles(inv *inventory.Inventory) []string {
	names := make([]string, 0, len(inv.Files))
	for name := range inv.Files {
		names = append(names, name)
	}
	return names
}

// noHosts is the error for a run that selected no host. Planning nothing would report
// success ("Plan: 0 hosts") for an inventory that is empty or misread, or a --limit
// that excludes everything, which is nearly always a mistake.
func noHosts(inventories []string, limit string) error {
	invs := strings.Join(inventories, ", ")
	if limit != "" {
		return fmt.Errorf("--limit %q selects no host of inventory %s: nothing to plan", limit, invs)
	}
	return fmt.Errorf("inventory %s has no hosts: nothing to plan", invs)
}

// loadPlan loads the plan of in, with its variables.
func (a *app) loadPlan(in runSources, r *render.Human) (*config.Plan, bool) {
	p, diags := config.Load(in.planPath, config.Inputs{Vars: in.vars, VarFiles: in.varFiles, Environ: a.environ, Source: in.planSource})
	if diags.HasErrors() {
		a.diagnostics(r, diags)
		return nil, false
	}
	return p, true
}

func (a *app) warnings(inv *inventory.Inventory) {
	for _, w := range inv.Warnings {
		fmt.Fprintf(a.stderr, "Warning: %s\n", w)
	}
}

func (a *app) diagnostics(r *render.Human, diags hcl.Diagnostics) {
	er := *r
	er.W = a.stderr
	er.Diagnostics(diags)
}

func (a *app) renderer(c *sharedFlags) *render.Human {
	return &render.Human{W: a.stdout, Color: a.colorOn(c)}
}

func (a *app) validate(args []string) int {
	argv, err := parseValidateArgs(args, a.stderr)
	if argsFailed(err, a.stderr) {
		return exitError
	}
	c := &argv.sharedFlags
	r := a.renderer(c)
	in, ok := a.planSources(c, argv.pos)
	if !ok {
		return exitError
	}
	if len(in.inventories) == 0 {
		return a.validatePlan(in, r)
	}
	l, ok := a.loadSources(in, r)
	if !ok {
		return exitError
	}
	if diags := engine.Validate(l.plan, l.inv, l.targets); diags.HasErrors() {
		a.diagnostics(r, diags)
		return exitError
	}
	fmt.Fprintf(a.stdout, "The plan is valid: %s, %d hosts in the inventory.\n", planSize(l.plan), len(l.inv.Hosts))
	return exitOK
}

// validatePlan is validate without an inventory: the plan alone, its resources built
// for a placeholder host (engine.ValidatePlan).
func (a *app) validatePlan(in runSources, r *render.Human) int {
	if in.limit != "" {
		fmt.Fprintln(a.stderr, "hostplan: --limit selects hosts of an inventory: pass -i FILE too")
		return exitError
	}
	r.HideLine = render.PrivateLines(in.varFiles, nil)
	p, ok := a.loadPlan(in, r)
	if !ok {
		return exitError
	}
	if diags := engine.ValidatePlan(p); diags.HasErrors() {
		a.diagnostics(r, diags)
		return exitError
	}
	fmt.Fprintf(a.stdout, "The plan is valid: %s. No inventory: task targets and host variables were not checked (pass -i to check them).\n", planSize(p))
	return exitOK
}

func planSize(p *config.Plan) string {
	n := 0
	for _, t := range p.Tasks {
		n += len(t.Resources)
	}
	return fmt.Sprintf("%d tasks, %d resources", len(p.Tasks), n)
}

// session is one connected run: plan, then maybe apply.
// session makes the engine for l, with progress shown on stderr. end stops the progress
// display and closes every connection; call it when done.
func (a *app) session(ctx context.Context, c *sharedFlags, l *loaded, r *render.Human) (e *engine.Engine, end func(), ok bool) {
	dialer := transport.NewDialer(transport.DialerOptions{
		AcceptNewHostKeys: c.acceptNewHostKeys,
		ConnectTimeout:    c.timeout,
		Passphrase:        a.passphrasePrompt(),
		BecomePassword:    a.becomePassword(),
		Warn:              a.dialWarning,
	})
	a.prog = render.NewProgress(a.stderr, isTerminal(a.stderr))
	opts := engine.Options{
		Parallel:       c.parallel,
		CommandTimeout: c.commandTimeout,
		NoRollback:     c.noRollback,
		Progress:       a.prog.Event,
		PlanOnly:       c.planOnly,
	}
	if c.lock {
		machine, _ := os.Hostname()
		opts.Lock = &engine.Lock{
			Holder:  hostlock.Holder{Operator: operator(), Machine: machine, PID: os.Getpid(), Run: a.runID(), Since: time.Now()},
			Options: hostlock.Options{Wait: c.lockTimeout},
		}
	}
	e, diags := engine.New(l.plan, l.inv, l.targets, dialer, opts)
	if diags.HasErrors() {
		a.prog.Stop()
		a.diagnostics(r, diags)
		dialer.Close()
		return nil, nil, false
	}
	return e, func() {
		a.prog.Stop()
		e.Close()
		dialer.Close()
	}, true
}

// prompting erases the progress block while the user is asked something.
func (a *app) prompting() func() {
	if a.prog == nil {
		return func() {}
	}
	a.prog.Suspend()
	return a.prog.Resume
}

func (a *app) stdinIsTerminal() bool { return isTerminal(a.stdin) }

// isTerminal tells whether one of the CLI's streams is a terminal: the one place that
// decides colour (stdout), the progress block (stderr) and prompting (stdin).
func isTerminal(stream any) bool {
	f, ok := stream.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func (a *app) confirm() bool {
	fmt.Fprint(a.stdout, "\nDo you want to apply these changes? Only 'yes' will be accepted: ")
	line, err := bufio.NewReader(a.stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return false
	}
	return strings.TrimSpace(line) == "yes"
}

// passphrasePrompt asks for an encrypted key's passphrase on the terminal, once per key,
// one prompt at a time however many hosts ask.
func (a *app) passphrasePrompt() func(string) ([]byte, error) {
	if !a.stdinIsTerminal() {
		return nil
	}
	var mu sync.Mutex
	cache := map[string][]byte{}
	return func(file string) ([]byte, error) {
		mu.Lock()
		defer mu.Unlock()
		if p, ok := cache[file]; ok {
			return p, nil
		}
		defer a.prompting()()
		fmt.Fprintf(a.stderr, "Passphrase for %s: ", file)
		p, err := term.ReadPassword(int(a.stdin.(*os.File).Fd()))
		fmt.Fprintln(a.stderr)
		if err != nil {
			return nil, err
		}
		cache[file] = p
		return p, nil
	}
}

// becomePassword comes from HOSTPLAN_BECOME_PASSWORD or, on a terminal, one prompt.
func (a *app) becomePassword() func() ([]byte, error) {
	if v, ok := a.lookupEnv("HOSTPLAN_BECOME_PASSWORD"); ok {
		return func() ([]byte, error) { return []byte(v), nil }
	}
	if !a.stdinIsTerminal() {
		return nil
	}
	var once sync.Once
	var pw []byte
	var perr error
	return func() ([]byte, error) {
		once.Do(func() {
			defer a.prompting()()
			fmt.Fprint(a.stderr, "sudo password (become): ")
			pw, perr = term.ReadPassword(int(a.stdin.(*os.File).Fd()))
			fmt.Fprintln(a.stderr)
		})
		return pw, perr
	}
}

func (a *app) inventory(args []string) int {
	argv, err := parseInventoryArgs(args, a.stderr)
	if argsFailed(err, a.stderr) {
		return exitError
	}
	c := &argv.sharedFlags
	r := a.renderer(c)
	in, ok := a.flagSources(c, nil)
	if !ok {
		return exitError
	}
	inv, diags := inventory.LoadWith(in.inventories, a.withScripts(inventory.LoadOptions{Files: inventory.OSFiles()}, in.scriptTimeout))
	r.HideLine = render.PrivateLines(nil, inventoryFiles(inv))
	if len(diags) > 0 {
		a.diagnostics(r, diags)
	}
	if diags.HasErrors() {
		return exitError
	}
	targets, err := inv.Targets(c.limit, inventory.ResolveOptions{SSHConfig: c.sshConfig})
	if err != nil {
		fmt.Fprintf(a.stderr, "hostplan: %v\n", err)
		return exitError
	}
	a.warnings(inv)
	render.Inventory(a.stdout, targets, inv.GroupNames())
	return exitOK
}
