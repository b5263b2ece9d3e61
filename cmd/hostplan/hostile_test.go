package main

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hostplan/hostplan/internal/lab"
)

// Attacks on a managed host, through the CLI, each of which worked before its defence
// (issue 11). The unprivileged user is lab.NoSudoUser.

func asNoSudo(t *testing.T, h *lab.Host, cmd string) {
	t.Helper()
	if out, err := h.ExecAs(lab.NoSudoUser, cmd); err != nil {
		t.Fatalf("%s as %s: %s: %v: %s", h.Name, lab.NoSudoUser, cmd, err, out)
	}
}

// TestLabStaticPodLinkedManifest: a manifest that is a symlink had the link's own mode
// (0777) recorded and written to the new manifest and its backup, so any user could
// edit what kubelet runs. The link is followed on purpose, said in the plan, and the
// target keeps its mode; a link into a user's folder is refused.
func TestLabStaticPodLinkedManifest(t *testing.T) {
	t.Parallel()
	l, inv := startLab(t, 1, "root")
	h := l.Host("h1")
	if err := h.WriteFile("/etc/kubernetes/real/kube-apiserver.yaml", fixture(t), 0o600); err != nil {
		t.Fatal(err)
	}
	remote(t, h, "mkdir -p /etc/kubernetes/manifests && ln -s ../real/kube-apiserver.yaml /etc/kubernetes/manifests/kube-apiserver.yaml")
	planDir := writeFiles(t, map[string]string{"main.hcl": staticPodPlan})
	r := hostplan(t, "plan", "-i", inv, planDir)
	if r.code != 2 || !strings.Contains(r.stdout, "/etc/kubernetes/manifests/kube-apiserver.yaml is a symbolic link: hostplan edits its target /etc/kubernetes/real/kube-apiserver.yaml") {
		t.Fatalf("plan:\n%s", r)
	}
	if r = hostplan(t, "apply", "--auto-approve", "-i", inv, planDir); r.code != 0 {
		t.Fatalf("apply:\n%s", r)
	}
	got := remote(t, h, "readlink /etc/kubernetes/manifests/kube-apiserver.yaml; stat -c %a /etc/kubernetes/real/kube-apiserver.yaml; "+
		"find /etc/kubernetes -type f -perm /022; grep -c audit-policy-file /etc/kubernetes/real/kube-apiserver.yaml")
	if got != "../real/kube-apiserver.yaml\n600\n1" {
		t.Errorf("after apply (link, mode, files others may write, flag): %q", got)
	}
	if r = hostplan(t, "plan", "-i", inv, planDir); r.code != 0 {
		t.Errorf("second plan:\n%s", r)
	}

	asNoSudo(t, h, "cp /dev/null /home/labnosudo/m.yaml 2>/dev/null || true")
	remote(t, h, "ln -sf /home/labnosudo/m.yaml /etc/kubernetes/manifests/kube-apiserver.yaml")
	r = hostplan(t, "plan", "-i", inv, planDir)
	if r.code != exitError || !strings.Contains(r.stdout, "refusing") || !strings.Contains(r.stdout, "/home/labnosudo") {
		t.Errorf("a manifest linked into a user's folder:\n%s", r)
	}
}

// TestLabSysctlLinks: a sysctl file that is a user's link to /etc/shadow had its hash
// lines printed in the diff and a 0644 copy written; Debian's 99-sysctl.conf link was
// silently turned into a copy; a FIFO hung the plan for minutes.
func TestLabSysctlLinks(t *testing.T) {
	t.Parallel()
	l, inv := startLab(t, 1, "root")
	h := l.Host("h1")
	remote(t, h, "printf '# site settings\\n' > /etc/sysctl.conf && ln -sf ../sysctl.conf /etc/sysctl.d/99-sysctl.conf && mkfifo /etc/sysctl.d/50-fifo.conf")
	asNoSudo(t, h, "ln -s /etc/shadow /tmp/evil.conf && mkdir /tmp/d && ln -s /etc/shadow /tmp/d/evil.conf")
	shadow := remote(t, h, "stat -c %a /etc/shadow; md5sum /etc/shadow")
	sysctlPlan := func(file string) string {
		return writeFiles(t, map[string]string{"main.hcl": `
task "t" {
  on = ["all"]
  sysctl "net.ipv4.ip_forward" {
    value = "1"
    file  = "` + file + `"
  }
}`})
	}
	for _, file := range []string{"/tmp/evil.conf", "/tmp/d/evil.conf"} {
		r := hostplan(t, "apply", "--auto-approve", "-i", inv, sysctlPlan(file))
		if r.code != exitError || !strings.Contains(r.stdout, "refusing "+file) || strings.Contains(r.stdout, "root:") {
			t.Errorf("%s:\n%s", file, r)
		}
	}
	start := time.Now()
	r := hostplan(t, "plan", "-i", inv, sysctlPlan("/etc/sysctl.d/50-fifo.conf"))
	if r.code != exitError || !strings.Contains(r.stdout, "a FIFO (named pipe), not a regular file") || time.Since(start) > time.Minute {
		t.Errorf("a FIFO as the file:\n%s", r)
	}
	if got := remote(t, h, "stat -c %a /etc/shadow; md5sum /etc/shadow"); got != shadow {
		t.Errorf("/etc/shadow changed: %q -> %q", shadow, got)
	}

	// A value the kernel takes only in part is refused before anything changes.
	half := writeFiles(t, map[string]string{"main.hcl": `
task "t" {
  on = ["all"]
  sysctl "net.ipv4.ip_forward" {
    value = "1 '$(touch /srv/x)'"
  }
}`})
	r = hostplan(t, "apply", "--auto-approve", "-i", inv, half)
	if r.code != exitError || !strings.Contains(r.stdout, "net.ipv4.ip_forward takes 1 whole number(s) (it is \"0\" now)") {
		t.Errorf("a half-accepted value:\n%s", r)
	}
	if got := remote(t, h, "cat /proc/sys/net/ipv4/ip_forward; ls /srv /etc/sysctl.d | grep -c hostplan; true"); got != "0\n0" {
		t.Errorf("after the refused value: %q", got)
	}

	debian := sysctlPlan("/etc/sysctl.d/99-sysctl.conf")
	r = hostplan(t, "apply", "--auto-approve", "-i", inv, debian)
	if r.code != 0 || !strings.Contains(r.stdout, "/etc/sysctl.d/99-sysctl.conf is a symbolic link: hostplan edits its target /etc/sysctl.conf") {
		t.Fatalf("Debian's link:\n%s", r)
	}
	if got := remote(t, h, "readlink /etc/sysctl.d/99-sysctl.conf; cat /etc/sysctl.conf"); got != "../sysctl.conf\n# site settings\nnet.ipv4.ip_forward = 1" {
		t.Errorf("after apply: %q", got)
	}
	if r = hostplan(t, "plan", "-i", inv, debian); r.code != 0 {
		t.Errorf("second plan:\n%s", r)
	}
}

// TestLabFileThroughPlantedFolder: with /tmp/app a user's link to /etc/cron.d, a file
// "/tmp/app/job" wrote a root-owned cron job.
func TestLabFileThroughPlantedFolder(t *testing.T) {
	t.Parallel()
	l, inv := startLab(t, 1, "root")
	h := l.Host("h1")
	asNoSudo(t, h, "ln -s /etc/cron.d /tmp/app")
	planDir := writeFiles(t, map[string]string{"main.hcl": `
task "t" {
  on = ["all"]
  file "/tmp/app/job" {
    content = "* * * * * root touch /tmp/pwned\n"
  }
}`})
	r := hostplan(t, "apply", "--auto-approve", "-i", inv, planDir)
	if r.code != exitError || !strings.Contains(r.stdout, "refusing /tmp/app/job: /tmp/app is owned by uid") {
		t.Errorf("apply:\n%s", r)
	}
	if got := remote(t, h, "ls /etc/cron.d"); strings.Contains(got, "job") {
		t.Errorf("a cron job was written: %q", got)
	}

	// Paths directly in /tmp are refused by the plan, before apply changes anything
	// (a file that does not exist yet is not read at plan time, so the look itself
	// must refuse it).
	direct := writeFiles(t, map[string]string{"main.hcl": `
task "t" {
  on = ["all"]
  file "/etc/hostplan-first" { content = "x" }
  directory "/tmp/new-dir" {}
  file "/tmp/new-file" { content = "x" }
  command "c" {
    run     = "touch /etc/hostplan-ran"
    creates = "/tmp/done"
  }
}`})
	r = hostplan(t, "apply", "--auto-approve", "-i", inv, direct)
	for _, p := range []string{"/tmp/new-dir", "/tmp/new-file", "/tmp/done"} {
		if !strings.Contains(r.stdout, "refusing "+p+": /tmp is writable by every user") {
			t.Errorf("%s is not refused:\n%s", p, r)
		}
	}
	if got := remote(t, h, "ls /tmp /etc | grep -c 'new-\\|hostplan-first\\|hostplan-ran'; true"); r.code != exitError || got != "0" {
		t.Errorf("exit %d; files made on the host: %s", r.code, got)
	}
}

// TestLabCommandTimeout: --command-timeout 3s on `sleep 20; touch x` took 22 s and x
// was created. The step times out, is reported so, and the command is gone.
func TestLabCommandTimeout(t *testing.T) {
	t.Parallel()
	l, inv := startLab(t, 1, "root")
	h := l.Host("h1")
	planDir := writeFiles(t, map[string]string{"main.hcl": `
task "t" {
  on = ["all"]
  command "slow" {
    run     = "sleep 8; touch /srv/x"
    creates = "/srv/x"
  }
}`})
	start := time.Now()
	r := hostplan(t, "apply", "--auto-approve", "--command-timeout", "2s", "-i", inv, planDir)
	took := time.Since(start)
	if r.code != exitError || !strings.Contains(r.stdout, "timed out after 2s (--command-timeout); what ran on the host was stopped") || took > 7*time.Second {
		t.Errorf("apply took %s:\n%s", took, r)
	}
	time.Sleep(9*time.Second - time.Since(start))
	if got := remote(t, h, "ls /srv; test -e /run/hostplan/lock && echo locked; true"); got != "" {
		t.Errorf("after the timeout the host has %q", got)
	}
	if got := h.Processes(t, "sleep"); got != "" {
		t.Errorf("the command still runs: %s", got)
	}
}

// TestLabInterrupt: Ctrl-C during `sleep 1000` was ignored twice. The first interrupt
// stops the command on the host, releases the lock and reports the step; a second one
// exits at once.
func TestLabInterrupt(t *testing.T) {
	t.Parallel()
	bin, err := exec.LookPath("hostplan-main")
	if err != nil {
		t.Fatal(err)
	}
	l, inv := startLab(t, 1, "root")
	h := l.Host("h1")
	planDir := writeFiles(t, map[string]string{"main.hcl": `
task "t" {
  on = ["all"]
  command "forever" {
    run = "trap '' INT TERM HUP; sleep 1000"
  }
}`})
	for _, twice := range []bool{false, true} {
		cmd := exec.Command(bin, "apply", "--auto-approve", "-i", inv, planDir)
		cmd.Env = append(os.Environ(), "HOME="+t.TempDir(), "NO_COLOR=1", "SSH_AUTH_SOCK=")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, func() bool { return h.Processes(t, "sleep") != "" })
		start := time.Now()
		cmd.Process.Signal(os.Interrupt)
		if twice {
			time.Sleep(100 * time.Millisecond)
			cmd.Process.Signal(os.Interrupt)
		}
		err := cmd.Wait()
		took := time.Since(start)
		code := cmd.ProcessState.Sys().(syscall.WaitStatus).ExitStatus()
		switch {
		case twice && (code != exitInterrupted || took > 5*time.Second):
			t.Errorf("second interrupt: exit %d after %s (%v)\n%s", code, took, err, out.String())
		case !twice && (code != exitError || !strings.Contains(out.String(), "interrupted; what ran on the host was stopped") || took > 20*time.Second):
			t.Errorf("interrupt: exit %d after %s (%v)\n%s", code, took, err, out.String())
		}
		if !twice {
			if got := remote(t, h, "test -e /run/hostplan/lock && echo locked; true"); got != "" {
				t.Errorf("the lock is left after an interrupt")
			}
			if got := h.Processes(t, "sleep"); got != "" {
				t.Errorf("the command still runs after an interrupt: %s", got)
			}
		}
	}
}
