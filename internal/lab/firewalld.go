package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// A real firewalld runs in a lab host on request (StartFirewalld), as on a CentOS-style
// forwarder: a system D-Bus of the host's own (dbus-daemon --system, socket in the
// host's private /run/dbus) and `firewalld --nofork` on it, both started inside the
// host's namespaces by the lab and killed by Stop. firewalld's configuration
// (/etc/firewalld), state (/run/firewalld) and rules (nftables, through libnftables'
// netlink socket) are the host's own: its /etc is an overlay, its /run private and
// its network namespace its own, so the real machine's firewall is never touched.
// firewall-cmd works in the host, over SSH or with Exec, as on a real machine.
// Nothing of this starts unless asked.

const (
	firewalldPath   = "/usr/sbin/firewalld"
	firewallCmdPath = "/usr/bin/firewall-cmd"
	dbusDaemonPath  = "/usr/bin/dbus-daemon"
	dbusSendPath    = "/usr/bin/dbus-send"
	firewalldLog    = "firewalld.log" // in the host's state dir: dbus-daemon and firewalld output
)

// FirewalldUnavailable says why firewalld cannot run in lab hosts ("" when it can):
// the packages firewalld and dbus are missing.
func FirewalldUnavailable() string {
	for _, p := range []struct{ path, pkg string }{
		{firewalldPath, "firewalld"}, {firewallCmdPath, "firewalld"},
		{dbusDaemonPath, "dbus"}, {dbusSendPath, "dbus"},
	} {
		if _, err := os.Stat(p.path); err != nil {
			return fmt.Sprintf("no %s (apt-get install %s)", p.path, p.pkg)
		}
	}
	return ""
}

// firewallState is the system buses and firewalld daemons of a lab's hosts
// (Lab.firewalls).
type firewallState struct {
	mu      sync.Mutex
	hooked  bool // the stop hook is registered
	stopped bool // the stop hook ran: kill whatever starts later at once
	hosts   map[*Host]*firewallHost
}

// firewallHost is one host's system bus and firewalld.
type firewallHost struct {
	bus      *hostProc // dbus-daemon: started with the first firewalld, runs until Stop
	fw       *hostProc // firewalld, nil when stopped
	starting bool      // a StartFirewalld is under way
}

// hostProc is a process started in a host; done closes when it has been waited for.
type hostProc struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error // Wait's, once done is closed
}

// running reports whether p was started and has not ended.
func (p *hostProc) running() bool {
	if p == nil {
		return false
	}
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// StartFirewalld starts firewalld in the host, as `systemctl start firewalld` would,
// and waits until `firewall-cmd --state` says "running" (about a second). The host's
// system bus (dbus-daemon --system) starts with the first firewalld and runs until
// the lab stops; as on a real machine, it starts polkitd on demand. ctx bounds the
// start only: firewalld runs until StopFirewalld or Lab.Stop. Their output goes to
// FirewalldLog.
func (h *Host) StartFirewalld(ctx context.Context) (err error) {
	if r := FirewalldUnavailable(); r != "" {
		return fmt.Errorf("lab: %s: firewalld unavailable: %s", h.Name, r)
	}
	l := h.lab
	s := &l.firewalls
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return errStopped
	}
	if !s.hooked {
		if err := l.onStop(l.stopFirewalls); err != nil {
			s.mu.Unlock()
			return err
		}
		s.hooked = true
	}
	if s.hosts == nil {
		s.hosts = map[*Host]*firewallHost{}
	}
	fh := s.hosts[h]
	if fh == nil {
		fh = &firewallHost{}
		s.hosts[h] = fh
	}
	if fh.starting || fh.fw.running() {
		s.mu.Unlock()
		return fmt.Errorf("lab: %s: firewalld is already running", h.Name)
	}
	fh.starting = true
	bus := fh.bus
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		fh.starting = false
		s.mu.Unlock()
		if err != nil {
			err = fmt.Errorf("lab: %s: start firewalld: %w\n%s", h.Name, err, lastLines(h.FirewalldLog(), 20))
		}
	}()
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
	}
	logf, err := os.OpenFile(filepath.Join(h.dir, firewalldLog), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	if !bus.running() {
		if bus, err = h.startSystemBus(ctx, logf, &fh.bus); err != nil {
			return err
		}
	}

	cmd := exec.Command(firewalldPath, "--nofork", "--nopid", "--log-target=console")
	cmd.Env, cmd.Stdout, cmd.Stderr = hostEnv, logf, logf
	if err := h.startIn(cmd, false); err != nil {
		return fmt.Errorf("firewalld: %w", err)
	}
	fw := s.add(cmd, &fh.fw)
	// firewall-cmd is Python: ~0.3s a call, against ~20ms for dbus-send. Ask firewalld's
	// state with dbus-send until it is RUNNING, then firewall-cmd once.
	check, final := dbusSendPath+" --system --print-reply --dest=org.fedoraproject.FirewallD1 "+
		"/org/fedoraproject/FirewallD1 org.freedesktop.DBus.Properties.Get "+
		"string:org.fedoraproject.FirewallD1 string:state", false
	for {
		probe := check
		if final {
			probe = firewallCmdPath + " --state"
		}
		out, perr := h.Exec(ctx, probe)
		switch {
		case final && perr == nil && strings.TrimSpace(string(out)) == "running":
			return nil
		case !final && perr == nil && strings.Contains(string(out), `"RUNNING"`):
			final = true
			continue
		}
		final = false
		select {
		case <-fw.done:
			return fmt.Errorf("firewalld: %s", exitText(fw.err))
		case <-bus.done:
			fw.kill(syscall.SIGKILL, 0)
			return fmt.Errorf("dbus-daemon: %s", exitText(bus.err))
		case <-ctx.Done():
			fw.kill(syscall.SIGKILL, 0)
			return fmt.Errorf("waiting for firewall-cmd --state to say running: %v (last: %s: %s)", ctx.Err(), probe, strings.TrimSpace(string(out)))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// startSystemBus starts `dbus-daemon --system` in the host (its socket in the host's
// private /run/dbus) and waits until it listens.
func (h *Host) startSystemBus(ctx context.Context, logf *os.File, slot **hostProc) (*hostProc, error) {
	// --print-address writes the address once it listens: then it is ready.
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer pr.Close()
	cmd := exec.Command("/bin/sh", "-c", "mkdir -p /run/dbus && rm -f /run/dbus/system_bus_socket && exec "+
		dbusDaemonPath+" --system --nofork --nopidfile --nosyslog --print-address=1")
	cmd.Env, cmd.Stdout, cmd.Stderr = hostEnv, pw, logf
	err = h.startIn(cmd, false)
	pw.Close()
	if err != nil {
		return nil, fmt.Errorf("dbus-daemon: %w", err)
	}
	p := h.lab.firewalls.add(cmd, slot)
	if dl, ok := ctx.Deadline(); ok {
		_ = pr.SetReadDeadline(dl)
	}
	var addr []byte
	buf := make([]byte, 256)
	for !bytes.Contains(addr, []byte("\n")) {
		n, err := pr.Read(buf)
		addr = append(addr, buf[:n]...)
		if err != nil {
			p.kill(syscall.SIGKILL, 0)
			if errors.Is(err, io.EOF) { // it exited
				return nil, fmt.Errorf("dbus-daemon: %s", exitText(p.err))
			}
			return nil, fmt.Errorf("dbus-daemon: waiting for its address: %w", err)
		}
	}
	return p, nil
}

// add waits for cmd (started) in the background and records it in *slot, where the
// stop hook finds it; once the stop hook ran, it kills cmd at once.
func (s *firewallState) add(cmd *exec.Cmd, slot **hostProc) *hostProc {
	p := &hostProc{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	s.mu.Lock()
	*slot = p
	stopped := s.stopped
	s.mu.Unlock()
	if stopped {
		p.kill(syscall.SIGKILL, 0)
	}
	return p
}

// kill sends sig, then SIGKILL after grace, and waits for the process.
func (p *hostProc) kill(sig syscall.Signal, grace time.Duration) {
	if p == nil {
		return
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
		return
	case <-time.After(grace):
	}
	_ = p.cmd.Process.Kill()
	<-p.done
}

// StopFirewalld stops the host's firewalld as `systemctl stop firewalld` would
// (SIGTERM: with firewalld's default CleanupOnExit=yes it removes its rules, so the
// host is left without a firewall). The permanent configuration stays, and so does
// the system bus; StartFirewalld starts firewalld again.
func (h *Host) StopFirewalld() error {
	s := &h.lab.firewalls
	s.mu.Lock()
	var fw *hostProc
	if fh := s.hosts[h]; fh != nil && !fh.starting {
		fw, fh.fw = fh.fw, nil
	}
	s.mu.Unlock()
	if !fw.running() {
		return fmt.Errorf("lab: %s: firewalld is not running", h.Name)
	}
	fw.kill(syscall.SIGTERM, 10*time.Second)
	return nil
}

// FirewalldRunning reports whether firewalld, started by StartFirewalld, runs in the
// host (it may not be ready yet while StartFirewalld is under way).
func (h *Host) FirewalldRunning() bool {
	s := &h.lab.firewalls
	s.mu.Lock()
	defer s.mu.Unlock()
	fh := s.hosts[h]
	return fh != nil && fh.fw.running()
}

// FirewalldLog is what the host's dbus-daemon and firewalld printed so far (all
// their starts; gone once the lab stopped).
func (h *Host) FirewalldLog() string {
	b, _ := os.ReadFile(filepath.Join(h.dir, firewalldLog))
	return string(b)
}

// stopFirewalls kills every host's firewalld and dbus-daemon (a stop hook; what the
// bus started, polkitd, dies with the hosts' other processes). The lab is going away:
// there is no point in letting firewalld clean up.
func (l *Lab) stopFirewalls() error {
	s := &l.firewalls
	s.mu.Lock()
	s.stopped = true
	var procs []*hostProc
	for _, fh := range s.hosts {
		procs = append(procs, fh.fw, fh.bus)
	}
	s.mu.Unlock()
	for _, p := range procs {
		if p != nil {
			_ = p.cmd.Process.Kill()
		}
	}
	for _, p := range procs {
		if p != nil {
			<-p.done
		}
	}
	return nil
}

// StartFirewalldForTest starts firewalld in h for a test (StartFirewalld), failing
// the test when it cannot start. When firewalld is not installed it skips the test,
// or fails it with HOSTPLAN_LAB_REQUIRED=1. When the test failed, the host's firewalld
// log is logged before the lab stops (call it after ForTest).
func StartFirewalldForTest(t testing.TB, h *Host) {
	t.Helper()
	if r := FirewalldUnavailable(); r != "" {
		if os.Getenv("HOSTPLAN_LAB_REQUIRED") == "1" {
			t.Fatal("firewalld unavailable and HOSTPLAN_LAB_REQUIRED=1: " + r)
		}
		t.Skip("firewalld unavailable: " + r)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := h.StartFirewalld(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("firewalld log of lab host %s:\n%s", h.Name, h.FirewalldLog())
		}
	})
}
