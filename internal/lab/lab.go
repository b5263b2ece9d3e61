// Package lab runs throwaway "lab hosts" on this machine for integration tests and demos:
// each host is a network namespace plus persistent mount and UTS namespaces (overlays over
// /etc, /usr, /var and /opt; empty /root, /home, /tmp, /srv; a private /run and /sys),
// reached through a real OpenSSH server (`sshd -i`, one per TCP connection) on
// 127.0.1.N:PORT (127.0.2.N and on past 254 hosts). Nothing done on a lab host touches the real machine's files.
//
// A lab needs root (CAP_SYS_ADMIN) and OpenSSH's sshd and sftp-server. Tests use
// ForTest, which skips when those are missing.
package lab

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// Lab users. Every lab user (and root) accepts Lab.UserKey.
const (
	// SudoUser may run anything with `sudo` and no password.
	SudoUser = "labuser"
	// PasswordSudoUser may run anything with `sudo`, after giving SudoPassword.
	PasswordSudoUser = "labpass"
	// SudoPassword is PasswordSudoUser's login (and sudo) password.
	SudoPassword = "labpass-password"
	// NoSudoUser is not in sudoers.
	NoSudoUser = "labnosudo"
	// KeyPassphrase encrypts Lab.EncryptedUserKey.
	KeyPassphrase = "lab-passphrase"
	// DefaultRoot holds the state directories of labs started without Options.Dir.
	DefaultRoot = "/run/hostplan-lab"
	// MaxHosts is the largest Options.Hosts (see hostAddress). Each host is a network
	// and mount namespace with four overlays; sshd runs per connection, so an idle host
	// costs no process.
	MaxHosts = 2000
)

// Options configure Start.
type Options struct {
	Hosts int    // number of hosts, default 3
	Dir   string // state dir; default DefaultRoot/<Name>; must not be under a path the hosts cover
	Name  string // unique lab name; default "hp" + 6 random hex digits
	// Groups returns the inventory groups of host i (0-based index into Lab.Hosts) for
	// WriteInventory; nil puts every host in the single group "lab".
	Groups func(i int) []string
	// SSHDConfig goes first into every host's sshd_config, so it wins over the lab's
	// settings (sshd keeps the first value of a keyword): "MaxSessions 2\n".
	SSHDConfig string
	// Daemon runs one listening sshd per host, as a real server does, and relays each
	// connection to it, instead of one `sshd -i` per connection: only a daemon
	// enforces MaxStartups and LoginGraceTime.
	Daemon bool
}

// Lab is a set of running lab hosts. Stop it when done.
type Lab struct {
	Name             string
	Dir              string
	KnownHosts       string // path of the known_hosts file ([127.0.1.N]:PORT, ed25519 and ecdsa keys)
	UserKey          string // path of the unencrypted private key accepted for every lab user
	EncryptedUserKey string // same key, encrypted with KeyPassphrase
	Hosts            []*Host

	groups     func(i int) []string
	sshdConfig string
	daemon     bool
	signer     ssh.Signer
	owner      *os.File // flock'ed for the lab's lifetime: Clean leaves labs with a live owner alone

	mu      sync.Mutex
	stopped bool
	startMu sync.RWMutex   // held (R) while starting a process in a host; Stop takes it (W)
	conns   sync.WaitGroup // sshd processes still running (Add only under mu while !stopped)
	accepts sync.WaitGroup // accept loops
	// stopHooks end what runs beside the hosts (a kube cluster's etcd, forwarders,
	// stand-in kubelets): Stop calls them, last added first, before it kills the hosts'
	// processes. Appended under mu while !stopped.
	stopHooks []func() error

	links     linkState     // link.go
	firewalls firewallState // firewalld.go
	kubes     kubeState     // kube.go

	stopOnce sync.Once
	stopErr  error
}

// state is Dir/lab.json: what Clean needs to tear down a lab whose owner died.
type state struct {
	Name  string   `json:"name"`
	PID   int      `json:"pid"`
	NetNS []string `json:"netns"`
}

var (
	nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,15}$`)
	// Paths go into overlay mount options and shell scripts unquoted.
	dirRE = regexp.MustCompile(`^/[A-Za-z0-9._/-]+$`)
	// The names in a lab's state dir.
	labEntryRE = regexp.MustCompile(`^(owner|owner\.tmp|lab\.json|known_hosts|authorized_keys|id_ed25519.*|h[0-9]+(\.mnt|\.uts)?)$`)
	// Paths the hosts cover with their own mounts: a state dir there would be hidden from sshd.
	coveredDirs = []string{"/etc", "/usr", "/var", "/opt", "/root", "/home", "/tmp", "/srv", "/sys"}
)

// Unavailable says why labs cannot run here ("" when they can): not root, no
// CAP_SYS_ADMIN, or a missing program.
func Unavailable() string {
	if os.Geteuid() != 0 {
		return "lab hosts need root (namespaces, mounts)"
	}
	if !hasCapSysAdmin() {
		return "lab hosts need CAP_SYS_ADMIN (mounts, namespaces)"
	}
	if _, err := os.Stat(sshdPath); err != nil {
		return "no OpenSSH server at " + sshdPath + " (apt-get install openssh-server)"
	}
	if sftpServerPath() == "" {
		return "no OpenSSH sftp-server found (apt-get install openssh-server)"
	}
	if _, err := os.Stat("/bin/sh"); err != nil {
		return "no /bin/sh"
	}
	return ""
}

func hasCapSysAdmin() bool {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			caps, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return err == nil && caps&(1<<21) != 0
		}
	}
	return false
}

// Start starts a lab. ctx bounds the start only: the lab runs until Stop. It first
// removes stale labs (dead owner) under DefaultRoot.
func Start(ctx context.Context, opts Options) (l *Lab, err error) {
	if reason := Unavailable(); reason != "" {
		return nil, errors.New("lab: " + reason)
	}
	if opts.Hosts == 0 {
		opts.Hosts = 3
	}
	if opts.Hosts < 1 || opts.Hosts > MaxHosts {
		return nil, fmt.Errorf("lab: %d hosts: want 1..%d", opts.Hosts, MaxHosts)
	}
	if opts.Name == "" {
		var b [3]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, err
		}
		opts.Name = "hp" + hex.EncodeToString(b[:])
	}
	if !nameRE.MatchString(opts.Name) {
		return nil, fmt.Errorf("lab: name %q: want 1-16 of [a-z0-9-]", opts.Name)
	}
	if opts.Dir == "" {
		opts.Dir = filepath.Join(DefaultRoot, opts.Name)
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, err
	}
	if !dirRE.MatchString(dir) {
		return nil, fmt.Errorf("lab: state dir %q: only [A-Za-z0-9._/-] allowed", dir)
	}
	for _, c := range coveredDirs {
		if dir == c || strings.HasPrefix(dir, c+"/") {
			return nil, fmt.Errorf("lab: state dir %s is under %s, which lab hosts cover with their own mount", dir, c)
		}
	}
	_ = Clean(DefaultRoot) // best effort; a failure here must not stop a new lab

	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return nil, err
	}
	if filepath.Dir(dir) == DefaultRoot {
		if err := os.Chmod(DefaultRoot, 0o755); err != nil { // whatever the umask
			return nil, err
		}
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	// sshd reads authorized_keys as the login user: every level must be traversable.
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, err
	}
	l = &Lab{
		Name:             opts.Name,
		Dir:              dir,
		KnownHosts:       filepath.Join(dir, "known_hosts"),
		UserKey:          filepath.Join(dir, "id_ed25519"),
		EncryptedUserKey: filepath.Join(dir, "id_ed25519_encrypted"),
		groups:           opts.Groups,
		sshdConfig:       opts.SSHDConfig,
		daemon:           opts.Daemon,
	}
	defer func() {
		if err != nil {
			_ = l.Stop()
			l = nil
		}
	}()
	if err := l.takeOwnership(); err != nil {
		return l, err
	}
	st := state{Name: l.Name, PID: os.Getpid()}
	for i := 1; i <= opts.Hosts; i++ {
		h := &Host{
			Name:    "h" + strconv.Itoa(i),
			Address: hostAddress(i),
			NetNS:   l.Name + "-h" + strconv.Itoa(i),
			lab:     l,
		}
		h.dir = filepath.Join(dir, h.Name)
		l.Hosts = append(l.Hosts, h)
		st.NetNS = append(st.NetNS, h.NetNS)
	}
	if err := writeJSON(filepath.Join(dir, "lab.json"), st); err != nil {
		return l, err
	}
	if err := ensureNetnsDir(); err != nil {
		return l, err
	}
	if l.signer, err = l.writeUserKeys(); err != nil {
		return l, err
	}
	base, err := readBaseFiles()
	if err != nil {
		return l, err
	}
	for _, h := range l.Hosts {
		ln, err := net.Listen("tcp", net.JoinHostPort(h.Address, "0"))
		if err != nil {
			return l, fmt.Errorf("lab: %s: %w", h.Name, err)
		}
		h.ln = ln
		h.Port = ln.Addr().(*net.TCPAddr).Port
	}

	errs := make([]error, len(l.Hosts))
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for i, h := range l.Hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			if errs[i] = ctx.Err(); errs[i] == nil {
				errs[i] = h.setup(base)
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return l, err
	}
	if l.daemon {
		for _, h := range l.Hosts {
			if err := h.startDaemon(ctx); err != nil {
				return l, err
			}
		}
	}
	if err := l.writeKnownHosts(); err != nil {
		return l, err
	}
	l.mu.Lock()
	for _, h := range l.Hosts {
		l.accepts.Add(1)
		go h.serve(h.ln)
	}
	l.mu.Unlock()
	return l, nil
}

// hostAddress is host n's loopback address (n from 1): 127.0.1.1 to 127.0.1.254, then
// 127.0.2.1 and on, never .0 or .255 of a /24.
func hostAddress(n int) string {
	return fmt.Sprintf("127.0.%d.%d", 1+(n-1)/254, 1+(n-1)%254)
}

// takeOwnership creates Dir/owner, locked (flock) for as long as this process runs the lab.
// The file is locked before it gets its final name, so Clean never sees it unlocked.
func (l *Lab) takeOwnership() error {
	tmp := filepath.Join(l.Dir, "owner.tmp")
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return fmt.Errorf("lab: lock %s: %w", tmp, err)
	}
	if _, err := fmt.Fprintf(f, "%d\n", os.Getpid()); err != nil {
		f.Close()
		return err
	}
	if err := os.Rename(tmp, filepath.Join(l.Dir, "owner")); err != nil {
		f.Close()
		return err
	}
	l.owner = f
	return nil
}

// Signer is the lab user key (the one in UserKey), for Go SSH clients.
func (l *Lab) Signer() ssh.Signer { return l.signer }

// Host returns the host called name (h1, h2, ...), or nil.
func (l *Lab) Host(name string) *Host {
	for _, h := range l.Hosts {
		if h.Name == name {
			return h
		}
	}
	return nil
}

// TrustHostKeys rewrites KnownHosts with every host's current keys, as an operator does
// after checking a host's new key (RotateHostKey).
func (l *Lab) TrustHostKeys() error { return l.writeKnownHosts() }

func (l *Lab) writeKnownHosts() error {
	var b strings.Builder
	for _, h := range l.Hosts {
		b.WriteString(h.KnownHostsLines())
	}
	return os.WriteFile(l.KnownHosts, []byte(b.String()), 0o644)
}

// Stop kills every process running in the lab's hosts, unmounts everything, deletes the
// network namespaces and the state dir. It is idempotent; later calls return the first
// call's error.
func (l *Lab) Stop() error {
	l.stopOnce.Do(func() { l.stopErr = l.stop() })
	return l.stopErr
}

func (l *Lab) stop() error {
	l.mu.Lock()
	l.stopped = true
	for _, h := range l.Hosts {
		h.mu.Lock()
		if h.ln != nil {
			h.ln.Close()
			h.ln = nil
		}
		h.mu.Unlock()
	}
	l.mu.Unlock()
	l.accepts.Wait()
	l.startMu.Lock() // wait for processes being started, so that the kill below sees them
	l.startMu.Unlock()
	var errs []error
	for i := len(l.stopHooks) - 1; i >= 0; i-- {
		if err := l.stopHooks[i](); err != nil {
			errs = append(errs, err)
		}
	}

	var netns []string
	for _, h := range l.Hosts {
		netns = append(netns, h.NetNS)
	}
	// Start only calls Stop once it created Dir, so Dir is this lab's to delete.
	inodes := map[uint64]bool{}
	for _, h := range l.Hosts {
		for _, f := range []*os.File{h.ns.net, h.ns.mnt, h.ns.uts} {
			if f == nil {
				continue
			}
			if fi, err := f.Stat(); err == nil {
				inodes[fi.Sys().(*syscall.Stat_t).Ino] = true
			}
		}
	}
	errs = append(errs, teardown(l.Dir, netns, inodes))
	for _, h := range l.Hosts {
		h.ns.close() // the last reference to an empty host's mount namespace
	}
	done := make(chan struct{})
	go func() { l.conns.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		errs = append(errs, errors.New("lab: sshd processes still running 10s after being killed"))
	}
	if l.owner != nil {
		l.owner.Close()
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("lab %s: stop: %w", l.Name, err)
	}
	return nil
}

// onStop registers fn to run at Stop (see stopHooks); errStopped once Stop began.
func (l *Lab) onStop(fn func() error) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stopped {
		return errStopped
	}
	l.stopHooks = append(l.stopHooks, fn)
	return nil
}

// Clean removes the labs under root whose owner process is gone (killed test runs).
// Labs with a live owner, and directories that are not labs, are left alone.
func Clean(root string) error {
	entries, err := os.ReadDir(root)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range entries {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		if err := cleanOne(filepath.Join(root, e.Name())); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func cleanOne(dir string) error {
	f, err := os.OpenFile(filepath.Join(dir, "owner"), os.O_RDWR, 0)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			return err
		}
		// No owner yet: a Start in its first microseconds, or one that died there.
		fi, err := os.Stat(dir)
		if err != nil || time.Since(fi.ModTime()) < time.Minute {
			return nil
		}
		// Never delete a directory that is not a lab's: only one with nothing but lab
		// state files (a Start or Stop that died half way).
		entries, err := os.ReadDir(dir)
		if err != nil {
			return nil
		}
		for _, e := range entries {
			if !labEntryRE.MatchString(e.Name()) {
				return nil
			}
		}
	} else {
		defer f.Close()
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			if errors.Is(err, syscall.EWOULDBLOCK) {
				return nil // owner alive
			}
			return err
		}
	}
	var st state
	if b, err := os.ReadFile(filepath.Join(dir, "lab.json")); err == nil {
		if err := json.Unmarshal(b, &st); err != nil {
			return fmt.Errorf("lab: %s: %w", dir, err)
		}
	}
	return teardown(dir, st.NetNS, nil)
}

// teardown kills the processes in the lab's namespaces (the netns names and the
// namespace inodes), removes the netns files, any mount under dir and dir itself.
// Missing pieces are fine (idempotent).
func teardown(dir string, netns []string, inodes map[uint64]bool) error {
	all := map[uint64]bool{}
	for ino := range inodes {
		all[ino] = true
	}
	var nsPaths []string
	for _, n := range netns {
		p := filepath.Join(netnsDir, n)
		nsPaths = append(nsPaths, p)
		var sfs syscall.Statfs_t
		var st syscall.Stat_t
		if syscall.Statfs(p, &sfs) == nil && sfs.Type == nsfsMagic && syscall.Stat(p, &st) == nil {
			all[st.Ino] = true
		}
	}
	var errs []error
	if err := killNamespaces(all); err != nil {
		errs = append(errs, err)
	}
	for _, p := range nsPaths {
		if err := syscall.Unmount(p, syscall.MNT_DETACH); err != nil && err != syscall.EINVAL && err != syscall.ENOENT {
			errs = append(errs, fmt.Errorf("umount %s: %w", p, err))
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	// Labs mount nothing under dir; a lab of an older version of this package did.
	mounts, err := readMountPoints("/proc/thread-self/mountinfo")
	if err != nil {
		errs = append(errs, err)
	}
	for i := len(mounts) - 1; i >= 0; i-- {
		m := mounts[i]
		if m == dir || strings.HasPrefix(m, dir+"/") {
			if err := syscall.Unmount(m, syscall.MNT_DETACH); err != nil && err != syscall.EINVAL && err != syscall.ENOENT {
				errs = append(errs, fmt.Errorf("umount %s: %w", m, err))
			}
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

const nsfsMagic = 0x6e736673

// killNamespaces SIGKILLs every process in one of the namespaces (by inode), until
// none is left (processes may fork while we look).
func killNamespaces(inodes map[uint64]bool) error {
	if len(inodes) == 0 {
		return nil
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		pids := pidsIn(inodes)
		if len(pids) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("processes %v survive SIGKILL", pids)
		}
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// pidsIn lists the processes whose net, mnt or uts namespace has one of the inodes.
// Zombies have no namespaces left and are not listed.
func pidsIn(inodes map[uint64]bool) []int {
	d, err := os.Open("/proc")
	if err != nil {
		return nil
	}
	names, _ := d.Readdirnames(-1)
	d.Close()
	self := os.Getpid()
	var pids []int
	for _, n := range names {
		pid, err := strconv.Atoi(n)
		if err != nil || pid == self {
			continue
		}
		for _, ns := range []string{"net", "mnt", "uts"} {
			link, err := os.Readlink("/proc/" + n + "/ns/" + ns)
			if err != nil {
				break
			}
			// "net:[4026532001]"
			i := strings.IndexByte(link, '[')
			ino, err := strconv.ParseUint(strings.TrimSuffix(link[i+1:], "]"), 10, 64)
			if i >= 0 && err == nil && inodes[ino] {
				pids = append(pids, pid)
				break
			}
		}
	}
	return pids
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space, ...).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

const netnsDir = "/run/netns"

// ensureNetnsDir makes /run/netns a shared mount point, as `ip netns add` does, so the
// hosts' netns files work with `ip netns exec/pids`. Serialised across processes: two
// concurrent first-time setups would stack two bind mounts.
func ensureNetnsDir() error {
	if err := os.MkdirAll(DefaultRoot, 0o755); err != nil {
		return err
	}
	lf, err := os.OpenFile(filepath.Join(DefaultRoot, ".lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	defer lf.Close()
	if err := syscall.Flock(int(lf.Fd()), syscall.LOCK_EX); err != nil {
		return err
	}
	if err := os.MkdirAll(netnsDir, 0o755); err != nil {
		return err
	}
	err = syscall.Mount("", netnsDir, "none", syscall.MS_SHARED|syscall.MS_REC, "")
	if err == syscall.EINVAL { // not a mount point yet
		if err := syscall.Mount(netnsDir, netnsDir, "none", syscall.MS_BIND|syscall.MS_REC, ""); err != nil {
			return fmt.Errorf("lab: bind mount %s: %w", netnsDir, err)
		}
		err = syscall.Mount("", netnsDir, "none", syscall.MS_SHARED|syscall.MS_REC, "")
	}
	if err != nil {
		return fmt.Errorf("lab: make %s shared: %w", netnsDir, err)
	}
	return nil
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// WriteInventory writes an HCL inventory of the lab's hosts that logs in as user with the
// lab key and known_hosts:
//
//	defaults {
//	  user          = "root"
//	  identity_file = "/run/hostplan-lab/hp1a2b3c/id_ed25519"
//	  known_hosts   = "/run/hostplan-lab/hp1a2b3c/known_hosts"
//	}
//	host "h1" {
//	  address = "127.0.1.1"
//	  port    = 40123
//	  groups  = ["lab"]
//	}
func (l *Lab) WriteInventory(path, user string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# Lab %s (hostplan-lab); valid while the lab runs.\n", l.Name)
	fmt.Fprintf(&b, "defaults {\n  user          = %s\n  identity_file = %s\n  known_hosts   = %s\n}\n",
		hclQuote(user), hclQuote(l.UserKey), hclQuote(l.KnownHosts))
	for i, h := range l.Hosts {
		groups := []string{"lab"}
		if l.groups != nil {
			groups = l.groups(i)
		}
		q := make([]string, len(groups))
		for j, g := range groups {
			q[j] = hclQuote(g)
		}
		fmt.Fprintf(&b, "\nhost %s {\n  address = %s\n  port    = %d\n  groups  = [%s]\n}\n",
			hclQuote(h.Name), hclQuote(h.Address), h.Port, strings.Join(q, ", "))
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

func hclQuote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\r", `\r`, "\t", `\t`, "${", "$${", "%{", "%%{")
	return `"` + r.Replace(s) + `"`
}

// knownHostsLine is one known_hosts line for key at host:port.
func knownHostsLine(addr string, port int, key ssh.PublicKey) string {
	return knownhosts.Line([]string{knownhosts.Normalize(net.JoinHostPort(addr, strconv.Itoa(port)))}, key) + "\n"
}
