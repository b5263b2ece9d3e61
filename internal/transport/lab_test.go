package transport

// Integration tests against real OpenSSH lab hosts (internal/lab). They skip, with the
// reason, where labs cannot run (not root, no namespaces, no sshd).

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/hostplan/hostplan/internal/lab"
)

func startLab(t *testing.T, hosts int) *lab.Lab {
	t.Helper()
	t.Parallel()
	return lab.ForTest(t, lab.Options{Hosts: hosts})
}

func labTarget(l *lab.Lab, h *lab.Host, user string) Target {
	return Target{Name: h.Name, Address: h.Address, Port: h.Port, User: user,
		IdentityFiles: []string{l.UserKey}, KnownHosts: l.KnownHosts}
}

// sudoTarget is labTarget through sudo (become root).
func sudoTarget(l *lab.Lab, h *lab.Host, user string) Target {
	t := labTarget(l, h, user)
	t.Become = true
	return t
}

// loginCase is one way hostplan logs in to a lab host and acts as root.
type loginCase struct {
	name   string
	target Target
	opts   DialerOptions
}

// loginCases are the ways to act as root on lab host h: logged in as root, through
// sudo, and through sudo with a password.
func loginCases(l *lab.Lab, h *lab.Host) []loginCase {
	return []loginCase{
		{"root", labTarget(l, h, "root"), DialerOptions{}},
		{"sudo", sudoTarget(l, h, "labuser"), DialerOptions{}},
		{"sudo with a password", sudoTarget(l, h, lab.PasswordSudoUser),
			DialerOptions{BecomePassword: func() ([]byte, error) { return []byte(lab.SudoPassword), nil }}},
	}
}

// newTestDialer returns a Dialer that never uses the developer's ssh-agent (without
// t.Setenv, so lab tests can run in parallel).
func newTestDialer(t *testing.T, opts DialerOptions) *Dialer {
	d := NewDialer(opts)
	d.agentOnce.Do(func() {}) // no agent
	t.Cleanup(func() { d.Close() })
	return d
}

func mustDial(t *testing.T, d *Dialer, target Target) Conn {
	t.Helper()
	c, err := d.Dial(context.Background(), target)
	if err != nil {
		t.Fatalf("dial %s: %v", target.Name, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func hostExec(t *testing.T, h *lab.Host, cmd string) string {
	t.Helper()
	out, err := h.Exec(context.Background(), cmd)
	if err != nil {
		t.Fatalf("%s: %s: %v\n%s", h.Name, cmd, err, out)
	}
	return string(out)
}

func hostList(t *testing.T, h *lab.Host, dir string) func() []string {
	return func() []string {
		return strings.Fields(hostExec(t, h, "ls -A "+ShellQuote(dir)))
	}
}

func TestLabRunAndFiles(t *testing.T) {
	l := startLab(t, 1)
	h := l.Hosts[0]
	hostExec(t, h, "mkdir -p /srv/t && chown labuser:labuser /srv/t")
	d := newTestDialer(t, DialerOptions{})
	ctx := context.Background()

	start := time.Now()
	c := mustDial(t, d, labTarget(l, h, "labuser"))
	dialed := time.Since(start)
	res, err := c.Run(ctx, "id -un", nil)
	if err != nil || string(res.Stdout) != "labuser\n" {
		t.Fatalf("id -un: %+v %v", res, err)
	}
	t.Logf("timing: dial %v, dial + first command %v", dialed, time.Since(start))

	testRun(t, c)
	testFiles(t, c, "/srv/t")
	noTempFiles(t, hostList(t, h, "/srv/t"))

	// The host sees what we wrote: content, mode, owner.
	big := bytes.Repeat([]byte("hostplan"), 1<<17) // 1 MiB
	start = time.Now()
	if err := c.WriteFile(ctx, "/srv/t/big", big, FileAttrs{Mode: 0o640, UID: -1, GID: -1}); err != nil {
		t.Fatal(err)
	}
	t.Logf("timing: 1 MiB WriteFile %v", time.Since(start))
	if got, err := h.ReadFile("/srv/t/big"); err != nil || !bytes.Equal(got, big) {
		t.Errorf("host content: %d bytes %v", len(got), err)
	}
	if got := hostExec(t, h, "stat -c %U:%G:%a /srv/t/big"); got != "labuser:labuser:640\n" {
		t.Errorf("host stat: %q", got)
	}
	// Overwriting an existing file (plain SFTP rename fails on OpenSSH), twice.
	for i := 0; i < 2; i++ {
		data := []byte(fmt.Sprintf("v%d\n", i))
		if err := c.WriteFile(ctx, "/srv/t/big", data, FileAttrs{UID: -1, GID: -1}); err != nil {
			t.Fatal(err)
		}
		if got, _ := h.ReadFile("/srv/t/big"); !bytes.Equal(got, data) {
			t.Errorf("after overwrite %d: %q", i, got)
		}
	}
	if got := hostExec(t, h, "stat -c %a /srv/t/big"); got != "640\n" {
		t.Errorf("mode not kept on overwrite: %q", got)
	}
	if n := h.Connections(); n != 1 {
		t.Errorf("%d TCP connections, want 1", n)
	}
}

// As root: owner and group are set; existing owner is kept when attrs say -1.
func TestLabOwner(t *testing.T) {
	l := startLab(t, 1)
	h := l.Hosts[0]
	d := newTestDialer(t, DialerOptions{})
	c := mustDial(t, d, labTarget(l, h, "root"))
	ctx := context.Background()
	if err := c.WriteFile(ctx, "/srv/owned", []byte("x"), FileAttrs{Mode: 0o600, UID: 2900, GID: 2901}); err != nil {
		t.Fatal(err)
	}
	if got := hostExec(t, h, "stat -c %u:%g:%a /srv/owned"); got != "2900:2901:600\n" {
		t.Errorf("owner: %q", got)
	}
	if err := c.WriteFile(ctx, "/srv/owned", []byte("y"), FileAttrs{UID: -1, GID: -1}); err != nil {
		t.Fatal(err)
	}
	fi, err := c.Stat(ctx, "/srv/owned")
	if err != nil || fi.UID != 2900 || fi.GID != 2901 || fi.Mode != 0o600 {
		t.Errorf("kept owner/mode: %+v %v", fi, err)
	}
	// Chown after chmod would drop setuid: WriteFile chowns first.
	if err := c.WriteFile(ctx, "/srv/suid", []byte("x"), FileAttrs{Mode: fs.ModeSetuid | 0o755, UID: 2900, GID: 2900}); err != nil {
		t.Fatal(err)
	}
	if got := hostExec(t, h, "stat -c %u:%a /srv/suid"); got != "2900:4755\n" {
		t.Errorf("setuid file: %q", got)
	}
	if err := c.Chown(ctx, "/srv/owned", -1, 0); err != nil {
		t.Fatal(err)
	}
	if got := hostExec(t, h, "stat -c %u:%g /srv/owned"); got != "2900:0\n" {
		t.Errorf("chown -1: %q", got)
	}
}

// A failing WriteFile leaves no temp file behind.
func TestLabWriteFileFailure(t *testing.T) {
	l := startLab(t, 1)
	h := l.Hosts[0]
	hostExec(t, h, "mkdir -p /srv/t && chown labuser /srv/t && echo old > /srv/t/f && chown labuser /srv/t/f")
	d := newTestDialer(t, DialerOptions{})
	c := mustDial(t, d, labTarget(l, h, "labuser"))
	ctx := context.Background()

	// Chown to another user as non-root: the temp file was written, then must go.
	for _, uid := range []int{0, 4242} {
		err := c.WriteFile(ctx, "/srv/t/f", []byte("new"), FileAttrs{UID: uid, GID: -1})
		if err == nil || !strings.Contains(err.Error(), "write /srv/t/f on h1") || !strings.Contains(err.Error(), "chown") {
			t.Errorf("chown to %d as labuser: %v", uid, err)
		}
	}
	if got, _ := h.ReadFile("/srv/t/f"); string(got) != "old\n" {
		t.Errorf("target changed: %q", got)
	}
	noTempFiles(t, hostList(t, h, "/srv/t"))
	// No such directory; no permission.
	if err := c.WriteFile(ctx, "/srv/t/nodir/f", []byte("x"), FileAttrs{UID: -1, GID: -1}); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing dir: %v", err)
	}
	if err := c.WriteFile(ctx, "/etc/hostplan-denied", []byte("x"), FileAttrs{UID: -1, GID: -1}); !errors.Is(err, fs.ErrPermission) {
		t.Errorf("/etc as labuser: %v", err)
	}
	noTempFiles(t, hostList(t, h, "/etc"))
}

func TestLabHostKeys(t *testing.T) {
	l := startLab(t, 1)
	h := l.Hosts[0]
	dir := t.TempDir()
	kh := filepath.Join(dir, "known_hosts") // missing: an empty file
	target := labTarget(l, h, "labuser")
	target.KnownHosts = kh
	ctx := context.Background()

	// Unknown: refused with type, fingerprint and both ways to accept.
	_, err := newTestDialer(t, DialerOptions{}).Dial(ctx, target)
	var unknown *UnknownHostKeyError
	if !errors.As(err, &unknown) {
		t.Fatalf("unknown host: %T %v", err, err)
	}
	matched := false
	for _, k := range h.HostKeys() {
		if k.Type() == unknown.KeyType && ssh.FingerprintSHA256(k) == unknown.Fingerprint {
			matched = true
		}
	}
	hint := fmt.Sprintf("ssh-keyscan -p %d %s >> %s", h.Port, h.Address, kh)
	if !matched || !strings.Contains(err.Error(), unknown.Fingerprint) || !strings.Contains(err.Error(), "--accept-new-host-keys") || !strings.Contains(err.Error(), hint) {
		t.Errorf("unknown host error: %v", err)
	}
	if _, err := os.Stat(kh); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("strict dial created %s", kh)
	}

	// The hint works as printed.
	if _, err := exec.LookPath("ssh-keyscan"); err == nil {
		kh2 := filepath.Join(dir, "keyscanned")
		target2 := target
		target2.KnownHosts = kh2
		if out, err := exec.Command("/bin/sh", "-c", strings.ReplaceAll(hint, kh, kh2)).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", hint, err, out)
		}
		c := mustDial(t, newTestDialer(t, DialerOptions{}), target2)
		c.Close()
	}

	// Accept-new adds the key; a strict dial then succeeds.
	c := mustDial(t, newTestDialer(t, DialerOptions{AcceptNewHostKeys: true}), target)
	c.Close()
	data, err := os.ReadFile(kh)
	if err != nil || !strings.HasPrefix(string(data), fmt.Sprintf("[%s]:%d ", h.Address, h.Port)) || strings.Count(string(data), "\n") != 1 {
		t.Fatalf("known_hosts after accept: %q %v", data, err)
	}
	c = mustDial(t, newTestDialer(t, DialerOptions{}), target)
	c.Close()

	// A host known only by its Ed25519 key (x/crypto would ask for ECDSA first:
	// golang/go#29286) is accepted.
	edOnly := filepath.Join(dir, "ed_only")
	if k := h.HostKeys()[0]; k.Type() != ssh.KeyAlgoED25519 {
		t.Fatalf("first lab host key is %s", k.Type())
	}
	os.WriteFile(edOnly, []byte(h.HostKeyLine()), 0o600)
	target3 := target
	target3.KnownHosts = edOnly
	c = mustDial(t, newTestDialer(t, DialerOptions{}), target3)
	c.Close()

	// Changed key: refused, strict or accept-new, naming file and line; file untouched.
	if err := h.RotateHostKey(); err != nil {
		t.Fatal(err)
	}
	for _, accept := range []bool{false, true} {
		_, err := newTestDialer(t, DialerOptions{AcceptNewHostKeys: accept}).Dial(ctx, target)
		var changed *HostKeyChangedError
		if !errors.As(err, &changed) || !strings.Contains(err.Error(), kh+":1") || !strings.Contains(err.Error(), "HOST KEY CHANGED") {
			t.Errorf("accept=%v: changed key: %v", accept, err)
		}
	}
	if after, _ := os.ReadFile(kh); !bytes.Equal(after, data) {
		t.Errorf("known_hosts changed: %q", after)
	}
}

// Many concurrent commands and file operations (more than sshd's MaxSessions), with and
// without become, over exactly one TCP connection per host.
func TestLabOneConnectionPerHost(t *testing.T) {
	l := startLab(t, 3)
	for _, h := range l.Hosts {
		// labuser's folder, and root's for the become host: a root write into a folder
		// another user owns is refused (see pathguard.go).
		hostExec(t, h, "mkdir -p /srv/t /srv/rt && chown labuser /srv/t")
	}
	d := newTestDialer(t, DialerOptions{})
	ctx := context.Background()
	var wg sync.WaitGroup
	for i, h := range l.Hosts {
		{
			become := i == 1 // h2 through sudo (its own sftp-server session)
			target := labTarget(l, h, "labuser")
			target.Become = become
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, err := d.Dial(ctx, target)
				if err != nil {
					t.Error(err)
					return
				}
				defer c.Close()
				var inner sync.WaitGroup
				for i := 0; i < 16; i++ {
					inner.Add(1)
					go func(i int) {
						defer inner.Done()
						dir := "/srv/t"
						if become {
							dir = "/srv/rt"
						}
						p := fmt.Sprintf("%s/f-%v-%d", dir, become, i)
						res, err := c.Run(ctx, fmt.Sprintf("sleep 0.2; echo %d", i), nil)
						if err != nil || strings.TrimSpace(string(res.Stdout)) != fmt.Sprint(i) {
							t.Errorf("%s run %d: %+v %v", target.Name, i, res, err)
							return
						}
						if err := c.WriteFile(ctx, p, []byte(p), FileAttrs{UID: -1, GID: -1}); err != nil {
							t.Errorf("%s: %v", target.Name, err)
							return
						}
						if got, err := c.ReadFile(ctx, p); err != nil || string(got) != p {
							t.Errorf("%s: read %q %v", target.Name, got, err)
						}
						if _, err := c.Stat(ctx, p); err != nil {
							t.Errorf("%s: %v", target.Name, err)
						}
					}(i)
				}
				inner.Wait()
			}()
		}
	}
	wg.Wait()
	for _, h := range l.Hosts {
		if n := h.Connections(); n != 1 {
			t.Errorf("%s: %d TCP connections, want 1", h.Name, n)
		}
	}
}

func TestLabBecome(t *testing.T) {
	l := startLab(t, 1)
	h := l.Hosts[0]
	ctx := context.Background()

	// labuser: passwordless sudo (sudo -n).
	t.Run("nopasswd", func(t *testing.T) {
		target := sudoTarget(l, h, lab.SudoUser)
		c := mustDial(t, newTestDialer(t, DialerOptions{}), target)
		res, err := c.Run(ctx, "id -u; echo err >&2; cat", strings.NewReader("stdin\n"))
		if err != nil || string(res.Stdout) != "0\nstdin\n" || string(res.Stderr) != "err\n" {
			t.Fatalf("become root: %+v %v", res, err)
		}
		if err := c.WriteFile(ctx, "/etc/hostplan-nopasswd.conf", []byte("x\n"), FileAttrs{Mode: 0o640, UID: -1, GID: -1}); err != nil {
			t.Fatal(err)
		}
		if got := hostExec(t, h, "stat -c %U:%G:%a /etc/hostplan-nopasswd.conf"); got != "root:root:640\n" {
			t.Errorf("root-owned file: %q", got)
		}
		testFiles(t, c, "/root")
		noTempFiles(t, hostList(t, h, "/root"))
		noTempFiles(t, hostList(t, h, "/etc"))

		// Another become user.
		target.BecomeUser = lab.NoSudoUser
		c2 := mustDial(t, newTestDialer(t, DialerOptions{}), target)
		res, err = c2.Run(ctx, "id -un", nil)
		if err != nil || string(res.Stdout) != lab.NoSudoUser+"\n" {
			t.Errorf("become %s: %+v %v", lab.NoSudoUser, res, err)
		}
	})

	// labpass: sudo wants a password.
	t.Run("password", func(t *testing.T) {
		target := sudoTarget(l, h, lab.PasswordSudoUser)
		var asked atomic.Int32
		d := newTestDialer(t, DialerOptions{BecomePassword: func() ([]byte, error) {
			asked.Add(1)
			return []byte(lab.SudoPassword), nil
		}})
		c := mustDial(t, d, target)
		for i := 0; i < 3; i++ {
			res, err := c.Run(ctx, "id -u; cat", strings.NewReader("in"))
			if err != nil || string(res.Stdout) != "0\nin" || len(res.Stderr) != 0 {
				t.Fatalf("become with password: %+v %v", res, err)
			}
		}
		if err := c.WriteFile(ctx, "/etc/hostplan-passwd.conf", []byte("y\n"), FileAttrs{UID: -1, GID: -1}); err != nil {
			t.Fatal(err)
		}
		if got := hostExec(t, h, "stat -c %U:%a /etc/hostplan-passwd.conf"); got != "root:644\n" {
			t.Errorf("root-owned file: %q", got)
		}
		if n := asked.Load(); n != 1 {
			t.Errorf("BecomePassword called %d times", n)
		}
	})

	t.Run("wrong password", func(t *testing.T) {
		target := sudoTarget(l, h, lab.PasswordSudoUser)
		c := mustDial(t, newTestDialer(t, DialerOptions{BecomePassword: func() ([]byte, error) {
			return []byte("not-the-password"), nil
		}}), target)
		start := time.Now()
		_, err := c.Run(ctx, "id -u", nil)
		if !errors.Is(err, ErrBecomePasswordRejected) || !strings.Contains(err.Error(), "sudo password rejected on h1") ||
			strings.Contains(err.Error(), "not-the-password") {
			t.Errorf("wrong password: %v", err)
		}
		t.Logf("wrong password detected after %v", time.Since(start))
		err = c.WriteFile(ctx, "/etc/hostplan-never", []byte("x"), FileAttrs{UID: -1, GID: -1})
		if !errors.Is(err, ErrBecomePasswordRejected) {
			t.Errorf("file op with wrong password: %v", err)
		}
	})

	t.Run("password needed but not given", func(t *testing.T) {
		target := sudoTarget(l, h, lab.PasswordSudoUser)
		c := mustDial(t, newTestDialer(t, DialerOptions{}), target)
		if _, err := c.Run(ctx, "id -u", nil); !errors.Is(err, ErrBecomePasswordRequired) {
			t.Errorf("run: %v", err)
		}
		if _, err := c.Stat(ctx, "/etc"); !errors.Is(err, ErrBecomePasswordRequired) {
			t.Errorf("stat: %v", err)
		}
	})

	t.Run("no sudo rights", func(t *testing.T) {
		target := sudoTarget(l, h, lab.NoSudoUser)
		c := mustDial(t, newTestDialer(t, DialerOptions{}), target)
		_, err := c.Run(ctx, "id -u", nil)
		if err == nil || !strings.Contains(err.Error(), "h1") {
			t.Fatalf("labnosudo: %v", err)
		}
		t.Logf("labnosudo without password: %v", err)
		c = mustDial(t, newTestDialer(t, DialerOptions{BecomePassword: func() ([]byte, error) {
			return []byte("whatever"), nil
		}}), target)
		_, err = c.Run(ctx, "id -u", nil)
		if !errors.Is(err, ErrBecomePasswordRejected) && !errors.Is(err, ErrBecomeFailed) {
			t.Errorf("labnosudo with a password: %v", err)
		}
		t.Logf("labnosudo with a password: %v", err)
	})
}

func TestLabEncryptedKey(t *testing.T) {
	l := startLab(t, 1)
	h := l.Hosts[0]
	target := labTarget(l, h, "labuser")
	target.IdentityFiles = []string{l.EncryptedUserKey}
	_, err := newTestDialer(t, DialerOptions{}).Dial(context.Background(), target)
	want := "key " + l.EncryptedUserKey + " is encrypted; run on a terminal to be asked for its passphrase, or load it into ssh-agent"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("without Passphrase: %v", err)
	}
	if n := h.Connections(); n != 0 {
		t.Errorf("a key error still connected %d times", n)
	}
	c := mustDial(t, newTestDialer(t, DialerOptions{Passphrase: func(file string) ([]byte, error) {
		return []byte(lab.KeyPassphrase), nil
	}}), target)
	if res, err := c.Run(context.Background(), "true", nil); err != nil || res.ExitCode != 0 {
		t.Errorf("run: %+v %v", res, err)
	}
}

func TestLabUnreachable(t *testing.T) {
	l := startLab(t, 1)
	h := l.Hosts[0]
	if err := h.SetReachable(false); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err := newTestDialer(t, DialerOptions{}).Dial(context.Background(), labTarget(l, h, "labuser"))
	if err == nil || !strings.Contains(err.Error(), "connect to h1") {
		t.Errorf("unreachable: %v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("refused connection took %v", time.Since(start))
	}
}

// signalSSHD signals the host's sshd processes.
func signalSSHD(t *testing.T, h *lab.Host, sig syscall.Signal) int {
	t.Helper()
	n, err := h.SignalSSHD(sig)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestLabDeadPeer(t *testing.T) {
	l := startLab(t, 1)
	h := l.Hosts[0]
	ctx := context.Background()

	// A hung peer (sshd stopped: TCP stays up, nothing answers): keepalive closes the
	// connection and a running command fails instead of hanging.
	d := newTestDialer(t, DialerOptions{KeepaliveInterval: 200 * time.Millisecond, KeepaliveCountMax: 3})
	c := mustDial(t, d, labTarget(l, h, "labuser"))
	if _, err := c.Run(ctx, "true", nil); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := c.Run(ctx, "sleep 60", nil)
		done <- err
	}()
	time.Sleep(300 * time.Millisecond)
	signalSSHD(t, h, syscall.SIGSTOP)
	t.Cleanup(func() { h.SignalSSHD(syscall.SIGKILL) })
	start := time.Now()
	select {
	case err := <-done:
		if err == nil {
			t.Errorf("run on a hung peer succeeded")
		}
		t.Logf("hung peer: Run failed after %v: %v", time.Since(start), err)
	case <-time.After(10 * time.Second):
		t.Fatalf("run on a hung peer still blocked after 10s")
	}
	if _, err := c.Run(ctx, "true", nil); err == nil {
		t.Errorf("run after keepalive closed the connection succeeded")
	}

	// A killed sshd: Run fails at once.
	c2 := mustDial(t, newTestDialer(t, DialerOptions{}), labTarget(l, h, "root"))
	go func() {
		_, err := c2.Run(ctx, "sleep 60", nil)
		done <- err
	}()
	// Kill only once the command runs (all of the connection's sshd processes exist then),
	// and again until none is left: a process forked during the kill would keep the
	// connection half alive.
	waitFor(t, func() bool { return strings.TrimSpace(hostExec(t, h, "pgrep -x sleep || true")) != "" })
	waitFor(t, func() bool {
		return signalSSHD(t, h, syscall.SIGKILL) == 0
	})
	start = time.Now()
	select {
	case err := <-done:
		if err == nil {
			t.Errorf("run on a killed sshd succeeded")
		}
		t.Logf("killed sshd: Run failed after %v: %v", time.Since(start), err)
	case <-time.After(10 * time.Second):
		t.Fatalf("run on a killed sshd still blocked after 10s")
	}
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := c2.Stat(sctx, "/"); err == nil {
		t.Errorf("stat after the connection died succeeded")
	}
}

// waitFor polls cond for up to 20 seconds.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("condition not met after 20s")
		}
	}
}

// Bastion: the lab hosts live in separate network namespaces with only loopback, so
// lab host h1 cannot reach h2's 127.0.1.2 (inside h1, nothing listens there). The
// target behind the bastion is therefore a second sshd started inside h1's namespaces on
// 127.0.0.1:2200, which only h1 can reach: the same path as a private host behind a jump
// host (direct-tcpip from the bastion), and both host keys are checked.
func TestLabBastion(t *testing.T) {
	l := startLab(t, 1)
	h := l.Hosts[0]
	const innerPort = 2200
	cfg := filepath.Join(l.Dir, h.Name, "sshd_config")
	hostExec(t, h, fmt.Sprintf("/usr/sbin/sshd -f %s -o ListenAddress=127.0.0.1:%d -o PidFile=/run/hostplan-inner-sshd.pid -E /tmp/inner-sshd.log", cfg, innerPort))
	t.Cleanup(func() { h.Exec(context.Background(), "kill $(cat /run/hostplan-inner-sshd.pid)") })

	// known_hosts: the lab's (bastion) plus the inner sshd (same host keys).
	kh := filepath.Join(t.TempDir(), "known_hosts")
	base, err := os.ReadFile(l.KnownHosts)
	if err != nil {
		t.Fatal(err)
	}
	var inner strings.Builder
	for _, k := range h.HostKeys() {
		inner.WriteString(knownhosts.Line([]string{fmt.Sprintf("127.0.0.1:%d", innerPort)}, k) + "\n")
	}
	os.WriteFile(kh, append(base, inner.String()...), 0o600)

	bastion := fmt.Sprintf("labuser@%s:%d", h.Address, h.Port)
	target := func(name, user, via string) Target {
		return Target{Name: name, Address: "127.0.0.1", Port: innerPort, User: user,
			IdentityFiles: []string{l.UserKey}, KnownHosts: kh, Bastion: via}
	}
	d := newTestDialer(t, DialerOptions{})
	ctx := context.Background()

	// Several targets behind one bastion, dialled concurrently: one bastion connection.
	var wg sync.WaitGroup
	for i, user := range []string{"labuser", "root", "labpass", "labnosudo"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := d.Dial(ctx, target(fmt.Sprintf("inner%d", i), user, bastion))
			if err != nil {
				t.Error(err)
				return
			}
			res, err := c.Run(ctx, "id -un; cat /proc/net/tcp | wc -l", nil)
			if err != nil || !strings.HasPrefix(string(res.Stdout), user+"\n") {
				t.Errorf("through bastion as %s: %+v %v", user, res, err)
			}
			home := "/home/" + user
			if user == "root" {
				home = "/root"
			}
			if err := c.WriteFile(ctx, home+"/through-bastion", []byte(user), FileAttrs{UID: -1, GID: -1}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n := h.Connections(); n != 1 {
		t.Errorf("bastion %s accepted %d TCP connections, want 1", h.Name, n)
	}

	// Chained: through h1, then through the inner sshd, to the inner sshd again.
	chain := bastion + fmt.Sprintf(",labuser@127.0.0.1:%d", innerPort)
	c := mustDial(t, d, target("chained", "root", chain))
	if res, err := c.Run(ctx, "id -un", nil); err != nil || string(res.Stdout) != "root\n" {
		t.Errorf("chained: %+v %v", res, err)
	}
	if n := h.Connections(); n != 1 {
		t.Errorf("after the chain: %d TCP connections, want 1", n)
	}

	// The target's host key is checked too (known only to the bastion → refused).
	os.WriteFile(kh, base, 0o600)
	_, err = newTestDialer(t, DialerOptions{}).Dial(ctx, target("inner-unknown", "root", bastion))
	var unknown *UnknownHostKeyError
	if !errors.As(err, &unknown) || unknown.Address != fmt.Sprintf("127.0.0.1:%d", innerPort) {
		t.Errorf("unknown target behind bastion: %v", err)
	}
	// And the bastion's.
	os.WriteFile(kh, []byte(inner.String()), 0o600)
	_, err = newTestDialer(t, DialerOptions{}).Dial(ctx, target("inner-bastion-unknown", "root", bastion))
	if !errors.As(err, &unknown) || unknown.Address != fmt.Sprintf("%s:%d", h.Address, h.Port) {
		t.Errorf("unknown bastion: %v", err)
	}
}

// TestLabDialTCP reaches a service that listens only on the lab host's own loopback,
// through the SSH connection, as the kube-apiserver health gate does.
func TestLabDialTCP(t *testing.T) {
	if _, err := exec.LookPath("socat"); err != nil {
		t.Skip("needs socat (make deps installs it)")
	}
	l := startLab(t, 1)
	h := l.Hosts[0]
	c := mustDial(t, newTestDialer(t, DialerOptions{}), labTarget(l, h, "root"))
	ctx := context.Background()
	// socat serves one connection and exits; it answers with the host's name, so the
	// answer proves which network namespace we reached.
	res, err := c.Run(ctx, `socat TCP-LISTEN:47123,bind=127.0.0.1,reuseaddr SYSTEM:'hostname' </dev/null >/dev/null 2>&1 &`, nil)
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("start socat: %v %+v", err, res)
	}
	var got []byte
	deadline := time.Now().Add(10 * time.Second)
	for {
		nc, err := c.DialTCP(ctx, "127.0.0.1:47123")
		if err == nil {
			got, err = io.ReadAll(nc)
			nc.Close()
			if err == nil && len(got) > 0 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no answer from socat on the host: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if strings.TrimSpace(string(got)) != h.Name {
		t.Errorf("answer %q, want the lab host's name %q", got, h.Name)
	}
	if _, err := c.DialTCP(ctx, "127.0.0.1:1"); err == nil {
		t.Error("DialTCP to a closed port succeeded")
	}
}

// TestLabCutDuringWrite: the SSH connection dies while a file is being replaced, at the
// worst moment (temp file complete, not yet renamed) and at random moments of a large
// write. The target is always the old file or the new one, byte for byte; a new
// connection then writes it. Not parallel: beforeRename is global, and parallel tests
// only start after this one.
func TestLabCutDuringWrite(t *testing.T) {
	l := lab.ForTest(t, lab.Options{Hosts: 1})
	h := l.Hosts[0]
	ctx := context.Background()
	const p = "/srv/cut/app.conf"
	hostExec(t, h, "mkdir -p /srv/cut && printf old > "+p)
	kill := func() { signalSSHD(t, h, syscall.SIGKILL) }
	sum := func(b []byte) string { return fmt.Sprintf("%x", sha256.Sum256(b)) }
	onHost := func() string {
		return strings.Fields(hostExec(t, h, "sha256sum "+p))[0]
	}

	// The connection dies between the complete temp file and the rename.
	c := mustDial(t, newTestDialer(t, DialerOptions{KeepaliveInterval: 200 * time.Millisecond, KeepaliveCountMax: 2}), labTarget(l, h, "root"))
	beforeRename = func(string) { kill() }
	err := c.WriteFile(ctx, p, []byte("new"), FileAttrs{UID: -1, GID: -1})
	beforeRename = nil
	if err == nil {
		t.Fatal("a write whose connection died before the rename succeeded")
	}
	if got := hostExec(t, h, "cat "+p); got != "old" {
		t.Fatalf("after the cut the target holds %q, want the old content", got)
	}
	c = mustDial(t, newTestDialer(t, DialerOptions{}), labTarget(l, h, "root"))
	if err := c.WriteFile(ctx, p, []byte("new"), FileAttrs{UID: -1, GID: -1}); err != nil {
		t.Fatalf("rewrite after the cut: %v", err)
	}
	if got := hostExec(t, h, "cat "+p); got != "new" {
		t.Fatalf("after the rewrite: %q", got)
	}

	// Random moments of a 4 MiB write, 20 times, from its start to past its end (an
	// uncut write tells how long one takes here).
	gen := func(i int) []byte { return bytes.Repeat([]byte(fmt.Sprintf("generation %02d\n", i)), 4<<20/14) }
	start := time.Now()
	if err := c.WriteFile(ctx, p, gen(99), FileAttrs{UID: -1, GID: -1}); err != nil {
		t.Fatal(err)
	}
	span := time.Since(start) * 13 / 10
	old := gen(99)
	rng := rand.New(rand.NewPCG(1, 2))
	cut, done := 0, 0
	for i := range 20 {
		next := gen(i)
		c := mustDial(t, newTestDialer(t, DialerOptions{KeepaliveInterval: 200 * time.Millisecond, KeepaliveCountMax: 2}), labTarget(l, h, "root"))
		errc := make(chan error, 1)
		go func() { errc <- c.WriteFile(ctx, p, next, FileAttrs{UID: -1, GID: -1}) }()
		time.Sleep(time.Duration(rng.Int64N(int64(span))))
		kill()
		err := <-errc
		// The killed sshd's sftp-server may still carry out a rename it had read: the
		// target is looked at once it is gone (a late rename made try 5 fail in CI).
		waitSFTPServerGone(t, h)
		switch got := onHost(); {
		case got == sum(next):
			done++
			old = next
		case got == sum(old):
			if err == nil {
				t.Errorf("try %d: the write reported success but the host has the old file", i)
			}
			cut++
		default:
			t.Fatalf("try %d: the target is neither the old nor the new file (write error: %v)", i, err)
		}
	}
	t.Logf("20 cuts at random moments within %v: %d left the old file, %d the new one", span, cut, done)
	c = mustDial(t, newTestDialer(t, DialerOptions{}), labTarget(l, h, "root"))
	final := []byte("final\n")
	if err := c.WriteFile(ctx, p, final, FileAttrs{UID: -1, GID: -1}); err != nil || onHost() != sum(final) {
		t.Fatalf("write after the cuts: %v", err)
	}
	// The temp files the cut connections could not remove went with that write.
	if left := hostExec(t, h, "ls -A /srv/cut"); strings.TrimSpace(left) != "app.conf" {
		t.Errorf("files left beside the target: %s", strings.Join(strings.Fields(left), " "))
	}
}

// waitSFTPServerGone waits until no sftp-server runs in h's mount namespace.
func waitSFTPServerGone(t *testing.T, h *lab.Host) {
	t.Helper()
	const mine = `me=$(readlink /proc/self/ns/mnt); for p in $(pgrep -x sftp-server); do [ "$(readlink /proc/$p/ns/mnt 2>/dev/null)" = "$me" ] && echo $p; done; true`
	for deadline := time.Now().Add(30 * time.Second); strings.TrimSpace(hostExec(t, h, mine)) != ""; {
		if time.Now().After(deadline) {
			t.Fatal("the killed sshd's sftp-server still runs after 30 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// WriteKernel sets a kernel setting of the host (its own network namespace) over SFTP,
// as root and through become, and refuses any path but /proc/sys's.
func TestLabWriteKernel(t *testing.T) {
	l := startLab(t, 1)
	h := l.Hosts[0]
	d := newTestDialer(t, DialerOptions{})
	become := sudoTarget(l, h, "labuser")
	ctx := context.Background()
	for i, target := range []Target{labTarget(l, h, "root"), become} {
		c := mustDial(t, d, target)
		want := fmt.Sprint(i % 2)
		if err := c.WriteKernel(ctx, "/proc/sys/net/ipv4/ip_forward", []byte(want+"\n")); err != nil {
			t.Fatalf("as %s: %v", target.User, err)
		}
		if got := hostExec(t, h, "cat /proc/sys/net/ipv4/ip_forward"); got != want+"\n" {
			t.Errorf("as %s: ip_forward is %q, want %s", target.User, got, want)
		}
		for _, p := range []string{"/etc/hostname", "/proc/sys/../self/environ", "/proc/sys/net/ipv4/nonexistent"} {
			if err := c.WriteKernel(ctx, p, []byte("1\n")); err == nil {
				t.Errorf("as %s: wrote %s in place", target.User, p)
			}
		}
	}
}
