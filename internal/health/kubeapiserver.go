// Package health holds the gates a rolling apply waits on before it moves to the next
// batch of hosts. A gate reads the host over the run's own connection: processes through
// a command, HTTPS endpoints through a TCP channel of that connection.
package health

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hostplan/hostplan/internal/kubeyaml"
	"github.com/hostplan/hostplan/internal/transport"
)

// KubeAPIServer is the gate of a control-plane node: after its static pod manifest
// changed, a kube-apiserver process running exactly the manifest's command must appear
// (a new one, not the old process still answering), and its /livez and /readyz must
// answer 200 on the node's own address.
type KubeAPIServer struct {
	Manifest   string // the static pod manifest kubelet runs
	Container  string
	Address    string // where the API server listens on the node, seen from the node
	Port       int    // 0: the manifest's --secure-port, else 6443
	CAFile     string // on the node: the CA that signed the serving certificate
	ServerName string // a name in the serving certificate
	Timeout    time.Duration
	// Poll is the pause between checks.
	Poll time.Duration
}

// Defaults are kubeadm's layout.
func (g *KubeAPIServer) withDefaults() KubeAPIServer {
	out := *g
	if out.Manifest == "" {
		out.Manifest = "/etc/kubernetes/manifests/kube-apiserver.yaml"
	}
	if out.Container == "" {
		out.Container = "kube-apiserver"
	}
	if out.Address == "" {
		out.Address = "127.0.0.1"
	}
	if out.CAFile == "" {
		out.CAFile = "/etc/kubernetes/pki/ca.crt"
	}
	if out.ServerName == "" {
		out.ServerName = "kubernetes"
	}
	if out.Timeout == 0 {
		out.Timeout = 5 * time.Minute
	}
	if out.Poll == 0 {
		out.Poll = time.Second
	}
	return out
}

// ManifestPath is the manifest whose change must restart the server.
func (g *KubeAPIServer) ManifestPath() string { return g.withDefaults().Manifest }

// Describe says what the gate waits for, for plans.
func (g *KubeAPIServer) Describe() string {
	d := g.withDefaults()
	at := d.Address + " at its --secure-port"
	if d.Port != 0 {
		at = net.JoinHostPort(d.Address, strconv.Itoa(d.Port))
	}
	return fmt.Sprintf("kube-apiserver of %s restarted with the new flags, /livez and /readyz OK on %s (timeout %s)", d.Manifest, at, d.Timeout)
}

// Process is one running kube-apiserver.
type Process struct {
	PID   int
	Start uint64 // start time in clock ticks since boot: a reused PID has another
	Argv  []string
}

// Snapshot is the node's kube-apiserver processes and container logs before a change.
type Snapshot struct {
	Processes []Process
	Logs      []string
}

// Snapshot checks that the node's API server is healthy before a change (hostplan does
// not change a control-plane node that is already down: it could not tell its own
// failure from the old one) and records its processes, so Wait can tell a restarted
// server from the old one still answering.
func (g *KubeAPIServer) Snapshot(ctx context.Context, conn transport.Conn) (*Snapshot, error) {
	d := g.withDefaults()
	if err := d.check(ctx, conn, nil, nil, &Result{}); err != nil {
		return nil, fmt.Errorf("not healthy before the change, so it is left alone: %w", err)
	}
	seen, err := d.look(ctx, conn)
	if err != nil {
		return nil, err
	}
	return &Snapshot{Processes: seen.processes, Logs: seen.logs}, nil
}

// Result is what a wait saw.
type Result struct {
	Restarted bool          // a new process with the manifest's command was seen
	Waited    time.Duration // until healthy, or until the gate gave up
}

// Wait waits until the node's API server runs the manifest now on disk and is healthy.
// With before set, the process must also be a new one (the change must restart it), and
// a new server that exits ends the wait at once (a *CrashError): a flag it refuses
// would otherwise keep the master down for the whole timeout.
func (g *KubeAPIServer) Wait(ctx context.Context, conn transport.Conn, before *Snapshot) (*Result, error) {
	d := g.withDefaults()
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, d.Timeout)
	defer cancel()
	res := &Result{}
	var watch *crashWatch
	if before != nil {
		watch = newCrashWatch(before.Logs)
	}
	var last error
	for {
		err := d.check(ctx, conn, before, watch, res)
		var crash *CrashError
		if err == nil || errors.As(err, &crash) {
			res.Waited = time.Since(start)
			if err != nil {
				return res, &NotHealthyError{After: res.Waited.Round(time.Second), Err: err}
			}
			return res, nil
		}
		// A check cut short by the deadline says nothing about the server: report
		// what the last complete check saw.
		if ctx.Err() == nil || last == nil {
			last = err
		}
		select {
		case <-ctx.Done():
			res.Waited = time.Since(start)
			return res, &NotHealthyError{After: d.Timeout, Err: last}
		case <-time.After(d.Poll):
		}
	}
}

// NotHealthyError is a gate that gave up. Its text is made when it is printed, so that
// Withhold can still drop what the server said.
type NotHealthyError struct {
	After time.Duration
	Err   error
}

func (e *NotHealthyError) Error() string {
	return fmt.Sprintf("not healthy after %s: %v", e.After, e.Err)
}
func (e *NotHealthyError) Unwrap() error { return e.Err }

// check is one look at the node. Errors say what is still missing.
func (g *KubeAPIServer) check(ctx context.Context, conn transport.Conn, before *Snapshot, watch *crashWatch, res *Result) error {
	c, err := g.container(ctx, conn)
	if err != nil {
		return err
	}
	running, err := g.runningProcess(ctx, conn, c, before, watch)
	if err != nil {
		return err
	}
	if before != nil {
		res.Restarted = true
	}
	port := g.securePort(c)
	client, err := g.client(ctx, conn)
	if err != nil {
		return err
	}
	for _, path := range []string{"/livez", "/readyz"} {
		if err := get(ctx, client, fmt.Sprintf("https://%s%s", net.JoinHostPort(g.Address, strconv.Itoa(port)), path)); err != nil {
			return fmt.Errorf("kube-apiserver (pid %d): %w", running.PID, err)
		}
	}
	return nil
}

// container is the API server's container as the manifest now on disk describes it.
func (g *KubeAPIServer) container(ctx context.Context, conn transport.Conn) (*kubeyaml.Container, error) {
	_, manifest, err := transport.ReadFollowing(ctx, conn, g.Manifest)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", g.Manifest, err)
	}
	c, err := kubeyaml.ParseContainer(manifest, g.Container)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", g.Manifest, err)
	}
	return c, nil
}

// runningProcess finds the process that runs exactly c's command. With before set, a
// process seen then does not count: it is the old server still answering; with watch
// set, a new server that keeps exiting is a *CrashError.
func (g *KubeAPIServer) runningProcess(ctx context.Context, conn transport.Conn, c *kubeyaml.Container, before *Snapshot, watch *crashWatch) (*Process, error) {
	want := append(slices.Clone(c.Command), c.Args...)
	seen, err := g.look(ctx, conn)
	if err != nil {
		return nil, err
	}
	ps := seen.processes
	var running *Process
	for i := range ps {
		if slices.Equal(ps[i].Argv, want) {
			running = &ps[i]
			break
		}
	}
	isOld := func(p Process) bool { return p.PID == running.PID && p.Start == running.Start }
	if watch != nil {
		if starts := watch.crashed(seen.logs, running != nil && !slices.ContainsFunc(before.Processes, isOld)); starts != nil {
			return nil, crashError(ctx, conn, starts)
		}
	}
	switch {
	case running == nil && len(ps) == 0:
		return nil, errors.New("no kube-apiserver process is running (is it crash-looping? see its container log)")
	case running == nil:
		return nil, fmt.Errorf("kube-apiserver (pid %d) still runs with other flags than %s", ps[0].PID, g.Manifest)
	case before != nil && slices.ContainsFunc(before.Processes, isOld):
		return nil, fmt.Errorf("kube-apiserver (pid %d) has not restarted yet", running.PID)
	}
	return running, nil
}

// securePort is Port, else the container's --secure-port, else the API server's
// default.
func (g *KubeAPIServer) securePort(c *kubeyaml.Container) int {
	if g.Port != 0 {
		return g.Port
	}
	port := 6443
	if flags, err := c.Flags(); err == nil {
		for _, f := range flags {
			if f.Name == "secure-port" {
				if p, err := strconv.Atoi(f.Value); err == nil {
					port = p
				}
			}
		}
	}
	return port
}

// client speaks HTTPS to the node through conn, trusting only the cluster CA read on
// the node.
func (g *KubeAPIServer) client(ctx context.Context, conn transport.Conn) (*http.Client, error) {
	_, ca, err := transport.ReadFollowing(ctx, conn, g.CAFile)
	if err != nil {
		return nil, fmt.Errorf("read the cluster CA %s: %w", g.CAFile, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return nil, fmt.Errorf("%s holds no PEM certificate", g.CAFile)
	}
	return &http.Client{
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
				return conn.DialTCP(ctx, addr)
			},
			TLSClientConfig:   &tls.Config{RootCAs: pool, ServerName: g.ServerName},
			DisableKeepAlives: true,
		},
		Timeout: 10 * time.Second,
	}, nil
}

func get(ctx context.Context, client *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, failedChecks(body))
	}
	return nil
}

// failedChecks keeps the "[-]etcd failed" lines of a /readyz answer: the rest is noise.
func failedChecks(body []byte) string {
	var out []string
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, "[-]") {
			out = append(out, line)
		}
	}
	if len(out) == 0 {
		return strings.TrimSpace(string(body))
	}
	return strings.Join(out, "; ")
}

// processScript prints one line per kube-apiserver process in the node's own network
// namespace (kubeadm's API server runs with hostNetwork): pid, start time, then argv
// separated by 0x1f. The network namespace check keeps out API servers of other nodes
// that share this kernel (nested or namespace-based hosts).
const processScript = `self=$(readlink /proc/self/ns/net)
for d in /proc/[0-9]*; do
  [ "$(cat "$d/comm" 2>/dev/null)" = kube-apiserver ] || continue
  [ "$(readlink "$d/ns/net" 2>/dev/null)" = "$self" ] || continue
  st=$(cut -d' ' -f22 "$d/stat" 2>/dev/null) || continue
  args=$(tr '\0' '\037' < "$d/cmdline" 2>/dev/null) || continue
  printf '%s %s %s\n' "${d#/proc/}" "$st" "$args"
done
`

// sight is what one look at the node finds: its kube-apiserver processes and the
// container logs of the API server's starts, newest first.
type sight struct {
	processes []Process
	logs      []string
}

// look lists processes and container logs in one command.
func (g *KubeAPIServer) look(ctx context.Context, conn transport.Conn) (*sight, error) {
	res, err := conn.Run(ctx, processScript+logListScript(g.Container), nil)
	if err != nil {
		return nil, fmt.Errorf("list kube-apiserver processes: %w", err)
	}
	if res.ExitCode != 0 {
		return nil, fmt.Errorf("list kube-apiserver processes: exit %d: %s", res.ExitCode, strings.TrimSpace(string(res.Stderr)))
	}
	out := string(res.Stdout)
	s := &sight{processes: parseProcesses(out)}
	for _, line := range strings.Split(out, "\n") {
		if f, ok := strings.CutPrefix(line, "log "); ok {
			s.logs = append(s.logs, f)
		}
	}
	return s, nil
}

func parseProcesses(out string) []Process {
	var ps []Process
	for _, line := range strings.Split(out, "\n") {
		f := strings.SplitN(line, " ", 3)
		if len(f) != 3 {
			continue
		}
		pid, err1 := strconv.Atoi(f[0])
		start, err2 := strconv.ParseUint(f[1], 10, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		argv := strings.Split(strings.TrimSuffix(f[2], "\x1f"), "\x1f")
		ps = append(ps, Process{PID: pid, Start: start, Argv: argv})
	}
	return ps
}
