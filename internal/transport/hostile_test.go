package transport

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hostplan/hostplan/internal/lab"
)

// Attacks by an unprivileged local user (lab.NoSudoUser) on a managed host, each of which
// worked before the defence it tests (issue 11).

// asUser runs command on the lab host as the unprivileged user.
func asUser(t *testing.T, h *lab.Host, command string) string {
	t.Helper()
	out, err := h.ExecAs(lab.NoSudoUser, command)
	if err != nil {
		t.Fatalf("%s as %s: %s: %v\n%s", h.Name, lab.NoSudoUser, command, err, out)
	}
	return string(out)
}

// TestLabTempFileRace: a user watching a directory with inotify opens every temp file the
// moment it appears and keeps the handle. sftp-server used to create it 0644 (its umask)
// and chmod it 0600 a round trip later: 10 of 10 writes of a secret were captured. Each
// write of a 0600 secret, as root and through sudo, must leave the user nothing to read.
func TestLabTempFileRace(t *testing.T) {
	l := startLab(t, 1)
	h := l.Hosts[0]
	if err := h.InstallAttacker(); err != nil {
		t.Fatal(err)
	}
	hostExec(t, h, "mkdir -p /srv/secret && chmod 755 /srv/secret")
	watched := make(chan string, 1)
	go func() {
		out, err := h.ExecAs(lab.NoSudoUser, lab.AttackerPath+" watch /srv/secret /tmp/watching")
		watched <- fmt.Sprintf("%s (%v)", out, err)
	}()
	waitFor(t, func() bool { _, err := h.ReadFile("/tmp/watching"); return err == nil })

	d := newTestDialer(t, DialerOptions{})
	root := mustDial(t, d, labTarget(l, h, "root"))
	becomeTarget := sudoTarget(l, h, "labuser")
	sudo := mustDial(t, d, becomeTarget)
	ctx := context.Background()
	const writes = 50
	for i := range writes {
		c := root
		if i%2 == 1 {
			c = sudo
		}
		secret := fmt.Sprintf("TOKEN=secret-%d\n", i)
		if err := c.WriteFile(ctx, fmt.Sprintf("/srv/secret/app-%d.env", i%5), []byte(secret), FileAttrs{Mode: 0o600, UID: -1, GID: -1}); err != nil {
			t.Fatal(err)
		}
	}
	hostExec(t, h, "touch /srv/secret/stop")
	out := <-watched
	if strings.Contains(out, "secret-") || !strings.Contains(out, "opened 0") {
		t.Errorf("the watching user read a secret:\n%s", out)
	}
	var events int
	fmt.Sscanf(out[strings.LastIndex(out, "events "):], "events %d", &events)
	if events < writes*2 { // a temp file created and a rename into place per write
		t.Errorf("the watcher saw %d events for %d writes: it did not watch\n%s", events, writes, out)
	}
}

// TestLabPlantedPaths: links, FIFOs and folders a user plants are neither read nor
// written through, as root and through sudo.
func TestLabPlantedPaths(t *testing.T) {
	l := startLab(t, 1)
	h := l.Hosts[0]
	hostExec(t, h, "mkdir -p /srv/root-owned /srv/open /srv/group && chmod 0777 /srv/open && chgrp labnosudo /srv/group && chmod 0775 /srv/group && "+
		"ln -s ../sysctl.conf /etc/sysctl.d/99-test.conf && mkfifo /srv/root-owned/fifo && ln -s /home/labnosudo/x /srv/root-owned/into-home")
	asUser(t, h, "ln -s /etc/cron.d /tmp/app && ln -s /etc/shadow /tmp/shadow.conf && mkdir /tmp/mine && mkfifo /tmp/mine/fifo && ln -s /etc/shadow /home/labnosudo/x")
	d := newTestDialer(t, DialerOptions{})
	becomeTarget := sudoTarget(l, h, "labuser")
	for _, c := range []Conn{mustDial(t, d, labTarget(l, h, "root")), mustDial(t, d, becomeTarget)} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		for _, tc := range []struct {
			path string
			want error
		}{
			{"/tmp/app/job", ErrUnsafePath},         // a user's link in /tmp
			{"/tmp/shadow.conf", ErrUnsafePath},     // directly in /tmp
			{"/tmp/mine/fifo", ErrUnsafePath},       // in a user's folder
			{"/srv/open/f", ErrUnsafePath},          // a folder every user may write
			{"/srv/group/f", ErrUnsafePath},         // a folder a user's group may write
			{"/srv/root-owned/fifo", ErrNotRegular}, // refused before any open
			{"/etc/sysctl.d/99-test.conf", ErrNotRegular},
			{"/srv/root-owned/into-home/f", ErrUnsafePath}, // a root link into a user's folder
		} {
			_, err := c.ReadFile(ctx, tc.path)
			if !errors.Is(err, tc.want) {
				t.Errorf("read %s: %v, want %v", tc.path, err, tc.want)
			}
			if err := c.WriteFile(ctx, tc.path, []byte("owned\n"), FileAttrs{UID: -1, GID: -1}); !errors.Is(err, tc.want) {
				t.Errorf("write %s: %v, want %v", tc.path, err, tc.want)
			}
			// (chmod never opens: a FIFO in root's folder may have its mode set)
			if err := c.Chmod(ctx, tc.path, 0o777); err == nil && !strings.HasSuffix(tc.path, "fifo") {
				t.Errorf("chmod %s worked", tc.path)
			}
			if err := c.SetModTime(ctx, tc.path, time.Unix(0, 0)); err == nil && !strings.HasSuffix(tc.path, "fifo") {
				t.Errorf("set the time of %s worked", tc.path)
			}
		}
		if err := c.Mkdir(ctx, "/tmp/app/sub", FileAttrs{UID: -1, GID: -1}); !errors.Is(err, ErrUnsafePath) {
			t.Errorf("mkdir through a planted link: %v", err)
		}
		// A root link in a root folder is followed only on purpose, and says where to.
		if real, err := c.Resolve(ctx, "/etc/sysctl.d/99-test.conf"); err != nil || real != "/etc/sysctl.conf" {
			t.Errorf("resolve Debian's sysctl link: %q %v", real, err)
		}
		if _, err := c.Resolve(ctx, "/srv/root-owned/into-home"); !errors.Is(err, ErrUnsafePath) {
			t.Errorf("resolve a link into a user's folder: %v", err)
		}
		if fi, err := c.Stat(ctx, "/etc/sysctl.d/99-test.conf"); err != nil || fi.Link != "../sysctl.conf" {
			t.Errorf("stat of a link: %+v %v", fi, err)
		}
		// Not even a look directly in /tmp: a creates guard there is anyone's to satisfy.
		if _, err := c.Stat(ctx, "/tmp/app"); !errors.Is(err, ErrUnsafePath) {
			t.Errorf("stat directly in /tmp: %v", err)
		}
		cancel()
	}
	if got := hostExec(t, h, "ls /etc/cron.d; stat -c %a /etc/shadow; test -p /srv/root-owned/fifo && echo fifo"); strings.Contains(got, "job") || !strings.Contains(got, "640\n") || !strings.Contains(got, "fifo") {
		t.Errorf("a planted path was written through:\n%s", got)
	}
}

// TestLabCommandStopped: a command that outlives its context is stopped on the host
// with its whole process group, also one that ignores signals and one run through sudo
// (sshd refuses signal requests, and closing the channel stops nothing).
func TestLabCommandStopped(t *testing.T) {
	l := startLab(t, 1)
	h := l.Hosts[0]
	d := newTestDialer(t, DialerOptions{})
	becomeTarget := sudoTarget(l, h, "labuser")
	conns := map[string]Conn{"root": mustDial(t, d, labTarget(l, h, "root")), "sudo": mustDial(t, d, becomeTarget)}
	for name, c := range conns {
		for i, cmd := range []string{
			"sleep 6; touch /srv/ran-" + name,
			"trap '' INT TERM HUP; sleep 1000; touch /srv/ran-" + name,
			"sleep 1000 & sleep 1000 & wait; touch /srv/ran-" + name,
		} {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			start := time.Now()
			_, err := c.Run(ctx, cmd, nil)
			cancel()
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("%s %d: %v", name, i, err)
			}
			if took := time.Since(start); took > stopTimeout {
				t.Errorf("%s %d: returned after %s", name, i, took)
			}
		}
	}
	time.Sleep(6 * time.Second) // the first command's touch would have run by now
	if got := hostExec(t, h, "ls /srv") + h.Processes(t, "sleep"); got != "" {
		t.Errorf("stopped commands went on:\n%s", got)
	}
}

// TestLabFileOpStopped: a file operation the server does not answer ends with its
// context; the server is stopped and the next operation opens a new one.
func TestLabFileOpStopped(t *testing.T) {
	l := startLab(t, 1)
	h := l.Hosts[0]
	c := mustDial(t, newTestDialer(t, DialerOptions{}), labTarget(l, h, "root"))
	hostExec(t, h, "echo hello > /srv/f")
	if _, err := c.ReadFile(context.Background(), "/srv/f"); err != nil {
		t.Fatal(err)
	}
	// Lab hosts share this machine's process ids: stop only this host's server.
	stop := exec.Command("/bin/sh", "-c", `for p in $(ip netns pids "$1"); do [ "$(cat /proc/$p/comm)" = sftp-server ] && kill -STOP $p; done; true`, "sh", h.NetNS)
	if out, err := stop.CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if _, err := c.ReadFile(ctx, "/srv/f"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("read from a stopped server: %v", err)
	}
	if got, err := c.ReadFile(context.Background(), "/srv/f"); err != nil || string(got) != "hello\n" {
		t.Fatalf("read after the stop: %q %v", got, err)
	}
	if left := h.Processes(t, "sftp-server"); strings.Contains(left, ") T ") {
		t.Errorf("the stopped sftp-server is still there: %q", left)
	}
}

// TestLabCommandNotInProcessList: a command's text (which may hold a secret) never
// shows in the host's process list, where every user can read it; with sudo neither.
func TestLabCommandNotInProcessList(t *testing.T) {
	l := startLab(t, 1)
	h := l.Hosts[0]
	d := newTestDialer(t, DialerOptions{})
	becomeTarget := sudoTarget(l, h, "labuser")
	var wg sync.WaitGroup
	for _, c := range []Conn{mustDial(t, d, labTarget(l, h, "root")), mustDial(t, d, becomeTarget)} {
		wg.Go(func() {
			res, err := c.Run(context.Background(), "sleep 2; echo TOKEN=hunter2-$((40+2)) >/dev/null; echo done", nil)
			if err != nil || string(res.Stdout) != "done\n" {
				t.Errorf("run: %+v %v", res, err)
			}
		})
	}
	seen := asUser(t, h, `n=0; while [ $n -lt 30 ]; do cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\0' ' ' | grep -o 'TOKEN=hunter2-[$]'; sleep 0.05; n=$((n+1)); done; true`)
	wg.Wait()
	if seen != "" {
		t.Errorf("the command's text was in the process list: %q", seen)
	}
}

// TestAtomicWriteStaged: where the server's umask is not ours (the SFTP subsystem of a
// host whose sftp-server hostplan cannot find), the temp file is created inside a
// folder that is private (0700) before the file exists.
func TestAtomicWriteStaged(t *testing.T) {
	dir := t.TempDir()
	fsys := &wideFS{t: t}
	p := dir + "/app.env"
	if err := atomicWrite(context.Background(), fsys, p, []byte("TOKEN=x\n"), FileAttrs{Mode: 0o600, UID: -1, GID: -1}, true); err != nil {
		t.Fatal(err)
	}
	if fsys.created == 0 {
		t.Fatal("no temp file created")
	}
	names, _ := osOps{}.readDirNames(dir)
	if len(names) != 1 || names[0] != "app.env" {
		t.Errorf("left behind: %v", names)
	}
}

// wideFS is the os file system with a umask of 022 for what it creates, as an SFTP
// server we do not start has; it checks that every temp file is created in a private
// folder.
type wideFS struct {
	osOps
	t       *testing.T
	created int
}

func (w *wideFS) privateCreate() bool { return false }

func (w *wideFS) mkdirRaw(p string) error {
	if err := os.Mkdir(p, 0o755); err != nil {
		return err
	}
	return os.Chmod(p, 0o755) // whatever this process's umask
}

func (w *wideFS) createTemp(p string) (tempFile, error) {
	parent, err := w.lstat(p[:strings.LastIndex(p, "/")])
	if err != nil {
		return nil, err
	}
	if parent.Mode.Perm() != 0o700 {
		w.t.Errorf("temp file %s created in a folder of mode %04o", p, parent.Mode.Perm())
	}
	w.created++
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, err
	}
	return osTemp{f}, nil
}

// TestLabReadOnlyMount: sftp-server says a bare "Failure" for a read-only file system;
// the error says what it was.
func TestLabReadOnlyMount(t *testing.T) {
	l := startLab(t, 1)
	h := l.Hosts[0]
	hostExec(t, h, "mkdir -p /srv/ro && mount -t tmpfs -o ro,mode=0755 tmpfs /srv/ro")
	c := mustDial(t, newTestDialer(t, DialerOptions{}), labTarget(l, h, "root"))
	err := c.WriteFile(context.Background(), "/srv/ro/f", []byte("x"), FileAttrs{UID: -1, GID: -1})
	if err == nil || !strings.Contains(err.Error(), "read-only file system: /srv/ro is on a file system mounted read-only") {
		t.Errorf("write on a read-only mount: %v", err)
	}
}
