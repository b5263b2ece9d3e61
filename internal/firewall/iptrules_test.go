package firewall

import (
	"context"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hostplan/hostplan/internal/allowlist"
)

const dockerSave = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n:DOCKER - [0:0]\n" +
	"-A INPUT -i lo -j ACCEPT\n-A FORWARD -j DOCKER\n-A DOCKER -j RETURN\nCOMMIT\n"

// planned returns rules as read from a host whose running rules are running and whose
// saved file holds saved (nil: none).
func planned(running string, saved []byte) *Rules {
	return &Rules{loaded: true, running: running, file: "/etc/iptables/rules.v4", saved: saved, exists: saved != nil}
}

func forwardOn(t *testing.T, r *Rules, f Forward) *Changes {
	t.Helper()
	c, err := newIPTables(nil).Forward(context.Background(), Host{Name: "h", Rules: r}, f)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestForwardBatch: a forward's rules are made exactly right in one iptables-restore
// batch, and the saved file's change is the ruleset that batch leaves.
func TestForwardBatch(t *testing.T) {
	f := Forward{Name: "api", ListenPort: 8443, To: netip.MustParseAddr("10.0.0.5"), ToPort: 6443, Protocol: "tcp", Masquerade: true}
	r := planned(dockerSave, nil)
	c := forwardOn(t, r, f)
	wantCmd := `printf '%s\n' '*filter' ` +
		`'-A FORWARD -d 10.0.0.5/32 -p tcp -m tcp --dport 6443 -m comment --comment "hostplan:api" -j ACCEPT' ` +
		`'-A FORWARD -s 10.0.0.5/32 -p tcp -m tcp --sport 6443 -m comment --comment "hostplan:api" -j ACCEPT' COMMIT '*nat' ` +
		`'-A PREROUTING -p tcp -m tcp --dport 8443 -m comment --comment "hostplan:api" -j DNAT --to-destination 10.0.0.5:6443' ` +
		`'-A POSTROUTING -d 10.0.0.5/32 -p tcp -m tcp --dport 6443 -m comment --comment "hostplan:api" -j MASQUERADE' COMMIT` +
		` | iptables-restore -w --noflush`
	if len(c.Commands) != 1 || c.Commands[0] != wantCmd {
		t.Errorf("commands:\n%q\nwant\n%q", c.Commands, wantCmd)
	}
	want := "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n:DOCKER - [0:0]\n-A INPUT -i lo -j ACCEPT\n-A FORWARD -j DOCKER\n" +
		"-A FORWARD -d 10.0.0.5/32 -p tcp -m tcp --dport 6443 -m comment --comment \"hostplan:api\" -j ACCEPT\n" +
		"-A FORWARD -s 10.0.0.5/32 -p tcp -m tcp --sport 6443 -m comment --comment \"hostplan:api\" -j ACCEPT\n" +
		"-A DOCKER -j RETURN\nCOMMIT\n" +
		"*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n" +
		"-A PREROUTING -p tcp -m tcp --dport 8443 -m comment --comment \"hostplan:api\" -j DNAT --to-destination 10.0.0.5:6443\n" +
		"-A POSTROUTING -d 10.0.0.5/32 -p tcp -m tcp --dport 6443 -m comment --comment \"hostplan:api\" -j MASQUERADE\nCOMMIT\n"
	if c.Saved == nil || string(c.Saved.New) != want || c.Saved.OldExists {
		t.Fatalf("saved rules:\n%+v\nwant new\n%s", c.Saved, want)
	}

	// Planned again on what the first left: nothing to do.
	if again := forwardOn(t, planned(want, []byte(want)), f); len(again.Commands) != 0 || string(again.Saved.New) != want {
		t.Errorf("second plan: %q, saved %q", again.Commands, again.Saved.New)
	}
	// A changed port: the stale rules go, in the same batch; a doubled rule goes too.
	doubled := strings.Replace(want, "-A DOCKER", "-A FORWARD -d 10.0.0.5/32 -p tcp -m tcp --dport 6443 -m comment --comment \"hostplan:api\" -j ACCEPT\n-A DOCKER", 1)
	g := f
	g.ToPort = 6444
	moved := forwardOn(t, planned(doubled, nil), g)
	for _, line := range []string{
		`'-A FORWARD -d 10.0.0.5/32 -p tcp -m tcp --dport 6444`, `'-D FORWARD -d 10.0.0.5/32 -p tcp -m tcp --dport 6443`,
		`'-A PREROUTING -p tcp -m tcp --dport 8443 -m comment --comment "hostplan:api" -j DNAT --to-destination 10.0.0.5:6444'`,
		`'-D PREROUTING -p tcp -m tcp --dport 8443 -m comment --comment "hostplan:api" -j DNAT --to-destination 10.0.0.5:6443'`,
	} {
		if !strings.Contains(moved.Commands[0], line) {
			t.Errorf("changed port: no %s in\n%s", line, moved.Commands[0])
		}
	}
	if n := strings.Count(moved.Commands[0], "'-D FORWARD -d 10.0.0.5/32 -p tcp -m tcp --dport 6443"); n != 2 {
		t.Errorf("changed port: %d deletes of the doubled rule, want 2", n)
	}
	if s := string(moved.Saved.New); strings.Contains(s, "6443") || strings.Count(s, "6444") != 4 {
		t.Errorf("changed port, saved:\n%s", s)
	}

	// Absent: nat first, so a batch cut short never leaves a DNAT without its accepts.
	g = f
	g.Absent = true
	gone := forwardOn(t, planned(want, []byte(want)), g)
	if cmd := gone.Commands[0]; strings.Index(cmd, "'*nat'") > strings.Index(cmd, "'*filter'") || strings.Count(cmd, "'-D ") != 4 {
		t.Errorf("absent: %s", cmd)
	}
	if s := string(gone.Saved.New); s != dockerSave+"*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\nCOMMIT\n" {
		t.Errorf("absent left our rules or more:\n%s", s)
	}
}

// TestRulesShared: an allowlist and a forward on one host plan against one read, the
// forward's saved-file change starting where the allowlist's ends.
func TestRulesShared(t *testing.T) {
	r := planned(dockerSave, []byte(dockerSave))
	a := Allowlist{Allow: allowlist.Allow{Sources: []netip.Prefix{netip.MustParsePrefix("192.0.2.7/32")}, Ports: []int{6443}}}
	ac, err := newIPTables(nil).Allow(context.Background(), Host{Name: "h", Rules: r}, a)
	if err != nil {
		t.Fatal(err)
	}
	wantCmd := `printf '%s\n' '*filter' '-N HOSTPLAN-ALLOW' '-A HOSTPLAN-ALLOW -s 192.0.2.7/32 -p tcp -m tcp --dport 6443 -j ACCEPT' ` +
		`'-I INPUT 1 -p tcp -m tcp --dport 6443 -j HOSTPLAN-ALLOW' COMMIT | iptables-restore -w --noflush`
	if len(ac.Commands) != 1 || ac.Commands[0] != wantCmd {
		t.Errorf("allowlist commands %q, want %q", ac.Commands, wantCmd)
	}
	wantSaved := strings.Replace(dockerSave, ":DOCKER - [0:0]\n-A INPUT -i lo -j ACCEPT\n",
		":DOCKER - [0:0]\n:HOSTPLAN-ALLOW - [0:0]\n-A INPUT -p tcp -m tcp --dport 6443 -j HOSTPLAN-ALLOW\n-A INPUT -i lo -j ACCEPT\n", 1) +
		""
	wantSaved = strings.Replace(wantSaved, "COMMIT\n", "-A HOSTPLAN-ALLOW -s 192.0.2.7/32 -p tcp -m tcp --dport 6443 -j ACCEPT\nCOMMIT\n", 1)
	if string(ac.Saved.New) != wantSaved || string(ac.Saved.Old) != dockerSave {
		t.Errorf("allowlist saved:\n%s\nwant\n%s", ac.Saved.New, wantSaved)
	}
	fc := forwardOn(t, r, Forward{Name: "api", ListenPort: 8443, To: netip.MustParseAddr("10.0.0.5"), ToPort: 6443, Protocol: "tcp"})
	if string(fc.Saved.Old) != wantSaved || !strings.Contains(string(fc.Saved.New), "HOSTPLAN-ALLOW -s 192.0.2.7/32") {
		t.Errorf("forward after allowlist: saved old\n%s", fc.Saved.Old)
	}
	// The allowlist planned again on the planned rules: nothing to do.
	again, err := newIPTables(nil).Allow(context.Background(), Host{Name: "h", Rules: planned(string(ac.Saved.New), ac.Saved.New)}, a)
	if err != nil || len(again.Commands) != 0 {
		t.Errorf("allowlist again: %q, %v", again.Commands, err)
	}
	// Its chain right, the saved file behind the running rules (kube-proxy changed
	// them): the allowlist changes nothing, so it saves nothing either.
	behind, err := newIPTables(nil).Allow(context.Background(), Host{Name: "h", Rules: planned(string(ac.Saved.New), []byte(dockerSave))}, a)
	if err != nil || len(behind.Commands) != 0 || behind.Saved != nil {
		t.Errorf("allowlist with an old saved file: %q, %+v, %v", behind.Commands, behind.Saved, err)
	}
}

func TestNormalizeSave(t *testing.T) {
	if n := normalizeSave("# Generated by iptables-save v1.8.9 on Mon\n*nat\n:PREROUTING ACCEPT [12:720]\nCOMMIT\n"); n != "*nat\n:PREROUTING ACCEPT [0:0]\nCOMMIT\n" {
		t.Errorf("normalizeSave = %q", n)
	}
}

// TestRulesetEdit: the restore lines hostplan plans, done on the parsed ruleset as
// iptables-restore does them; lines it would refuse are errors.
func TestRulesetEdit(t *testing.T) {
	for _, tc := range []struct {
		line, err string
	}{
		{"-A NOSUCH -j ACCEPT", "no chain NOSUCH"},
		{"-D INPUT -j DROP", "no such rule"},
		{"-N DOCKER", "the chain exists"},
		{"-I INPUT 2 -j DROP", "only inserting at 1"},
		{"-Z INPUT", "not a planned restore line"},
	} {
		rs := parseSave(dockerSave)
		if err := rs.edit("filter", tc.line); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: %v, want %q", tc.line, err, tc.err)
		}
	}
	rs := parseSave(dockerSave)
	for _, l := range []string{"-F DOCKER", "-D FORWARD -j DOCKER", "-X DOCKER"} {
		if err := rs.edit("filter", l); err != nil {
			t.Fatal(err)
		}
	}
	if got := rs.String(); got != "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n-A INPUT -i lo -j ACCEPT\nCOMMIT\n" {
		t.Errorf("after removing DOCKER:\n%s", got)
	}
	if got := parseSave(dockerSave).String(); got != dockerSave {
		t.Errorf("parse and print changed the ruleset:\n%s", got)
	}
}

// A batch runs as a here-document that gives iptables-restore exactly the lines the
// plan's printf form gives it, through a real shell; any other command runs as it is.
func TestRunnableRestore(t *testing.T) {
	b := &restoreBatch{}
	b.add("filter", `-A FORWARD -d 10.0.0.5/32 -m comment --comment "hostplan:it's" -j ACCEPT`)
	b.add("nat", "-D PREROUTING -p tcp --dport 8443 -j DNAT --to-destination 10.0.0.5:6443")
	shown := b.command()
	run := runnableRestore(shown)
	if !strings.HasPrefix(run, "iptables-restore -w --noflush <<'"+restoreEnd+"'\n") {
		t.Fatalf("runnable form:\n%s", run)
	}
	// A stand-in iptables-restore that prints its arguments and its input.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "iptables-restore"), []byte("#!/bin/sh\necho \"args: $*\"\nexec cat\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	out := func(cmd string) string {
		c := exec.Command("/bin/sh", "-c", "{ "+cmd+"\n} 2>&1")
		c.Env = append(os.Environ(), "PATH="+dir+":"+os.Getenv("PATH"))
		o, err := c.Output()
		if err != nil {
			t.Fatalf("%s: %v", cmd, err)
		}
		return string(o)
	}
	want := "args: -w --noflush\n*filter\n" + b.lines["filter"][0] + "\nCOMMIT\n*nat\n" + b.lines["nat"][0] + "\nCOMMIT\n"
	if got := out(shown); got != want {
		t.Fatalf("the plan's form gives\n%s\nwant\n%s", got, want)
	}
	if got := out(run); got != want {
		t.Errorf("the runnable form gives\n%s\nwant\n%s", got, want)
	}
	for _, cmd := range []string{
		"",
		"true",
		shown + " ",
		strings.Replace(shown, "COMMIT", "COMMIT $(id)", 1),
		strings.Replace(shown, "COMMIT", "\"COMMIT\"", 1),
		strings.Replace(shown, "'*nat'", restoreEnd, 1),
		strings.Replace(shown, "'*nat'", restoreEnd+")", 1),
		strings.Replace(shown, "'*nat'", "'*nat\n-F'", 1),
		strings.Replace(shown, " | iptables-restore -w --noflush", " | iptables-restore --noflush", 1),
		"printf '%s\\n' | iptables-restore -w --noflush",
	} {
		if got := runnableRestore(cmd); got != cmd {
			t.Errorf("runnableRestore(%q) = %q, want it unchanged", cmd, got)
		}
	}
}
