package transport

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestLabRunThenFiles: the command's result, as Run gives it, and then the same session
// serves the files: as root, through sudo, and through sudo with a password asked once.
// The files are private while written (-u 077), and owned as asked.
func TestLabRunThenFiles(t *testing.T) {
	l := startLab(t, 1)
	h := l.Hosts[0]
	for _, tc := range loginCases(l, h) {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			var asked atomic.Int32
			opts := tc.opts
			if pass := opts.BecomePassword; pass != nil {
				opts.BecomePassword = func() ([]byte, error) {
					asked.Add(1)
					return pass()
				}
			}
			c := mustDial(t, newTestDialer(t, opts), tc.target).(*conn)
			res, err := RunThenFiles(ctx, c, `id -u; printf "it's\n" >&2; (exit 3)`)
			if err != nil {
				t.Fatal(err)
			}
			if string(res.Stdout) != "0\n" || string(res.Stderr) != "it's\n" || res.ExitCode != 3 {
				t.Errorf("result (%q, %q, %d), want (\"0\\n\", \"it's\\n\", 3)", res.Stdout, res.Stderr, res.ExitCode)
			}
			if c.files == nil {
				t.Fatal("the session did not go on as the sftp-server")
			}
			// What -u 077 gives the server, which the SFTP open's missing mode relies on.
			const umasks = `me=$(readlink /proc/self/ns/mnt); for p in $(pgrep -x sftp-server); do [ "$(readlink /proc/$p/ns/mnt 2>/dev/null)" = "$me" ] && grep Umask /proc/$p/status; done; true`
			if got := hostExec(t, h, umasks); got != "Umask:\t0077\n" {
				t.Errorf("sftp-server umask: %q, want one server with 0077", got)
			}
			f := c.files
			if err := c.WriteFile(ctx, "/etc/hostplan-then-files", []byte("x\n"), FileAttrs{Mode: 0o640, UID: -1, GID: -1}); err != nil {
				t.Fatal(err)
			}
			if got := hostExec(t, h, "stat -c %U:%a /etc/hostplan-then-files"); got != "root:640\n" {
				t.Errorf("written file: %q", got)
			}
			if c.files != f {
				t.Error("the write opened files of its own")
			}
			if n := asked.Load(); tc.opts.BecomePassword != nil && n != 1 {
				t.Errorf("BecomePassword called %d times, want 1", n)
			}
			c.Close()
			waitSFTPServerGone(t, h)
		})
	}
}

// A command's exit is its own: the session still becomes the server. One stopped by
// its context leaves the files to open on first use, and is stopped on the host too.
func TestLabRunThenFilesNot(t *testing.T) {
	l := startLab(t, 1)
	h := l.Hosts[0]
	ctx := context.Background()
	d := newTestDialer(t, DialerOptions{})
	exits := mustDial(t, d, labTarget(l, h, "root")).(*conn)
	res, err := RunThenFiles(ctx, exits, "echo out; exit 5")
	if err != nil || string(res.Stdout) != "out\n" || res.ExitCode != 5 {
		t.Fatalf("exit: %+v %v", res, err)
	}
	if exits.files == nil {
		t.Error("no files after a command that exits")
	}
	c := mustDial(t, d, labTarget(l, h, "root")).(*conn)
	short, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	_, err = RunThenFiles(short, c, "sleep 30 # hostplan-then-files-stopped")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("stopped: %v", err)
	}
	if c.files != nil {
		t.Error("files opened after a stopped command")
	}
	for deadline := time.Now().Add(10 * time.Second); strings.Contains(hostExec(t, h, "ps -eo args"), "sleep 30"); {
		if time.Now().After(deadline) {
			t.Fatal("the stopped command still runs on the host")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := c.Stat(ctx, "/etc"); err != nil {
		t.Fatal(err)
	}
	if c.files == nil {
		t.Error("no files after a file operation")
	}
	// With the files open, the command runs as Run does.
	res, err = RunThenFiles(ctx, c, "echo again")
	if err != nil || string(res.Stdout) != "again\n" {
		t.Fatalf("with files open: %+v %v", res, err)
	}
}
