// Package engine runs a plan against hosts: it connects once per host, gathers facts,
// evaluates every resource for that host, plans, and applies. It returns values
// (Plan, ApplyResult); printing them is the renderers' job.
package engine

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/hostplan/hostplan/internal/config"
	"github.com/hostplan/hostplan/internal/facts"
	"github.com/hostplan/hostplan/internal/firewall"
	"github.com/hostplan/hostplan/internal/hostlock"
	"github.com/hostplan/hostplan/internal/transport"
	"github.com/hostplan/hostplan/inventory"
	"github.com/hostplan/hostplan/tasks"
)

// Dialer opens a host's connection (transport.Dialer in real runs).
type Dialer interface {
	Dial(ctx context.Context, t transport.Target) (transport.Conn, error)
}

// Target is one host with its resolved connection settings.
type Target struct {
	Host *inventory.Host
	Conn inventory.ConnSettings
}

// Options tune a run.
type Options struct {
	// Parallel is how many hosts are worked on at once (default 20).
	Parallel int
	// CommandTimeout bounds each resource's plan or apply step (0: none).
	CommandTimeout time.Duration
	// NoRollback leaves a host whose change or health gate failed as it is, for
	// debugging in place (the rollout still stops).
	NoRollback bool
	// Progress, when set, is told what each host is doing. It must be safe for
	// concurrent use.
	Progress func(Event)
	// Lock, when set, takes each host's lock right after connecting and holds it until
	// Close, so no other apply changes the host meanwhile (Windows hosts are not locked).
	Lock *Lock
	// PlanOnly closes each host's connection as soon as the host is planned, for a run
	// that only plans: at 1,000 hosts, open connections until the end would hold
	// 1,000 sshd sessions and a quarter of a MiB each here.
	PlanOnly bool
}

// Lock is who takes host locks and how.
type Lock struct {
	Holder  hostlock.Holder
	Options hostlock.Options
}

// Event is one step of a host's progress.
type Event struct {
	Host  string
	Phase string // "connecting", "facts", "planning", "applying", "health", "rolling back", "done", "failed"
	Done  int    // resources done in this phase
	Total int
}

// Engine holds one run: the plan, its targets and their open connections.
type Engine struct {
	plan    *config.Plan
	targets []*Target
	perTask map[*config.Task]map[string]bool // task -> targeted host names
	// keys are each task's rollout groups: host name -> the value of the task's per
	// ("" for every host of a task without per).
	keys   map[*config.Task]map[string]string
	dialer Dialer
	opts   Options

	mu    sync.Mutex
	hosts map[string]*hostState
}

type hostState struct {
	conn  transport.Conn
	facts *facts.Facts
	// first is the lock's first look and try, run with the facts when the run locks
	// hosts; nil once lockAndRead took it.
	first *hostlock.First
	// early answers the reads guessed before the facts (guessed), run with them: in
	// the facts' session on a run that takes no lock, or once the first try took the
	// lock. Both nil once planning took them.
	early   transport.Conn
	guessed []string
	lock    *hostlock.Lock
	// bus is the host's system bus connection, made when the facts left firewalld's
	// state to the engine (askFirewalld); the steps share it.
	bus *firewall.Bus
}

// askFirewalld answers the facts' open question of firewalld's state (gather's
// busUsers) over the host's system bus, in the connection the steps will share; where
// that bus cannot be reached, with the facts' shell check. files are the looks read
// with the facts (a plan's), which answer the check of the bus's socket: no file
// session for it.
func (e *Engine) askFirewalld(ctx context.Context, name string, hs *hostState, files *transport.FileReads) error {
	if !hs.facts.FirewalldUnasked() {
		return nil
	}
	ctx, cancel := e.stepContext(ctx)
	defer cancel()
	conn := hs.conn
	if hs.early != nil {
		// The view takes the looks' output: the steps then read theirs from it too.
		hs.early = transport.WithFiles(hs.early, files)
		conn = hs.early
	}
	hs.bus = &firewall.Bus{}
	running, err := firewall.FirewalldRunning(ctx, firewall.Host{Name: name, Conn: conn, Bus: hs.bus})
	if errors.Is(err, firewall.ErrNoBus) {
		running, err = facts.AskFirewalld(ctx, conn)
	}
	if err != nil {
		return fmt.Errorf("gather facts: %w", err)
	}
	hs.facts.SetFirewalld(running)
	return nil
}

// closeConn closes the host's connections.
func (hs *hostState) closeConn() error {
	hs.bus.Close()
	return hs.conn.Close()
}

// New checks the plan against the hosts of this run (targets, after --limit) and
// returns an engine ready to plan. Diagnostics here mean nothing was contacted.
func New(p *config.Plan, inv *inventory.Inventory, targets []*Target, dialer Dialer, opts Options) (*Engine, hcl.Diagnostics) {
	if opts.Parallel <= 0 {
		opts.Parallel = 20
	}
	e := &Engine{plan: p, dialer: dialer, opts: opts, perTask: map[*config.Task]map[string]bool{},
		keys: map[*config.Task]map[string]string{}, hosts: map[string]*hostState{}}
	diags := Validate(p, inv, targets)
	if diags.HasErrors() {
		return nil, diags
	}
	byName := map[string]*Target{}
	for _, t := range targets {
		byName[t.Host.Name] = t
	}
	used := map[string]bool{}
	for _, task := range p.Tasks {
		hosts, _ := inv.HostsIn(task.On)
		set, keys := map[string]bool{}, map[string]string{}
		once := map[string]bool{} // groups whose run_once host is chosen
		for _, h := range hosts {
			t := byName[h.Name]
			if t == nil {
				continue
			}
			key := rolloutKey(p, task, t)
			if task.RunOnce && once[key] {
				continue // the group's first targeted host does it for all
			}
			once[key] = true
			set[h.Name], keys[h.Name], used[h.Name] = true, key, true
		}
		e.perTask[task], e.keys[task] = set, keys
	}
	for _, t := range targets {
		if used[t.Host.Name] {
			e.targets = append(e.targets, t)
		}
	}
	return e, diags
}

// Validate checks task targets against the inventory and evaluates every resource for
// every targeted host with facts still unknown, so type errors and missing host vars
// surface before any connection is opened.
func Validate(p *config.Plan, inv *inventory.Inventory, targets []*Target) hcl.Diagnostics {
	var diags hcl.Diagnostics
	byName := map[string]*Target{}
	for _, t := range targets {
		byName[t.Host.Name] = t
	}
	for _, task := range p.Tasks {
		hosts, unknown := inv.HostsIn(task.On)
		for _, u := range unknown {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Unknown group or host in task targets",
				Detail:   fmt.Sprintf("Task %q runs on %q, which is neither a group nor a host of the inventory. Groups: %v.", task.Name, u, inv.GroupNames()),
				Subject:  task.OnRange.Ptr(),
			})
		}
		for _, h := range hosts {
			t, ok := byName[h.Name]
			if !ok {
				continue
			}
			ctx, d := p.EvalContext(hostValue(t, cty.DynamicVal))
			diags = append(diags, forHost(d, h.Name)...)
			if d.HasErrors() {
				continue
			}
			_, d = task.RolloutKey(ctx)
			diags = append(diags, forHost(d, h.Name)...)
			for _, r := range task.Resources {
				_, d := p.Build(r, ctx)
				diags = append(diags, forHost(d, h.Name)...)
			}
		}
	}
	return dedupe(diags)
}

// forHost says which host a per-host diagnostic was found on.
func forHost(diags hcl.Diagnostics, host string) hcl.Diagnostics {
	for _, d := range diags {
		if d.Detail != "" {
			d.Detail = fmt.Sprintf("%s (host %s)", d.Detail, host)
		}
	}
	return diags
}

// dedupe drops diagnostics that only differ in the host they were found on, keeping the first.
func dedupe(diags hcl.Diagnostics) hcl.Diagnostics {
	seen := map[string]bool{}
	var out hcl.Diagnostics
	for _, d := range diags {
		key := d.Summary
		if d.Subject != nil {
			key += d.Subject.String()
		}
		if seen[key] {
			continue
		}
		seen[key] = true
		out = append(out, d)
	}
	return out
}

// rolloutKey is the host's group in the task's rollout; Validate has refused a plan
// whose per has no value for it.
func rolloutKey(p *config.Plan, task *config.Task, t *Target) string {
	if task.PerText == "" {
		return ""
	}
	ctx, _ := p.EvalContext(hostValue(t, cty.DynamicVal))
	key, _ := task.RolloutKey(ctx)
	return key
}

func hostValue(t *Target, factsVal cty.Value) cty.Value {
	return config.HostValue(t.Host.Name, t.Conn.Address, t.Host.Groups, t.Host.Vars, factsVal)
}

// Hosts lists the names of the hosts this run works on, in inventory order.
func (e *Engine) Hosts() []string {
	out := make([]string, 0, len(e.targets))
	for _, t := range e.targets {
		out = append(out, t.Host.Name)
	}
	return out
}

func (e *Engine) progress(host, phase string, done, total int) {
	if e.opts.Progress != nil {
		e.opts.Progress(Event{Host: host, Phase: phase, Done: done, Total: total})
	}
}

// eachHost runs fn for every target, at most Parallel at once, and waits.
func (e *Engine) eachHost(fn func(i int, t *Target)) {
	inParallel(make(chan struct{}, e.opts.Parallel), len(e.targets), func(i int) { fn(i, e.targets[i]) })
}

// inParallel runs fn(0) to fn(n-1), each in a goroutine of its own, at most cap(sem) at
// once (sem may be shared with other callers), and waits for them.
func inParallel(sem chan struct{}, n int, fn func(i int)) {
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			fn(i)
		}()
	}
	wg.Wait()
}

// connect opens (once) the host's connection and gathers its facts, with the reads
// guessed for the host's steps (see gather), skip as in transport.Sections.Skipping.
// busUsers: a step may use firewalld over the system bus (tasks.BusUser).
func (e *Engine) connect(ctx context.Context, t *Target, guessed []string, skip map[string]string, busUsers bool) (*hostState, error) {
	e.mu.Lock()
	hs, ok := e.hosts[t.Host.Name]
	e.mu.Unlock()
	if ok {
		return hs, nil
	}
	e.progress(t.Host.Name, "connecting", 0, 0)
	conn, err := e.dialer.Dial(ctx, transportTarget(t))
	if err != nil {
		return nil, err
	}
	e.progress(t.Host.Name, "facts", 0, 0)
	// The facts and the reads run with them are bounded as a step is.
	gctx, cancel := e.stepContext(ctx)
	hs, err = e.gather(gctx, t.Host.Name, conn, guessed, skip, busUsers)
	cancel()
	if err != nil {
		conn.Close()
		return nil, err
	}
	e.mu.Lock()
	e.hosts[t.Host.Name] = hs
	e.mu.Unlock()
	return hs, nil
}

// lockAndRead takes the host's lock when the run locks hosts and gather did not take
// it, and runs the reads of the host's steps (transport.Prefetch): in the session that
// takes the lock, so they see the host as no other apply can change it any more, else
// in one of their own. A host whose lock cannot be had is dropped from the run.
func (e *Engine) lockAndRead(ctx context.Context, name string, hs *hostState, reads []string) (transport.Conn, error) {
	if e.opts.Lock == nil || hs.facts.Windows() || hs.lock != nil {
		return e.readRest(ctx, hs, reads), nil
	}
	e.progress(name, "locking", 0, 0)
	var then *transport.Sections
	if len(reads) > 0 {
		then = transport.NewSections(reads)
	}
	first := hs.first
	hs.first, hs.early, hs.guessed = nil, nil, nil
	lock, err := hostlock.AcquireLooked(ctx, hs.conn, name, e.opts.Lock.Holder, e.opts.Lock.Options, first, then)
	if err != nil {
		e.mu.Lock()
		delete(e.hosts, name)
		e.mu.Unlock()
		hs.closeConn()
		return nil, err
	}
	hs.lock = lock
	if then == nil {
		return hs.conn, nil
	}
	return transport.PrefetchSections(hs.conn, then, lock.ThenOutput()), nil
}

// readRest runs the reads not guessed before the facts in one session, and returns a
// conn answering them and the guessed ones, whose answers hs.early holds.
func (e *Engine) readRest(ctx context.Context, hs *hostState, reads []string) transport.Conn {
	conn, guessed := hs.conn, hs.guessed
	if hs.early != nil {
		conn = hs.early
	}
	hs.early, hs.guessed = nil, nil
	rctx, cancel := e.stepContext(ctx)
	defer cancel()
	return transport.Prefetch(rctx, conn, without(reads, guessed))
}

// gather gathers the host's facts, in one session with what else is known before
// them: the guessed reads of the host's steps (a wrong guess costs only its output),
// and when the run locks hosts, the lock's first look and try (hostlock.First), the
// guessed reads running once it holds the lock. A session costs an sshd fork and the
// login shell on the host, a large part of a plan's cost on a busy bastion. A lock
// taken here is the host's from then on (Close releases it), or removed again when
// gather fails.
func (e *Engine) gather(ctx context.Context, name string, conn transport.Conn, guessed []string, skip map[string]string, busUsers bool) (*hostState, error) {
	hs := &hostState{conn: conn}
	if conn.Shell() == transport.ShellCmd || e.opts.Lock == nil && len(guessed) == 0 {
		f, err := facts.Gather(ctx, conn)
		hs.facts = f
		return hs, err
	}
	extra := guessed
	var reads *transport.Sections
	if e.opts.Lock != nil {
		if len(guessed) > 0 {
			reads = transport.NewSections(guessed).Skipping(skip)
		}
		first, err := hostlock.NewFirst(e.opts.Lock.Options, e.opts.Lock.Holder, reads)
		if err != nil {
			return nil, err
		}
		hs.first, extra = first, []string{first.Command}
	}
	start := time.Now()
	script := facts.Script
	if busUsers && transport.DialsUnix(conn) {
		script = facts.ScriptAskingNotFirewalld
	}
	sections := transport.NewSections(append([]string{script}, extra...)).Skipping(skip)
	run := sections.Run
	if e.opts.Lock != nil {
		// A run that locks hosts writes over SFTP, and refreshes and releases the
		// lock there: the session goes on as the host's sftp-server.
		run = sections.RunThenFiles
	}
	got, stderr, err := run(ctx, conn)
	if err != nil {
		if hs.first != nil {
			// The lock may have been taken before the output was lost.
			err = errors.Join(err, hs.first.Abandon(ctx, conn, name))
		}
		return nil, fmt.Errorf("gather facts: %w", err)
	}
	if hs.first != nil {
		hs.first.Out, hs.first.Start = got[1], start
		if hs.lock, err = hostlock.TakeFirst(ctx, conn, name, hs.first); err != nil {
			return nil, err
		}
	}
	if got[0].Code != 0 {
		err = fmt.Errorf("gather facts: exit %d: %s", got[0].Code, strings.TrimSpace(stderr))
		if hs.lock != nil {
			err = errors.Join(err, hs.lock.Release(ctx))
		}
		return nil, err
	}
	hs.facts = facts.Parse([]byte(got[0].Out))
	hs.guessed = guessed
	switch {
	case hs.lock != nil && reads != nil:
		// The first try ran the guessed reads once it held the lock.
		hs.early = transport.PrefetchSections(conn, reads, hs.lock.ThenOutput())
	case hs.lock != nil, e.opts.Lock != nil:
		hs.guessed = nil
	default:
		hs.early = transport.WithResults(conn, guessed, got[1:])
	}
	return hs, nil
}

// without is reads less those in ran.
func without(reads, ran []string) []string {
	var out []string
	for _, r := range reads {
		if !slices.Contains(ran, r) {
			out = append(out, r)
		}
	}
	return out
}

func transportTarget(t *Target) transport.Target {
	c := t.Conn
	return transport.Target{
		Name:          t.Host.Name,
		Address:       c.Address,
		Port:          c.Port,
		User:          c.User,
		IdentityFiles: c.IdentityFile,
		KnownHosts:    c.KnownHosts,
		Bastion:       c.Bastion,
		Jumps:         transportJumps(c.Jumps),
		ProxyCommand:  c.ProxyCommand,
		Become:        c.Become,
		BecomeUser:    c.BecomeUser,
		Local:         c.Connection == "local",
		Shell:         transport.Shell(c.Shell),
		SSHOptions:    transport.SSHOptions(c.SSHOptions),
	}
}

// transportJumps are a host's resolved jump hosts, each named by its address.
func transportJumps(jumps []inventory.ConnSettings) []transport.Target {
	var out []transport.Target
	for _, j := range jumps {
		out = append(out, transport.Target{Name: j.Address, Address: j.Address, Port: j.Port,
			User: j.User, IdentityFiles: j.IdentityFile, KnownHosts: j.KnownHosts, ProxyCommand: j.ProxyCommand, SSHOptions: transport.SSHOptions(j.SSHOptions)})
	}
	return out
}

// Close releases the run's locks and closes its connections, up to Parallel hosts at
// once: one host after another, a release of 1,000 locks would take minutes.
func (e *Engine) Close() error {
	e.mu.Lock()
	hosts := e.hosts
	e.hosts = map[string]*hostState{}
	e.mu.Unlock()
	names := slices.Collect(maps.Keys(hosts))
	errs := make([]error, len(names))
	inParallel(make(chan struct{}, e.opts.Parallel), len(names), func(i int) {
		errs[i] = hosts[names[i]].close(names[i])
	})
	return errors.Join(errs...)
}

// closeHost releases the lock of one host and closes its connection, if it has one.
func (e *Engine) closeHost(name string) error {
	e.mu.Lock()
	hs, ok := e.hosts[name]
	delete(e.hosts, name)
	e.mu.Unlock()
	if !ok {
		return nil
	}
	return hs.close(name)
}

// close releases the host's lock and closes its connection.
func (hs *hostState) close(name string) error {
	var errs []error
	if hs.lock != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if err := hs.lock.Release(ctx); err != nil {
			errs = append(errs, err)
		}
		cancel()
	}
	if err := hs.closeConn(); err != nil {
		errs = append(errs, fmt.Errorf("close %s: %w", name, err))
	}
	return errors.Join(errs...)
}

func (e *Engine) stepContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if e.opts.CommandTimeout > 0 {
		return context.WithTimeout(ctx, e.opts.CommandTimeout)
	}
	return context.WithCancel(ctx)
}

// stepError says why a step that failed while its context ended was cut short: the
// transport has stopped what ran on the host by then, and files are old or new.
func (e *Engine) stepError(ctx, sctx context.Context, err error) error {
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return fmt.Errorf("interrupted; what ran on the host was stopped: %w", err)
	case errors.Is(sctx.Err(), context.DeadlineExceeded):
		return fmt.Errorf("timed out after %s (--command-timeout); what ran on the host was stopped: %w", e.opts.CommandTimeout, err)
	}
	return err
}

func (e *Engine) taskHosts(task *config.Task) map[string]bool { return e.perTask[task] }

// resourceHost is the view of a connected host that resources get.
func resourceHost(t *Target, hs *hostState) *tasks.Host {
	return &tasks.Host{Name: t.Host.Name, Conn: hs.conn, Facts: hs.facts, DialsUnix: transport.DialsUnix(hs.conn), Bus: hs.bus}
}

// Inspect connects to every target (once per run, as Plan does) and calls fn with the
// host's connection and facts, hosts in parallel. The engine changes nothing; fn should
// only read. It returns each host's error, nil where fn succeeded.
func (e *Engine) Inspect(ctx context.Context, fn func(ctx context.Context, host string, conn transport.Conn, f *facts.Facts) error) []error {
	errs := make([]error, len(e.targets))
	e.eachHost(func(i int, t *Target) {
		hs, err := e.connect(ctx, t, nil, nil, false)
		if err == nil {
			err = fn(ctx, t.Host.Name, hs.conn, hs.facts)
		}
		errs[i] = err
	})
	return errs
}
