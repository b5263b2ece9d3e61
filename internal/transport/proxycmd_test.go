package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// proxyTarget is a target reached only through command (no server exists behind it
// unless the command makes one).
func proxyTarget(t *testing.T, command string) Target {
	home := t.TempDir()
	t.Setenv("SSH_AUTH_SOCK", "")
	key := newTestPriv(t).write(t, filepath.Join(home, "id"), "")
	return Target{Name: "proxied", Address: "192.0.2.7", Port: 2222, User: "u",
		IdentityFiles: []string{key}, KnownHosts: filepath.Join(home, "known_hosts"),
		ProxyCommand: command}
}

// pidGone waits (up to 2 s) until the process whose pid the command wrote to file
// no longer exists, and fails the test otherwise.
func pidGone(t *testing.T, file string) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if gone, what := procGone(t, file); gone {
			return
		} else if time.Now().After(deadline) {
			t.Fatalf("%s still exists after the dial returned", what)
		}
	}
}

// procGone reports whether the ProxyCommand that writes its pid to file is gone. On a
// busy machine it may be killed before it wrote its pid: it is then the sh whose
// command line names file. Its pid is written before it stops naming file (exec), so a
// look at the processes followed by one at the file misses neither stage.
func procGone(t *testing.T, file string) (bool, string) {
	t.Helper()
	cmdlines, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, c := range cmdlines {
		if b, err := os.ReadFile(c); err == nil && bytes.Contains(b, []byte(file)) {
			return false, "the ProxyCommand " + filepath.Dir(c) + ", before it wrote its pid,"
		}
	}
	data, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return true, ""
	} else if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		t.Fatal(err)
	}
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH), fmt.Sprintf("ProxyCommand process %d", pid)
}

// A ProxyCommand that fails is reported with its status and its stderr, at once: it is
// not taken for a busy server (which is retried for about 20 s).
func TestProxyCommandExitsEarly(t *testing.T) {
	for _, tc := range []struct{ command, want string }{
		// OpenSSH's `exec COMMAND` makes a compound command end at the first one, so a
		// script is wrapped in sh -c, as users of ssh do.
		{`sh -c 'echo "nc: connect to 192.0.2.7 port 2222: No route to host" >&2; exit 3'`, `(exit status 3) before the server's SSH greeting came through it; it said: "nc: connect to 192.0.2.7 port 2222: No route to host"`},
		{`true`, `ended (exit status 0) before the server's SSH greeting came through it; it wrote nothing on stderr`},
		{`no-such-proxy-command`, `ended (exit status 127)`},
	} {
		d := NewDialer(DialerOptions{ConnectTimeout: 5 * time.Second})
		start := time.Now()
		_, err := d.Dial(context.Background(), proxyTarget(t, tc.command))
		d.Close()
		var pe *ProxyCommandError
		if !errors.As(err, &pe) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "connect to proxied") {
			t.Errorf("%s: got %v, want a *ProxyCommandError with %q", tc.command, err, tc.want)
		}
		if el := time.Since(start); el > 3*time.Second {
			t.Errorf("%s: failed after %v (retried?)", tc.command, el)
		}
	}
}

// Only the end of a chatty command's stderr is kept.
func TestProxyCommandStderrBounded(t *testing.T) {
	d := NewDialer(DialerOptions{})
	defer d.Close()
	_, err := d.Dial(context.Background(), proxyTarget(t, `sh -c 'i=0; while [ $i -lt 500 ]; do echo "line $i of noise" >&2; i=$((i+1)); done; echo "the last word" >&2; exit 1'`))
	var pe *ProxyCommandError
	if !errors.As(err, &pe) {
		t.Fatalf("got %v", err)
	}
	if len(pe.Stderr) > proxyStderrMax || !strings.HasSuffix(pe.Stderr, "the last word") {
		t.Errorf("stderr kept: %d bytes, ending %q", len(pe.Stderr), pe.Stderr[max(0, len(pe.Stderr)-40):])
	}
}

// A command that never answers is bounded by ConnectTimeout and then killed, even when
// it ignores SIGHUP; so is one whose dial is cancelled (Ctrl-C).
func TestProxyCommandHangKilled(t *testing.T) {
	for _, tc := range []struct {
		name    string
		trap    string
		timeout time.Duration
		cancel  time.Duration
		want    string
	}{
		{"timeout", "", 300 * time.Millisecond, 0, "timed out"},
		{"timeout-ignores-hup", `trap "" HUP; `, 300 * time.Millisecond, 0, "timed out"},
		{"cancel", "", 10 * time.Second, 300 * time.Millisecond, "context canceled"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pidFile := filepath.Join(t.TempDir(), "pid")
			// sh writes its pid and becomes sleep (same pid): the process to be killed.
			cmd := fmt.Sprintf(`/bin/sh -c '%secho $$ > %s; exec sleep 60'`, tc.trap, pidFile)
			d := NewDialer(DialerOptions{ConnectTimeout: tc.timeout})
			defer d.Close()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tc.cancel > 0 {
				time.AfterFunc(tc.cancel, cancel)
			}
			start := time.Now()
			_, err := d.Dial(ctx, proxyTarget(t, cmd))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want %q", err, tc.want)
			}
			if el := time.Since(start); el > 3*time.Second {
				t.Errorf("dial returned after %v", el)
			}
			pidGone(t, pidFile)
		})
	}
}

// The command runs as `exec COMMAND` in $SHELL, as OpenSSH runs it: a compound command
// stops at its first part (here echo, which exits 0).
func TestProxyCommandExec(t *testing.T) {
	d := NewDialer(DialerOptions{})
	defer d.Close()
	_, err := d.Dial(context.Background(), proxyTarget(t, `echo first >&2; echo never >&2; exit 3`))
	var pe *ProxyCommandError
	if !errors.As(err, &pe) || pe.Stderr != "first" || pe.Status != "" {
		t.Errorf("got %v", err)
	}
}

// The command runs in $SHELL, as OpenSSH runs it.
func TestProxyCommandShell(t *testing.T) {
	t.Setenv("SHELL", "/nonexistent/shell")
	d := NewDialer(DialerOptions{})
	defer d.Close()
	_, err := d.Dial(context.Background(), proxyTarget(t, "true"))
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/shell") {
		t.Errorf("got %v, want the shell named", err)
	}
}

func TestJumpHops(t *testing.T) {
	base := Target{Name: "t", Address: "10.0.0.9", User: "me", KnownHosts: "/k", IdentityFiles: []string{"/id"}}
	hop := func(addr, user string) Target { return Target{Address: addr, User: user, KnownHosts: "/k/" + addr} }

	// The text form: the target's user, keys and known_hosts.
	t1 := base
	t1.Bastion = "a, ops@b:2222"
	got, err := jumpHops(t1)
	if err != nil || len(got) != 2 || hopText(got[0]) != "me@a:22" || hopText(got[1]) != "ops@b:2222" ||
		got[1].KnownHosts != "/k" || got[1].IdentityFiles[0] != "/id" {
		t.Errorf("text chain: %+v %v", got, err)
	}
	// Resolved jumps keep their own settings; Bastion is then only a label.
	t2 := base
	t2.Bastion = "ignored"
	t2.Jumps = []Target{hop("a", "ua"), hop("b", "ub")}
	got, err = jumpHops(t2)
	if err != nil || len(got) != 2 || got[1].KnownHosts != "/k/b" || got[1].User != "ub" || got[1].Name != "b" {
		t.Errorf("resolved chain: %+v %v", got, err)
	}

	bad := map[string]Target{}
	long := base
	for i := 0; i <= MaxJumps; i++ {
		long.Jumps = append(long.Jumps, hop(fmt.Sprintf("h%d", i), "u"))
	}
	bad["more than the 8"] = long
	loop := base
	loop.Jumps = []Target{hop("a", "u"), hop("b", "u"), hop("a", "u")}
	bad["is a loop: jump host 3 is jump host 1 (u@a:22) again"] = loop
	pc := base
	pc.Jumps = []Target{hop("a", "u"), hop("b", "u")}
	pc.Jumps[1].ProxyCommand = "nc %h %p"
	bad["jump host 2 of 2 (b) has a ProxyCommand"] = pc
	both := base
	both.Bastion, both.ProxyCommand = "a", "nc x 22"
	bad["a ProxyCommand and a bastion at once"] = both
	for want, tt := range bad {
		if _, err := jumpHops(tt); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("got %v, want %q", err, want)
		}
	}
	// The first hop may have one.
	pc.Jumps[1].ProxyCommand, pc.Jumps[0].ProxyCommand = "", "nc %h %p"
	if _, err := jumpHops(pc); err != nil {
		t.Errorf("ProxyCommand on the first hop: %v", err)
	}
}
