package transport

import (
	"context"
	"io/fs"
	"os"
	"syscall"
	"time"
)

// osOps are file operations on this machine with the os package.
type osOps struct{}

func osFileInfo(fi fs.FileInfo) *FileInfo {
	out := &FileInfo{Mode: fi.Mode(), Size: fi.Size(), ModTime: fi.ModTime(), UID: -1, GID: -1}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		out.UID, out.GID = int(st.Uid), int(st.Gid)
	}
	return out
}

func (osOps) lstat(p string) (*FileInfo, error) {
	fi, err := os.Lstat(p)
	if err != nil {
		return nil, err
	}
	return osFileInfo(fi), nil
}

func (osOps) readlink(p string) (string, error) { return os.Readlink(p) }

// privateCreate: createTemp and mkdirRaw pass private modes to open and mkdir.
func (osOps) privateCreate() bool { return true }

func (osOps) readFile(p string) ([]byte, error) { return os.ReadFile(p) }

func (osOps) readDir(p string) ([]string, error) {
	entries, err := os.ReadDir(p)
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name()
	}
	return names, err
}

func (o osOps) writeFile(ctx context.Context, p string, data []byte, attrs FileAttrs, tidy bool) error {
	return atomicWrite(ctx, o, p, data, attrs, tidy)
}

func (osOps) createTemp(p string) (tempFile, error) {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	return osTemp{f}, nil
}

func (osOps) replace(oldpath, newpath string) error { return os.Rename(oldpath, newpath) }

func (osOps) remove(p string) error { return os.Remove(p) }

func (osOps) readDirNames(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name()
	}
	return names, err
}

func (osOps) syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func (o osOps) mkdir(p string, attrs FileAttrs) error { return mkdirWithAttrs(o, p, attrs) }

func (osOps) mkdirRaw(p string) error { return os.Mkdir(p, 0o700) }

func (osOps) removeDir(p string) error { return syscall.Rmdir(p) }

func (osOps) chmod(p string, mode fs.FileMode) error { return os.Chmod(p, chmodBits(mode)) }

func (osOps) chown(p string, uid, gid int) error { return os.Chown(p, uid, gid) }

func (osOps) chtimes(p string, t time.Time) error { return os.Chtimes(p, t, t) }

func (osOps) writeInPlace(p string, data []byte) error {
	f, err := os.OpenFile(p, os.O_WRONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func (osOps) close() error { return nil }

// osTemp is a local temp file.
type osTemp struct{ *os.File }

func (t osTemp) sync() error                  { return t.File.Sync() }
func (t osTemp) chown(uid, gid int) error     { return t.File.Chown(uid, gid) }
func (t osTemp) chmod(mode fs.FileMode) error { return t.File.Chmod(chmodBits(mode)) }

func (t osTemp) owner() (int, int, error) {
	fi, err := t.File.Stat()
	if err != nil {
		return 0, 0, err
	}
	st := osFileInfo(fi)
	return st.UID, st.GID, nil
}
