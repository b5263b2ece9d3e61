package transport

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// silentServer accepts TCP connections and never says a word (a hung sshd).
func silentServer(t *testing.T) *net.TCPAddr {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().(*net.TCPAddr)
}

func silentTarget(t *testing.T, addr *net.TCPAddr) Target {
	home := t.TempDir()
	t.Setenv("SSH_AUTH_SOCK", "")
	key := newTestPriv(t).write(t, filepath.Join(home, "id"), "")
	return Target{Name: "silent", Address: addr.IP.String(), Port: addr.Port, User: "u",
		IdentityFiles: []string{key}, KnownHosts: filepath.Join(home, "known_hosts")}
}

// The handshake is bounded by ConnectTimeout (x/crypto's own Timeout covers only TCP).
func TestDialHandshakeTimeout(t *testing.T) {
	target := silentTarget(t, silentServer(t))
	d := NewDialer(DialerOptions{ConnectTimeout: 300 * time.Millisecond})
	defer d.Close()
	start := time.Now()
	_, err := d.Dial(context.Background(), target)
	if err == nil || !strings.Contains(err.Error(), "timed out") || !strings.Contains(err.Error(), "connect to silent") {
		t.Errorf("got %v", err)
	}
	if el := time.Since(start); el > 3*time.Second {
		t.Errorf("timeout took %v", el)
	}
}

// Cancelling ctx ends a dial stuck in the handshake.
func TestDialCancel(t *testing.T) {
	target := silentTarget(t, silentServer(t))
	d := NewDialer(DialerOptions{ConnectTimeout: time.Minute})
	defer d.Close()
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	start := time.Now()
	_, err := d.Dial(ctx, target)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("got %v", err)
	}
	if el := time.Since(start); el > 3*time.Second {
		t.Errorf("cancel took %v", el)
	}
}

func TestDialKeyErrorsBeforeConnecting(t *testing.T) {
	addr := silentServer(t)
	target := silentTarget(t, addr)
	target.IdentityFiles = []string{filepath.Join(t.TempDir(), "missing_key")}
	d := NewDialer(DialerOptions{ConnectTimeout: time.Minute})
	defer d.Close()
	start := time.Now()
	_, err := d.Dial(context.Background(), target)
	if err == nil || !strings.Contains(err.Error(), "missing_key does not exist") || time.Since(start) > time.Second {
		t.Errorf("got %v after %v", err, time.Since(start))
	}
	// No keys at all.
	t.Setenv("HOME", t.TempDir())
	target.IdentityFiles = nil
	if _, err := d.Dial(context.Background(), target); err == nil || !strings.Contains(err.Error(), "no SSH keys to offer") {
		t.Errorf("no keys: %v", err)
	}
}

func TestDialTargetErrors(t *testing.T) {
	d := NewDialer(DialerOptions{})
	defer d.Close()
	if _, err := d.Dial(context.Background(), Target{Name: "x"}); err == nil || !strings.Contains(err.Error(), "no address") {
		t.Errorf("no address: %v", err)
	}
	if _, err := d.Dial(context.Background(), Target{Name: "x", Address: "h", Bastion: "a,,b"}); err == nil || !strings.Contains(err.Error(), "empty hop") {
		t.Errorf("bad bastion: %v", err)
	}
	for _, tc := range []struct {
		target Target
		want   string
	}{
		{Target{Name: "x", Address: "h", Shell: "powershell"}, `shell "powershell" is not supported`},
		{Target{Name: "x", Address: "h", Shell: ShellCmd, Become: true}, "become (sudo) is not available with cmd.exe"},
		{Target{Name: "x", Local: true, Shell: ShellCmd}, "connection local runs commands with /bin/sh"},
	} {
		if _, err := d.Dial(context.Background(), tc.target); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.target, err, tc.want)
		}
	}
}

func TestIsWindowsServer(t *testing.T) {
	for v, want := range map[string]bool{
		"SSH-2.0-OpenSSH_for_Windows_9.5":                         true,
		"SSH-2.0-OpenSSH_for_Windows_8.1":                         true,
		"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3":                  false,
		"SSH-2.0-OpenSSH_9.6 (Cygwin)":                            false,
		"SSH-2.0-OpenSSH_9.2p1 OpenSSH_for_Windows_9.5 (lab)":     true,
		"SSH-2.0-9.99 FlowSsh: Bitvise SSH Server (WinSSHD) 9.99": false,
	} {
		if got := isWindowsServer(v); got != want {
			t.Errorf("isWindowsServer(%q) = %v, want %v", v, got, want)
		}
	}
}

// Dialer.Close closes the connections still open; Conn.Close twice is fine; a closed
// dialer dials no more.
func TestDialerClose(t *testing.T) {
	d := NewDialer(DialerOptions{})
	c, err := d.Dial(context.Background(), Target{Local: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Stat(context.Background(), "/"); err != nil {
		t.Fatal(err)
	}
	d.Close()
	if _, err := c.Stat(context.Background(), "/"); err == nil {
		t.Errorf("stat after Dialer.Close succeeded")
	}
	c.Close()
	if _, err := d.Dial(context.Background(), Target{Local: true}); err == nil {
		t.Errorf("dial after Close succeeded")
	}
}

// TestTargetDialsUnix: a socket is reached as the login user, so only where commands
// run as that user.
func TestTargetDialsUnix(t *testing.T) {
	for _, tc := range []struct {
		target Target
		want   bool
	}{
		{Target{Address: "h", User: "root"}, true},
		{Target{Address: "h", User: "root", Become: true}, true}, // logged in as the become user
		{Target{Address: "h", User: "ops", Become: true}, false},
		{Target{Address: "h", User: "ops"}, true},
		{Target{Address: "h", User: "ops", Become: true, BecomeUser: "ops"}, true},
		{Target{Address: "h", User: "admin", Shell: ShellCmd}, false},
		{Target{Local: true}, true},
		{Target{Local: true, Become: true, BecomeUser: "nobody"}, false},
		{Target{Address: "h", Shell: "fish"}, false}, // refused by the dialer anyway
	} {
		if got := tc.target.DialsUnix(); got != tc.want {
			t.Errorf("%+v: DialsUnix %v, want %v", tc.target, got, tc.want)
		}
	}
}
