package main

import (
	"context"
	"io"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParsePlanArgs(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		check   func(*planArgs) bool
		wantErr bool
	}{
		{args: nil, check: func(p *planArgs) bool {
			return p.parallel == 20 && p.timeout == 10*time.Second && p.commandTimeout == 10*time.Minute && p.diffContext == 3 && len(p.pos) == 0 && !p.perHost
		}},
		{args: []string{"dir", "--per-host"}, check: func(p *planArgs) bool { return p.perHost && slices.Equal(p.pos, []string{"dir"}) }},
		// Flags before and after the directory, repeatable ones in order.
		{args: []string{"-i", "a.hcl", "dir", "--inventory", "b.ini", "--var", "x=1", "--var", "y=[2]", "-out", "c.plan", "--json"},
			check: func(p *planArgs) bool {
				return slices.Equal(p.inventories, []string{"a.hcl", "b.ini"}) && slices.Equal(p.vars, []string{"x=1", "y=[2]"}) &&
					p.out == "c.plan" && p.json && slices.Equal(p.pos, []string{"dir"})
			}},
		{args: []string{"--command-timeout", "3s", "--parallel", "5", "--limit", "web*:!db", "-sign-key", "none"},
			check: func(p *planArgs) bool {
				return p.commandTimeout == 3*time.Second && p.parallel == 5 && p.limit == "web*:!db" && p.sign.key == "none"
			}},
		{args: []string{"--auto-approve"}, wantErr: true}, // apply's, not plan's
		{args: []string{"-allowed-signers", "f"}, wantErr: true},
		{args: []string{"--parallel", "many"}, wantErr: true},
	} {
		p, err := parsePlanArgs(tc.args, io.Discard)
		if (err != nil) != tc.wantErr || err == nil && !tc.check(p) {
			t.Errorf("plan %q: %+v, %v", tc.args, p, err)
		}
	}
}

func TestParseApplyArgs(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		check   func(*applyArgs) bool
		wantErr bool
	}{
		{args: []string{"change.plan"}, check: func(p *applyArgs) bool {
			return p.lock && !p.autoApprove && p.lockTimeout == 0 && !p.perHost && slices.Equal(p.pos, []string{"change.plan"})
		}},
		{args: []string{"-per-host", "change.plan"}, check: func(p *applyArgs) bool { return p.perHost && slices.Equal(p.pos, []string{"change.plan"}) }},
		{args: []string{"--auto-approve", "--no-rollback", "--lock-timeout", "5m", "--all-or-nothing", "--journal", "none", "-allowed-signers", "as"},
			check: func(p *applyArgs) bool {
				return p.autoApprove && p.noRollback && p.lockTimeout == 5*time.Minute && p.allOrNothing && p.journal == "none" && p.sign.allowed == "as"
			}},
		{args: []string{"-out", "x"}, wantErr: true},
	} {
		p, err := parseApplyArgs(tc.args, io.Discard)
		if (err != nil) != tc.wantErr || err == nil && !tc.check(p) {
			t.Errorf("apply %q: %+v, %v", tc.args, p, err)
		}
	}
}

func TestParseShowArgs(t *testing.T) {
	for _, tc := range []struct {
		args       []string
		file, form string
		perHost    bool
		err        string
	}{
		{args: []string{"c.plan"}, file: "c.plan", form: "human"},
		{args: []string{"c.plan", "--per-host"}, file: "c.plan", form: "human", perHost: true},
		{args: []string{"-per-host", "-format", "markdown", "c.plan"}, file: "c.plan", form: "markdown", perHost: true},
		{args: []string{"--json", "c.plan"}, file: "c.plan", form: "json"},
		{args: []string{"c.plan", "-format", "markdown"}, file: "c.plan", form: "markdown"},
		{args: nil, err: "give one saved plan file"},
		{args: []string{"a", "b"}, err: "give one saved plan file"},
		{args: []string{"--parallel", "2", "c.plan"}, err: "flag error"}, // show connects nowhere
	} {
		p, err := parseShowArgs(tc.args, io.Discard)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("show %q: %v, want an error with %q", tc.args, err, tc.err)
		case tc.err == "" && (err != nil || p.file != tc.file || p.format != tc.form || p.perHost != tc.perHost):
			t.Errorf("show %q: %+v %v", tc.args, p, err)
		}
	}
}

func TestParseOtherArgs(t *testing.T) {
	if p, err := parseCheckArgs([]string{"--audit-window", "1h", "--manifest", "/m.yaml", "dir"}, io.Discard); err != nil || p.window != time.Hour || p.manifest != "/m.yaml" || !slices.Equal(p.pos, []string{"dir"}) {
		t.Errorf("check: %+v %v", p, err)
	}
	if p, err := parseCheckArgs(nil, io.Discard); err != nil || p.window != 10*time.Minute || p.manifest == "" {
		t.Errorf("check defaults: %+v %v", p, err)
	}
	if p, err := parseHistoryArgs([]string{"--host", "h1", "-n", "0"}, io.Discard); err != nil || p.host != "h1" || p.last != 0 {
		t.Errorf("history: %+v %v", p, err)
	}
	if _, err := parseHistoryArgs([]string{"extra"}, io.Discard); err == nil || !strings.Contains(err.Error(), `unexpected argument "extra"`) {
		t.Errorf("history with an argument: %v", err)
	}
	if p, err := parseInventoryArgs([]string{"-i", "x", "--ssh-config", "none"}, io.Discard); err != nil || p.sshConfig != "none" {
		t.Errorf("inventory: %+v %v", p, err)
	}
	if _, err := parseInventoryArgs([]string{"x"}, io.Discard); err == nil || !strings.Contains(err.Error(), "pass inventories with -i") {
		t.Errorf("inventory with an argument: %v", err)
	}
	if _, err := parseValidateArgs([]string{"--timeout", "1s"}, io.Discard); err == nil {
		t.Error("validate takes no connection flags")
	}
	if p, err := parseValidateArgs([]string{"--ssh-config", "none", "dir"}, io.Discard); err != nil || p.sshConfig != "none" || !slices.Equal(p.pos, []string{"dir"}) {
		t.Errorf("validate --ssh-config: %+v %v", p, err)
	}
}

// TestHelp: -h, -help and --help print a command's usage and flags on stdout and exit 0,
// for every command; so do hostplan -h and hostplan help.
func TestHelp(t *testing.T) {
	for _, c := range commands {
		for _, h := range []string{"-h", "-help", "--help"} {
			code, stdout, stderr := runCLI(c.name, h)
			if code != exitOK || !strings.HasPrefix(stdout, "Usage: hostplan "+c.name) || stderr != "" {
				t.Errorf("hostplan %s %s: exit %d, stdout %q, stderr %q", c.name, h, code, stdout, stderr)
			}
		}
		if code, stdout, _ := runCLI("help", c.name); code != exitOK || !strings.HasPrefix(stdout, "Usage: hostplan "+c.name) {
			t.Errorf("hostplan help %s: exit %d, %q", c.name, code, stdout)
		}
	}
	for _, args := range [][]string{{"-h"}, {"--help"}, {"help"}} {
		if code, stdout, _ := runCLI(args...); code != exitOK || !strings.Contains(stdout, "Commands:\n  plan ") {
			t.Errorf("hostplan %q: exit %d, %q", args, code, stdout)
		}
	}
	// -h as the value of a flag is that value, not a request for help.
	if code, stdout, _ := runCLI("plan", "--limit", "-h"); code == exitOK || stdout != "" {
		t.Errorf("plan --limit -h: exit %d, %q", code, stdout)
	}
}

// TestBadFlag: an unknown or malformed flag prints one line naming it and a hint to -h,
// not the list of every flag, and exits 1.
func TestBadFlag(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"plan", "--frob"}, "flag provided but not defined: -frob\nrun 'hostplan plan -h' for its flags\n"},
		{[]string{"check", "dir", "--parallel", "many"}, `invalid value "many" for flag -parallel: parse error` + "\nrun 'hostplan check -h' for its flags\n"},
		{[]string{"show", "-format"}, "flag needs an argument: -format\nrun 'hostplan show -h' for its flags\n"},
		{[]string{"validate", "--timeout", "1s"}, "flag provided but not defined: -timeout\nrun 'hostplan validate -h' for its flags\n"},
	} {
		code, stdout, stderr := runCLI(tc.args...)
		if code != exitError || stdout != "" || stderr != tc.want {
			t.Errorf("hostplan %q: exit %d, stdout %q, stderr %q, want %q", tc.args, code, stdout, stderr, tc.want)
		}
	}
}

func runCLI(args ...string) (code int, stdout, stderr string) {
	var out, errOut strings.Builder
	code = run(context.Background(), args, strings.NewReader(""), &out, &errOut, nil)
	return code, out.String(), errOut.String()
}
