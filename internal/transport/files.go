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
	// createTemp creates path exclusively (O_EXCL, which never follows a symlink).
	createTemp(path string) (tempFile, error)
	// privateCreate reports whether createTemp and mkdirRaw make private files
	// (no group or other bits) from the start.
	privateCreate() bool
	mkdirRaw(path string) error
	chmod(path string, mode fs.FileMode) error
	removeDir(path string) error
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

// stagedName is the file inside a private staging directory (see createStaged).
const stagedName = "f"

// removeStaleTemps removes the temp files (and staging directories) that earlier
// writes of p left behind when their connection died before they could clean up. Host
// locks keep two hostplan runs from writing one host at once, so every such file is
// litter. Best effort: the new content is in place already. It lists p's directory (over
// SFTP four requests, and sftp-server stats every entry), so a write skips it where no
// write can have been cut off (see NoCutWrites).
func removeStaleTemps(fsys atomicFS, p string) {
	names, err := fsys.readDirNames(path.Dir(p))
	if err != nil {
		return
	}
	for _, n := range names {
		if isTempOf(n, p) {
			litter := path.Join(path.Dir(p), n)
			if fsys.remove(litter) != nil {
				fsys.remove(path.Join(litter, stagedName))
				fsys.removeDir(litter)
			}
		}
	}
}

// staged is a temp file being filled, and how to get rid of it.
type staged struct {
	f    tempFile
	path string // the temp file
	dir  string // its private staging directory, "" when there is none
}

// createStaged creates the temp file for p, private from its first moment: a secret
// must never be readable by others, not even between create and chmod. Where the file
// system creates private files itself, the temp file is created next to p; elsewhere
// (an SFTP server whose umask we do not set) in a new directory next to p that is made
// private (0700) before anything is created in it: other users can then not open the
// file whatever its mode, even when they hold the directory open already.
func createStaged(fsys atomicFS, p string) (*staged, error) {
	tmp := tempName(p)
	if fsys.privateCreate() {
		f, err := fsys.createTemp(tmp)
		if err != nil {
			return nil, err
		}
		return &staged{f: f, path: tmp}, nil
	}
	if err := fsys.mkdirRaw(tmp); err != nil {
		return nil, err
	}
	if err := fsys.chmod(tmp, 0o700); err != nil {
		fsys.removeDir(tmp)
		return nil, err
	}
	f, err := fsys.createTemp(path.Join(tmp, stagedName))
	if err != nil {
		fsys.removeDir(tmp)
		return nil, err
	}
	return &staged{f: f, path: path.Join(tmp, stagedName), dir: tmp}, nil
}

// discard removes the temp file (closing it first when open) and its staging directory.
func (s *staged) discard(fsys atomicFS, open bool) error {
	if open {
		s.f.Close()
	}
	err := fsys.remove(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		err = nil
	}
	if s.dir != "" {
		fsys.removeDir(s.dir)
	}
	return err
}

// targetAttrs works out the mode and owner the new file gets: attrs.Mode 0 keeps the
// mode of the file being replaced (0644 for a new file); UID or GID -1 keeps the old
// file's owner (the server's choice for a new file). Only a regular file is replaced.
func targetAttrs(fsys atomicFS, p string, attrs FileAttrs) (fs.FileMode, int, int, error) {
	mode := chmodBits(attrs.Mode)
	uid, gid := attrs.UID, attrs.GID
	old, err := fsys.lstat(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if attrs.Mode == 0 {
			mode = defaultFileMode
		}
		return mode, uid, gid, nil
	case err != nil:
		return 0, 0, 0, err
	case old.IsDir():
		return 0, 0, 0, errors.New("is a directory")
	case !old.Mode.IsRegular():
		// A symlink would be replaced, not written through; a resource that means to
		// follow one resolves it first (Conn.Resolve) and says so in its plan.
		return 0, 0, 0, &NotRegularError{Path: p, Mode: old.Mode}
	}
	if attrs.Mode == 0 {
		mode = old.Mode & modeBits
	}
	if uid == -1 {
		uid = old.UID
	}
	if gid == -1 {
		gid = old.GID
	}
	return mode, uid, gid, nil
}

// atomicWrite replaces p by data: a private temp file (createStaged), write, fsync,
// chown and chmod, rename over p. On any error the temp file is removed. Chown comes
// before chmod because chown clears setuid/setgid bits. tidy: then remove the temp files
// earlier writes of p left (removeStaleTemps).
func atomicWrite(ctx context.Context, fsys atomicFS, p string, data []byte, attrs FileAttrs, tidy bool) (err error) {
	base := path.Base(p)
	if base == "/" || base == "." || base == ".." || p == "" {
		return fmt.Errorf("not a file path: %q", p)
	}
	mode, uid, gid, err := targetAttrs(fsys, p, attrs)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	st, err := createStaged(fsys, p)
	if err != nil {
		return fmt.Errorf("create temp file: %w", err)
	}
	open := true
	defer func() {
		if err != nil {
			if rerr := st.discard(fsys, open); rerr != nil {
				err = fmt.Errorf("%w (and removing temp file %s: %v)", err, st.path, rerr)
			}
		}
	}()
	if err := fillTemp(ctx, st.f, data, mode, uid, gid); err != nil {
		return err
	}
	open = false
	if err := st.f.Close(); err != nil {
		return fmt.Errorf("close temp file: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if beforeRename != nil {
		beforeRename(p)
	}
	if err := fsys.replace(st.path, p); err != nil {
		return fmt.Errorf("rename temp file into place: %w", err)
	}
	if st.dir != "" {
		fsys.removeDir(st.dir)
	}
	// The new content is in place; a failed directory sync only weakens durability.
	_ = fsys.syncDir(path.Dir(p))
	if tidy {
		removeStaleTemps(fsys, p)
	}
	return nil
}

// fillTemp writes data to the temp file, syncs it and gives it its owner and mode.
func fillTemp(ctx context.Context, f tempFile, data []byte, mode fs.FileMode, uid, gid int) error {
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
