package lab

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// openssh runs the real OpenSSH client against a lab host, strict about host keys.
func openssh(t testing.TB, l *Lab, h *Host, user, knownHosts, command string) (string, error) {
	t.Helper()
	if _, err := exec.LookPath("ssh"); err != nil {
		t.Skip("no OpenSSH client (apt-get install openssh-client)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ssh", "-F", "/dev/null",
		"-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-i", l.UserKey,
		"-o", "UserKnownHostsFile="+knownHosts, "-o", "GlobalKnownHostsFile=/dev/null",
		"-o", "StrictHostKeyChecking=yes", "-o", "ConnectTimeout=10", "-o", "LogLevel=ERROR",
		"-p", strconv.Itoa(h.Port), user+"@"+h.Address, command)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()} // no agent, no ~/.ssh
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func mustSSH(t *testing.T, l *Lab, h *Host, user, command string) string {
	t.Helper()
	out, err := openssh(t, l, h, user, l.KnownHosts, command)
	if err != nil {
		t.Fatalf("ssh %s@%s %q: %v\n%s", user, h.Name, command, err, out)
	}
	return out
}

func TestLab(t *testing.T) {
	t.Parallel()
	l := ForTest(t, Options{Hosts: 3})
	ctx := context.Background()
	h1, h2, h3 := l.Hosts[0], l.Hosts[1], l.Hosts[2]

	t.Run("hostname over OpenSSH", func(t *testing.T) {
		for i, h := range l.Hosts {
			if want := "127.0.1." + strconv.Itoa(i+1); h.Address != want {
				t.Errorf("%s address %s, want %s", h.Name, h.Address, want)
			}
			if got := strings.TrimSpace(mustSSH(t, l, h, "root", "hostname")); got != h.Name {
				t.Errorf("hostname on %s = %q", h.Name, got)
			}
		}
	})

	t.Run("files stay on their host", func(t *testing.T) {
		const p = "/etc/hostplan-lab-probe"
		mustSSH(t, l, h1, "root", "echo on-h1 > "+p)
		if got, err := h1.ReadFile(p); err != nil || string(got) != "on-h1\n" {
			t.Errorf("h1: %q, %v", got, err)
		}
		if _, err := h2.ReadFile(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("h2 sees h1's file: err = %v", err)
		}
		if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("the real machine sees h1's file: %v", err)
		}
		// Also /usr, /var, /opt, /srv, /home, /tmp.
		mustSSH(t, l, h1, "root", "for d in /usr /var /opt /srv /home /tmp; do echo x > $d/hostplan-lab-probe; done")
		for _, d := range []string{"/usr", "/var", "/opt", "/srv", "/home", "/tmp"} {
			if _, err := os.Stat(d + "/hostplan-lab-probe"); err == nil {
				t.Errorf("the real machine sees %s/hostplan-lab-probe", d)
			}
			if _, err := h2.ReadFile(d + "/hostplan-lab-probe"); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("h2 sees h1's %s/hostplan-lab-probe: %v", d, err)
			}
		}
	})

	t.Run("clean root home and private run", func(t *testing.T) {
		if out := mustSSH(t, l, h2, "root", "ls -A /root"); out != "" {
			t.Errorf("/root not empty: %q", out)
		}
		out := mustSSH(t, l, h2, "root", "stat -c %a /tmp; ls /home; ls /sys/class/net; [ -d /run/systemd ] && echo systemd; ls /run/sshd >/dev/null && echo sshd-dir")
		want := "1777\nlabnosudo\nlabpass\nlabuser\nlo\nsshd-dir\n"
		if out != want {
			t.Errorf("got\n%s\nwant\n%s", out, want)
		}
	})

	t.Run("users and sudo", func(t *testing.T) {
		if out := mustSSH(t, l, h2, SudoUser, "id -un; sudo -n id -un"); out != "labuser\nroot\n" {
			t.Errorf("labuser: %q", out)
		}
		if out, err := openssh(t, l, h2, NoSudoUser, l.KnownHosts, "id -un; sudo -n true"); err == nil || !strings.HasPrefix(out, "labnosudo\n") {
			t.Errorf("labnosudo: sudo -n worked or login failed: %v %q", err, out)
		}
		if out, err := openssh(t, l, h2, PasswordSudoUser, l.KnownHosts, "sudo -n true"); err == nil || !strings.Contains(out, "password is required") {
			t.Errorf("labpass: sudo -n: %v %q", err, out)
		}
		out := mustSSH(t, l, h2, PasswordSudoUser, "echo "+SudoPassword+" | sudo -S -p PROMPT: id -un 2>&1")
		if !strings.HasSuffix(out, "root\n") || !strings.Contains(out, "PROMPT:") {
			t.Errorf("labpass with password: %q", out)
		}
		out, _ = openssh(t, l, h2, PasswordSudoUser, l.KnownHosts, "echo wrong | sudo -S -p PROMPT: id -un 2>&1")
		if !strings.Contains(out, "Sorry, try again.") {
			t.Errorf("labpass with a wrong password: %q", out)
		}
	})

	t.Run("encrypted key", func(t *testing.T) {
		plain, _ := os.ReadFile(l.UserKey)
		enc, _ := os.ReadFile(l.EncryptedUserKey)
		if _, err := ssh.ParsePrivateKey(enc); err == nil {
			t.Fatal("encrypted key parses without a passphrase")
		}
		s1, err := ssh.ParsePrivateKey(plain)
		if err != nil {
			t.Fatal(err)
		}
		s2, err := ssh.ParsePrivateKeyWithPassphrase(enc, []byte(KeyPassphrase))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(s1.PublicKey().Marshal(), s2.PublicKey().Marshal()) {
			t.Error("plain and encrypted keys differ")
		}
		if fi, err := os.Stat(l.UserKey); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("user key mode: %v %v", fi.Mode(), err)
		}
		if _, err := exec.LookPath("ssh-keygen"); err == nil {
			out, err := exec.Command("ssh-keygen", "-y", "-P", KeyPassphrase, "-f", l.EncryptedUserKey).CombinedOutput()
			if err != nil || !strings.HasPrefix(string(out), "ssh-ed25519 ") {
				t.Errorf("ssh-keygen cannot read the encrypted key: %v %s", err, out)
			}
		}
	})

	t.Run("known_hosts", func(t *testing.T) {
		cb, err := knownhosts.New(l.KnownHosts)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range l.Hosts {
			addr := &net.TCPAddr{IP: net.ParseIP(h.Address), Port: h.Port}
			for _, k := range h.HostKeys() {
				if err := cb(net.JoinHostPort(h.Address, strconv.Itoa(h.Port)), addr, k); err != nil {
					t.Errorf("%s %s: %v", h.Name, k.Type(), err)
				}
			}
		}
	})

	t.Run("connections", func(t *testing.T) {
		before := h2.Connections()
		mustSSH(t, l, h2, "root", "true")
		if got := h2.Connections(); got != before+1 {
			t.Errorf("connections %d -> %d, want +1", before, got)
		}
	})

	t.Run("exec and files", func(t *testing.T) {
		if err := h2.WriteFile("/etc/hostplan-lab-test/sub/f.conf", []byte("a=1\n"), 0o640); err != nil {
			t.Fatal(err)
		}
		out, err := h2.Exec(ctx, "stat -c '%a %U' /etc/hostplan-lab-test/sub/f.conf; cat /etc/hostplan-lab-test/sub/f.conf; hostname; pwd")
		if err != nil || string(out) != "640 root\na=1\nh2\n/\n" {
			t.Errorf("Exec: %v %q", err, out)
		}
		if _, err := os.Stat("/etc/hostplan-lab-test"); err == nil {
			t.Error("WriteFile wrote on the real machine")
		}
		// A file only in the lower dir (the real /etc) reads through.
		real, _ := os.ReadFile("/etc/os-release")
		if got, err := h2.ReadFile("/etc/os-release"); err != nil || !bytes.Equal(got, real) {
			t.Errorf("ReadFile /etc/os-release: %v", err)
		}
		if _, err := h2.Exec(ctx, "exit 3"); err == nil {
			t.Error("Exec: exit 3 is no error")
		}
		before := h2.Connections()
		if _, err := h2.Exec(ctx, "true"); err != nil || h2.Connections() != before {
			t.Errorf("Exec went over SSH or failed: %v", err)
		}
	})

	t.Run("sftp subsystem", func(t *testing.T) {
		if _, err := exec.LookPath("sftp"); err != nil {
			t.Skip("no sftp client")
		}
		cmd := exec.Command("sftp", "-F", "/dev/null", "-b", "-", "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-i", l.UserKey,
			"-o", "UserKnownHostsFile="+l.KnownHosts, "-o", "GlobalKnownHostsFile=/dev/null", "-o", "StrictHostKeyChecking=yes",
			"-P", strconv.Itoa(h1.Port), "root@"+h1.Address)
		cmd.Stdin = strings.NewReader("mkdir /srv/sftp\nput /etc/hostname /srv/sftp/a\nput /etc/hostname /srv/sftp/b\nrename /srv/sftp/a /srv/sftp/b\n")
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("sftp: %v\n%s", err, out)
		}
		if out, _ := h1.Exec(ctx, "ls /srv/sftp"); string(out) != "b\n" {
			t.Errorf("after posix-rename: %q", out)
		}
	})

	t.Run("unreachable", func(t *testing.T) {
		if err := h2.SetReachable(false); err != nil {
			t.Fatal(err)
		}
		before := h2.Connections()
		c, err := net.DialTimeout("tcp", net.JoinHostPort(h2.Address, strconv.Itoa(h2.Port)), 5*time.Second)
		switch {
		case errors.Is(err, syscall.ECONNREFUSED):
		case err == nil:
			// The freed port can be taken at once by a listener of another lab running
			// beside this test (all labs share 127.0.1.N): what matters is that h2's sshd
			// did not answer.
			c.Close()
			t.Logf("dial after SetReachable(false) reached another listener on the freed port")
		default:
			t.Errorf("dial unreachable host: %v, want connection refused", err)
		}
		if out, err := openssh(t, l, h2, "root", l.KnownHosts, "true"); err == nil {
			t.Errorf("ssh to unreachable host worked: %s", out)
		}
		if err := h2.SetReachable(true); err != nil {
			t.Fatal(err)
		}
		mustSSH(t, l, h2, "root", "true")
		if got := h2.Connections(); got != before+1 {
			t.Errorf("connections %d -> %d, want +1", before, got)
		}
	})

	t.Run("rotated host key", func(t *testing.T) {
		oldLine := h3.HostKeyLine()
		if err := h3.RotateHostKey(); err != nil {
			t.Fatal(err)
		}
		if h3.HostKeyLine() == oldLine {
			t.Fatal("HostKeyLine did not change")
		}
		out, err := openssh(t, l, h3, "root", l.KnownHosts, "true")
		if err == nil || !strings.Contains(out, "REMOTE HOST IDENTIFICATION HAS CHANGED") {
			t.Errorf("strict ssh after rotation: %v %q", err, out)
		}
		kh := filepath.Join(t.TempDir(), "known_hosts")
		if err := os.WriteFile(kh, []byte(h3.KnownHostsLines()), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := openssh(t, l, h3, "root", kh, "true"); err != nil {
			t.Errorf("ssh with the new keys: %v %s", err, out)
		}
		mustSSH(t, l, h1, "root", "true") // the others keep their keys
	})

	t.Run("inventory", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "inv.hcl")
		if err := l.WriteInventory(p, "labuser"); err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(p)
		for _, want := range []string{`user          = "labuser"`, `identity_file = "` + l.UserKey + `"`, `known_hosts   = "` + l.KnownHosts + `"`,
			fmt.Sprintf("host \"h3\" {\n  address = \"127.0.1.3\"\n  port    = %d\n  groups  = [\"lab\"]\n}", h3.Port)} {
			if !strings.Contains(string(b), want) {
				t.Errorf("inventory lacks %q:\n%s", want, b)
			}
		}
	})

	if out := h1.SSHLog(); out != "" {
		t.Logf("h1 sshd log:\n%s", out)
	}
}

// nsInodes lists the namespace inodes of a lab's hosts. It keeps the namespaces open
// until the test ends: the kernel reuses a freed namespace's inode number at once, and
// pidsIn would then find another lab's processes (parallel tests and packages).
func nsInodes(t *testing.T, l *Lab) map[uint64]bool {
	out := map[uint64]bool{}
	for _, h := range l.Hosts {
		for _, f := range []*os.File{h.ns.net, h.ns.mnt, h.ns.uts} {
			hold, err := os.Open(fmt.Sprintf("/proc/self/fd/%d", f.Fd()))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { hold.Close() })
			fi, err := hold.Stat()
			if err != nil {
				t.Fatal(err)
			}
			out[fi.Sys().(*syscall.Stat_t).Ino] = true
		}
	}
	return out
}

// checkGone asserts that nothing of a lab is left on the machine.
func checkGone(t *testing.T, dir string, netns []string, inodes map[uint64]bool) {
	t.Helper()
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("state dir %s still there: %v", dir, err)
	}
	for _, n := range netns {
		if _, err := os.Stat(filepath.Join(netnsDir, n)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("netns %s still there", n)
		}
	}
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(mi))
	for sc.Scan() {
		if strings.Contains(sc.Text(), dir) {
			t.Errorf("mount left: %s", sc.Text())
		}
		for _, n := range netns {
			if strings.Contains(sc.Text(), "/"+n+" ") {
				t.Errorf("mount left: %s", sc.Text())
			}
		}
	}
	if pids := pidsIn(inodes); len(pids) > 0 {
		t.Errorf("processes left in the lab's namespaces: %v", pids)
	}
}

func TestStopLeavesNothing(t *testing.T) {
	t.Parallel()
	l := ForTest(t, Options{Hosts: 2})
	mustSSH(t, l, l.Hosts[0], "root", "nohup sleep 600 >/dev/null 2>&1 &")
	if _, err := l.Hosts[1].Exec(context.Background(), "sleep 600 >/dev/null 2>&1 &"); err != nil {
		t.Fatal(err)
	}
	inodes := nsInodes(t, l)
	if pids := pidsIn(inodes); len(pids) < 2 {
		t.Fatalf("background sleeps not found: %v", pids)
	}
	var netns []string
	for _, h := range l.Hosts {
		netns = append(netns, h.NetNS)
	}
	if err := l.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := l.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	checkGone(t, l.Dir, netns, inodes)
	if _, err := net.DialTimeout("tcp", net.JoinHostPort(l.Hosts[0].Address, strconv.Itoa(l.Hosts[0].Port)), time.Second); err == nil {
		t.Error("stopped lab still accepts connections")
	}
	if err := l.Hosts[0].SetReachable(true); err == nil {
		t.Error("SetReachable(true) after Stop worked")
	}
}

// TestClean kills a process that runs a lab (as a dead test run would leave it) and
// checks that Clean removes what it left.
func TestClean(t *testing.T) {
	t.Parallel()
	if reason := Unavailable(); reason != "" {
		t.Skip(reason)
	}
	root := filepath.Join("/run", fmt.Sprintf("hostplan-lab-cleantest-%d", os.Getpid()))
	t.Cleanup(func() { os.RemoveAll(root) })
	readyFile := filepath.Join(t.TempDir(), "ready")
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperLab$")
	cmd.Env = append(os.Environ(), "LAB_HELPER_DIR="+filepath.Join(root, "crashed"), "LAB_HELPER_READY="+readyFile)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(readyFile); err == nil {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("helper lab did not come up:\n%s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	// While the owner lives, Clean leaves the lab alone.
	if err := Clean(root); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "crashed")
	if _, err := os.Stat(filepath.Join(dir, "lab.json")); err != nil {
		t.Fatalf("Clean removed a live lab: %v", err)
	}
	var netns []string
	inodes := map[uint64]bool{}
	for i := 1; i <= 2; i++ {
		netns = append(netns, "hpcrash"+strconv.Itoa(os.Getpid()%1000)+"-h"+strconv.Itoa(i))
		var st syscall.Stat_t
		if err := syscall.Stat(filepath.Join(netnsDir, netns[i-1]), &st); err != nil {
			t.Fatal(err)
		}
		inodes[st.Ino] = true
	}
	if len(pidsIn(inodes)) == 0 {
		t.Fatal("helper's background process not found")
	}
	cmd.Process.Kill()
	cmd.Wait()
	if err := Clean(root); err != nil {
		t.Fatal(err)
	}
	checkGone(t, dir, netns, inodes)
}

// TestHelperLab is TestClean's lab owner (only with LAB_HELPER_DIR set).
func TestHelperLab(t *testing.T) {
	dir := os.Getenv("LAB_HELPER_DIR")
	if dir == "" {
		t.Skip("helper for TestClean")
	}
	l, err := Start(context.Background(), Options{Hosts: 2, Dir: dir, Name: "hpcrash" + strconv.Itoa(os.Getppid()%1000)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Hosts[0].Exec(context.Background(), "sleep 600 >/dev/null 2>&1 &"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(os.Getenv("LAB_HELPER_READY"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Minute) // killed by TestClean
}

func TestBadOptions(t *testing.T) {
	if reason := Unavailable(); reason != "" {
		t.Skip(reason)
	}
	for _, o := range []Options{{Dir: "/tmp/lab"}, {Dir: "/etc/lab"}, {Name: "Bad Name"}, {Hosts: MaxHosts + 1}, {Dir: "/run/a,b"}} {
		if l, err := Start(context.Background(), o); err == nil {
			l.Stop()
			t.Errorf("Start(%+v) worked", o)
		}
	}
}

func TestGroups(t *testing.T) {
	t.Parallel()
	l := ForTest(t, Options{Hosts: 2, Groups: func(i int) []string {
		if i == 0 {
			return []string{"lab", "masters"}
		}
		return []string{"lab", "workers"}
	}})
	p := filepath.Join(t.TempDir(), "inv.hcl")
	if err := l.WriteInventory(p, "root"); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	if !strings.Contains(string(b), `groups  = ["lab", "masters"]`) || !strings.Contains(string(b), `groups  = ["lab", "workers"]`) {
		t.Errorf("groups:\n%s", b)
	}
}

// BenchmarkSSHRoundTrip measures one SSH connection (TCP, handshake, key auth) plus one
// command, with the Go client: every connection starts a fresh sshd.
func BenchmarkSSHRoundTrip(b *testing.B) {
	l := ForTest(b, Options{Hosts: 1})
	h := l.Hosts[0]
	cb, err := knownhosts.New(l.KnownHosts)
	if err != nil {
		b.Fatal(err)
	}
	cfg := &ssh.ClientConfig{
		User:            "root",
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(l.Signer())},
		HostKeyCallback: cb,
		Timeout:         10 * time.Second,
	}
	addr := net.JoinHostPort(h.Address, strconv.Itoa(h.Port))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c, err := ssh.Dial("tcp", addr, cfg)
		if err != nil {
			b.Fatal(err)
		}
		s, err := c.NewSession()
		if err != nil {
			b.Fatal(err)
		}
		if out, err := s.CombinedOutput("true"); err != nil {
			b.Fatalf("%v %s", err, out)
		}
		c.Close()
	}
}

// BenchmarkStart measures starting and stopping a 3-host lab.
func BenchmarkStart(b *testing.B) {
	if reason := Unavailable(); reason != "" {
		b.Skip(reason)
	}
	for i := 0; i < b.N; i++ {
		l, err := Start(context.Background(), Options{Hosts: 3})
		if err != nil {
			b.Fatal(err)
		}
		if err := l.Stop(); err != nil {
			b.Fatal(err)
		}
	}
}

// TestStopDuringConnections stops a lab while clients keep connecting and running
// commands: Stop must neither hang nor leave sshd processes behind.
func TestStopDuringConnections(t *testing.T) {
	t.Parallel()
	l := ForTest(t, Options{Hosts: 2})
	inodes := nsInodes(t, l)
	cfg := &ssh.ClientConfig{
		User:            "root",
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(l.Signer())},
		HostKeyCallback: ssh.InsecureIgnoreHostKey(),
		Timeout:         5 * time.Second,
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	var ok atomic.Int64
	for i := 0; i < 6; i++ {
		h := l.Hosts[i%2]
		go func() {
			defer func() { done <- struct{}{} }()
			for {
				select {
				case <-stop:
					return
				default:
				}
				c, err := ssh.Dial("tcp", net.JoinHostPort(h.Address, strconv.Itoa(h.Port)), cfg)
				if err != nil {
					continue
				}
				if s, err := c.NewSession(); err == nil {
					if s.Run("sleep 0.05") == nil {
						ok.Add(1)
					}
				}
				c.Close()
			}
		}()
	}
	// Stop while connections are in flight: wait until some commands got through (on a
	// loaded machine that takes longer than any fixed pause), then a little more.
	for deadline := time.Now().Add(30 * time.Second); ok.Load() < 3 && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	if err := l.Stop(); err != nil {
		t.Error(err)
	}
	t.Logf("Stop with clients hammering: %v (%d commands ran before)", time.Since(start), ok.Load())
	close(stop)
	for i := 0; i < 6; i++ {
		<-done
	}
	checkGone(t, l.Dir, []string{l.Hosts[0].NetNS, l.Hosts[1].NetNS}, inodes)
	if ok.Load() == 0 {
		t.Error("no command ran before Stop")
	}
}

func TestCleanLeavesOtherDirs(t *testing.T) {
	if reason := Unavailable(); reason != "" {
		t.Skip(reason)
	}
	root := filepath.Join("/run", fmt.Sprintf("hostplan-lab-cleantest2-%d", os.Getpid()))
	t.Cleanup(func() { os.RemoveAll(root) })
	old := time.Now().Add(-2 * time.Minute)
	mk := func(name string, files ...string) string {
		d := filepath.Join(root, name)
		for _, f := range files {
			if err := os.MkdirAll(filepath.Join(d, filepath.Dir(f)), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(d, f), nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		os.MkdirAll(d, 0o755)
		os.Chtimes(d, old, old)
		return d
	}
	halfRemoved := mk("half", "h1/upper/etc/passwd", "known_hosts")
	empty := mk("empty")
	young := mk("young", "h1/x")
	os.Chtimes(young, time.Now(), time.Now())
	other := mk("other", "data.txt", "h1/x")
	if err := Clean(root); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{halfRemoved, empty} {
		if _, err := os.Stat(d); err == nil {
			t.Errorf("Clean left %s", d)
		}
	}
	for _, d := range []string{young, other} {
		if _, err := os.Stat(d); err != nil {
			t.Errorf("Clean removed %s", d)
		}
	}
}

func TestHostAddress(t *testing.T) {
	for n, want := range map[int]string{1: "127.0.1.1", 254: "127.0.1.254", 255: "127.0.2.1", 1000: "127.0.4.238", MaxHosts: "127.0.8.222"} {
		if got := hostAddress(n); got != want {
			t.Errorf("hostAddress(%d) = %s, want %s", n, got, want)
		}
	}
}
