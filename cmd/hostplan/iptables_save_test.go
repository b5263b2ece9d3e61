package main

import (
	"strings"
	"testing"
)

// TestLabIPTablesSaveOnce: a port forward and an allowlist through iptables run their
// batches as one iptables-restore and save the rules for boot once, after both and
// before the command that follows them (one iptables-save beside the plan's read,
// where a save per step made two); when the allowlist's lines fail, the forward's rules
// are in and saved all the same, the allowlist fails alone (the command after it is
// skipped), and the next plan shows only it.
func TestLabIPTablesSaveOnce(t *testing.T) {
	t.Parallel()
	l, inv := startLab(t, 1, "root")
	h := l.Host("h1")
	real := remote(t, h, "command -v iptables-restore")
	// Wrappers first in PATH: iptables-save notes its runs; iptables-restore too, and
	// while /run/fail-allow exists it fails at the allowlist's chain as the real one
	// fails at a bad line: the blocks before that line's (from its table line on) go
	// in, then "line N failed".
	remote(t, h, `mkdir -p /usr/local/sbin && printf '#!/bin/sh\necho >> /run/saves\nexec `+strings.TrimSpace(remote(t, h, "command -v iptables-save"))+` "$@"\n' > /usr/local/sbin/iptables-save &&
cat > /usr/local/sbin/iptables-restore <<'EOF'
#!/bin/sh
echo >> /run/restores
in=$(cat)
case $in in *HOSTPLAN-ALLOW*) if [ -e /run/fail-allow ]; then
  n=$(printf '%s\n' "$in" | grep -n -m1 HOSTPLAN-ALLOW | cut -d: -f1)
  [ "$n" -gt 2 ] && printf '%s\n' "$in" | head -n $((n - 2)) | `+real+` "$@"
  echo "iptables-restore: line $n failed: injected failure" >&2; exit 1
fi;; esac
printf '%s\n' "$in" | `+real+` "$@"
EOF
chmod 755 /usr/local/sbin/iptables-save /usr/local/sbin/iptables-restore && touch /run/fail-allow`)
	dir := writeFiles(t, map[string]string{"main.hcl": `
task "t" {
  on = ["lab"]
  port_forward "api" {
    listen_port = 8443
    to_address  = "10.0.0.5"
    to_port     = 6443
    method      = "iptables"
  }
  allowlist "security-center" {
    region = "cn-hangzhou"
    ports  = [6443]
    method = "iptables"
  }
  command "after" {
    run     = "cp /etc/iptables/rules.v4 /run/rules-at-command"
    creates = "/run/rules-at-command"
  }
}`})
	saves := func() string {
		return remote(t, h, "n=$(cat /run/saves 2>/dev/null | wc -l); rm -f /run/saves; echo $n")
	}
	restores := func() string {
		return remote(t, h, "n=$(cat /run/restores 2>/dev/null | wc -l); rm -f /run/restores; echo $n")
	}
	const allowJump = "-A INPUT -p tcp -m tcp --dport 6443 -j HOSTPLAN-ALLOW"
	// applyBoth applies the plan with nothing failing and checks the saved rules in
	// file hold both resources'.
	applyBoth := func(file string) {
		t.Helper()
		saves()
		restores()
		if r := hostplan(t, "apply", "--auto-approve", "-i", inv, dir); r.code != 0 {
			t.Fatalf("apply:\n%s", r)
		}
		if n := saves(); n != "2" {
			t.Errorf("iptables-save ran %s times in the apply, want 2 (the plan's read, then the save)", n)
		}
		if n := restores(); n != "1" {
			t.Errorf("iptables-restore ran %s times in the apply, want 1 for both steps", n)
		}
		if saved := remote(t, h, "cat "+file); !strings.Contains(saved, `"hostplan:api"`) || !strings.Contains(saved, allowJump) {
			t.Errorf("%s:\n%s\nwant the forward's rules and the allowlist's", file, saved)
		}
	}

	remote(t, h, "rm /run/fail-allow")
	applyBoth("/run/rules-at-command") // the saved rules as the command after them found them

	remote(t, h, "iptables -w -F && iptables -w -t nat -F && iptables -w -X HOSTPLAN-ALLOW && rm /etc/iptables/rules.v4 && touch /run/fail-allow")
	r := hostplan(t, "apply", "--auto-approve", "-i", inv, dir)
	if r.code == 0 || !strings.Contains(r.stdout, `done port_forward "api"`) || !strings.Contains(r.stdout, `failed allowlist "security-center"`) || !strings.Contains(r.stdout, "injected failure") {
		t.Fatalf("apply with the allowlist's batch failing:\n%s", r)
	}
	saved := remote(t, h, "cat /etc/iptables/rules.v4")
	if !strings.Contains(saved, `"hostplan:api"`) || strings.Contains(saved, "HOSTPLAN-ALLOW") {
		t.Errorf("saved for boot after the allowlist failed:\n%s\nwant the forward's rules and no allowlist", saved)
	}
	if n := saves(); n != "2" {
		t.Errorf("iptables-save ran %s times in the apply, want 2 (the plan's read, then the save)", n)
	}
	if n := restores(); n != "1" {
		t.Errorf("iptables-restore ran %s times in the apply, want 1 for both steps", n)
	}

	remote(t, h, "rm /run/fail-allow")
	if r := hostplan(t, "plan", "-i", inv, dir); r.code != exitChanges || strings.Contains(r.stdout, `port_forward "api"`) || !strings.Contains(r.stdout, `allowlist "security-center"`) {
		t.Errorf("plan after the failed apply, want the allowlist alone:\n%s", r)
	}
	applyBoth("/etc/iptables/rules.v4")
	if r := hostplan(t, "plan", "-i", inv, dir); r.code != 0 {
		t.Errorf("plan after apply must be empty:\n%s", r)
	}
}
