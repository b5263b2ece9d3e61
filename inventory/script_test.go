package inventory

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
)

// writeScript writes an executable script (mode 0755 whatever the umask) into dir.
func writeScript(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// loadScripts loads paths with scripts run under s.
func loadScripts(paths []string, s *Scripts) (*Inventory, hcl.Diagnostics) {
	files := OSFiles()
	files.Scripts = s
	return LoadWith(paths, LoadOptions{Files: files})
}

// errorsOf is every error's summary and detail, for matching.
func errorsOf(diags hcl.Diagnostics) string {
	var b strings.Builder
	for _, d := range diags {
		if d.Severity == hcl.DiagError {
			b.WriteString(d.Summary + ": " + d.Detail + "\n")
		}
	}
	return b.String()
}

// A script whose --list prints _meta.hostvars (on one line, as json.dumps does) is run
// once: its hosts, groups, group vars and host vars load, and --host is never asked.
func TestScriptInventoryMeta(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "calls")
	script := writeScript(t, dir, "cloud.py", `#!/bin/sh
echo "$*" >> `+log+`
[ "$1" = --list ] || exit 1
printf '%s' '{"web": {"hosts": ["w1", "w2"], "vars": {"http_port": 80}, "children": ["edge"]}, "edge": ["e1"], "_meta": {"hostvars": {"w1": {"ansible_host": "10.0.0.1", "ansible_user": "deploy", "rack": "r1"}}}}'
`)
	inv, diags := loadScripts([]string{script}, &Scripts{})
	if len(diags) > 0 {
		t.Fatalf("load: %s", renderDiags(inv, diags))
	}
	if got := hostNames(inv.Hosts); got != "w1 w2 e1" {
		t.Errorf("hosts %q", got)
	}
	w1 := inv.Host("w1")
	if w1.Conn.Address != "10.0.0.1" || w1.Conn.User != "deploy" || varOf(t, inv, "w1", "rack") != `"r1"` || varOf(t, inv, "w1", "http_port") != "80" {
		t.Errorf("w1: %+v %v", w1.Conn, w1.Vars)
	}
	if e1 := inv.Host("e1"); !e1.InGroup("web") || varOf(t, inv, "e1", "http_port") != "80" {
		t.Errorf("e1 is not in web through edge, or lacks web's vars: %v %v", e1.Groups, e1.Vars)
	}
	if calls, _ := os.ReadFile(log); string(calls) != "--list\n" {
		t.Errorf("script calls %q, want only --list", calls)
	}
}

// Without _meta.hostvars, each host listed is asked for with --host NAME, as Ansible
// does; empty output means no variables.
func TestScriptInventoryHostCalls(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "calls")
	script := writeScript(t, dir, "inv", `#!/bin/sh
echo "$*" >> `+log+`
case "$1 $2" in
"--list ") echo '{"db": {"hosts": ["d1", "d2"]}, "all": {"children": ["db"]}, "ungrouped": ["u1"]}' ;;
"--host d1") echo '{"ansible_port": 2201, "role": "primary"}' ;;
"--host d2") echo '{"ansible_port": 2202}' ;;
"--host u1") ;;
*) exit 1 ;;
esac
`)
	inv, diags := loadScripts([]string{script}, &Scripts{})
	if len(diags) > 0 {
		t.Fatalf("load: %s", renderDiags(inv, diags))
	}
	if got := hostNames(inv.Hosts); got != "d1 d2 u1" {
		t.Errorf("hosts %q", got)
	}
	if d1, d2 := inv.Host("d1"), inv.Host("d2"); d1.Conn.Port != 2201 || d2.Conn.Port != 2202 || varOf(t, inv, "d1", "role") != `"primary"` {
		t.Errorf("d1 %+v %v, d2 %+v", d1.Conn, d1.Vars, d2.Conn)
	}
	if calls, _ := os.ReadFile(log); string(calls) != "--list\n--host d1\n--host d2\n--host u1\n" {
		t.Errorf("script calls %q", calls)
	}
}

// A script that hangs is killed at the timeout with everything it started, and the
// error says so.
func TestScriptInventoryTimeout(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "child")
	script := writeScript(t, dir, "slow.sh", `#!/bin/sh
echo "asking the cloud API" >&2
sleep 30 &
echo $! > `+pidFile+`
wait
`)
	start := time.Now()
	inv, diags := loadScripts([]string{script}, &Scripts{Timeout: 500 * time.Millisecond})
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("load took %s with a 500ms timeout", took)
	}
	msg := errorsOf(diags)
	for _, want := range []string{script + " --list: did not finish within 500ms and was killed with its process group", "  | asking the cloud API"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, renderDiags(inv, diags))
		}
	}
	pid, err := readPid(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	assertGone(t, pid)
}

func readPid(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

// assertGone waits a little for the process to be gone (or a zombie nobody reaped yet).
func assertGone(t *testing.T, pid int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil || strings.Contains(string(stat), ") Z ") {
			return
		}
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
	t.Errorf("the script's child %d still runs", pid)
}

// Ctrl-C (the Context) kills a running script at once, long before its timeout.
func TestScriptInventoryInterrupted(t *testing.T) {
	dir := t.TempDir()
	script := writeScript(t, dir, "slow.sh", "#!/bin/sh\nsleep 30\n")
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	start := time.Now()
	_, diags := loadScripts([]string{script}, &Scripts{Context: ctx, Timeout: time.Minute})
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("load took %s after Ctrl-C", took)
	}
	if msg := errorsOf(diags); !strings.Contains(msg, "interrupted: the script was killed with its process group") {
		t.Errorf("error: %s", msg)
	}
}

// Output that is not JSON is an error naming the script, the position and the text
// there, the stderr's last lines, and why hostplan ran the file at all.
func TestScriptInventoryBadJSON(t *testing.T) {
	dir := t.TempDir()
	script := writeScript(t, dir, "bad.py", `#!/bin/sh
for i in 1 2 3 4 5 6 7 8 9 10 11 12; do echo "warning $i" >&2; done
printf '%0600d\n' 0 >&2
printf '{\n  "web": {\n    "hosts": ["w1",]\n  }\n}\n'
`)
	inv, diags := loadScripts([]string{script}, &Scripts{})
	msg := errorsOf(diags)
	for _, want := range []string{
		"Inventory script printed invalid JSON: " + script + " --list printed output that is not a JSON inventory: invalid character ']'",
		"(at line 3, column 20, byte 32 of 40)", `The text there:     "hosts": ["w1",]`,
		"  | warning 4\n", "  | warning 12\n", "  | " + strings.Repeat("0", 500) + " [...]\n", "chmod a-x " + script,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, renderDiags(inv, diags))
		}
	}
	if strings.Contains(msg, "warning 3\n") {
		t.Errorf("error quotes more than the last %d lines of stderr:\n%s", stderrLines, msg)
	}
}

// A script that fails says how, with its stderr; so does one whose #! names no
// interpreter, and one whose JSON is not an inventory (an error in the re-indented
// output, with the line quoted).
func TestScriptInventoryFails(t *testing.T) {
	for _, c := range []struct{ body, want string }{
		{"#!/bin/sh\necho 'Unable to locate credentials' >&2\nexit 3\n", "--list: exited with status 3 after"},
		{"#!/nonexistent/python\n", "--list: could not be started: fork/exec"},
		{"#!/bin/sh\necho '[1, 2]'\n", "the output is JSON but not an object"},
		{"#!/bin/sh\necho\n", "printed nothing on stdout"},
		{"#!/bin/sh\necho '{\"web\": {\"hosts\": [\"w1\"], \"hostz\": 1}}'\n", "has a key \"hostz\"; a group has only hosts, vars and children.\nLine 6 of "},
		{"#!/bin/sh\n[ \"$1\" = --list ] && echo '{\"web\": [\"w1\"]}' || echo '{oops'\n", "--host w1 printed output that is not a JSON inventory"},
		{"#!/bin/sh\necho '{\"bad group!\": [\"x1\"]}'\n", "\"bad group!\" cannot be a group name"},
	} {
		script := writeScript(t, t.TempDir(), "inv", c.body)
		inv, diags := loadScripts([]string{script}, &Scripts{})
		if msg := errorsOf(diags); !strings.Contains(msg, c.want) || !strings.Contains(msg, script) {
			t.Errorf("%q: want an error naming the script with %q:\n%s", c.body, c.want, renderDiags(inv, diags))
		}
	}
}

// Too much output kills the script: a script printing forever must not eat memory.
func TestScriptInventoryOutputBound(t *testing.T) {
	script := writeScript(t, t.TempDir(), "loop.sh", "#!/bin/sh\nwhile :; do echo '{\"web\": [\"w1\"]}'; done\n")
	_, diags := loadScripts([]string{script}, &Scripts{MaxOutput: 100_000, Timeout: 20 * time.Second})
	if msg := errorsOf(diags); !strings.Contains(msg, "printed more than 100000 bytes on stdout") {
		t.Errorf("error: %s", msg)
	}
}

// A script someone else could have written is refused, and never run: writable by
// its group or others, owned by another user, or in a directory others may write (its
// own even when sticky; a sticky one above it, such as /tmp here, is fine).
func TestScriptInventoryRefused(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give files to another user")
	}
	for _, c := range []struct {
		name string
		prep func(parent, dir, script string) error
		want string
	}{
		{"world-writable", func(_, _, s string) error { return os.Chmod(s, 0o777) }, "it is writable by its group or by others (mode 0777)"},
		{"group-writable", func(_, _, s string) error { return os.Chmod(s, 0o775) }, "Fix: chmod go-w "},
		{"other owner", func(_, _, s string) error { return os.Chown(s, 65534, 65534) }, "is owned by nobody (uid 65534), not by you (root) or root, so another user could change what hostplan runs as you. Fix: chown root "},
		{"open directory", func(_, d, _ string) error { return os.Chmod(d, 0o777) }, "its directory %DIR is writable by its group or by others (mode 0777)"},
		{"sticky directory", func(_, d, _ string) error { return os.Chmod(d, 0o777|os.ModeSticky) }, "its directory %DIR is writable by its group or by others"},
		{"open parent", func(p, _, _ string) error { return os.Chmod(p, 0o770) }, "its directory %PARENT is writable by its group or by others (mode 0770)"},
		{"parent of another user", func(p, _, _ string) error { return os.Chown(p, 65534, 65534) }, "its directory %PARENT is owned by nobody"},
	} {
		t.Run(c.name, func(t *testing.T) {
			parent := t.TempDir()
			dir := filepath.Join(parent, "sub")
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			ran := filepath.Join(parent, "ran")
			script := writeScript(t, dir, "inv.sh", "#!/bin/sh\ntouch "+ran+"\necho '{\"web\": [\"w1\"]}'\n")
			if err := c.prep(parent, dir, script); err != nil {
				t.Fatal(err)
			}
			inv, diags := loadScripts([]string{script}, &Scripts{})
			msg := errorsOf(diags)
			want := strings.NewReplacer("%DIR", dir, "%PARENT", parent).Replace(c.want)
			if !strings.Contains(msg, "Inventory script refused: refusing to run inventory script "+script+": ") || !strings.Contains(msg, want) {
				t.Errorf("want refusal with %q:\n%s", want, renderDiags(inv, diags))
			}
			if _, err := os.Stat(ran); err == nil {
				t.Error("the refused script ran")
			}
		})
	}
}

// An inventory directory runs its scripts among its static files, skipping what
// Ansible skips (a script.bak is not run), and its group_vars apply to the script's
// hosts.
func TestScriptInventoryInDirectory(t *testing.T) {
	dir := t.TempDir()
	ran := filepath.Join(t.TempDir(), "bak-ran")
	writeScript(t, dir, "10-cloud", `#!/bin/sh
echo '{"web": {"hosts": ["w1"]}, "_meta": {"hostvars": {}}}'
`)
	writeScript(t, dir, "10-cloud.bak", "#!/bin/sh\ntouch "+ran+"\n")
	files := map[string]string{
		"20-static.ini":      "[db]\nd1\n",
		"group_vars/web.yml": "ansible_user: deploy\n",
		"group_vars/all.yml": "ntp: ntp.example.com\n",
	}
	for name, body := range files {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	inv, diags := loadScripts([]string{dir}, &Scripts{})
	if len(diags) > 0 {
		t.Fatalf("load: %s", renderDiags(inv, diags))
	}
	if got := hostNames(inv.Hosts); got != "w1 d1" {
		t.Errorf("hosts %q", got)
	}
	if w1 := inv.Host("w1"); w1.Conn.User != "deploy" || varOf(t, inv, "w1", "ntp") != `"ntp.example.com"` {
		t.Errorf("w1 lacks group_vars: %+v %v", w1.Conn, w1.Vars)
	}
	if _, err := os.Stat(ran); err == nil {
		t.Error("10-cloud.bak ran: Ansible skips .bak files")
	}
}

// A file that starts with #! but is not executable is read as a static inventory, as
// Ansible's ini plugin reads it once running it failed, with a warning saying how to
// run it. Without a script runner (a saved plan), a script is an error.
func TestScriptInventoryNotRun(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "hosts")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n[web]\nw1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	inv, diags := loadScripts([]string{p}, &Scripts{})
	if diags.HasErrors() || len(diags) != 1 || !strings.Contains(diags[0].Detail, "chmod u+x "+p) || hostNames(inv.Hosts) != "w1" {
		t.Errorf("want w1 read statically and one warning:\n%s", renderDiags(inv, diags))
	}
	script := writeScript(t, dir, "inv", "#!/bin/sh\necho '{\"web\": [\"w1\"]}'\n")
	_, diags = loadScripts([]string{script}, nil)
	if msg := errorsOf(diags); !strings.Contains(msg, "Dynamic inventory script not run: "+script+" starts like a program") {
		t.Errorf("error: %s", msg)
	}
}

// JSON that is not YAML as yaml.v3 reads it still loads: "\/" (PHP's json_encode),
// a surrogate pair, a key longer than YAML's 1024-character implicit keys, a byte that
// is not UTF-8; and quoted "yes" or "0644" stay strings, as JSON says.
func TestScriptInventoryJSONEdges(t *testing.T) {
	long := strings.Repeat("k", 1500)
	script := writeScript(t, t.TempDir(), "inv.php", `#!/bin/sh
printf '%s' '{"web":{"hosts":["w1"]},"_meta":{"hostvars":{"w1":{"url":"http:\/\/x\/","smile":"\ud83d\ude00","`+long+`":1,"raw":"a`+"\xff"+`b","yes":"yes","mode":"0644","tab":"a\tb"}}}}'
`)
	inv, diags := loadScripts([]string{script}, &Scripts{})
	if len(diags) > 0 {
		t.Fatalf("load: %s", renderDiags(inv, diags))
	}
	for name, want := range map[string]string{"url": `"http://x/"`, "smile": `"😀"`, long: "1", "raw": `"a` + "\ufffd" + `b"`, "yes": `"yes"`, "mode": `"0644"`, "tab": `"a\tb"`} {
		if got := varOf(t, inv, "w1", name); got != want {
			t.Errorf("%.20s = %s, want %s", name, got, want)
		}
	}
}

// A large inventory printed on one line, as json.dumps prints it, loads in seconds:
// positioning each value on one long line would take minutes (quadratic).
func TestScriptInventoryOneLineLarge(t *testing.T) {
	const n = 20000
	var hosts, vars strings.Builder
	for i := range n {
		if i > 0 {
			hosts.WriteString(",")
			vars.WriteString(",")
		}
		fmt.Fprintf(&hosts, `"h%d"`, i)
		fmt.Fprintf(&vars, `"h%d":{"ansible_host":"10.%d.%d.%d","rack":"r%d"}`, i, i>>16, i>>8&255, i&255, i%40)
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "out.json")
	if err := os.WriteFile(out, []byte(`{"web":{"hosts":[`+hosts.String()+`]},"_meta":{"hostvars":{`+vars.String()+`}}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	script := writeScript(t, dir, "inv", "#!/bin/sh\ncat "+out+"\n")
	start := time.Now()
	inv, diags := loadScripts([]string{script}, &Scripts{})
	if len(diags) > 0 || len(inv.Hosts) != n || inv.Hosts[n-1].Conn.Address != "10.0.78.31" {
		t.Fatalf("load: %d hosts, %s", len(inv.Hosts), renderDiags(inv, diags))
	}
	if took := time.Since(start); took > 30*time.Second {
		t.Errorf("loading %d hosts from one line took %s", n, took)
	}
	t.Logf("%d hosts from one line: %s", n, time.Since(start))
}

// Through a symbolic link, both the link and what it points to must be safe: a link
// another user owns is refused, so is a script in an open directory behind a safe
// link; a safe link to a safe script runs.
func TestScriptInventoryRefusedLinks(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give files to another user")
	}
	base := t.TempDir()
	open, safe := filepath.Join(base, "open"), filepath.Join(base, "safe")
	for _, d := range []string{open, safe} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	body := "#!/bin/sh\necho '{\"web\": [\"w1\"]}'\n"
	inOpen, inSafe := writeScript(t, open, "inv", body), writeScript(t, safe, "inv", body)
	if err := os.Chmod(open, 0o777); err != nil {
		t.Fatal(err)
	}
	link := func(name, target string, uid int) string {
		p := filepath.Join(safe, name)
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
		if err := os.Lchown(p, uid, uid); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, c := range []struct{ path, want string }{
		{link("to-open", inOpen, 0), "its directory " + open + " is writable by its group or by others (mode 0777)"},
		{link("theirs", inSafe, 65534), "the symbolic link " + filepath.Join(safe, "theirs") + " is owned by nobody (uid 65534), not by you (root) or root, so another user could change what hostplan runs as you. Fix: chown -h root "},
	} {
		inv, diags := loadScripts([]string{c.path}, &Scripts{})
		if msg := errorsOf(diags); !strings.Contains(msg, "refusing to run inventory script "+c.path+": "+c.want) {
			t.Errorf("%s: want refusal with %q:\n%s", c.path, c.want, renderDiags(inv, diags))
		}
	}
	ok := link("ours", inSafe, 0)
	if inv, diags := loadScripts([]string{ok}, &Scripts{}); len(diags) > 0 || hostNames(inv.Hosts) != "w1" {
		t.Errorf("a safe link to a safe script: %s", renderDiags(inv, diags))
	}
}

// Reading from memory (no Scripts, as the fuzz targets and saved plans read), a file
// that starts like a program still has its inv.Files entry and printable diagnostics.
func TestScriptInventoryInMemory(t *testing.T) {
	fuzzInventory(t, "hosts", []byte("#!/bin/sh\n[web]\nw1\n"))
	fuzzInventory(t, "inv.json", []byte("\x7fELF\x02\x01\x01"))
}

// A script that exits but leaves a process holding its stdout open (a cache refresher
// started in the background, say) loads once it exited, and that process is ended:
// waiting for the pipe to close would hang like the process.
func TestScriptInventoryLeftBehind(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "child")
	script := writeScript(t, dir, "inv", `#!/bin/sh
sleep 30 &
echo $! > `+pidFile+`
echo '{"web": ["w1"], "_meta": {"hostvars": {}}}'
`)
	start := time.Now()
	inv, diags := loadScripts([]string{script}, &Scripts{Timeout: 20 * time.Second})
	if len(diags) > 0 || hostNames(inv.Hosts) != "w1" {
		t.Fatalf("load: %s", renderDiags(inv, diags))
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("load took %s", took)
	}
	pid, err := readPid(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	assertGone(t, pid)
}
