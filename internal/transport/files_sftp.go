package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"time"

	"github.com/pkg/sftp"
)

// sftpOps are file operations over one long-lived SFTP client.
type sftpOps struct {
	c       *sftp.Client
	posix   bool // posix-rename@openssh.com: rename over an existing file
	fsync   bool // fsync@openssh.com
	closeFn func() error
	// private: the server creates files and directories with no group or other bits
	// (our sftp-server runs with -u 077). Without it, temp files are made in a private
	// directory first (see atomicWrite).
	private bool
}

func newSFTPOps(c *sftp.Client, closeFn func() error) *sftpOps {
	_, posix := c.HasExtension("posix-rename@openssh.com")
	v, fsync := c.HasExtension("fsync@openssh.com")
	return &sftpOps{c: c, posix: posix, fsync: fsync && v == "1", closeFn: closeFn}
}

// sftpErr makes SFTP status codes testable with errors.Is(err, fs.ErrNotExist) and
// fs.ErrPermission (pkg/sftp does that for most calls, not for all), and says
// "connection lost" where pkg/sftp says only "failed to send packet: EOF": none of the
// calls it wraps ends in EOF while the SFTP channel lives.
func sftpErr(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("connection lost: %w", err)
	}
	var se *sftp.StatusError
	if errors.As(err, &se) {
		switch se.FxCode() {
		case sftp.ErrSSHFxNoSuchFile:
			return fmt.Errorf("%w (%v)", fs.ErrNotExist, err)
		case sftp.ErrSSHFxPermissionDenied:
			return fmt.Errorf("%w (%v)", fs.ErrPermission, err)
		}
	}
	return err
}

func sftpFileInfo(fi os.FileInfo) *FileInfo {
	out := &FileInfo{Mode: fi.Mode(), Size: fi.Size(), ModTime: fi.ModTime(), UID: -1, GID: -1}
	if st, ok := fi.Sys().(*sftp.FileStat); ok {
		out.UID, out.GID = int(st.UID), int(st.GID)
	}
	return out
}

func (s *sftpOps) lstat(p string) (*FileInfo, error) {
	fi, err := s.c.Lstat(p)
	if err != nil {
		return nil, sftpErr(err)
	}
	return sftpFileInfo(fi), nil
}

func (s *sftpOps) readlink(p string) (string, error) {
	t, err := s.c.ReadLink(p)
	return t, sftpErr(err)
}

func (s *sftpOps) privateCreate() bool { return s.private }

func (s *sftpOps) readDir(p string) ([]string, error) {
	infos, err := s.c.ReadDir(p)
	if err != nil {
		return nil, sftpErr(err)
	}
	names := make([]string, len(infos))
	for i, fi := range infos {
		names[i] = fi.Name()
	}
	return names, nil
}

func (s *sftpOps) readFile(p string) ([]byte, error) {
	f, err := s.c.Open(p)
	if err != nil {
		return nil, sftpErr(err)
	}
	defer f.Close()
	var buf bytes.Buffer
	if _, err := f.WriteTo(&buf); err != nil {
		return nil, sftpErr(err)
	}
	return buf.Bytes(), nil
}

func (s *sftpOps) writeInPlace(p string, data []byte) error {
	f, err := s.c.OpenFile(p, os.O_WRONLY)
	if err != nil {
		return sftpErr(err)
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return sftpErr(err)
}

func (s *sftpOps) writeFile(ctx context.Context, p string, data []byte, attrs FileAttrs, tidy bool) error {
	return s.explainFailure(atomicWrite(ctx, s, p, data, attrs, tidy), path.Dir(p), len(data))
}

// stRdonly is statvfs's read-only flag (ST_RDONLY).
const stRdonly = 0x1

// explainFailure says what a bare SSH_FX_FAILURE meant: sftp-server reports EROFS,
// ENOSPC and EDQUOT as "Failure" only, and the file system of dir tells which it was.
func (s *sftpOps) explainFailure(err error, dir string, need int) error {
	var se *sftp.StatusError
	if err == nil || !errors.As(err, &se) || se.FxCode() != sftp.ErrSSHFxFailure {
		return err
	}
	vfs, verr := s.c.StatVFS(dir)
	switch {
	case verr != nil:
		return err
	case vfs.Flag&stRdonly != 0:
		return fmt.Errorf("%w: read-only file system: %s is on a file system mounted read-only", err, dir)
	case vfs.Frsize*vfs.Bavail < uint64(need):
		return fmt.Errorf("%w: no space left on device: the file system of %s has %d bytes free, the file needs %d", err, dir, vfs.Frsize*vfs.Bavail, need)
	}
	return err
}

func (s *sftpOps) createTemp(p string) (tempFile, error) {
	// No chmod follows: the file is private from its creation (see createStaged).
	f, err := s.c.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL)
	if err != nil {
		return nil, sftpErr(err)
	}
	return &sftpTemp{f: f, ops: s}, nil
}

func (s *sftpOps) replace(oldpath, newpath string) error {
	if s.posix {
		return sftpErr(s.c.PosixRename(oldpath, newpath))
	}
	// Without the extension, SFTP rename fails when newpath exists (OpenSSH uses link(2)).
	return sftpErr(s.c.Rename(oldpath, newpath))
}

func (s *sftpOps) remove(p string) error {
	return s.explainFailure(sftpErr(s.c.Remove(p)), path.Dir(p), 0)
}

func (s *sftpOps) readDirNames(dir string) ([]string, error) {
	infos, err := s.c.ReadDir(dir)
	names := make([]string, len(infos))
	for i, fi := range infos {
		names[i] = fi.Name()
	}
	return names, sftpErr(err)
}

func (s *sftpOps) syncDir(string) error { return nil }

func (s *sftpOps) mkdir(p string, attrs FileAttrs) error {
	return s.explainFailure(mkdirWithAttrs(s, p, attrs), path.Dir(p), 0)
}

func (s *sftpOps) mkdirRaw(p string) error { return sftpErr(s.c.Mkdir(p)) }

func (s *sftpOps) removeDir(p string) error { return sftpErr(s.c.RemoveDirectory(p)) }

func (s *sftpOps) chmod(p string, mode fs.FileMode) error {
	return sftpErr(s.c.Chmod(p, chmodBits(mode)))
}

func (s *sftpOps) chtimes(p string, t time.Time) error { return sftpErr(s.c.Chtimes(p, t, t)) }

func (s *sftpOps) chown(p string, uid, gid int) error {
	if uid == -1 || gid == -1 {
		fi, err := s.c.Stat(p)
		if err != nil {
			return sftpErr(err)
		}
		cur := sftpFileInfo(fi)
		if uid == -1 {
			uid = cur.UID
		}
		if gid == -1 {
			gid = cur.GID
		}
	}
	return sftpErr(s.c.Chown(p, uid, gid))
}

func (s *sftpOps) close() error {
	if s.closeFn != nil {
		return s.closeFn()
	}
	return s.c.Close()
}

// sftpTemp is a temp file open over SFTP.
type sftpTemp struct {
	f   *sftp.File
	ops *sftpOps
}

func (t *sftpTemp) Write(p []byte) (int, error) {
	n, err := t.f.Write(p)
	return n, sftpErr(err)
}

func (t *sftpTemp) sync() error {
	if !t.ops.fsync {
		return nil // the server cannot: the rename still gives old-or-new content
	}
	return sftpErr(t.f.Sync())
}

func (t *sftpTemp) chown(uid, gid int) error { return sftpErr(t.f.Chown(uid, gid)) }

func (t *sftpTemp) chmod(mode fs.FileMode) error { return sftpErr(t.f.Chmod(chmodBits(mode))) }

func (t *sftpTemp) owner() (int, int, error) {
	fi, err := t.f.Stat()
	if err != nil {
		return 0, 0, sftpErr(err)
	}
	st := sftpFileInfo(fi)
	return st.UID, st.GID, nil
}

func (t *sftpTemp) Close() error { return sftpErr(t.f.Close()) }
