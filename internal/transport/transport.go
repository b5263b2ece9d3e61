// Package transport opens one connection per host and carries every read, write and
// command of a run over it: SSH (golang.org/x/crypto/ssh + github.com/pkg/sftp) or the
// local machine. Resources never see which one they got.
package transport

import (
	"context"
	"io"
	"io/fs"
	"net"
	"time"
)

// Result is what a command left behind. A non-zero exit is not an error of Run.
type Result struct {
	Stdout   []byte
	Stderr   []byte
	ExitCode int
}

// FileInfo is what Stat reports about a remote path (never follows the last symlink).
type FileInfo struct {
	Mode    fs.FileMode // permission bits plus type bits (fs.ModeDir, fs.ModeSymlink, ...)
	UID     int
	GID     int
	Size    int64
	ModTime time.Time
}

// IsDir reports whether the path is a directory.
func (fi *FileInfo) IsDir() bool { return fi.Mode.IsDir() }

// FileAttrs are the attributes a write or mkdir sets. UID or GID -1 means "leave as the
// server makes it" for new files and "keep" for replaced ones.
type FileAttrs struct {
	// Mode is the permission bits (setuid/setgid/sticky allowed, as fs.ModeSetuid... or
	// as octal 0o4000...). 0 means unset: WriteFile keeps the replaced file's mode (0644
	// for a new file), Mkdir uses 0755.
	Mode fs.FileMode
	UID  int
	GID  int
}

// Shell is the command language a host runs Run's command in.
type Shell string

const (
	// ShellSh is /bin/sh: every Unix-like host.
	ShellSh Shell = "sh"
	// ShellCmd is cmd.exe, the default shell of OpenSSH for Windows: sshd runs an exec
	// request as `cmd.exe /c <command>`. Only the command's first line runs there.
	ShellCmd Shell = "cmd"
)

// Conn is one open connection to a host. It is safe for concurrent use.
type Conn interface {
	// Shell says what Run's command must be written in.
	Shell() Shell
	// Run runs command on the host: with /bin/sh -c (through sudo when become is set),
	// or on a ShellCmd host as the cmd.exe command line it is. stdin may be nil. A non-zero exit status is reported in Result.ExitCode, not as err;
	// err is for transport failures and ctx expiry.
	Run(ctx context.Context, command string, stdin io.Reader) (*Result, error)
	// Stat describes path; a missing path yields an error wrapping fs.ErrNotExist.
	Stat(ctx context.Context, path string) (*FileInfo, error)
	// ReadFile returns the whole content of path (fs.ErrNotExist when missing).
	ReadFile(ctx context.Context, path string) ([]byte, error)
	// WriteFile replaces path atomically: a temp file in the same directory, fsync,
	// mode and owner set, then a rename over path. Readers see the old or the new file.
	WriteFile(ctx context.Context, path string, data []byte, attrs FileAttrs) error
	// Mkdir creates one directory (the parent must exist) with attrs.
	Mkdir(ctx context.Context, path string, attrs FileAttrs) error
	// Chmod sets permission bits.
	Chmod(ctx context.Context, path string, mode fs.FileMode) error
	// Chown sets owner and group (-1 keeps one).
	Chown(ctx context.Context, path string, uid, gid int) error
	// Remove deletes a file or an empty directory.
	Remove(ctx context.Context, path string) error
	// DialTCP opens a TCP connection from the host to addr ("127.0.0.1:6443"), through
	// the same connection (an SSH direct-tcpip channel): health checks reach services
	// that listen only on the host's own addresses, with no curl needed there.
	DialTCP(ctx context.Context, addr string) (net.Conn, error)
	// Close ends the connection.
	Close() error
}
