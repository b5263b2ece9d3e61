package main

import (
	"strings"
	"testing"
)

// TestLabSerialStopsAfterFailure: a rolling task changes one host at a time and stops at
// the first failure; the hosts after it and later tasks are not touched.
func TestLabSerialStopsAfterFailure(t *testing.T) {
	t.Parallel()
	l, inv := startLab(t, 3, "root")
	planDir := writeFiles(t, map[string]string{"main.hcl": `
task "roll" {
  on     = ["lab"]
  serial = 1
  file "/etc/rolled" {
    content = "rolled on ${host.name}\n"
  }
  command "fail-on-h2" {
    run = "test \"$(hostname)\" != h2"
  }
}
task "after" {
  on = ["lab"]
  file "/etc/after" {
    content = "later task\n"
  }
}
`})
	r := hostplan(t, "plan", "-i", inv, planDir)
	if r.code != 2 || !strings.Contains(r.stdout, `task "roll": rolling, 1 host at a time`) {
		t.Fatalf("plan should show the rollout and exit 2:\n%s", r)
	}
	r = hostplan(t, "apply", "--auto-approve", "-i", inv, planDir)
	if r.code != 1 {
		t.Fatalf("apply with a failing host must exit 1:\n%s", r)
	}
	for _, want := range []string{
		`Rollout stopped: rollout of task "roll" stopped: h2 failed; not changed: h3; later tasks not run.`,
		"host h3: not changed (the rollout stopped)",
		`skipped file "/etc/after"`,
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("apply output lacks %q:\n%s", want, r)
		}
	}
	if got := remote(t, l.Host("h1"), "cat /etc/rolled"); got != "rolled on h1" {
		t.Errorf("h1 (first batch) was not changed: %q", got)
	}
	if got := remote(t, l.Host("h2"), "cat /etc/rolled"); got != "rolled on h2" {
		t.Errorf("h2 should have its file (the command after it failed): %q", got)
	}
	for _, h := range []string{"h1", "h2", "h3"} {
		if got := remote(t, l.Host(h), "test -e /etc/after && echo present || echo absent"); got != "absent" {
			t.Errorf("%s: the later task ran after the rollout stopped", h)
		}
	}
	if got := remote(t, l.Host("h3"), "test -e /etc/rolled && echo present || echo absent"); got != "absent" {
		t.Errorf("h3 was changed after the rollout stopped")
	}
}

// TestLabRunOnce: a run_once task runs on the first of its hosts only, and a second
// apply changes nothing.
func TestLabRunOnce(t *testing.T) {
	t.Parallel()
	l, inv := startLab(t, 3, "root")
	planDir := writeFiles(t, map[string]string{"main.hcl": `
task "cluster-wide" {
  on       = ["lab"]
  run_once = true
  file "/etc/once" {
    content = "once\n"
  }
}
task "everywhere" {
  on     = ["lab"]
  serial = "50%"
  file "/etc/everywhere" {
    content = "all\n"
  }
}
`})
	r := hostplan(t, "apply", "--auto-approve", "-i", inv, planDir)
	if r.code != 0 {
		t.Fatalf("apply:\n%s", r)
	}
	if !strings.Contains(r.stdout, `task "cluster-wide": runs once, on h1`) || !strings.Contains(r.stdout, `task "everywhere": rolling, 50% of the hosts at a time`) {
		t.Errorf("plan does not describe the rollouts:\n%s", r)
	}
	for h, want := range map[string]string{"h1": "present", "h2": "absent", "h3": "absent"} {
		if got := remote(t, l.Host(h), "test -e /etc/once && echo present || echo absent"); got != want {
			t.Errorf("%s: /etc/once %s, want %s", h, got, want)
		}
		if got := remote(t, l.Host(h), "cat /etc/everywhere"); got != "all" {
			t.Errorf("%s: /etc/everywhere = %q", h, got)
		}
	}
	r = hostplan(t, "plan", "-i", inv, planDir)
	if r.code != 0 || !strings.Contains(r.stdout, "Plan: 3 hosts, 0 to change") {
		t.Errorf("second plan should show no change:\n%s", r)
	}
	// Under --limit the first targeted host does it (as Ansible's run_once): h3 has no
	// /etc/once yet, so the plan shows that change there.
	r = hostplan(t, "plan", "--limit", "h3", "-i", inv, planDir)
	if r.code != 2 || !strings.Contains(r.stdout, "runs once, on h3") {
		t.Errorf("run_once under --limit should run on the first limited host:\n%s", r)
	}
}
