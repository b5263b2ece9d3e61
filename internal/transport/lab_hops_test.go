package transport

// Lab tests of ProxyCommand and ProxyJump chains, resolved from an ssh_config file by
// the inventory as a run resolves them, and cross-checked against the OpenSSH client
// reading the same file.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/hostplan/hostplan/internal/lab"
	"github.com/hostplan/hostplan/inventory"
)

// startHostSSHD starts a second sshd inside h's namespaces, listening on listen (only
// h, or hosts linked to it, can reach those addresses), logging logins (LogLevel
// INFO) to the returned path inside h.
func startHostSSHD(t *testing.T, l *lab.Lab, h *lab.Host, name string, listen ...string) string {
	t.Helper()
	pid := "/run/hostplan-" + name + "-sshd.pid"
	log := "/tmp/hostplan-" + name + "-sshd.log"
	cmd := fmt.Sprintf("/usr/sbin/sshd -f %s -o PidFile=%s -o LogLevel=INFO -E %s",
		filepath.Join(l.Dir, h.Name, "sshd_config"), pid, log)
	for _, a := range listen {
		cmd += " -o ListenAddress=" + a
	}
	hostExec(t, h, cmd)
	t.Cleanup(func() { h.Exec(context.Background(), "kill $(cat "+pid+")") })
	// sshd writes its pid file once it listens; a dial before that was refused (CI).
	hostExec(t, h, "i=0; until [ -s "+pid+" ]; do i=$((i+1)); [ $i -le 100 ] || exit 1; sleep 0.1; done")
	return log
}

// knownHostsFile writes a known_hosts file holding h's keys under each of addrs
// ("host:port") only.
func knownHostsFile(t *testing.T, dir, name string, h *lab.Host, addrs ...string) string {
	t.Helper()
	var b strings.Builder
	for _, a := range addrs {
		for _, k := range h.HostKeys() {
			b.WriteString(knownhosts.Line([]string{a}, k) + "\n")
		}
	}
	return writeTestFile(t, dir, name, b.String())
}

func writeTestFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// resolveHosts resolves each host of an HCL inventory against sshConfig, as a run does.
func resolveHosts(t *testing.T, dir, hcl, sshConfig string) map[string]Target {
	t.Helper()
	invFile := writeTestFile(t, dir, "inventory.hcl", hcl)
	inv, diags := inventory.Load([]string{invFile})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	opts := inventory.ResolveOptions{SSHConfig: writeTestFile(t, dir, "ssh_config", sshConfig), Home: dir, LocalUser: "root"}
	out := map[string]Target{}
	for _, h := range inv.Hosts {
		c, err := inv.Resolve(h, opts)
		if err != nil {
			t.Fatalf("resolve %s: %v", h.Name, err)
		}
		out[h.Name] = targetOf(h.Name, c)
	}
	if len(inv.Warnings) > 0 {
		t.Errorf("inventory warnings: %q", inv.Warnings)
	}
	return out
}

// targetOf is what the engine dials for resolved settings (engine.transportTarget).
func targetOf(name string, c inventory.ConnSettings) Target {
	t := Target{Name: name, Address: c.Address, Port: c.Port, User: c.User,
		IdentityFiles: c.IdentityFile, KnownHosts: c.KnownHosts, Bastion: c.Bastion,
		ProxyCommand: c.ProxyCommand}
	for _, j := range c.Jumps {
		t.Jumps = append(t.Jumps, targetOf(j.Address, j))
	}
	return t
}

// opensshVia runs the OpenSSH client with only the given config file (which it also
// passes to the ssh it starts for each ProxyJump hop).
func opensshVia(t *testing.T, dir, config, host, command string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ssh", "-F", config, host, command)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "SHELL=/bin/sh"}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// A host reachable only through a ProxyCommand: an sshd inside the lab host's
// network namespace on 127.0.0.1:2200, which this machine cannot reach; the command
// is OpenSSH's `ssh -W %h:%p` through the lab host, as ssh_config files have it.
func TestLabProxyCommand(t *testing.T) {
	l := startLab(t, 1)
	h := l.Hosts[0]
	innerLog := startHostSSHD(t, l, h, "proxycmd", "127.0.0.1:2200")
	dir := t.TempDir()
	kh := knownHostsFile(t, dir, "known_hosts", h, "127.0.0.1:2200")
	pidFile, tokFile := filepath.Join(dir, "proxy.pid"), filepath.Join(dir, "tokens")
	sshW := func(port int) string {
		return fmt.Sprintf("ssh -F /dev/null -o BatchMode=yes -o IdentitiesOnly=yes -i %s -o UserKnownHostsFile=%s "+
			"-o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes -o ConnectTimeout=10 -p %d -W %%h:%%p labuser@%s",
			l.UserKey, l.KnownHosts, port, h.Address)
	}
	config := fmt.Sprintf(`Host inner refused
  HostName 127.0.0.1
  Port 2200
  User labnosudo
  IdentityFile %s
  UserKnownHostsFile %s
Host inner
  ProxyCommand sh -c 'echo $$ > %s; echo "%%n %%h %%p %%r" > %s; exec %s'
Host refused
  ProxyCommand %s
`, l.UserKey, kh, pidFile, tokFile, sshW(h.Port), sshW(1))
	targets := resolveHosts(t, dir, `
host "inner" {}
host "refused" {}
host "inner-direct" {
  address = "inner"
  bastion = ""
}
`, config)
	d := newTestDialer(t, DialerOptions{})
	ctx := context.Background()

	c, err := d.Dial(ctx, targets["inner"])
	if err != nil {
		t.Fatal(err)
	}
	if res, err := c.Run(ctx, "id -un", nil); err != nil || string(res.Stdout) != "labnosudo\n" {
		t.Errorf("id -un through the ProxyCommand: %+v %v", res, err)
	}
	if err := c.WriteFile(ctx, "/home/labnosudo/via-proxy", []byte("ok"), FileAttrs{UID: -1, GID: -1}); err != nil {
		t.Errorf("SFTP through the ProxyCommand: %v", err)
	}
	if got, _ := os.ReadFile(tokFile); string(got) != "inner 127.0.0.1 2200 labnosudo\n" {
		t.Errorf("the ProxyCommand saw %%n %%h %%p %%r = %q", got)
	}
	if n := h.Connections(); n != 1 {
		t.Errorf("the lab host accepted %d connections, want 1 (ssh -W)", n)
	}
	if log, _ := h.ReadFile(innerLog); !strings.Contains(string(log), "Accepted publickey for labnosudo from 127.0.0.1") {
		t.Errorf("the inner sshd logged no login from inside the host:\n%s", log)
	}
	c.Close()
	pidGone(t, pidFile) // the ssh -W process ends with the connection

	// OpenSSH reads the same file, lands on the same host as the same user, and
	// expands the tokens the same way.
	os.Remove(tokFile)
	if out, err := opensshVia(t, dir, filepath.Join(dir, "ssh_config"), "inner", "id -un; cat via-proxy"); err != nil || out != "labnosudo\nok" {
		t.Errorf("OpenSSH with the same ssh_config: %q %v", out, err)
	}
	if got, _ := os.ReadFile(tokFile); string(got) != "inner 127.0.0.1 2200 labnosudo\n" {
		t.Errorf("under OpenSSH the ProxyCommand saw %%n %%h %%p %%r = %q", got)
	}

	// An unknown key of a host behind a ProxyCommand: refused, saying the suggested
	// scan would not go through the command.
	unknownKey := targets["inner"]
	unknownKey.KnownHosts = writeTestFile(t, dir, "empty_known_hosts", "")
	_, err = d.Dial(ctx, unknownKey)
	var unknown *UnknownHostKeyError
	if !errors.As(err, &unknown) || !strings.Contains(err.Error(), "inner is reached through its ProxyCommand, which ssh-keyscan does not use") {
		t.Errorf("unknown key behind a ProxyCommand: %v", err)
	}

	// Not reachable without it.
	if _, err := d.Dial(ctx, targets["inner-direct"]); err == nil {
		t.Error("the inner sshd is reachable directly: the test proves nothing")
	}

	// A ProxyCommand that fails says why, quickly: ssh's own message and status.
	start := time.Now()
	_, err = d.Dial(ctx, targets["refused"])
	var pe *ProxyCommandError
	if !errors.As(err, &pe) || !strings.Contains(err.Error(), "port 1: Connection refused") || !strings.Contains(err.Error(), "exit status 255") {
		t.Errorf("refused: %v", err)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("refused: failed after %v", el)
	}
}

// A ProxyCommand that dies while it carries the connection fails what runs on it,
// instead of leaving it hanging.
func TestLabProxyCommandDies(t *testing.T) {
	l := startLab(t, 1)
	h := l.Hosts[0]
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "proxy.pid")
	// A tiny netcat: bash's /dev/tcp inside the lab host's network namespace.
	relay := fmt.Sprintf(`ip netns exec %s bash -c 'echo $$ > %s; exec 3<>/dev/tcp/127.0.0.1/22 || exit 1; cat <&3 & exec cat >&3'`, h.NetNS, pidFile)
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs ip(8)")
	}
	target := labTarget(l, h, "labuser")
	target.ProxyCommand = relay
	// The lab host's own sshd listens on 127.0.0.1:22 inside it only with Daemon; start one.
	startHostSSHD(t, l, h, "relay", "127.0.0.1:22")
	c := mustDial(t, newTestDialer(t, DialerOptions{}), target)
	ctx := context.Background()
	if res, err := c.Run(ctx, "id -un", nil); err != nil || string(res.Stdout) != "labuser\n" {
		t.Fatalf("through the relay: %+v %v", res, err)
	}
	data, _ := os.ReadFile(pidFile)
	pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	if pid <= 0 {
		t.Fatalf("no pid: %q", data)
	}
	done := make(chan error, 1)
	go func() {
		_, err := c.Run(ctx, "sleep 30", nil)
		done <- err
	}()
	time.Sleep(300 * time.Millisecond)
	syscall.Kill(-pid, syscall.SIGKILL) // the relay's group: bash and its cat
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "connection lost: the ProxyCommand") || !strings.Contains(err.Error(), "signal: killed") {
			t.Errorf("a command on a connection whose ProxyCommand died: %v", err)
		}
		t.Logf("after the ProxyCommand died: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("a command still hangs 10 s after its ProxyCommand died")
	}
}

// Two hops: the target (an sshd on 127.0.0.1:2200 inside lab host h2) is reachable
// only from h2; h2's second sshd listens only on its link to h1, so only h1 reaches
// it; h1 is the lab host this machine reaches. ssh_config's ProxyJump hop1,hop2 names
// both, and each hop logs in as its own user with its own known_hosts file.
func TestLabJumpChain(t *testing.T) {
	l := startLab(t, 2)
	h1, h2 := l.Hosts[0], l.Hosts[1]
	link, err := l.Link(h1, h2)
	if err != nil {
		t.Fatal(err)
	}
	hop2Addr := link.Addr(h2).String()
	h2Log := startHostSSHD(t, l, h2, "chain", hop2Addr+":22", "127.0.0.1:2200")
	dir := t.TempDir()
	kh1 := knownHostsFile(t, dir, "kh1", h1, fmt.Sprintf("%s:%d", h1.Address, h1.Port))
	kh2 := knownHostsFile(t, dir, "kh2", h2, hop2Addr+":22")
	khT := knownHostsFile(t, dir, "khT", h2, "127.0.0.1:2200")
	config := fmt.Sprintf(`Host *
  BatchMode yes
  IdentitiesOnly yes
  IdentityFile %s
  GlobalKnownHostsFile /dev/null
  StrictHostKeyChecking yes
  ConnectTimeout 10
Host target only-hop1
  HostName 127.0.0.1
  Port 2200
  User labnosudo
  UserKnownHostsFile %s
Host target
  ProxyJump hop1,hop2
Host only-hop1
  ProxyJump hop1
Host hop1
  HostName %s
  Port %d
  User labuser
  UserKnownHostsFile %s
Host hop2
  HostName %s
  User root
  UserKnownHostsFile %s
`, l.UserKey, khT, h1.Address, h1.Port, kh1, hop2Addr, kh2)
	targets := resolveHosts(t, dir, "host \"target\" {}\nhost \"only-hop1\" {}\n", config)
	d := newTestDialer(t, DialerOptions{})
	ctx := context.Background()

	c := mustDial(t, d, targets["target"])
	res, err := c.Run(ctx, "id -un; hostname", nil)
	if err != nil || string(res.Stdout) != "labnosudo\n"+h2.Name+"\n" {
		t.Errorf("through hop1,hop2: %+v %v", res, err)
	}
	log, _ := h2.ReadFile(h2Log)
	for _, want := range []string{
		"Accepted publickey for root from " + link.Addr(h1).String(), // hop2, from h1
		"Accepted publickey for labnosudo from 127.0.0.1",            // the target, from hop2
	} {
		if !strings.Contains(string(log), want) {
			t.Errorf("h2's sshd did not log %q:\n%s", want, log)
		}
	}
	if n := h1.Connections(); n != 1 {
		t.Errorf("hop1 accepted %d connections, want 1", n)
	}
	// A second target through the same chain shares both hops' connections.
	mustDial(t, d, targets["target"])
	if n := h1.Connections(); n != 1 {
		t.Errorf("after a second target hop1 accepted %d connections, want 1", n)
	}
	if out, err := opensshVia(t, dir, filepath.Join(dir, "ssh_config"), "target", "id -un; hostname"); err != nil || out != "labnosudo\n"+h2.Name+"\n" {
		t.Errorf("OpenSSH with the same ssh_config: %q %v", out, err)
	}

	// Through hop1 alone the target is out of reach.
	if _, err := newTestDialer(t, DialerOptions{}).Dial(ctx, targets["only-hop1"]); err == nil {
		t.Error("the target is reachable through hop1 alone: the test proves nothing")
	}
	// A hop's own known_hosts is what its key is checked against, and the error names
	// the hop (and how to scan it: through hop1).
	os.WriteFile(kh2, nil, 0o600)
	_, err = newTestDialer(t, DialerOptions{}).Dial(ctx, targets["target"])
	var unknown *UnknownHostKeyError
	if !errors.As(err, &unknown) || !strings.Contains(err.Error(), "jump host 2 of 2 ("+hop2Addr+")") ||
		unknown.Via != fmt.Sprintf("ssh://labuser@%s:%d", h1.Address, h1.Port) || unknown.KnownHosts != kh2 {
		t.Errorf("unknown hop2: %v (%+v)", err, unknown)
	}
}
