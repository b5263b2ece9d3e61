// Command hostplan-bench measures hostplan against the floor the network allows: for
// each N it starts N lab hosts (kubeadm masters' files, no API server), and in several
// rounds, each on freshly reset hosts, times
//
//  1. the floor: N OpenSSH `ssh host true` in parallel (one handshake each);
//  2. `hostplan plan` of bench/plan (the masters part of examples/security-center);
//  3. `hostplan apply --auto-approve` of it;
//  4. `hostplan plan` again (no changes),
//
// then prints medians in seconds and as ratios to the floor, and writes them to
// bench/results. With -mem it also measures the peak RSS of one plan over -mem-hosts
// inventory entries (pointed at the lab's hosts in turn when there are fewer). With
// -load-hosts it times apply on that many hosts running sshd as a daemon (which
// enforces MaxStartups and MaxSessions), with --parallel N and with --parallel 5. With
// -firewalld-every K, one host in K runs a real firewalld, as a CentOS-style forwarder
// does, so a plan's method "auto" forwards through firewalld there and through
// iptables on the rest.
//
//	hostplan-bench [-n 20,50] [-rounds 3] [-hostplan bin/hostplan] [-plan bench/plan] [-out bench/results] [-mem-hosts 200] [-load-hosts 50] [-firewalld-every 4]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hostplan/hostplan/internal/lab"
)

func main() {
	var sizes, hostplan, planDir, out string
	var rounds, memHosts, loadHosts, parallel int
	flag.StringVar(&sizes, "n", "20,50", "host counts to measure, comma-separated")
	flag.IntVar(&rounds, "rounds", 3, "rounds per measurement; medians are reported")
	flag.StringVar(&hostplan, "hostplan", "bin/hostplan", "the hostplan binary")
	flag.StringVar(&planDir, "plan", "bench/plan", "the plan to run")
	flag.StringVar(&out, "out", "bench/results", "directory for the results file")
	flag.IntVar(&memHosts, "mem-hosts", 200, "inventory entries for the memory measurement (0: skip)")
	flag.IntVar(&loadHosts, "load-hosts", 50, "hosts for the load measurement (0: skip)")
	flag.IntVar(&parallel, "parallel", 0, "hostplan --parallel (0: N, all hosts at once)")
	flag.IntVar(&firewalldEvery, "firewalld-every", 0, "one lab host in this many runs firewalld in the N measurements (0: none)")
	flag.StringVar(&profileDir, "cpuprofile", "", "write hostplan's CPU profiles of each N's plan and apply (last round) to this directory")
	flag.Parse()
	// hostplan reports a profile it cannot write on its stderr, which the bench does not show.
	if profileDir != "" {
		if err := os.MkdirAll(profileDir, 0o700); err != nil {
			fail(err)
		}
	}
	if why := lab.Unavailable(); why != "" {
		fail(fmt.Errorf("lab hosts cannot run here: %s", why))
	}
	var report strings.Builder
	fmt.Fprintf(&report, "hostplan-bench %s, %s, %d CPUs, %d rounds, medians\n\n", time.Now().UTC().Format(time.RFC3339), runtime.Version(), runtime.NumCPU(), rounds)
	fmt.Fprintf(&report, "plan %s", planDir)
	if firewalldEvery > 0 {
		fmt.Fprintf(&report, ", firewalld on one host in %d (the last of each %d)", firewalldEvery, firewalldEvery)
	}
	report.WriteString("\n\n")
	fmt.Fprintf(&report, "%5s  %8s  %8s %6s  %8s %6s  %8s %6s  %s\n", "N", "floor", "plan", "x", "apply", "x", "replan", "x",
		"CPU ms/host plan, apply; peak RSS plan, apply; machine CPU ms/host floor, plan, apply")
	for _, f := range strings.Split(sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > lab.MaxHosts {
			fail(fmt.Errorf("-n %q: host counts from 1 to %d", f, lab.MaxHosts))
		}
		p := parallel
		if p == 0 {
			p = n
		}
		line, err := measure(n, rounds, p, hostplan, planDir)
		if err != nil {
			fail(fmt.Errorf("N=%d: %w", n, err))
		}
		report.WriteString(line)
		fmt.Print(line)
	}
	if memHosts > 0 {
		line, err := memory(memHosts, hostplan, planDir)
		if err != nil {
			fail(fmt.Errorf("memory: %w", err))
		}
		report.WriteString("\n" + line)
		fmt.Print(line)
	}
	if loadHosts > 0 {
		line, err := load(loadHosts, rounds, hostplan, planDir)
		if err != nil {
			fail(fmt.Errorf("load: %w", err))
		}
		report.WriteString("\n" + line)
		fmt.Print(line)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		fail(err)
	}
	path := filepath.Join(out, time.Now().UTC().Format("2006-01-02T150405Z")+".txt")
	if err := os.WriteFile(path, []byte(report.String()), 0o644); err != nil {
		fail(err)
	}
	fmt.Printf("\nwritten to %s\n", path)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "hostplan-bench:", err)
	os.Exit(1)
}

// profileDir, when set, receives CPU profiles (HOSTPLAN_CPUPROFILE) of plan and apply.
var profileDir string

// firewalldEvery: one host in this many runs firewalld in measure (0: none).
var firewalldEvery int

// benchLab is a started lab ready for hostplan and for ssh.
type benchLab struct {
	l         *lab.Lab
	inventory string
	sshConfig string
	firewalld map[*lab.Host]bool // the hosts that run firewalld
}

func startLab(opts lab.Options) (*benchLab, error) {
	l, err := lab.Start(context.Background(), opts)
	if err != nil {
		return nil, err
	}
	b := &benchLab{l: l, inventory: filepath.Join(l.Dir, "bench-inventory.hcl"), sshConfig: filepath.Join(l.Dir, "bench-ssh_config")}
	if err := l.WriteInventory(b.inventory, "root"); err != nil {
		l.Stop()
		return nil, err
	}
	// The floor's ssh gets what hostplan gets: the key, the known hosts, no agent, no
	// config of the machine's.
	cfg := fmt.Sprintf("Host *\n  User root\n  IdentityFile %s\n  IdentitiesOnly yes\n  UserKnownHostsFile %s\n  StrictHostKeyChecking yes\n  BatchMode yes\n  ControlMaster no\n  LogLevel ERROR\n",
		l.UserKey, l.KnownHosts)
	if err := os.WriteFile(b.sshConfig, []byte(cfg), 0o600); err != nil {
		l.Stop()
		return nil, err
	}
	return b, nil
}

// startFirewalld starts firewalld on one host in every (the last of each every), a few
// at a time: each start is a Python daemon's.
func (b *benchLab) startFirewalld(every int) error {
	b.firewalld = map[*lab.Host]bool{}
	for i, h := range b.l.Hosts {
		if every > 0 && i%every == every-1 {
			b.firewalld[h] = true
		}
	}
	return b.eachHost(func(h *lab.Host) error {
		if !b.firewalld[h] {
			return nil
		}
		return h.StartFirewalld(context.Background())
	})
}

// resetScript undoes the plan's changes: the masters' files, and the forwarders'
// iptables rules, saved rules and kernel forwarding (each lab host has its own network
// namespace, so these are the host's own).
const resetScript = `rm -rf /etc/kubernetes /var/log/kubernetes && mkdir -p /etc/kubernetes/manifests &&
iptables -w -F && iptables -w -t nat -F && { iptables -w -X HOSTPLAN-ALLOW 2>/dev/null; true; } &&
rm -f /etc/iptables/rules.v4 /etc/sysctl.d/90-hostplan-net.ipv4.ip_forward.conf &&
echo 0 > /proc/sys/net/ipv4/ip_forward`

// resetFirewalld drops the forward, masquerade and rich rules the plan adds to
// firewalld: the zone's permanent file goes (back to the packaged default zone) and the
// reload makes the runtime configuration that again.
const resetFirewalld = `rm -f /etc/firewalld/zones/public.xml /etc/firewalld/zones/public.xml.old && firewall-cmd --reload >/dev/null`

// reset gives every host a kubeadm master's manifest and none of the plan's changes.
func (b *benchLab) reset() error {
	return b.eachHost(func(h *lab.Host) error {
		script := resetScript
		if b.firewalld[h] {
			script += " && " + resetFirewalld
		}
		if out, err := h.Exec(context.Background(), script); err != nil {
			return fmt.Errorf("reset %s: %v: %s", h.Name, err, out)
		}
		return h.WriteFile("/etc/kubernetes/manifests/kube-apiserver.yaml", lab.KubeadmManifest(h.Address), 0o600)
	})
}

// eachHost runs fn for every host, a few at a time (hundreds of iptables processes at
// once on two cores outlast the lab's wait for a command's output), and returns the
// first error.
func (b *benchLab) eachHost(fn func(h *lab.Host) error) error {
	var wg sync.WaitGroup
	errs := make([]error, len(b.l.Hosts))
	sem := make(chan struct{}, 4*runtime.NumCPU())
	for i, h := range b.l.Hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			errs[i] = fn(h)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// floor runs `ssh host true` on every host at once and returns the wall time.
func (b *benchLab) floor() (time.Duration, error) {
	start := time.Now()
	var wg sync.WaitGroup
	errs := make([]error, len(b.l.Hosts))
	for i, h := range b.l.Hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := exec.Command("ssh", "-F", b.sshConfig, "-p", strconv.Itoa(h.Port), h.Address, "true").CombinedOutput()
			if err != nil {
				errs[i] = fmt.Errorf("ssh %s: %v: %s", h.Name, err, out)
			}
		}()
	}
	wg.Wait()
	d := time.Since(start)
	for _, err := range errs {
		if err != nil {
			return 0, err
		}
	}
	return d, nil
}

// run times one hostplan command; want is the exit code it must end with.
func (b *benchLab) run(hostplan string, want int, args ...string) (time.Duration, *syscall.Rusage, error) {
	return b.runProfiled(hostplan, want, "", args...)
}

// runProfiled is run with hostplan's CPU profile written to profile ("" for none).
func (b *benchLab) runProfiled(hostplan string, want int, profile string, args ...string) (time.Duration, *syscall.Rusage, error) {
	cmd := exec.Command(hostplan, args...)
	cmd.Env = append(os.Environ(), "NO_COLOR=1", "HOSTPLAN_JOURNAL=none", "HOSTPLAN_CPUPROFILE="+profile)
	var stdout strings.Builder
	cmd.Stdout = &stdout
	var stderr strings.Builder
	cmd.Stderr = &stderr
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start)
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		return 0, nil, err
	}
	if code != want {
		return 0, nil, fmt.Errorf("hostplan %s: exit %d, want %d: %s\n%s", strings.Join(args, " "), code, want, lastLines(stderr.String(), 5), failures(stdout.String()))
	}
	return d, cmd.ProcessState.SysUsage().(*syscall.Rusage), nil
}

// failures counts the reasons hosts failed in a human report, for a run that failed:
// at hundreds of hosts the report itself is too long to quote.
func failures(report string) string {
	count := map[string]int{}
	lines := strings.Split(report, "\n")
	for i, l := range lines {
		if strings.HasSuffix(l, ": FAILED") && i+1 < len(lines) {
			reason := strings.TrimSpace(lines[i+1])
			if _, after, ok := strings.Cut(reason, "): "); ok {
				reason = after // drop "connect to hN (user@address:port)"
			}
			count[reason]++
		}
	}
	var out []string
	for r, n := range count {
		out = append(out, fmt.Sprintf("%5d hosts: %s", n, r))
	}
	slices.Sort(out)
	return strings.Join(out, "\n")
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

func measure(n, rounds, parallel int, hostplan, planDir string) (string, error) {
	b, err := startLab(lab.Options{Hosts: n})
	if err != nil {
		return "", err
	}
	defer b.l.Stop()
	if err := b.startFirewalld(firewalldEvery); err != nil {
		return "", err
	}
	// Lab hosts share this machine's CPUs with hostplan: at hundreds of hosts at once
	// their sshd's key exchanges queue for them, far past the default 10 s timeout (the
	// floor's ssh has none).
	common := []string{"-i", b.inventory, "--ssh-config", "none", "--parallel", strconv.Itoa(parallel), "--timeout", "3m"}
	var floor, plan, apply, replan []time.Duration
	var planCost, applyCost cost
	var floorBusy, planBusy, applyBusy []time.Duration
	for round := range rounds {
		profile := func(cmd string) string {
			if profileDir == "" || round < rounds-1 {
				return ""
			}
			return filepath.Join(profileDir, fmt.Sprintf("%s-%d.pprof", cmd, n))
		}
		if err := b.reset(); err != nil {
			return "", err
		}
		busy := machineBusy()
		fd, err := b.floor()
		if err != nil {
			return "", err
		}
		floor = append(floor, fd)
		floorBusy = append(floorBusy, machineBusy()-busy)
		busy = machineBusy()
		d, ru, err := b.runProfiled(hostplan, 2, profile("plan"), append(append([]string{"plan"}, common...), planDir)...)
		if err != nil {
			return "", err
		}
		plan = append(plan, d)
		planBusy = append(planBusy, machineBusy()-busy)
		planCost.add(ru)
		busy = machineBusy()
		if d, ru, err = b.runProfiled(hostplan, 0, profile("apply"), append(append([]string{"apply", "--auto-approve"}, common...), planDir)...); err != nil {
			return "", err
		}
		apply = append(apply, d)
		applyBusy = append(applyBusy, machineBusy()-busy)
		applyCost.add(ru)
		if d, _, err = b.run(hostplan, 0, append(append([]string{"plan"}, common...), planDir)...); err != nil {
			return "", err
		}
		replan = append(replan, d)
	}
	f := median(floor)
	ratio := func(d time.Duration) float64 { return d.Seconds() / f.Seconds() }
	p, a, r := median(plan), median(apply), median(replan)
	perHost := func(busy []time.Duration) float64 { return float64(median(busy).Microseconds()) / 1000 / float64(n) }
	return fmt.Sprintf("%5d  %7.3fs  %7.3fs %5.2fx  %7.3fs %5.2fx  %7.3fs %5.2fx  %.1f, %.1f; %.0f MiB, %.0f MiB; %.0f, %.0f, %.0f\n",
		n, f.Seconds(), p.Seconds(), ratio(p), a.Seconds(), ratio(a), r.Seconds(), ratio(r),
		planCost.msPerHost(n), applyCost.msPerHost(n), planCost.rssMiB(), applyCost.rssMiB(),
		perHost(floorBusy), perHost(planBusy), perHost(applyBusy)), nil
}

// machineBusy is the CPU time this machine has spent on anything but waiting
// (/proc/stat: all but idle, iowait and steal), summed over its CPUs. Lab hosts, their
// sshd and commands, hostplan and the floor's ssh all run here, so its growth over a
// run is what the run cost the machine, whatever the wall time's barriers left idle.
func machineBusy() time.Duration {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(data), "\n")
	fields := strings.Fields(line)
	var busy int64
	// cpu user nice system idle iowait irq softirq steal guest guest_nice; guest time is
	// counted in user already.
	for i, f := range fields[1:min(len(fields), 9)] {
		if i == 3 || i == 4 || i == 7 {
			continue
		}
		v, _ := strconv.ParseInt(f, 10, 64)
		busy += v
	}
	// USER_HZ is 100 on every Linux the lab runs on.
	return time.Duration(busy) * 10 * time.Millisecond
}

// cost is hostplan's own CPU time (user + system, median over rounds) and peak RSS
// (the largest of the rounds).
type cost struct {
	cpu    []time.Duration
	maxRSS int64 // KiB on Linux
}

func (c *cost) add(ru *syscall.Rusage) {
	c.cpu = append(c.cpu, time.Duration(ru.Utime.Nano()+ru.Stime.Nano()))
	c.maxRSS = max(c.maxRSS, ru.Maxrss)
}

func (c *cost) msPerHost(n int) float64 {
	return float64(median(c.cpu).Microseconds()) / 1000 / float64(n)
}
func (c *cost) rssMiB() float64 { return float64(c.maxRSS) / 1024 }

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// memory plans over entries inventory hosts, pointed at the lab's hosts in turn, and
// reports hostplan's peak RSS.
func memory(entries int, hostplan, planDir string) (string, error) {
	n := min(entries, 50)
	b, err := startLab(lab.Options{Hosts: n})
	if err != nil {
		return "", err
	}
	defer b.l.Stop()
	if err := b.reset(); err != nil {
		return "", err
	}
	var inv strings.Builder
	fmt.Fprintf(&inv, "defaults {\n  user = \"root\"\n  identity_file = %q\n  known_hosts = %q\n}\n", b.l.UserKey, b.l.KnownHosts)
	for i := range entries {
		h := b.l.Hosts[i%n]
		fmt.Fprintf(&inv, "host \"m%03d\" {\n  address = %q\n  port = %d\n  groups = [\"lab\"]\n}\n", i+1, h.Address, h.Port)
	}
	path := filepath.Join(b.l.Dir, "bench-memory.hcl")
	if err := os.WriteFile(path, []byte(inv.String()), 0o644); err != nil {
		return "", err
	}
	d, ru, err := b.run(hostplan, 2, "plan", "-i", path, "--ssh-config", "none", "--parallel", "50", planDir)
	if err != nil {
		return "", err
	}
	// Maxrss is in KiB on Linux.
	return fmt.Sprintf("memory: plan over %d inventory hosts (on %d lab hosts): peak RSS %.1f MiB, %.3fs\n", entries, n, float64(ru.Maxrss)/1024, d.Seconds()), nil
}

// load times apply on n hosts whose sshd runs as a daemon with its default limits
// (MaxStartups 10:30:100, MaxSessions 10), with --parallel n and with --parallel 5.
func load(n, rounds int, hostplan, planDir string) (string, error) {
	b, err := startLab(lab.Options{Hosts: n, Daemon: true})
	if err != nil {
		return "", err
	}
	defer b.l.Stop()
	line := fmt.Sprintf("load: apply on %d sshd daemons:", n)
	for _, p := range []int{n, 5} {
		var apply []time.Duration
		for range rounds {
			if err := b.reset(); err != nil {
				return "", err
			}
			d, _, err := b.run(hostplan, 0, "apply", "--auto-approve", "-i", b.inventory, "--ssh-config", "none", "--parallel", strconv.Itoa(p), planDir)
			if err != nil {
				return "", err
			}
			apply = append(apply, d)
		}
		line += fmt.Sprintf(" --parallel %d %.3fs;", p, median(apply).Seconds())
	}
	return strings.TrimSuffix(line, ";") + "\n", nil
}
