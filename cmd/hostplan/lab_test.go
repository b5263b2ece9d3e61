package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"

	"github.com/hostplan/hostplan/internal/lab"
)

// result is one in-process run of the CLI.
type result struct {
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\n--- stdout\n%s--- stderr\n%s", r.code, r.stdout, r.stderr)
}

func hostplan(t *testing.T, args ...string) result {
	t.Helper()
	return hostplanEnv(t, nil, args...)
}

// hostplanEnv runs the CLI with extra environment. HOME points at an empty dir so the
// machine's ~/.ssh/config and keys play no part.
func hostplanEnv(t *testing.T, extra []string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	env := append([]string{"HOME=" + t.TempDir(), "NO_COLOR=1", "SSH_AUTH_SOCK="}, extra...)
	code := run(context.Background(), args, strings.NewReader(""), &out, &errb, env)
	return result{code, out.String(), errb.String()}
}

// startLab starts n lab hosts; h1 is also in group "masters". It returns the lab and
// the path of an inventory that logs in as user.
func startLab(t *testing.T, n int, user string) (*lab.Lab, string) {
	t.Helper()
	l := lab.ForTest(t, lab.Options{Hosts: n, Groups: func(i int) []string {
		if i == 0 {
			return []string{"lab", "masters"}
		}
		return []string{"lab"}
	}})
	inv := filepath.Join(t.TempDir(), "inventory.hcl")
	if err := l.WriteInventory(inv, user); err != nil {
		t.Fatal(err)
	}
	return l, inv
}

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// treeHash hashes everything a lab host could have written: its overlay upper dirs and
// its own /root, /home, /tmp and /srv (names, modes, owners, sizes, mtimes, contents).
func treeHash(t *testing.T, l *lab.Lab, h *lab.Host) string {
	t.Helper()
	root := filepath.Join(l.Dir, h.Name)
	var lines []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		top := strings.Split(rel, string(filepath.Separator))[0]
		switch top {
		case ".", "upper", "root", "home", "tmp", "srv":
		default:
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		info, err := os.Lstat(p)
		if err != nil {
			return err
		}
		line := fmt.Sprintf("%s %v %v %d %d", rel, info.Mode(), ownerOf(info), info.Size(), info.ModTime().UnixNano())
		if info.Mode().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(b)
			line += " " + hex.EncodeToString(sum[:])
		}
		lines = append(lines, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(lines)
	sum := sha256.Sum256([]byte(strings.Join(lines, "\n")))
	return hex.EncodeToString(sum[:])
}

func hashAll(t *testing.T, l *lab.Lab) []string {
	var out []string
	for _, h := range l.Hosts {
		out = append(out, treeHash(t, l, h))
	}
	return out
}

func connections(l *lab.Lab) []int {
	var out []int
	for _, h := range l.Hosts {
		out = append(out, h.Connections())
	}
	return out
}

// assertOneConnectionEach checks that a run opened exactly one SSH connection per host.
func assertOneConnectionEach(t *testing.T, l *lab.Lab, before []int, what string) {
	t.Helper()
	for i, h := range l.Hosts {
		if got := h.Connections() - before[i]; got != 1 {
			t.Errorf("%s opened %d SSH connections to %s, want exactly 1", what, got, h.Name)
		}
	}
}

func remote(t *testing.T, h *lab.Host, cmd string) string {
	t.Helper()
	out, err := h.Exec(context.Background(), cmd)
	if err != nil {
		t.Fatalf("%s: %s: %v: %s", h.Name, cmd, err, out)
	}
	return strings.TrimSpace(string(out))
}

const e2ePlan = `
variable "greeting" {
  type    = string
  default = "hello"
}

task "base" {
  on = ["lab"]

  # root's, readable by the app's group: a folder the app's user owned could be
  # changed under hostplan by that user, and is refused
  directory "/srv/app/conf" {
    mode  = "0750"
    group = "nogroup"
  }

  file "/srv/app/conf/app.conf" {
    template = "app.conf.tpl"
    vars     = { greeting = var.greeting, host = host.name, distro = host.facts.distro }
    mode     = "0640"
    owner    = "nobody"
    group    = "nogroup"
  }

  # exists with the right content but the wrong mode: only the mode changes
  file "/etc/hostplan-mode" {
    content = "same\n"
    mode    = "0600"
  }

  # exists and has one line changed: a real diff with context
  file "/etc/hostplan-edit" {
    content = "one\ntwo\nTHREE\nfour\nfive\n"
  }

  file "/etc/hostplan-stale" {
    state = "absent"
  }

  command "stamp" {
    run     = "date > /srv/app/stamp"
    creates = "/srv/app/stamp"
  }

  command "marker" {
    run    = "echo ok > /srv/app/marker"
    unless = "grep -q ok /srv/app/marker"
  }
}

task "masters-only" {
  on = ["masters"]

  file "/etc/hostplan-master" {
    content = "master ${host.name}\n"
  }
}
`

// TestLabPlanApplyIdempotent is the foundation's end-to-end proof on three real OpenSSH
// hosts: plan shows the diffs and changes nothing, apply converges, the second plan is
// empty (exit 0) and the second apply writes nothing. Every resource type of this issue
// is in the plan, so each one's idempotence is proven here.
func TestLabPlanApplyIdempotent(t *testing.T) {
	l, inv := startLab(t, 3, "root")
	planDir := writeFiles(t, map[string]string{
		"main.hcl":     e2ePlan,
		"app.conf.tpl": "greeting = ${greeting}\nhost = ${host}\ndistro = ${distro}\n",
	})
	for _, h := range l.Hosts {
		for p, body := range map[string]string{"/etc/hostplan-mode": "same\n", "/etc/hostplan-edit": "one\ntwo\nthree\nfour\nfive\n", "/etc/hostplan-stale": "old\n"} {
			if err := h.WriteFile(p, []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}

	before, conns := hashAll(t, l), connections(l)
	r := hostplan(t, "plan", "-i", inv, planDir)
	if r.code != exitChanges {
		t.Fatalf("first plan: want exit 2 (changes)\n%s", r)
	}
	assertOneConnectionEach(t, l, conns, "plan")
	if after := hashAll(t, l); strings.Join(after, ",") != strings.Join(before, ",") {
		t.Fatalf("plan changed files on a host")
	}
	for _, want := range []string{
		"host h1: 8 to change, 0 unchanged",
		"host h2: 7 to change, 0 unchanged",
		"+ directory \"/srv/app/conf\" (create)",
		"--- /dev/null\n        +++ h2:/srv/app/conf/app.conf (planned)\n        @@ -0,0 +1,3 @@\n        +greeting = hello\n        +host = h2\n        +distro = debian\n",
		"~ file \"/etc/hostplan-mode\" (update)\n        mode 0644 -> 0600\n",
		"--- h1:/etc/hostplan-edit\n        +++ h1:/etc/hostplan-edit (planned)\n        @@ -1,5 +1,5 @@\n         one\n         two\n        -three\n        +THREE\n         four\n         five\n",
		"- file \"/etc/hostplan-stale\" (delete)",
		"-old",
		"! command \"stamp\" (run)\n        /srv/app/stamp is missing\n        would run: date > /srv/app/stamp\n",
		"Plan: 3 hosts, 22 to change, 0 unchanged.",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("plan output lacks %q", want)
		}
	}
	if strings.Contains(r.stdout, "hostplan-master") && strings.Count(r.stdout, "hostplan-master\" (create)") != 1 {
		t.Errorf("the masters-only task ran on more than h1")
	}
	if t.Failed() {
		t.Fatalf("%s", r)
	}

	conns = connections(l)
	r = hostplan(t, "apply", "--auto-approve", "-i", inv, planDir)
	if r.code != exitOK || !strings.Contains(r.stdout, "Apply complete: 22 changed, 0 unchanged, 0 failed.") {
		t.Fatalf("apply:\n%s", r)
	}
	assertOneConnectionEach(t, l, conns, "apply")
	h2 := l.Hosts[1]
	if got := remote(t, h2, "cat /srv/app/conf/app.conf"); got != "greeting = hello\nhost = h2\ndistro = debian" {
		t.Errorf("app.conf on h2: %q", got)
	}
	if got := remote(t, h2, "stat -c '%a %U:%G' /srv/app/conf /srv/app/conf/app.conf /etc/hostplan-mode"); got != "750 root:nogroup\n640 nobody:nogroup\n600 root:root" {
		t.Errorf("modes and owners on h2:\n%s", got)
	}
	if got := remote(t, h2, "cat /etc/hostplan-edit; test -e /etc/hostplan-stale && echo stale still there; cat /srv/app/marker; test -s /srv/app/stamp && echo stamped"); got != "one\ntwo\nTHREE\nfour\nfive\nok\nstamped" {
		t.Errorf("h2 after apply:\n%s", got)
	}
	if got := remote(t, h2, "ls -a /srv/app/conf /etc | grep -c hostplan- || true"); got != "2" {
		t.Errorf("h2 has leftover temp files or wrong files: %s", remote(t, h2, "ls -a /srv/app/conf /etc | grep hostplan"))
	}
	if got := remote(t, l.Hosts[0], "cat /etc/hostplan-master"); got != "master h1" {
		t.Errorf("masters-only file on h1: %q", got)
	}
	if got := remote(t, h2, "test -e /etc/hostplan-master && echo present || echo absent"); got != "absent" {
		t.Errorf("masters-only file reached h2")
	}

	before, conns = hashAll(t, l), connections(l)
	r = hostplan(t, "plan", "-i", inv, planDir)
	if r.code != exitOK || !strings.Contains(r.stdout, "Plan: 3 hosts, 0 to change, 22 unchanged.") {
		t.Fatalf("second plan: want exit 0 and no changes\n%s", r)
	}
	assertOneConnectionEach(t, l, conns, "second plan")

	conns = connections(l)
	r = hostplan(t, "apply", "--auto-approve", "-i", inv, planDir)
	if r.code != exitOK || !strings.Contains(r.stdout, "No changes. Nothing to apply.") {
		t.Fatalf("second apply:\n%s", r)
	}
	assertOneConnectionEach(t, l, conns, "second apply")
	if after := hashAll(t, l); strings.Join(after, ",") != strings.Join(before, ",") {
		t.Fatalf("the second apply touched files (mtime, mode or content changed)")
	}
}

// TestLabBadInputTouchesNothing: a plan error is reported with file and line before any
// host is contacted.
func TestLabBadInputTouchesNothing(t *testing.T) {
	l, inv := startLab(t, 2, "root")
	planDir := writeFiles(t, map[string]string{"main.hcl": `
task "t" {
  on = ["lab"]
  file "/etc/x" {
    content = "x"
    mode    = "rw-r--r--"
  }
}`})
	conns := connections(l)
	for _, cmd := range [][]string{{"plan"}, {"apply", "--auto-approve"}, {"validate"}} {
		r := hostplan(t, append(cmd, "-i", inv, planDir)...)
		if r.code != exitError || !strings.Contains(r.stderr, "main.hcl:6:15") || !strings.Contains(r.stderr, "not an octal file mode") {
			t.Errorf("%s: want exit 1 with file:line:col and the reason\n%s", cmd[0], r)
		}
	}
	for i, h := range l.Hosts {
		if h.Connections() != conns[i] {
			t.Errorf("bad input still opened a connection to %s", h.Name)
		}
	}
}

func TestLabLimit(t *testing.T) {
	l, inv := startLab(t, 3, "root")
	planDir := writeFiles(t, map[string]string{"main.hcl": `
task "t" {
  on = ["lab"]
  file "/etc/limited" { content = "x\n" }
}`})
	conns := connections(l)
	r := hostplan(t, "apply", "--auto-approve", "--limit", "h1:h3", "-i", inv, planDir)
	if r.code != exitOK || !strings.Contains(r.stdout, "Apply complete: 2 changed") {
		t.Fatalf("apply --limit:\n%s", r)
	}
	if l.Hosts[1].Connections() != conns[1] {
		t.Errorf("--limit h1:h3 still connected to h2")
	}
	if got := remote(t, l.Hosts[1], "test -e /etc/limited && echo yes || echo no"); got != "no" {
		t.Errorf("h2 was changed despite --limit")
	}
}

// TestLabUnreachableHost: one host down is reported with its error; the others are
// planned and applied; the exit code is 1.
func TestLabUnreachableHost(t *testing.T) {
	l, inv := startLab(t, 3, "root")
	planDir := writeFiles(t, map[string]string{"main.hcl": `
task "t" {
  on = ["lab"]
  file "/etc/reachable" { content = "yes\n" }
}`})
	if err := l.Hosts[1].SetReachable(false); err != nil {
		t.Fatal(err)
	}
	r := hostplan(t, "plan", "-i", inv, planDir)
	if r.code != exitError {
		t.Fatalf("plan with a host down: want exit 1\n%s", r)
	}
	// h1 and h3 plan the same change, shown once.
	if !strings.Contains(r.stdout, "host h2: FAILED") || !strings.Contains(r.stdout, "connection refused") ||
		!strings.Contains(r.stdout, "hosts h1, h3 (2 hosts): 1 to change") || !strings.Contains(r.stdout, "1 host failed") {
		t.Errorf("plan output:\n%s", r)
	}
	r = hostplan(t, "apply", "--auto-approve", "-i", inv, planDir)
	if r.code != exitError || !strings.Contains(r.stdout, "Apply complete: 2 changed, 0 unchanged, 1 failed.") {
		t.Fatalf("apply with a host down:\n%s", r)
	}
	for _, h := range []*lab.Host{l.Hosts[0], l.Hosts[2]} {
		if got := remote(t, h, "cat /etc/reachable"); got != "yes" {
			t.Errorf("%s not applied: %q", h.Name, got)
		}
	}
}

// TestLabHostKeys: unknown keys are refused with the fingerprint and how to accept them;
// --accept-new-host-keys records them; a changed key is refused even then.
func TestLabHostKeys(t *testing.T) {
	l, inv := startLab(t, 2, "root")
	planDir := writeFiles(t, map[string]string{"main.hcl": `
task "t" {
  on = ["lab"]
  file "/etc/keys" { content = "x\n" }
}`})
	known := filepath.Join(t.TempDir(), "known_hosts")
	src, err := os.ReadFile(inv)
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`known_hosts\s*=\s*"[^"]*"`)
	fresh := filepath.Join(t.TempDir(), "inventory.hcl")
	if err := os.WriteFile(fresh, re.ReplaceAll(src, []byte(fmt.Sprintf("known_hosts = %q", known))), 0o644); err != nil {
		t.Fatal(err)
	}

	r := hostplan(t, "plan", "-i", fresh, planDir)
	if r.code != exitError || !strings.Contains(r.stdout, "SHA256:") || !strings.Contains(r.stdout, "--accept-new-host-keys") {
		t.Fatalf("unknown host key: want refusal with fingerprint and hint\n%s", r)
	}
	if _, err := os.Stat(known); err == nil {
		if b, _ := os.ReadFile(known); len(b) > 0 {
			t.Fatalf("a refused key was written to known_hosts:\n%s", b)
		}
	}

	r = hostplan(t, "plan", "--accept-new-host-keys", "-i", fresh, planDir)
	if r.code != exitChanges {
		t.Fatalf("--accept-new-host-keys: want exit 2\n%s", r)
	}
	r = hostplan(t, "plan", "-i", fresh, planDir)
	if r.code != exitChanges {
		t.Fatalf("after accepting, strict checking must pass\n%s", r)
	}

	if err := l.Hosts[1].RotateHostKey(); err != nil {
		t.Fatal(err)
	}
	r = hostplan(t, "plan", "--accept-new-host-keys", "-i", fresh, planDir)
	if r.code != exitError || !strings.Contains(r.stdout, "host h2: FAILED") || !strings.Contains(r.stdout, "host h1: 1 to change") {
		t.Fatalf("changed host key: want h2 refused, h1 planned\n%s", r)
	}
	if !strings.Contains(strings.ToLower(r.stdout), "changed") {
		t.Errorf("the refusal does not say the key changed:\n%s", r.stdout)
	}
}

// TestLabBecome: a non-root login with become = true writes root-owned files through
// sudo, and converges.
func TestLabBecome(t *testing.T) {
	l, inv := startLab(t, 1, lab.SudoUser)
	src, err := os.ReadFile(inv)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(inv, bytes.Replace(src, []byte("defaults {"), []byte("defaults {\n  become = true"), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	planDir := writeFiles(t, map[string]string{"main.hcl": `
task "t" {
  on = ["lab"]
  directory "/etc/become-test" { mode = "0700" }
  file "/etc/become-test/secret" {
    content = "root only\n"
    mode    = "0600"
  }
  command "whoami" {
    run    = "whoami > /etc/become-test/whoami"
    unless = "test -s /etc/become-test/whoami"
  }
}`})
	r := hostplan(t, "apply", "--auto-approve", "-i", inv, planDir)
	if r.code != exitOK {
		t.Fatalf("apply with become:\n%s", r)
	}
	h := l.Hosts[0]
	if got := remote(t, h, "stat -c '%a %U' /etc/become-test /etc/become-test/secret; cat /etc/become-test/whoami"); got != "700 root\n600 root\nroot" {
		t.Errorf("after become apply:\n%s", got)
	}
	r = hostplan(t, "plan", "-i", inv, planDir)
	if r.code != exitOK {
		t.Fatalf("second plan with become: want exit 0\n%s", r)
	}
}

func ownerOf(info fs.FileInfo) string {
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return fmt.Sprintf("%d:%d", st.Uid, st.Gid)
	}
	return "?"
}

// TestLabSensitiveNeverShown: a sensitive variable's value appears in no output, whether
// it goes into a file's content, a sysctl or a command that fails.
func TestLabSensitiveNeverShown(t *testing.T) {
	l, inv := startLab(t, 1, "root")
	const secret = "tok-9f8e7d6c5b4a"
	// A sysctl value that must not show either: the TTL, per network namespace. A bare
	// number could be part of a duration, so the check looks for it as a value is printed.
	const ttl = "117"
	planDir := writeFiles(t, map[string]string{"main.hcl": `
variable "token" {
  type      = string
  sensitive = true
}
variable "ttl" {
  type      = string
  sensitive = true
}
task "t" {
  on = ["lab"]
  sysctl "net.ipv4.ip_default_ttl" {
    value = var.ttl
  }
}
task "u" {
  on = ["lab"]
  file "/etc/app-token" {
    content = "token=${var.token}\n"
    mode    = "0600"
  }
  command "login" {
    run    = "echo using ${var.token} >&2; exit 3"
    unless = "test -e /etc/logged-in"
  }
}`})
	if err := l.Hosts[0].WriteFile("/etc/app-token", []byte("token=old-value\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"plan"}, {"apply", "--auto-approve"}} {
		r := hostplanEnv(t, []string{"HOSTPLAN_VAR_token=" + secret, "HOSTPLAN_VAR_ttl=" + ttl}, append(args, "-i", inv, planDir)...)
		if strings.Contains(r.String(), secret) || strings.Contains(r.String(), "old-value") ||
			strings.Contains(r.String(), `"`+ttl+`"`) || strings.Contains(r.String(), "= "+ttl) {
			t.Fatalf("%s printed the sensitive value:\n%s", args[0], r)
		}
		if !strings.Contains(r.stdout, "runtime value (sensitive) -> (sensitive)") {
			t.Errorf("%s does not say the sensitive sysctl changes:\n%s", args[0], r)
		}
		if !strings.Contains(r.stdout, "(sensitive content changes; lines shown as (sensitive))") {
			t.Errorf("%s does not say the sensitive file changes:\n%s", args[0], r)
		}
		if args[0] == "apply" && (r.code != exitError || !strings.Contains(r.stdout, `command "login" exited 3`)) {
			t.Errorf("apply should fail on the command, naming it:\n%s", r)
		}
	}
	if got := remote(t, l.Hosts[0], "cat /etc/app-token"); got != "token="+secret {
		t.Errorf("token file: %q", got)
	}
	if got := remote(t, l.Hosts[0], "cat /proc/sys/net/ipv4/ip_default_ttl"); got != ttl {
		t.Errorf("ip_default_ttl: %q", got)
	}
}

// TestLabSSHConfig: a host known only by an alias reaches the lab host through the
// OpenSSH client config's HostName, Port, User and IdentityFile.
func TestLabSSHConfig(t *testing.T) {
	l := lab.ForTest(t, lab.Options{Hosts: 1})
	h := l.Hosts[0]
	dir := t.TempDir()
	cfg := filepath.Join(dir, "ssh_config")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf("Host db-primary\n  HostName %s\n  Port %d\n  User root\n  IdentityFile %s\n", h.Address, h.Port, l.UserKey)), 0o644); err != nil {
		t.Fatal(err)
	}
	inv := filepath.Join(dir, "inv.hcl")
	if err := os.WriteFile(inv, []byte(fmt.Sprintf("defaults {\n  known_hosts = %q\n}\nhost \"db-primary\" {}\n", l.KnownHosts)), 0o644); err != nil {
		t.Fatal(err)
	}
	r := hostplan(t, "inventory", "-i", inv, "--ssh-config", cfg)
	if want := fmt.Sprintf("root@%s:%d", h.Address, h.Port); r.code != exitOK || !strings.Contains(r.stdout, want) {
		t.Fatalf("inventory does not show %s:\n%s", want, r)
	}
	planDir := writeFiles(t, map[string]string{"main.hcl": "task \"t\" {\n  on = [\"db-primary\"]\n  file \"/etc/via-ssh-config\" { content = \"${host.facts.hostname}\\n\" }\n}\n"})
	if r = hostplan(t, "apply", "--auto-approve", "--ssh-config", cfg, "-i", inv, planDir); r.code != exitOK {
		t.Fatalf("apply through ssh_config:\n%s", r)
	}
	if got := remote(t, h, "cat /etc/via-ssh-config"); got != h.Name {
		t.Errorf("file on %s: %q", h.Name, got)
	}
}
