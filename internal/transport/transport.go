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
	// Link is a symlink's target, as Stat read it ("" for anything else).
	Link string
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
	// Run runs command on the host: with /bin/sh (through sudo when become is set),
	// or on a ShellCmd host as the cmd.exe command line it is. On /bin/sh hosts the
	// command's text travels on standard input, never in the host's process list, and
	// when ctx ends first the command's whole process group is stopped. stdin may be
	// nil. A non-zero exit status is reported in Result.ExitCode, not as err; err is
	// for transport failures and ctx expiry.
	Run(ctx context.Context, command string, stdin io.Reader) (*Result, error)
	// Every path below is used by the rule of pathguard.go: walked from / with lstat,
	// symlinks followed only inside directories no other user can write to, and the
	// last component never followed (a symlink there is an ErrNotRegular error for
	// everything but Stat and Remove; use Resolve to follow it on purpose). A path
	// another user could redirect is an ErrUnsafePath error; so is reading, writing,
	// creating, removing or even looking at anything directly inside a directory such
	// as /tmp (what another user may plant there says nothing reliable), so a plan
	// refuses such a path before anything changes.
	//
	// Stat describes path without following it (a symlink's target is in Link); a
	// missing path yields an error wrapping fs.ErrNotExist.
	Stat(ctx context.Context, path string) (*FileInfo, error)
	// ReadFile returns the whole content of path (fs.ErrNotExist when missing), which
	// must be a regular file: a FIFO, device or socket is refused before any open.
	ReadFile(ctx context.Context, path string) ([]byte, error)
	// ReadDir returns the names in the directory path, which must be a directory, not
	// a symlink to one (fs.ErrNotExist when missing); over the file session, so it costs
	// no command.
	ReadDir(ctx context.Context, path string) ([]string, error)
	// WriteFile replaces path atomically: a temp file in the same directory, private
	// from its creation, fsync, owner and mode set, then a rename over path. Readers see
	// the old or the new file. Only a regular file is replaced.
	WriteFile(ctx context.Context, path string, data []byte, attrs FileAttrs) error
	// WriteKernel writes data into an existing kernel setting file under /proc/sys in
	// place: such a file cannot be replaced by a rename, and writing it is how the
	// setting changes. Any other path is refused. Over the file session, so it costs
	// no command.
	WriteKernel(ctx context.Context, path string, data []byte) error
	// Mkdir creates one directory (the parent must exist) with attrs.
	Mkdir(ctx context.Context, path string, attrs FileAttrs) error
	// Chmod sets permission bits (never through a symlink).
	Chmod(ctx context.Context, path string, mode fs.FileMode) error
	// Chown sets owner and group (-1 keeps one; never through a symlink).
	Chown(ctx context.Context, path string, uid, gid int) error
	// SetModTime sets the access and modification times to t (whole seconds over
	// SFTP; never through a symlink). t is the bastion's clock: a caller that compares
	// it with the host's clock must translate it.
	SetModTime(ctx context.Context, path string, t time.Time) error
	// Remove deletes a file, a symlink (not its target) or an empty directory.
	Remove(ctx context.Context, path string) error
	// Resolve follows every symlink of path, the last one included, by the same rule,
	// and returns the path they lead to (which need not exist yet). A resource that
	// edits a file through a link says so in its plan.
	Resolve(ctx context.Context, path string) (string, error)
	// DialTCP opens a TCP connection from the host to addr ("127.0.0.1:6443"), through
	// the same connection (an SSH direct-tcpip channel): health checks reach services
	// that listen only on the host's own addresses, with no curl needed there.
	DialTCP(ctx context.Context, addr string) (net.Conn, error)
	// DialUnix connects to the Unix socket at path on the host, through the same
	// connection (sshd's streamlocal forwarding), once path passed the path rule above
	// and proved to be a socket. The socket's server sees the login user, never the
	// become user: where commands run through sudo, DialUnix refuses (ErrNotAsCommands),
	// so nothing reaches a socket as a user other than the commands' own.
	DialUnix(ctx context.Context, path string) (net.Conn, error)
	// Close ends the connection.
	Close() error
}
