package transport

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// withSFTPServerPaths makes paths the places sftp-server is looked for during t.
func withSFTPServerPaths(t *testing.T, paths ...string) {
	old := sftpServerPaths
	sftpServerPaths = paths
	t.Cleanup(func() { sftpServerPaths = old })
}

// Where the host has no sftp-server, RunThenFiles gives the command's result as Run
// does, the files stay closed, and the next call tries again.
func TestRunThenFilesNoServer(t *testing.T) {
	withSFTPServerPaths(t, "/nonexistent/sftp-server")
	c := shellSSHConn(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, tc := range []struct {
		cmd, stdout, stderr string
		exit                int
	}{
		{"echo out; echo err >&2; (exit 3)", "out\n", "err\n", 3},
		// Its input is empty (what follows on the shell's is the server's), and its
		// exit is its own.
		{`read x; echo "read $? [$x]"; exit 5`, "read 1 []\n", "", 5},
		{"cd /; echo $PWD", "/\n", "", 0},
	} {
		res, err := RunThenFiles(ctx, c, tc.cmd)
		if err != nil {
			t.Fatalf("%s: %v", tc.cmd, err)
		}
		if string(res.Stdout) != tc.stdout || string(res.Stderr) != tc.stderr || res.ExitCode != tc.exit {
			t.Errorf("%s: got (%q, %q, %d), want (%q, %q, %d)", tc.cmd, res.Stdout, res.Stderr, res.ExitCode, tc.stdout, tc.stderr, tc.exit)
		}
		if c.files != nil {
			t.Errorf("%s: files open with no sftp-server", tc.cmd)
		}
	}
}

// A deadline stops RunThenFiles while the command's output is still held open after
// its status (a child it left behind), where the shell has no sftp-server to become.
func TestRunThenFilesNoServerDeadline(t *testing.T) {
	withSFTPServerPaths(t, "/nonexistent/sftp-server")
	c := shellSSHConn(t)
	// Long enough that the status line comes first even on a loaded machine.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_, err := RunThenFiles(ctx, c, "sleep 60 & echo started")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want the deadline", err)
	}
}

// A server that speaks no SFTP (here, one that writes on and on) fails the files, not
// the command, and leaves nothing that keeps the connection from closing.
func TestRunThenFilesBadServer(t *testing.T) {
	server := filepath.Join(t.TempDir(), "sftp-server")
	if err := os.WriteFile(server, []byte("#!/bin/sh\nwhile :; do echo not sftp; done\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	withSFTPServerPaths(t, server)
	c := shellSSHConn(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	within(t, 30*time.Second, func() error {
		defer c.Close()
		res, err := RunThenFiles(ctx, c, "echo facts")
		if err != nil || string(res.Stdout) != "facts\n" || res.ExitCode != 0 {
			return fmt.Errorf("got %+v, %v", res, err)
		}
		if c.files != nil {
			return errors.New("files open on a server that is not SFTP")
		}
		return nil
	})
}

// Output after the status line, before the server speaks, is not the command's, nor
// taken for SFTP.
func TestRunThenFilesOutputAfterStatus(t *testing.T) {
	dir := t.TempDir()
	server, started := filepath.Join(dir, "sftp-server"), filepath.Join(dir, "started")
	if err := os.WriteFile(server, []byte("#!/bin/sh\n: > "+ShellQuote(started)+"\nsleep 60\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	withSFTPServerPaths(t, server)
	c := shellSSHConn(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// The child writes once the server runs: after the status line, whatever the load.
	cmd := "(while [ ! -e " + ShellQuote(started) + " ]; do sleep 0.01; done; echo late) &"
	within(t, 30*time.Second, func() error {
		defer c.Close()
		res, err := RunThenFiles(ctx, c, cmd)
		switch {
		case err != nil || res.ExitCode != 0:
			return fmt.Errorf("got %+v, %v", res, err)
		case strings.Contains(string(res.Stdout), "late"):
			return fmt.Errorf("output after the status is the command's: %q", res.Stdout)
		case c.files != nil:
			return errors.New("files open on a server that wrote before the client spoke")
		}
		return nil
	})
}

// within runs f and fails t with f's error, or if f has not returned after d: a hang
// is a failure. f must not use t (it may outlive the test).
func within(t *testing.T, d time.Duration, f func() error) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(d):
		t.Fatalf("still running after %v", d)
	}
}
