package transport

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
)

// beforeRename, when set (by tests), is called by WriteFile after the temp file is
// complete (written, synced, chmod+chown done, closed) and just before it is renamed over
// path.
var beforeRename func(path string)

// modeBits are the bits Chmod sets: permissions plus setuid, setgid and sticky.
const modeBits = fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky

// chmodBits returns the bits of m that chmod sets, in Go's form. Unix octal special bits
// (0o4000 setuid, 0o2000 setgid, 0o1000 sticky), as a plan's "04755" parses to, are
// accepted too.
func chmodBits(m fs.FileMode) fs.FileMode {
	out := m & modeBits
	if m&0o4000 != 0 {
		out |= fs.ModeSetuid
	}
	if m&0o2000 != 0 {
		out |= fs.ModeSetgid
	}
	if m&0o1000 != 0 {
		out |= fs.ModeSticky
	}
	return out
}

const (
	defaultFileMode fs.FileMode = 0o644
	defaultDirMode  fs.FileMode = 0o755
)

// tempFile is a freshly created, private temp file.
type tempFile interface {
	Write(p []byte) (int, error)
	sync() error // fsync, when the transport can
	chown(uid, gid int) error
	chmod(mode fs.FileMode) error
	owner() (uid, gid int, err error)
	Close() error
}

// atomicFS is what atomicWrite needs of a file system.
type atomicFS interface {
	lstat(path string) (*FileInfo, error)
	// createTemp creates path exclusively (O_EXCL), readable by its owner only.
	createTemp(path string) (tempFile, error)
	// replace renames oldpath over newpath, replacing newpath if it exists.
	replace(oldpath, newpath string) error
	remove(path string) error
	syncDir(dir string) error // makes a rename durable, when the transport can
	// readDirNames lists the names in dir.
	readDirNames(dir string) ([]string, error)
}

// tempName is the temp file WriteFile uses for p: hidden, in the same directory.
func tempName(p string) string {
	return path.Join(path.Dir(p), "."+path.Base(p)+randomToken(".hostplan-"))
}

// isTempOf reports whether name (in p's directory) is a temp file tempName made for p.
func isTempOf(name, p string) bool {
	token, ok := strings.CutPrefix(name, "."+path.Base(p)+".hostplan-")
	if !ok || len(token) != 16 {
		return false
	}
	_, err := hex.DecodeString(token)
	return err == nil
}

// removeStaleTemps removes the temp files that earlier writes of p left behind when
// their connection died before they could clean up. Host locks keep two hostplan runs
// from writing one host at once, so every such file is litter. Best effort: the new
// content is in place already.
func removeStaleTemps(fsys atomicFS, p string) {
	names, err := fsys.readDirNames(path.Dir(p))
	if err != nil {
		return
	}
	for _, n := range names {
		if isTempOf(n, p) {
			fsys.remove(path.Join(path.Dir(p), n))
		}
	}
}

// atomicWrite replaces p by data: temp file in the same directory, write, fsync, chown
// and chmod, rename over p. On any error the temp file is removed.
//
// attrs.Mode 0 keeps the mode of the file being replaced (0644 for a new file); UID or GID
// -1 keeps the old file's owner (the server's choice for a new file). Chown comes before
// chmod because chown clears setuid/setgid bits.
func atomicWrite(ctx context.Context, fsys atomicFS, p string, data []byte, attrs FileAttrs) (err error) {
	base := path.Base(p)
	if base == "/" || base == "." || base == ".." || p == "" {
		return fmt.Errorf("not a file path: %q", p)
	}
	mode := chmodBits(attrs.Mode)
	uid, gid := attrs.UID, attrs.GID
	old, err := fsys.lstat(p)
	switch {
	case err == nil && old.IsDir():
		return errors.New("is a directory")
	case err == nil && old.Mode.IsRegular():
		if attrs.Mode == 0 {
			mode = old.Mode & modeBits
		}
		if uid == -1 {
			uid = old.UID
		}
		if gid == -1 {
			gid = old.GID
		}
	case err == nil, errors.Is(err, fs.ErrNotExist):
		// New file (or a symlink/special file being replaced by a regular one).
		if attrs.Mode == 0 {
			mode = defaultFileMode
		}
	default:
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}

	tmp := tempName(p)
	f, err := fsys.createTemp(tmp)
	if err != nil {
		return fmt.Errorf("create temp file: %w", err)
	}
	open := true
	defer func() {
		if err != nil {
			if open {
				f.Close()
			}
			if rerr := fsys.remove(tmp); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
				err = fmt.Errorf("%w (and removing temp file %s: %v)", err, tmp, rerr)
			}
		}
	}()
	if len(data) > 0 {
		n, err := f.Write(data)
		if err == nil && n != len(data) {
			err = fmt.Errorf("short write (%d of %d bytes)", n, len(data))
		}
		if err != nil {
			return fmt.Errorf("write temp file: %w", err)
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := f.sync(); err != nil {
		return fmt.Errorf("fsync temp file: %w", err)
	}
	if uid != -1 || gid != -1 {
		curUID, curGID, err := f.owner()
		if err != nil {
			return fmt.Errorf("stat temp file: %w", err)
		}
		if uid == -1 {
			uid = curUID
		}
		if gid == -1 {
			gid = curGID
		}
		if uid != curUID || gid != curGID {
			if err := f.chown(uid, gid); err != nil {
				return fmt.Errorf("chown temp file to %d:%d: %w", uid, gid, err)
			}
		}
	}
	if err := f.chmod(mode); err != nil {
		return fmt.Errorf("chmod temp file to %04o: %w", mode.Perm(), err)
	}
	open = false
	if err := f.Close(); err != nil {
		return fmt.Errorf("close temp file: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if beforeRename != nil {
		beforeRename(p)
	}
	if err := fsys.replace(tmp, p); err != nil {
		return fmt.Errorf("rename temp file into place: %w", err)
	}
	// The new content is in place; a failed directory sync only weakens durability.
	_ = fsys.syncDir(path.Dir(p))
	removeStaleTemps(fsys, p)
	return nil
}

// mkdirFS is what mkdirWithAttrs needs.
type mkdirFS interface {
	mkdirRaw(path string) error
	lstat(path string) (*FileInfo, error)
	chown(path string, uid, gid int) error
	chmod(path string, mode fs.FileMode) error
	removeDir(path string) error
}

// mkdirWithAttrs creates one directory and sets its owner and mode (mode 0: 0755). If
// setting them fails, the new directory is removed again.
func mkdirWithAttrs(fsys mkdirFS, p string, attrs FileAttrs) (err error) {
	mode := chmodBits(attrs.Mode)
	if attrs.Mode == 0 {
		mode = defaultDirMode
	}
	if err := fsys.mkdirRaw(p); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			fsys.removeDir(p)
		}
	}()
	if attrs.UID != -1 || attrs.GID != -1 {
		if err := fsys.chown(p, attrs.UID, attrs.GID); err != nil {
			return err
		}
	}
	return fsys.chmod(p, mode)
}
