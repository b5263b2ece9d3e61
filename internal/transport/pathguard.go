package transport

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"sync"
)

// The path rule. hostplan reads and writes as root on hosts where other local users may
// be hostile. Such a user can plant a symlink, a FIFO or a directory of their own in any
// directory they may write to; the kernel's protected_symlinks and friends are not
// relied on (they are machine-wide and may be off). So, like OpenSSH's StrictModes and
// sudo, every path is walked from / one component at a time with lstat:
//
//   - A directory is trusted when it is owned by root or by the acting user (the user
//     hostplan's file operations run as) and no one else may write to it (group write is
//     allowed only for group root). Nobody else can then add, remove or replace entries
//     in it, so what lstat saw stays true for the rest of the run.
//   - A sticky world-writable directory such as /tmp may be passed through only to an
//     entry owned by root or the acting user: the sticky bit keeps others from renaming
//     or removing it. Nothing directly in it is used, not even looked at: Stat refuses
//     it too, so a plan fails on such a path before apply changes anything.
//   - A symlink is followed only where it lies in a trusted directory (then only root or
//     the acting user can have made it); its target is walked by the same rule. The last
//     component is never followed implicitly: ReadFile and WriteFile refuse a symlink
//     there, and a resource that wants to follow one (a sysctl.d file that Debian links
//     to /etc/sysctl.conf, a linked manifest) calls Resolve and says so in its plan.
//   - Only regular files are read or replaced: a FIFO, device or socket is refused
//     before anything opens it (an open of a FIFO blocks for ever).

// ErrUnsafePath marks a path hostplan refuses to use because another user could
// redirect or replace it. Test with errors.Is.
var ErrUnsafePath = errors.New("unsafe path")

// ErrNotRegular marks a path that exists but is not a regular file (a directory, FIFO,
// device, socket or symlink) where a regular file is needed.
var ErrNotRegular = errors.New("not a regular file")

// UnsafePathError says which path was refused and why.
type UnsafePathError struct {
	Path   string // the path asked for
	Reason string // what makes it unsafe, naming the component
}

func (e *UnsafePathError) Error() string {
	return fmt.Sprintf("refusing %s: %s", e.Path, e.Reason)
}

// Is makes errors.Is(err, ErrUnsafePath) true.
func (e *UnsafePathError) Is(target error) bool { return target == ErrUnsafePath }

// NotRegularError is a path that is not a regular file. Link is the symlink's target
// when it is one.
type NotRegularError struct {
	Path string
	Mode fs.FileMode
	Link string
}

func (e *NotRegularError) Error() string {
	if e.Mode&fs.ModeSymlink != 0 {
		return fmt.Sprintf("%s is a symbolic link to %s; hostplan does not read or write through a link here", e.Path, e.Link)
	}
	return fmt.Sprintf("%s is %s, not a regular file; hostplan refuses to open it", e.Path, describeType(e.Mode))
}

// Is makes errors.Is(err, ErrNotRegular) true.
func (e *NotRegularError) Is(target error) bool { return target == ErrNotRegular }

// describeType names a file type for messages.
func describeType(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO (named pipe)"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	}
	return "not a regular file (" + m.Type().String() + ")"
}

// maxLinkHops bounds symlink resolution, as the kernel's ELOOP does (40).
const maxLinkHops = 40

// walkFS is what the guard needs of a file system.
type walkFS interface {
	lstat(path string) (*FileInfo, error)
	readlink(path string) (string, error)
}

// guard resolves paths by the rule above. Trusted directories are remembered for the
// connection's life: nobody but root and the acting user can change them.
type guard struct {
	uid int // the acting user; root (0) is always trusted

	mu   sync.Mutex
	dirs map[string]resolvedDir // by the directory path asked for
}

// resolvedDir is a directory walked by the rule.
type resolvedDir struct {
	real string // with every symlink resolved
	// shared: the directory is sticky and world-writable (/tmp): entries of trusted
	// owners in it are stable, anything else in it is not.
	shared bool
}

func newGuard(uid int) *guard {
	return &guard{uid: uid, dirs: map[string]resolvedDir{}}
}

func (g *guard) trustedOwner(uid int) bool { return uid == 0 || uid == g.uid }

// dirTrust classifies a directory: trusted, shared (sticky and world-writable, owned
// by a trusted user), or neither (the reason says why).
func (g *guard) dirTrust(fi *FileInfo) (shared bool, reason string) {
	perm := fi.Mode.Perm()
	switch {
	case !g.trustedOwner(fi.UID):
		return false, fmt.Sprintf("owned by uid %d, who could change what is in it", fi.UID)
	case perm&0o002 != 0 && fi.Mode&fs.ModeSticky != 0:
		return true, ""
	case perm&0o002 != 0:
		return false, fmt.Sprintf("writable by every user (mode %04o)", perm)
	case perm&0o020 != 0 && fi.GID != 0:
		return false, fmt.Sprintf("writable by group %d (mode %04o)", fi.GID, perm)
	}
	return false, ""
}

// parent resolves the directory p lies in. Its result is trusted unless shared (see
// strictParent).
func (g *guard) parent(fsys walkFS, p string) (resolvedDir, string, error) {
	p = path.Clean(p)
	if !path.IsAbs(p) {
		return resolvedDir{}, "", &UnsafePathError{Path: p, Reason: "not an absolute path"}
	}
	if p == "/" {
		rd, err := g.dir(fsys, p, p)
		return rd, "", err
	}
	dir, base := path.Split(p)
	rd, err := g.dir(fsys, p, path.Clean(dir))
	return rd, base, err
}

// strictParent is parent for operations that read, create, change or remove the last
// component: its directory must be trusted, not shared.
func (g *guard) strictParent(fsys walkFS, p string) (string, error) {
	rd, base, err := g.parent(fsys, p)
	if err != nil {
		return "", err
	}
	if rd.shared {
		return "", &UnsafePathError{Path: p, Reason: rd.real + " is writable by every user (sticky, like /tmp): another user could have planted " + base + " or take its name; use a directory only root can write to"}
	}
	return path.Join(rd.real, base), nil
}

// dir resolves the directory d (a clean absolute path) for a use of asked.
func (g *guard) dir(fsys walkFS, asked, d string) (resolvedDir, error) {
	g.mu.Lock()
	rd, ok := g.dirs[d]
	g.mu.Unlock()
	if ok {
		return rd, nil
	}
	infos := g.prefetch(fsys, d)
	rd, err := g.walk(fsys, asked, d, infos)
	if err != nil {
		return resolvedDir{}, err
	}
	g.mu.Lock()
	g.dirs[d] = rd
	g.mu.Unlock()
	return rd, nil
}

// forget drops what is remembered of d and below (after hostplan removed a directory).
func (g *guard) forget(d string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for k := range g.dirs {
		if k == d || strings.HasPrefix(k, d+"/") {
			delete(g.dirs, k)
		}
	}
}

type lstatResult struct {
	fi  *FileInfo
	err error
}

// prefetch lstats every prefix of d that is not remembered yet, all at once: over SFTP
// that is one round trip instead of one per component.
func (g *guard) prefetch(fsys walkFS, d string) map[string]lstatResult {
	var todo []string
	g.mu.Lock()
	for p := d; ; p = path.Dir(p) {
		if _, ok := g.dirs[p]; !ok {
			todo = append(todo, p)
		}
		if p == "/" {
			break
		}
	}
	g.mu.Unlock()
	out := make(map[string]lstatResult, len(todo))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, p := range todo {
		wg.Go(func() {
			fi, err := fsys.lstat(p)
			mu.Lock()
			out[p] = lstatResult{fi, err}
			mu.Unlock()
		})
	}
	wg.Wait()
	return out
}

// walk resolves d component by component from /, as the kernel would, checking each
// directory and following symlinks only inside trusted directories.
func (g *guard) walk(fsys walkFS, asked, d string, infos map[string]lstatResult) (resolvedDir, error) {
	w := &walker{g: g, fsys: fsys, asked: asked, infos: infos, rest: splitPath(d)}
	if err := w.root(); err != nil {
		return resolvedDir{}, err
	}
	for len(w.rest) > 0 {
		name := w.rest[0]
		w.rest = w.rest[1:]
		if err := w.step(name); err != nil {
			return resolvedDir{}, err
		}
	}
	return w.cur, nil
}

// walker is one walk: where it is (cur, a real trusted or shared directory) and the
// components still to go (rest, which a symlink's target is put in front of).
type walker struct {
	g     *guard
	fsys  walkFS
	asked string
	infos map[string]lstatResult // prefetched
	cur   resolvedDir
	rest  []string
	hops  int
}

func (w *walker) lstat(p string) (*FileInfo, error) {
	if r, ok := w.infos[p]; ok {
		return r.fi, r.err
	}
	return w.fsys.lstat(p)
}

func (w *walker) root() error {
	var ok bool
	if w.cur, ok = w.g.remembered("/"); ok {
		return nil
	}
	fi, err := w.lstat("/")
	if err != nil {
		return fmt.Errorf("lstat /: %w", err)
	}
	w.cur = resolvedDir{real: "/"}
	if w.cur.shared, err = w.g.checkDir(w.asked, "/", fi); err != nil {
		return err
	}
	w.g.remember(w.cur)
	return nil
}

// step goes to the component name of cur.
func (w *walker) step(name string) error {
	if name == ".." {
		// cur holds no symlink, so its parent is the lexical one, walked before it.
		var ok bool
		if w.cur, ok = w.g.remembered(path.Dir(w.cur.real)); !ok {
			return &UnsafePathError{Path: w.asked, Reason: "cannot resolve .. in a link target"}
		}
		return nil
	}
	next := path.Join(w.cur.real, name)
	if rd, ok := w.g.remembered(next); ok {
		w.cur = rd
		return nil
	}
	fi, err := w.lstat(next)
	if err != nil {
		return fmt.Errorf("lstat %s: %w", next, err)
	}
	if w.cur.shared && !w.g.trustedOwner(fi.UID) {
		return &UnsafePathError{Path: w.asked, Reason: fmt.Sprintf("%s is owned by uid %d inside %s, which every user can write to: it could be a link or directory planted by another user", next, fi.UID, w.cur.real)}
	}
	if fi.Mode&fs.ModeSymlink != 0 {
		return w.follow(next)
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is %s, not a directory: %w", next, describeType(fi.Mode), fs.ErrNotExist)
	}
	shared, err := w.g.checkDir(w.asked, next, fi)
	if err != nil {
		return err
	}
	w.cur = resolvedDir{real: next, shared: shared}
	w.g.remember(w.cur)
	return nil
}

// follow puts the target of the symlink link (in cur, a trusted directory) in front of
// the components still to go.
func (w *walker) follow(link string) error {
	if w.hops++; w.hops > maxLinkHops {
		return &UnsafePathError{Path: w.asked, Reason: "too many levels of symbolic links"}
	}
	target, err := w.fsys.readlink(link)
	if err != nil {
		return fmt.Errorf("read link %s: %w", link, err)
	}
	if path.IsAbs(target) {
		w.cur, _ = w.g.remembered("/")
	}
	w.rest = append(splitPath(target), w.rest...)
	return nil
}

func (g *guard) remember(rd resolvedDir) {
	g.mu.Lock()
	g.dirs[rd.real] = rd
	g.mu.Unlock()
}

func (g *guard) remembered(p string) (resolvedDir, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	rd, ok := g.dirs[p]
	return rd, ok && rd.real == p
}

func (g *guard) checkDir(asked, p string, fi *FileInfo) (bool, error) {
	shared, reason := g.dirTrust(fi)
	if reason != "" {
		return false, &UnsafePathError{Path: asked, Reason: fmt.Sprintf("directory %s is %s", p, reason)}
	}
	return shared, nil
}

// splitPath returns the components of p, without empty ones and ".".
func splitPath(p string) []string {
	var out []string
	for _, c := range strings.Split(p, "/") {
		if c != "" && c != "." {
			out = append(out, c)
		}
	}
	return out
}

// resolve follows every symlink of p, the last component's included, by the rule;
// the result's directory is trusted. A missing last component is fine (a file still to
// be created): its path is returned as it would be.
func (g *guard) resolve(fsys walkFS, p string) (string, error) {
	for hops := 0; ; hops++ {
		real, err := g.strictParent(fsys, p)
		if errors.Is(err, fs.ErrNotExist) {
			return path.Clean(p), nil // no folder yet, so no link to follow
		}
		if err != nil {
			return "", err
		}
		fi, err := fsys.lstat(real)
		if errors.Is(err, fs.ErrNotExist) {
			return real, nil
		}
		if err != nil {
			return "", err
		}
		if fi.Mode&fs.ModeSymlink == 0 {
			return real, nil
		}
		if hops == maxLinkHops {
			return "", &UnsafePathError{Path: p, Reason: "too many levels of symbolic links"}
		}
		target, err := fsys.readlink(real)
		if err != nil {
			return "", fmt.Errorf("read link %s: %w", real, err)
		}
		if !path.IsAbs(target) {
			target = path.Join(path.Dir(real), target)
		}
		p = path.Clean(target)
	}
}
