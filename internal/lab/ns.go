package lab

import (
	"errors"
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
//
// A host's mount and UTS namespaces live as long as the Lab holds a file descriptor of
// them (and while processes run in them): they are not bound to files. Binding a mount
// namespace file fails with EINVAL at random on Linux 6.18 when the binding process is
// not in the initial mount namespace (mnt_ns_loop compares namespace ids, which are no
// longer allocated in order), e.g. in a container. And a lab whose owner died leaves no
// mounts behind this way. The network namespace is also bound to /run/netns/NetNS, like
// `ip netns add` does, so `ip netns exec` works and Clean can find a dead lab's processes.

// nsFiles are open namespace files of one host.
type nsFiles struct{ net, mnt, uts *os.File }

func (n *nsFiles) close() {
	for _, f := range []*os.File{n.net, n.mnt, n.uts} {
		if f != nil {
			f.Close()
		}
	}
}

// createNamespaces creates the host's network, mount and UTS namespaces, mounts its
// file systems, keeps the namespaces open in h.ns and binds the network namespace to
// /run/netns/NetNS.
func (h *Host) createNamespaces(base *baseFiles) error {
	type result struct {
		ns  nsFiles
		err error
	}
	resc := make(chan result, 1)
	onThrowawayThread(func() {
		var r result
		if r.err = h.setupNamespaces(base); r.err == nil {
			r.ns, r.err = openNamespaces()
		}
		resc <- r
	})
	r := <-resc
	if r.err != nil {
		return fmt.Errorf("lab: %s: %w", h.Name, r.err)
	}
	h.ns = r.ns
	// This goroutine's thread is in the real mount namespace, where the bind belongs.
	target := filepath.Join(netnsDir, h.NetNS)
	if err := unix.Mount(fmt.Sprintf("/proc/self/fd/%d", h.ns.net.Fd()), target, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("lab: %s: bind network namespace to %s: %w", h.Name, target, err)
	}
	return nil
}

// openNamespaces opens the calling thread's network, mount and UTS namespaces.
func openNamespaces() (nsFiles, error) {
	var n nsFiles
	for _, x := range []struct {
		f    **os.File
		name string
	}{{&n.net, "net"}, {&n.mnt, "mnt"}, {&n.uts, "uts"}} {
		f, err := os.Open("/proc/thread-self/ns/" + x.name)
		if err != nil {
			n.close()
			return nsFiles{}, err
		}
		*x.f = f
	}
	return n, nil
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
	// The new mount namespace is a copy of the real one: drop its copies of the mounts
	// under /run (other hosts' /run/netns files: they would keep those namespaces alive)
	// and under the lab dir. Lazy unmounts only affect this namespace.
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

var errStopped = errors.New("lab: stopped")

// startIn starts cmd inside the host's namespaces: it is forked from a locked thread
// that first joins them (the child inherits the thread's namespaces; cwd is "/").
// With track, a started process is counted in Lab.conns (the caller calls Done).
// Nothing starts once Stop began: Stop waits for starts in flight before it kills.
func (h *Host) startIn(cmd *exec.Cmd, track bool) error {
	l := h.lab
	l.startMu.RLock()
	defer l.startMu.RUnlock()
	if l.isStopped() {
		return errStopped
	}
	defer func() {
		if track && cmd.Process != nil {
			l.conns.Add(1)
		}
	}()
	errc := make(chan error, 1)
	onThrowawayThread(func() {
		if err := h.enter(); err != nil {
			errc <- fmt.Errorf("lab: %s: %w", h.Name, err)
			return
		}
		errc <- cmd.Start()
	})
	return <-errc
}

// onThrowawayThread runs fn in a new goroutine locked to an OS thread that the Go
// runtime ends when fn returns, so fn may move the thread to other namespaces. That
// thread is never the main thread: the runtime does not end the main thread but parks
// it for good, and /proc/self shows the main thread's namespaces, so a main thread
// left in a lab host would change /proc/self/mountinfo & co. for the whole process.
func onThrowawayThread(fn func()) {
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with this goroutine
		if unix.Gettid() != unix.Getpid() {
			fn()
			return
		}
		// We hold the main thread, so a goroutine started now cannot get it. Give the
		// main thread back (unlock) once that goroutine is done.
		done := make(chan struct{})
		go func() {
			defer close(done)
			runtime.LockOSThread()
			fn()
		}()
		<-done
		runtime.UnlockOSThread()
	}()
}

// enter moves the calling (locked) thread into the host's namespaces.
func (h *Host) enter() error {
	// setns to a mount namespace needs a thread-private fs struct (root, cwd).
	if err := unix.Unshare(unix.CLONE_FS); err != nil {
		return fmt.Errorf("unshare fs: %w", err)
	}
	for _, ns := range []struct {
		f   *os.File
		typ int
	}{{h.ns.net, unix.CLONE_NEWNET}, {h.ns.uts, unix.CLONE_NEWUTS}, {h.ns.mnt, unix.CLONE_NEWNS}} {
		if err := unix.Setns(int(ns.f.Fd()), ns.typ); err != nil {
			return fmt.Errorf("setns %s: %w", ns.f.Name(), err)
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
