package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// warningLines are the "Warning: ..." lines of a run's stderr, sorted.
func warningLines(stderr string) []string {
	var out []string
	for _, l := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(l, "Warning: ") {
			out = append(out, l)
		}
	}
	sort.Strings(out)
	return out
}

// chmodX makes the file at dir/name executable, as writeFiles writes 0644.
func chmodX(t *testing.T, dir, name string) {
	t.Helper()
	if err := os.Chmod(filepath.Join(dir, name), 0o755); err != nil {
		t.Fatal(err)
	}
}

// `hostplan inventory` prints the warnings `validate` prints: an inventory variable
// hostplan ignores, a group_vars file of no group, and the ~/.ssh/config settings it
// does not carry out, which only resolving a host finds (CanonicalizeHostname for
// that host, after a Match block that is evaluated without a warning).
func TestInventoryWarningsLikeValidate(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"hosts.ini":           "[web]\nw1 ansible_host=192.0.2.1 ansible_ssh_pass=hunter2\n",
		"group_vars/webs.yml": "x: 1\n",
		"ssh_config":          "Match host *\n  User nobody\nHost 192.0.2.1\n  CanonicalizeHostname yes\n",
		"plan/main.hcl": `
task "t" {
  on = ["web"]
  file "/tmp/hostplan-warnings" {
    content = "x\n"
  }
}`,
	})
	inv, cfg := filepath.Join(dir, "hosts.ini"), filepath.Join(dir, "ssh_config")
	v := hostplan(t, "validate", "-i", inv, "--ssh-config", cfg, filepath.Join(dir, "plan"))
	i := hostplan(t, "inventory", "-i", inv, "--ssh-config", cfg)
	if v.code != exitOK || i.code != exitOK {
		t.Fatalf("validate:\n%s\ninventory:\n%s", v, i)
	}
	want := warningLines(v.stderr)
	if all := strings.Join(want, "\n"); len(want) != 3 || !strings.Contains(all, "ansible_ssh_pass") ||
		!strings.Contains(all, `no group named "webs"`) || !strings.Contains(all, "CanonicalizeHostname yes is not done") {
		t.Fatalf("validate's warnings are not the three expected:\n%s", v)
	}
	if got := warningLines(i.stderr); !reflect.DeepEqual(got, want) {
		t.Errorf("inventory warnings differ from validate's:\n got %q\nwant %q", got, want)
	}
	if strings.Contains(i.stdout+i.stderr, "hunter2") {
		t.Errorf("inventory shows the password:\n%s", i)
	}
}

// An inventory directory holding a dynamic inventory script: its hosts come from the
// script, their connection from its _meta.hostvars and the directory's group_vars,
// and a file Ansible skips (.bak) is not run. A failing script fails the command,
// saying why.
func TestInventoryScriptDirectory(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"inv/cloud.sh": `#!/bin/sh
echo '{"web": {"hosts": ["w1", "w2"]}, "_meta": {"hostvars": {"w1": {"ansible_host": "10.1.0.1"}, "w2": {"ansible_host": "10.1.0.2"}}}}'
`,
		"inv/cloud.sh.bak":   "#!/bin/sh\nexit 1\n",
		"inv/static.ini":     "[db]\nd1 ansible_host=10.1.0.9\n",
		"inv/group_vars/web": "ansible_user: deploy\nansible_port: 2222\n",
	})
	chmodX(t, dir, "inv/cloud.sh")
	chmodX(t, dir, "inv/cloud.sh.bak")
	inv := filepath.Join(dir, "inv")
	r := hostplan(t, "inventory", "-i", inv, "--ssh-config", "none")
	for _, want := range []string{"w1\n  connect:    deploy@10.1.0.1:2222", "w2\n  connect:    deploy@10.1.0.2:2222", "d1\n  connect:    ", "3 hosts, groups: all, db, ungrouped, web"} {
		if r.code != exitOK || !strings.Contains(r.stdout, want) {
			t.Fatalf("inventory lacks %q:\n%s", want, r)
		}
	}
	if err := os.WriteFile(filepath.Join(inv, "cloud.sh"), []byte("#!/bin/sh\necho 'NoCredentialsError: Unable to locate credentials' >&2\nexit 2\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	r = hostplan(t, "inventory", "-i", inv, "--ssh-config", "none")
	for _, want := range []string{"Error: Inventory script failed", filepath.Join(inv, "cloud.sh") + " --list: exited with status 2", "  | NoCredentialsError: Unable to locate credentials"} {
		if r.code != exitError || !strings.Contains(r.stderr, want) {
			t.Errorf("a failing script: want exit 1 and %q:\n%s", want, r)
		}
	}
}

// A saved plan cannot replay what a script printed, so plan -out refuses a dynamic
// inventory (before connecting anywhere) and says what to do instead.
func TestInventoryScriptSavedPlanRefused(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"inv.sh":        "#!/bin/sh\necho '{\"web\": [\"w1\"]}'\n",
		"plan/main.hcl": "task \"t\" {\n  on = [\"web\"]\n  file \"/tmp/x\" {\n    content = \"x\\n\"\n  }\n}\n",
	})
	chmodX(t, dir, "inv.sh")
	out := filepath.Join(dir, "saved.plan")
	r := hostplan(t, "plan", "-out", out, "--ssh-config", "none", "-i", filepath.Join(dir, "inv.sh"), filepath.Join(dir, "plan"))
	if r.code != exitError || !strings.Contains(r.stderr, "Dynamic inventory script not run") || !strings.Contains(r.stderr, "--list > inventory.json") {
		t.Errorf("plan -out with a script: want it refused with the workaround:\n%s", r)
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("a plan was saved")
	}
}

// Shell completion runs no inventory script: a TAB must not start programs (nor wait a
// minute on a cloud API). An inventory with one completes nothing, silently.
func TestInventoryScriptNotRunByCompletion(t *testing.T) {
	dir := t.TempDir()
	ran := filepath.Join(dir, "ran")
	writeFile(t, filepath.Join(dir, "inv.sh"), "#!/bin/sh\ntouch "+ran+"\necho '{\"web\": [\"w1\"]}'\n", 0o755)
	r := hostplan(t, "__complete", "plan", "-i", filepath.Join(dir, "inv.sh"), "--limit", "")
	if r.code != exitOK || strings.TrimSpace(r.stdout) != "" || r.stderr != "" {
		t.Errorf("completion with a script inventory: want nothing:\n%s", r)
	}
	if _, err := os.Stat(ran); err == nil {
		t.Error("completion ran the inventory script")
	}
}

// Ctrl-C (the run's context) stops a dynamic inventory script at once, with what it
// started, instead of waiting out its timeout.
func TestInventoryScriptInterrupted(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "child")
	writeFile(t, filepath.Join(dir, "inv.sh"), "#!/bin/sh\nsleep 60 &\necho $! > "+pidFile+"\nwait\n", 0o755)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(500*time.Millisecond, cancel)
	var out, errb bytes.Buffer
	start := time.Now()
	code := run(ctx, []string{"inventory", "-i", filepath.Join(dir, "inv.sh")}, strings.NewReader(""), &out, &errb, []string{"HOME=" + dir})
	if took := time.Since(start); code != exitError || took > 10*time.Second || !strings.Contains(errb.String(), "--list: interrupted: the script was killed with its process group") {
		t.Fatalf("exit %d after %s:\n%s", code, took, errb.String())
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil || strings.Contains(string(stat), ") Z ") {
			break
		}
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("the script's child %d outlived the interrupt", pid)
		}
	}
}

// --inventory-timeout bounds each run of a script, for inventory and validate alike.
func TestInventoryScriptTimeoutFlag(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"inv.sh":        "#!/bin/sh\nsleep 30\n",
		"plan/main.hcl": "task \"t\" {\n  on = [\"web\"]\n  file \"/tmp/x\" {\n    content = \"x\\n\"\n  }\n}\n",
	})
	chmodX(t, dir, "inv.sh")
	script := filepath.Join(dir, "inv.sh")
	for _, args := range [][]string{
		{"inventory", "-i", script, "--inventory-timeout", "300ms"},
		{"validate", "--inventory-timeout=300ms", "-i", script, filepath.Join(dir, "plan")},
	} {
		start := time.Now()
		r := hostplan(t, args...)
		if took := time.Since(start); r.code != exitError || took > 10*time.Second || !strings.Contains(r.stderr, script+" --list: did not finish within 300ms") {
			t.Errorf("%s after %s:\n%s", args[0], took, r)
		}
	}
}
