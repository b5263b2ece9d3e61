package transport

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func dialLocal(t *testing.T, opts DialerOptions, target Target) Conn {
	t.Helper()
	d := NewDialer(opts)
	t.Cleanup(func() { d.Close() })
	target.Local = true
	c, err := d.Dial(context.Background(), target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// testRun checks the Run contract on any connection.
func testRun(t *testing.T, c Conn) {
	t.Helper()
	ctx := context.Background()
	res, err := c.Run(ctx, "echo out; echo err >&2; exit 3", nil)
	if err != nil {
		t.Fatal(err)
	}
	if string(res.Stdout) != "out\n" || string(res.Stderr) != "err\n" || res.ExitCode != 3 {
		t.Errorf("got %q %q %d", res.Stdout, res.Stderr, res.ExitCode)
	}
	// stdin, and quoting of awkward commands.
	res, err = c.Run(ctx, `cat; printf '%s' "it's $((1+1))"`, strings.NewReader("in\n"))
	if err != nil {
		t.Fatal(err)
	}
	if string(res.Stdout) != "in\nit's 2" || res.ExitCode != 0 {
		t.Errorf("stdin: got %q %d", res.Stdout, res.ExitCode)
	}
	// nil stdin reads as EOF at once.
	res, err = c.Run(ctx, "cat; echo done", nil)
	if err != nil || string(res.Stdout) != "done\n" {
		t.Errorf("nil stdin: %v %+v", err, res)
	}
	// A big stdin that the command ignores does not hang Run.
	res, err = c.Run(ctx, "exit 0", bytes.NewReader(make([]byte, 8<<20)))
	if err != nil || res.ExitCode != 0 {
		t.Errorf("ignored stdin: %v %+v", err, res)
	}
	// Killed by a signal: 128+n.
	res, err = c.Run(ctx, "kill -TERM $$", nil)
	if err != nil || res.ExitCode != 128+15 {
		t.Errorf("signal: %v %+v", err, res)
	}
	// ctx expiry stops a command and is an error.
	cctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = c.Run(cctx, "sleep 30", nil)
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 10*time.Second {
		t.Errorf("ctx: %v after %v", err, time.Since(start))
	}
}

func TestLocalRun(t *testing.T) {
	testRun(t, dialLocal(t, DialerOptions{}, Target{}))
}

// testFiles checks the file operations on any connection, in dir (which must exist).
// owner/group are what a new file gets by default there.
func testFiles(t *testing.T, c Conn, dir string) {
	t.Helper()
	ctx := context.Background()
	p := dir + "/conf.txt"
	if _, err := c.Stat(ctx, p); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("stat missing: %v", err)
	}
	if _, err := c.ReadFile(ctx, p); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("read missing: %v", err)
	}
	// New file: default mode 0644.
	if err := c.WriteFile(ctx, p, []byte("one\n"), FileAttrs{UID: -1, GID: -1}); err != nil {
		t.Fatal(err)
	}
	fi, err := c.Stat(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode != 0o644 || fi.Size != 4 || fi.IsDir() {
		t.Errorf("new file: %+v", fi)
	}
	// Explicit mode; then an overwrite with Mode 0 keeps it.
	if err := c.WriteFile(ctx, p, []byte("two\n"), FileAttrs{Mode: 0o640, UID: -1, GID: -1}); err != nil {
		t.Fatal(err)
	}
	if err := c.WriteFile(ctx, p, []byte("three\n"), FileAttrs{UID: -1, GID: -1}); err != nil {
		t.Fatal(err)
	}
	if data, err := c.ReadFile(ctx, p); err != nil || string(data) != "three\n" {
		t.Errorf("read: %q %v", data, err)
	}
	if fi, err := c.Stat(ctx, p); err != nil || fi.Mode != 0o640 {
		t.Errorf("mode after overwrite: %+v %v", fi, err)
	}
	// Empty file, setuid bit in octal form.
	if err := c.WriteFile(ctx, p, nil, FileAttrs{Mode: 0o4755, UID: -1, GID: -1}); err != nil {
		t.Fatal(err)
	}
	if fi, err := c.Stat(ctx, p); err != nil || fi.Mode != fs.ModeSetuid|0o755 || fi.Size != 0 {
		t.Errorf("setuid empty file: %+v %v", fi, err)
	}
	// Mkdir, Chmod, Chown (to ourselves), Remove.
	sub := dir + "/sub"
	if err := c.Mkdir(ctx, sub, FileAttrs{UID: -1, GID: -1}); err != nil {
		t.Fatal(err)
	}
	if fi, err := c.Stat(ctx, sub); err != nil || !fi.IsDir() || fi.Mode.Perm() != 0o755 {
		t.Errorf("mkdir: %+v %v", fi, err)
	}
	if err := c.Mkdir(ctx, sub, FileAttrs{UID: -1, GID: -1}); err == nil {
		t.Errorf("mkdir of an existing dir succeeded")
	}
	// ReadDir lists names over the file session; a file or a missing path is an error.
	if names, err := c.ReadDir(ctx, dir); err != nil || !slices.Contains(names, "conf.txt") || !slices.Contains(names, "sub") {
		t.Errorf("read dir: %q %v", names, err)
	}
	if _, err := c.ReadDir(ctx, p); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("read dir of a file: %v", err)
	}
	if _, err := c.ReadDir(ctx, dir+"/none"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("read dir missing: %v", err)
	}
	if err := c.Mkdir(ctx, dir+"/no/such", FileAttrs{UID: -1, GID: -1}); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("mkdir without parent: %v", err)
	}
	if err := c.Chmod(ctx, sub, 0o700); err != nil {
		t.Fatal(err)
	}
	fi, err = c.Stat(ctx, sub)
	if err != nil || fi.Mode.Perm() != 0o700 {
		t.Errorf("chmod: %+v %v", fi, err)
	}
	if err := c.Chown(ctx, sub, fi.UID, -1); err != nil {
		t.Errorf("chown to the owner: %v", err)
	}
	then := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := c.SetModTime(ctx, sub, then); err != nil {
		t.Fatal(err)
	}
	if fi, err := c.Stat(ctx, sub); err != nil || !fi.ModTime.Equal(then) {
		t.Errorf("set the time: %v %v", fi.ModTime, err)
	}
	if err := c.WriteFile(ctx, sub, []byte("x"), FileAttrs{UID: -1, GID: -1}); err == nil {
		t.Errorf("WriteFile over a directory succeeded")
	}
	if err := c.Remove(ctx, sub); err != nil {
		t.Fatal(err)
	}
	if err := c.Remove(ctx, p); err != nil {
		t.Fatal(err)
	}
	if err := c.Remove(ctx, p); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("remove missing: %v", err)
	}
	// Into a directory that does not exist: ErrNotExist, nothing left behind.
	if err := c.WriteFile(ctx, dir+"/nodir/f", []byte("x"), FileAttrs{UID: -1, GID: -1}); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("write into missing dir: %v", err)
	}
	// 1 MiB round trip.
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16)
	if err := c.WriteFile(ctx, p, big, FileAttrs{Mode: 0o600, UID: -1, GID: -1}); err != nil {
		t.Fatal(err)
	}
	if data, err := c.ReadFile(ctx, p); err != nil || !bytes.Equal(data, big) {
		t.Errorf("1 MiB round trip: %d bytes, %v", len(data), err)
	}
}

// noTempFiles fails when dir holds a WriteFile temp file.
func noTempFiles(t *testing.T, list func() []string) {
	t.Helper()
	for _, name := range list() {
		if strings.Contains(name, ".hostplan-") {
			t.Errorf("temp file left behind: %s", name)
		}
	}
}

func localList(t *testing.T, dir string) func() []string {
	return func() []string {
		ents, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		return names
	}
}

func TestLocalFiles(t *testing.T) {
	dir := t.TempDir()
	c := dialLocal(t, DialerOptions{}, Target{})
	testFiles(t, c, dir)
	noTempFiles(t, localList(t, dir))
}

// The temp file is complete (content, mode) and hidden beside the target just before
// the rename; the target still has the old content then.
func TestWriteFileBeforeRename(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	os.WriteFile(p, []byte("old"), 0o600)
	c := dialLocal(t, DialerOptions{}, Target{})
	called := 0
	beforeRename = func(path string) {
		called++
		if path != p {
			t.Errorf("hook path %s", path)
		}
		if data, _ := os.ReadFile(p); string(data) != "old" {
			t.Errorf("target already replaced: %q", data)
		}
		tmps, _ := filepath.Glob(filepath.Join(dir, ".f.hostplan-*"))
		if len(tmps) != 1 {
			t.Fatalf("temp files: %v", tmps)
		}
		fi, _ := os.Stat(tmps[0])
		data, _ := os.ReadFile(tmps[0])
		if string(data) != "new" || fi.Mode().Perm() != 0o600 {
			t.Errorf("temp file %s: %q %v", tmps[0], data, fi.Mode())
		}
	}
	defer func() { beforeRename = nil }()
	if err := c.WriteFile(context.Background(), p, []byte("new"), FileAttrs{UID: -1, GID: -1}); err != nil {
		t.Fatal(err)
	}
	if called != 1 {
		t.Errorf("hook called %d times", called)
	}
	if data, _ := os.ReadFile(p); string(data) != "new" {
		t.Errorf("content %q", data)
	}
	noTempFiles(t, localList(t, dir))
}

// failingFS makes one step of atomicWrite fail.
type failingFS struct {
	osOps
	failReplace, failChmod bool
}

type failingTemp struct {
	tempFile
	failChmod bool
}

func (f failingFS) createTemp(p string) (tempFile, error) {
	t, err := f.osOps.createTemp(p)
	if err != nil {
		return nil, err
	}
	return failingTemp{t, f.failChmod}, nil
}

func (f failingFS) replace(o, n string) error {
	if f.failReplace {
		return errors.New("injected rename failure")
	}
	return f.osOps.replace(o, n)
}

func (t failingTemp) chmod(m fs.FileMode) error {
	if t.failChmod {
		return errors.New("injected chmod failure")
	}
	return t.tempFile.chmod(m)
}

func TestAtomicWriteCleansUp(t *testing.T) {
	for _, fsys := range []failingFS{{failReplace: true}, {failChmod: true}} {
		dir := t.TempDir()
		p := filepath.Join(dir, "f")
		os.WriteFile(p, []byte("old"), 0o644)
		err := atomicWrite(context.Background(), fsys, p, []byte("new"), FileAttrs{UID: -1, GID: -1}, true)
		if err == nil || !strings.Contains(err.Error(), "injected") {
			t.Errorf("%+v: %v", fsys, err)
		}
		if data, _ := os.ReadFile(p); string(data) != "old" {
			t.Errorf("%+v: target changed to %q", fsys, data)
		}
		noTempFiles(t, localList(t, dir))
	}
	// A cancelled context stops before the rename and cleans up.
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := atomicWrite(ctx, osOps{}, filepath.Join(dir, "f"), []byte("x"), FileAttrs{UID: -1, GID: -1}, true); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	noTempFiles(t, localList(t, dir))
}

// fakeSudo puts a `sudo` on PATH that understands -n, -S -p PROMPT, -u USER and wants
// $FAKE_SUDO_PASSWORD (none: no password needed), like the real one: "a password is
// required" for -n, "Sorry, try again." after a wrong one, three tries.
func fakeSudo(t *testing.T, password string) {
	t.Helper()
	dir := t.TempDir()
	script := `#!/bin/sh
mode=n prompt=Password:
while [ $# -gt 0 ]; do
  case "$1" in
    -n) mode=n; shift;;
    -S) mode=S; shift;;
    -p) prompt=$2; shift 2;;
    -u) shift 2;;
    --) shift; break;;
    *) break;;
  esac
done
if [ -n "$FAKE_SUDO_PASSWORD" ]; then
  if [ $mode = n ]; then echo "sudo: a password is required" >&2; exit 1; fi
  tries=0
  while :; do
    printf '%s' "$prompt" >&2
    IFS= read -r pw || exit 1
    [ "$pw" = "$FAKE_SUDO_PASSWORD" ] && break
    echo "Sorry, try again." >&2
    tries=$((tries+1))
    if [ $tries -ge 3 ]; then echo "sudo: 3 incorrect password attempts" >&2; exit 1; fi
  done
fi
exec "$@"
`
	if err := os.WriteFile(filepath.Join(dir, "sudo"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+":"+os.Getenv("PATH"))
	t.Setenv("FAKE_SUDO_PASSWORD", password)
}

// becomeTarget is a local target that really goes through sudo (not skipped as root).
var becomeTarget = Target{Become: true, BecomeUser: "nobody"}

func TestLocalBecomeFakeSudoNoPassword(t *testing.T) {
	fakeSudo(t, "")
	c := dialLocal(t, DialerOptions{}, becomeTarget)
	testRun(t, c)
}

func TestLocalBecomeFakeSudoPassword(t *testing.T) {
	fakeSudo(t, "s3cret 'pw'")
	var asked atomic.Int32
	c := dialLocal(t, DialerOptions{BecomePassword: func() ([]byte, error) {
		asked.Add(1)
		return []byte("s3cret 'pw'"), nil
	}}, becomeTarget)
	testRun(t, c) // stdin reaches the command only after the password
	if n := asked.Load(); n != 1 {
		t.Errorf("BecomePassword called %d times", n)
	}
	res, err := c.Run(context.Background(), "echo hi >&2", nil)
	if err != nil || string(res.Stderr) != "hi\n" {
		t.Errorf("prompt not stripped from stderr: %q %v", res.Stderr, err)
	}
}

func TestLocalBecomeFakeSudoWrongPassword(t *testing.T) {
	fakeSudo(t, "right")
	var asked atomic.Int32
	c := dialLocal(t, DialerOptions{BecomePassword: func() ([]byte, error) {
		asked.Add(1)
		return []byte("wrong-password-xyz"), nil
	}}, becomeTarget)
	for i := 0; i < 2; i++ {
		_, err := c.Run(context.Background(), "echo never", nil)
		if !errors.Is(err, ErrBecomePasswordRejected) || !strings.Contains(err.Error(), "sudo password rejected on localhost") {
			t.Errorf("wrong password: %v", err)
		}
		if err != nil && strings.Contains(err.Error(), "wrong-password-xyz") {
			t.Errorf("password in the error: %v", err)
		}
	}
	if n := asked.Load(); n != 1 {
		t.Errorf("BecomePassword called %d times", n)
	}
}

func TestLocalBecomeFakeSudoPasswordRequired(t *testing.T) {
	fakeSudo(t, "right")
	c := dialLocal(t, DialerOptions{}, becomeTarget)
	_, err := c.Run(context.Background(), "echo never", nil)
	if !errors.Is(err, ErrBecomePasswordRequired) {
		t.Errorf("got %v", err)
	}
}

func TestLocalBecomeNoSudo(t *testing.T) {
	t.Setenv("PATH", t.TempDir()) // no sudo at all; /bin/sh is found by path
	c := dialLocal(t, DialerOptions{}, becomeTarget)
	_, err := c.Run(context.Background(), "echo never", nil)
	if !errors.Is(err, ErrBecomeFailed) || !strings.Contains(err.Error(), "sudo is not installed") {
		t.Errorf("got %v", err)
	}
}

// Real sudo and sftp-server on this machine: become another user locally.
func TestLocalBecomeRealSudo(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (sudo -u nobody without a password)")
	}
	if _, err := exec.LookPath("sudo"); err != nil {
		t.Skip("no sudo here")
	}
	found := false
	for _, p := range sftpServerPaths {
		if _, err := os.Stat(p); err == nil {
			found = true
		}
	}
	if !found {
		t.Skip("no sftp-server here")
	}
	// nobody's own folder: a write into a folder another user may change is refused.
	dir := t.TempDir()
	os.Chmod(filepath.Dir(dir), 0o755)
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skip("no user nobody")
	}
	uid, _ := strconv.Atoi(nobody.Uid)
	os.Chown(dir, uid, -1)
	t.Setenv("SSH_AUTH_SOCK", "")
	c := dialLocal(t, DialerOptions{}, becomeTarget)
	ctx := context.Background()
	res, err := c.Run(ctx, "id -un", nil)
	if err != nil || strings.TrimSpace(string(res.Stdout)) != "nobody" {
		t.Fatalf("id -un: %+v %v", res, err)
	}
	p := dir + "/owned"
	if err := c.WriteFile(ctx, p, []byte("x"), FileAttrs{Mode: 0o600, UID: -1, GID: -1}); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Stat(ctx, p)
	if err != nil || got.UID == 0 || fi.Mode().Perm() != 0o600 {
		t.Errorf("file written as nobody: %+v %v", got, err)
	}
	// nobody cannot write into a root-only directory: an error, nothing left behind.
	root := t.TempDir()
	if err := c.WriteFile(ctx, root+"/f", []byte("x"), FileAttrs{UID: -1, GID: -1}); !errors.Is(err, fs.ErrPermission) {
		t.Errorf("write as nobody into a root dir: %v", err)
	}
	noTempFiles(t, localList(t, root))
	testFiles(t, c, dir)
	noTempFiles(t, localList(t, dir))
}

func TestIsTempOf(t *testing.T) {
	p := "/etc/app.conf"
	if tmp := tempName(p); !isTempOf(path.Base(tmp), p) {
		t.Errorf("tempName %s not recognised", tmp)
	}
	for _, n := range []string{"app.conf", ".app.conf.hostplan-", ".app.conf.hostplan-0123456789abcdeg", ".other.hostplan-0123456789abcdef", ".app.conf.hostplan-0123456789abcdef0"} {
		if isTempOf(n, p) {
			t.Errorf("%s taken for a temp file of %s", n, p)
		}
	}
}

// TestRunSections: each command's own output and status from one session; a command
// that exits ends only its own subshell; output that imitates a marker fakes nothing.
func TestRunSections(t *testing.T) {
	c := dialLocal(t, DialerOptions{}, Target{})
	got, stderr, err := RunSections(context.Background(), c,
		[]string{"printf 'a\\nb\\n'", "echo oops >&2; false", "printf x", "exit 3", "echo; echo 'hostplan-section-0000000000000000 0'"})
	want := []Section{{"a\nb\n", 0}, {"", 1}, {"x", 0}, {"", 3}, {"\nhostplan-section-0000000000000000 0\n", 0}}
	if err != nil || !reflect.DeepEqual(got, want) || stderr != "oops\n" {
		t.Errorf("RunSections = %+v, %q, %v; want %+v", got, stderr, err, want)
	}
}

// TestIsProgram: only one call of a program, in ShellQuote's forms, runs in the shell
// itself; anything that could exit, change or escape that shell keeps its subshell.
func TestIsProgram(t *testing.T) {
	for cmd, want := range map[string]bool{
		"iptables-save":           true,
		"/usr/sbin/iptables-save": true,
		"awk -v m=/a 'FILENAME == m { print }\n{ next }' /a /b": true,
		"grep " + ShellQuote("it's") + " /etc/x":                true,
		"exit 3":                                                false,
		"cd /":                                                  false,
		"set -e":                                                false,
		"printf x":                                              false,
		"eval x":                                                false,
		"a=b awk 1":                                             false,
		"awk 1; exit":                                           false,
		"awk 1 > /etc/x":                                        false,
		"awk 1 2>/dev/null":                                     false,
		"awk $(id -u)":                                          false,
		"awk `id -u`":                                           false,
		"awk 'unterminated":                                     false,
		`awk "x"`:                                               false,
		"awk *":                                                 false,
		"awk 1 &":                                               false,
		"awk 1 | cat":                                           false,
		"awk 1\ncat":                                            false,
		"(awk 1)":                                               false,
		"{ awk 1; }":                                            false,
		"":                                                      false,
		" awk":                                                  false,
		"./x":                                                   false,
		"e'xit' 3":                                              false,
		"ex\\it 3":                                              false,
		"-p exit 3":                                             false,
	} {
		if got := isProgram(cmd); got != want {
			t.Errorf("isProgram(%q) = %v, want %v", cmd, got, want)
		}
	}
}

// TestSectionsPrograms: a program's section runs it in the shell itself as "command"
// (a function of the script around it is not called), with its own status, and the
// sections after it run; a subshell's exit still ends only its own section.
func TestSectionsPrograms(t *testing.T) {
	c := dialLocal(t, DialerOptions{}, Target{})
	s := NewSections([]string{"sh -c 'echo prog; exit 4'", "cat /nonexistent/x", "exit 3", "echo after"})
	if !strings.HasPrefix(s.Script(), "command sh -c ") {
		t.Fatalf("the program does not run in the shell itself:\n%s", s.Script())
	}
	res, err := c.Run(context.Background(), "sh() { echo function; }\ncat() { echo function; }\n"+s.Script(), nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Parse(string(res.Stdout))
	want := []Section{{"prog\n", 4}, {"", 1}, {"", 3}, {"after\n", 0}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("sections = %+v, %v; want %+v", got, err, want)
	}
}

// TestSectionsSkipping: a command whose condition holds does not run (its section ends
// with SkippedCode and prints nothing, and no subshell starts for it); one whose
// condition fails runs as usual.
func TestSectionsSkipping(t *testing.T) {
	c := dialLocal(t, DialerOptions{}, Target{})
	dir := t.TempDir()
	ran := filepath.Join(dir, "ran")
	skipped, runs := "touch "+ShellQuote(ran+"-1")+"; echo one", "touch "+ShellQuote(ran+"-2")+"; echo two"
	s := NewSections([]string{skipped, runs, "echo three"}).Skipping(map[string]string{
		skipped: "[ -d " + ShellQuote(dir) + " ]",
		runs:    "[ -d " + ShellQuote(filepath.Join(dir, "missing")) + " ]",
	})
	// The condition is tested in the shell itself: a skipped command costs no fork.
	if !strings.HasPrefix(s.Script(), "if [ -d "+ShellQuote(dir)+" ]; then c=75; else\n") {
		t.Errorf("the condition is not tested in the shell itself:\n%s", s.Script())
	}
	got, _, err := s.Run(context.Background(), c)
	want := []Section{{"", SkippedCode}, {"two\n", 0}, {"three\n", 0}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("Run = %+v, %v; want %+v", got, err, want)
	}
	if _, err := os.Stat(ran + "-1"); err == nil {
		t.Error("the skipped command ran")
	}
	if _, err := os.Stat(ran + "-2"); err != nil {
		t.Errorf("the command not skipped did not run: %v", err)
	}
}

// TestNoCutWrites: a write removes the temp files earlier writes of its file left,
// unless the connection was told no write on its host can have been cut off.
func TestNoCutWrites(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "app.conf")
	litter := filepath.Join(dir, ".app.conf.hostplan-0123456789abcdef")
	c := dialLocal(t, DialerOptions{}, Target{})
	for i, cut := range []bool{true, false} {
		if !cut {
			NoCutWrites(c)
		}
		if err := os.WriteFile(litter, []byte("old temp"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := c.WriteFile(context.Background(), p, []byte("new"), FileAttrs{UID: -1, GID: -1}); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Lstat(litter); (err == nil) == cut {
			t.Errorf("write %d (a cut write possible: %v): the earlier temp file is there: %v", i, cut, err == nil)
		}
	}
}
