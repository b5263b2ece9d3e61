package lab

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Namespaces are created and entered from Go, on an OS thread locked to a goroutine
// that never unlocks it: the Go runtime then ends that thread with the goroutine, so no
// other goroutine ever runs in a lab host's namespaces. (This replaces unshare(1),
// nsenter(1), ip(8) and ~15 mount(8) processes per host: under load every exec costs
// tens of milliseconds.)

// createNamespaces creates the host's network, mount and UTS namespaces, mounts its
// file systems and binds the namespaces to /run/netns/NetNS, Dir/hN.mnt and Dir/hN.uts.
func (h *Host) createNamespaces(base *baseFiles) error {
	type ready struct {
		tid int
		err error
	}
	readyc := make(chan ready, 1)
	release := make(chan struct{})
	go func() {
		runtime.LockOSThread() // for good: this thread must die with the goroutine
		if err := h.setupNamespaces(base); err != nil {
			readyc <- ready{err: err}
			return
		}
		readyc <- ready{tid: unix.Gettid()}
		<-release // keep the namespaces alive until they are bound
	}()
	r := <-readyc
	defer close(release)
	if r.err != nil {
		return fmt.Errorf("lab: %s: %w", h.Name, r.err)
	}
	// This goroutine's thread is in the real mount namespace, where the binds belong.
	for _, b := range []struct{ ns, target string }{
		{"net", filepath.Join(netnsDir, h.NetNS)}, {"mnt", h.mntNS()}, {"uts", h.utsNS()},
	} {
		src := fmt.Sprintf("/proc/%d/task/%d/ns/%s", os.Getpid(), r.tid, b.ns)
		if err := unix.Mount(src, b.target, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("lab: %s: bind %s namespace to %s: %w", h.Name, b.ns, b.target, err)
		}
	}
	return nil
}

// setupNamespaces runs on a locked thread: it moves the thread to new namespaces and
// mounts the host's file systems there.
func (h *Host) setupNamespaces(base *baseFiles) error {
	D, H := h.lab.Dir, h.dir
	if err := unix.Unshare(unix.CLONE_NEWNS | unix.CLONE_NEWNET | unix.CLONE_NEWUTS); err != nil {
		return fmt.Errorf("unshare: %w", err)
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make / private: %w", err)
	}
	if err := loUp(); err != nil {
		return err
	}
	// The new mount namespace is a copy of the real one: drop the copies of other labs'
	// and hosts' namespace files (under /run and the lab dir) so they do not keep those
	// namespaces alive. Lazy unmounts only affect this namespace.
	mounts, err := readMountPoints("/proc/thread-self/mountinfo")
	if err != nil {
		return err
	}
	sort.Sort(sort.Reverse(sort.StringSlice(mounts)))
	for _, m := range mounts {
		if strings.HasPrefix(m, "/run/") || strings.HasPrefix(m, D+"/") {
			_ = unix.Unmount(m, unix.MNT_DETACH)
		}
	}
	// A private /run: sshd's privilege separation dir, sudo's timestamps, and no way to
	// reach the real machine's systemd or dbus. The lab dir is bound back in if it
	// lives there.
	run := filepath.Join(H, "run")
	if err := unix.Mount("tmpfs", run, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0755,size=64m"); err != nil {
		return fmt.Errorf("mount tmpfs on %s: %w", run, err)
	}
	for _, d := range []string{"sshd", "lock", "user"} {
		if err := os.Mkdir(filepath.Join(run, d), 0o755); err != nil {
			return err
		}
	}
	if err := os.Chmod(filepath.Join(run, "lock"), os.ModeSticky|0o777); err != nil {
		return err
	}
	if rel, ok := strings.CutPrefix(D, "/run/"); ok {
		p := filepath.Join(run, rel)
		if err := os.MkdirAll(p, 0o755); err != nil {
			return err
		}
		if err := unix.Mount(D, p, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind %s: %w", D, err)
		}
	}
	if err := unix.Mount(run, "/run", "", unix.MS_MOVE, ""); err != nil {
		return fmt.Errorf("move %s to /run: %w", run, err)
	}
	for _, d := range base.overlays {
		opts := fmt.Sprintf("lowerdir=/%[1]s,upperdir=%[2]s/upper/%[1]s,workdir=%[2]s/work/%[1]s", d, H)
		if err := unix.Mount("overlay", "/"+d, "overlay", 0, opts); err != nil {
			return fmt.Errorf("mount overlay on /%s: %w", d, err)
		}
	}
	for _, i := range base.empties {
		d := emptyDirs[i].name
		if err := unix.Mount(filepath.Join(H, d), "/"+d, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind %s: %w", d, err)
		}
	}
	// The sysfs of this network namespace (/sys/class/net lists lo only), as `ip netns
	// exec` does.
	_ = unix.Unmount("/sys", unix.MNT_DETACH)
	if err := unix.Mount("sysfs", "/sys", "sysfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("mount sysfs: %w", err)
	}
	if err := unix.Sethostname([]byte(h.Name)); err != nil {
		return fmt.Errorf("sethostname: %w", err)
	}
	return nil
}

// loUp brings up the loopback interface of the calling thread's network namespace.
func loUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	defer unix.Close(fd)
	var req struct {
		name  [unix.IFNAMSIZ]byte
		flags uint16
		_     [22]byte
	}
	copy(req.name[:], "lo")
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCGIFFLAGS, uintptr(unsafe.Pointer(&req))); e != 0 {
		return fmt.Errorf("SIOCGIFFLAGS lo: %w", e)
	}
	req.flags |= unix.IFF_UP
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCSIFFLAGS, uintptr(unsafe.Pointer(&req))); e != 0 {
		return fmt.Errorf("SIOCSIFFLAGS lo: %w", e)
	}
	return nil
}

// startIn starts cmd inside the host's namespaces: it is forked from a locked thread
// that first joins them (the child inherits the thread's namespaces; cwd is "/").
func (h *Host) startIn(cmd *exec.Cmd) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // for good: this thread joins the host and must die with us
		if err := h.enter(); err != nil {
			errc <- fmt.Errorf("lab: %s: %w", h.Name, err)
			return
		}
		errc <- cmd.Start()
	}()
	return <-errc
}

// enter moves the calling (locked) thread into the host's namespaces.
func (h *Host) enter() error {
	// setns to a mount namespace needs a thread-private fs struct (root, cwd).
	if err := unix.Unshare(unix.CLONE_FS); err != nil {
		return fmt.Errorf("unshare fs: %w", err)
	}
	for _, ns := range []struct {
		path string
		typ  int
	}{
		{filepath.Join(netnsDir, h.NetNS), unix.CLONE_NEWNET},
		{h.utsNS(), unix.CLONE_NEWUTS},
		{h.mntNS(), unix.CLONE_NEWNS}, // last: the paths above are in the real mount namespace
	} {
		fd, err := unix.Open(ns.path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("open %s: %w", ns.path, err)
		}
		err = unix.Setns(fd, ns.typ)
		unix.Close(fd)
		if err != nil {
			return fmt.Errorf("setns %s: %w", ns.path, err)
		}
	}
	return nil
}

// readMountPoints lists the mount points in a mountinfo file, in mount order.
func readMountPoints(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 {
			out = append(out, unescapeMount(f[4]))
		}
	}
	return out, nil
}
