package inventory

import (
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// lookupSSH evaluates the ssh_config file cfg for host as Resolve does, host and
// givenUser standing for the inventory's address and user (ssh's command line).
func lookupSSH(t *testing.T, cfg, host, givenUser, local, home string) (*sshLookup, error) {
	t.Helper()
	inv := &Inventory{}
	f := inv.sshConfig(cfg, home)
	if f == nil {
		t.Fatalf("%s was not read: %q", cfg, inv.Warnings)
	}
	if f.err != nil {
		return nil, f.err
	}
	l := &sshLookup{cfg: f, original: host, user: givenUser, local: local, home: home}
	return l, l.run()
}

// sshG is `ssh -G -F cfg [-l user] host`: OpenSSH's own evaluation, one key's values
// per line.
func sshG(t *testing.T, cfg, host, givenUser string, env []string) map[string][]string {
	t.Helper()
	args := []string{"-G", "-F", cfg}
	if givenUser != "" {
		args = append(args, "-l", givenUser)
	}
	cmd := exec.Command("ssh", append(args, host)...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ssh %s: %v", strings.Join(args, " "), err)
	}
	got := map[string][]string{}
	for _, line := range strings.Split(string(out), "\n") {
		if k, v, ok := strings.Cut(line, " "); ok {
			got[k] = append(got[k], v)
		}
	}
	return got
}

func localUserHome(t *testing.T) (name, home string) {
	t.Helper()
	u, err := user.Current()
	if err != nil {
		t.Skip("no current user:", err)
	}
	return u.Username, u.HomeDir
}

// Each case is evaluated by hostplan and by `ssh -G` on this machine, and both must
// give the expected user, host name, port, identity files and ProxyJump.
func TestSSHMatchCrossCheck(t *testing.T) {
	if _, err := exec.LookPath("ssh"); err != nil {
		t.Skip("no ssh client to cross-check against")
	}
	me, home := localUserHome(t)
	tests := []struct {
		name, cfg, host, user string
		want                  string   // user@hostname:port
		ids                   []string // IdentityFile values (none: not compared)
		jump                  string
	}{
		{name: "host sees HostName so far", host: "alias", want: "m@real1:22",
			cfg: "Host alias\n  HostName real1\nMatch host real1\n  User m\n"},
		{name: "host before HostName sees the name given", host: "alias", want: me + "@real1:22",
			cfg: "Match host real1\n  User m\nHost alias\n  HostName real1\n"},
		{name: "host expands %h in HostName", host: "web", want: "m@web.lan:22",
			cfg: "Host web\n  HostName %h.lan\nMatch host *.lan\n  User m\n"},
		{name: "host is case-insensitive", host: "web", want: "m@web:22",
			cfg: "Match host WEB\n  User m\n"},
		{name: "originalhost", host: "alias", want: "o@real1:22",
			cfg: "Host alias\n  HostName real1\nMatch originalhost real1\n  User r\nMatch originalhost alias\n  User o\n"},
		{name: "user so far", host: "web", want: "bob@web:2201",
			cfg: "Host *\n  User bob\nMatch user bob\n  Port 2201\n"},
		{name: "user given wins and is matched", host: "web", user: "alice", want: "alice@web:2202",
			cfg: "Host *\n  User bob\nMatch user bob\n  Port 2201\nMatch user al*\n  Port 2202\n"},
		{name: "user pattern list with negation", host: "web", user: "bo", want: "bo@web:22",
			cfg: "Match user b*,!bo\n  Port 2201\n"},
		{name: "user is case-sensitive", host: "web", user: "bob", want: "bob@web:22",
			cfg: "Match user BOB\n  Port 2201\n"},
		{name: "user defaults to the local user", host: "web", want: me + "@web:2203",
			cfg: "Match user " + me + "\n  Port 2203\n"},
		{name: "localuser", host: "web", want: "lu@web:22",
			cfg: "Match localuser nobody-else\n  User x\nMatch localuser " + me + "\n  User lu\n"},
		{name: "negated localuser", host: "web", want: "nl@web:22",
			cfg: "Match !localuser " + me + "\n  User x\nMatch !localuser nobody-else\n  User nl\n"},
		{name: "all", host: "web", want: "a@web:7",
			cfg: "Match all\n  User a\n  Port 7\n"},
		{name: "negated host", host: "web", want: "n@web:22",
			cfg: "Match !host web\n  User x\nMatch !host db\n  User n\n"},
		{name: "host list with negation", host: "bad.example.com", want: me + "@bad.example.com:22",
			cfg: "Match host *.example.com,!bad.example.com\n  User x\n"},
		{name: "only negated patterns never match", host: "web", want: me + "@web:22",
			cfg: "Match host !db\n  User x\n"},
		{name: "criteria ANDed", host: "web", user: "bob", want: "bob@web:2205",
			cfg: "Match host web user alice\n  Port 2204\nMatch host web user bob localuser " + me + "\n  Port 2205\n"},
		{name: "exec true and false", host: "web", want: "t@web:2206",
			cfg: "Match exec false\n  User f\nMatch exec true\n  User t\nMatch exec \"test 1 = 1\"\n  Port 2206\n"},
		{name: "exec negated", host: "web", want: "nf@web:22",
			cfg: "Match !exec true\n  User x\nMatch !exec false\n  User nf\n"},
		{name: "exec tokens", host: "web", user: "bob", want: "bob@web:2207",
			cfg: "Match exec \"test %h.%n.%p.%r = web.web.22.bob\"\n  Port 2207\n"},
		{name: "first value wins across Host and Match", host: "web1",
			want: "h1@web1:1111", ids: []string{"/a", "/b", "/c"},
			cfg: "Host web1\n  User h1\n  IdentityFile /a\nMatch host web1\n  User m1\n  Port 1111\n  IdentityFile /b\n" +
				"Host *\n  Port 2222\n  User star\n  IdentityFile /a\nMatch all\n  IdentityFile /c\n  Port 3333\n"},
		{name: "Match sets User, Host later cannot", host: "web1", want: "m1@web1:22",
			cfg: "Match originalhost web1\n  User m1\nHost web1\n  User h1\n"},
		{name: "ProxyJump from Match", host: "web", want: me + "@web:22", jump: "gw",
			cfg: "Match host web\n  ProxyJump gw\nHost web\n  ProxyJump other\n"},
		{name: "canonical without final never matches", host: "web", want: me + "@web:22",
			cfg: "Match canonical\n  User c\nMatch canonical all\n  User c2\n"},
		{name: "final pass: Host lines see the HostName", host: "alias", want: "r@real:2208",
			cfg: "Host alias\n  HostName real\nHost real\n  User r\nMatch final\n  Port 2208\n"},
		{name: "final and canonical in the final pass", host: "web", want: "c@web:2209",
			cfg: "Match canonical host web\n  User c\nMatch final all\n  Port 2209\n"},
		{name: "!final matches in the first pass", host: "web", want: "nf@web:22",
			cfg: "Match final\n  User f\nMatch !final\n  User nf\n"},
	}
	dir := t.TempDir()
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := filepath.Join(dir, "cfg"+string(rune('a'+i)))
			if err := os.WriteFile(cfg, []byte(tt.cfg), 0o600); err != nil {
				t.Fatal(err)
			}
			l, err := lookupSSH(t, cfg, tt.host, tt.user, me, home)
			if err != nil {
				t.Fatal(err)
			}
			got := l.remoteUser() + "@" + strings.ToLower(l.hostName()) + ":" + l.remotePort()
			jump, _ := l.first("proxyjump")
			if got != tt.want || jump.value != tt.jump || tt.ids != nil && !reflect.DeepEqual(l.all("identityfile"), tt.ids) {
				t.Errorf("hostplan: %s ids %q jump %q; want %s ids %q jump %q", got, l.all("identityfile"), jump.value, tt.want, tt.ids, tt.jump)
			}
			g := sshG(t, cfg, tt.host, tt.user, nil)
			sshGot := g["user"][0] + "@" + g["hostname"][0] + ":" + g["port"][0]
			sshJump := strings.Join(g["proxyjump"], ",")
			if sshGot != tt.want || sshJump != tt.jump || tt.ids != nil && !reflect.DeepEqual(g["identityfile"], tt.ids) {
				t.Errorf("ssh -G:   %s ids %q jump %q; want %s ids %q jump %q", sshGot, g["identityfile"], sshJump, tt.want, tt.ids, tt.jump)
			}
		})
	}
}

// Match exec gets the same tokens as in ssh, %C (the connection hash) included: both
// write their expansion to a file.
func TestSSHMatchExecTokensLikeSSH(t *testing.T) {
	if _, err := exec.LookPath("ssh"); err != nil {
		t.Skip("no ssh client to cross-check against")
	}
	me, home := localUserHome(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "cfg")
	src := "Host alias\n  HostName real.example\n  Port 2200\nMatch exec \"echo %C %d %h %i %k %L %l %n %p %r %u %% > $MATCH_OUT\"\n  User x\n"
	if err := os.WriteFile(cfg, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	sshOut, ourOut := filepath.Join(dir, "ssh.out"), filepath.Join(dir, "our.out")
	sshG(t, cfg, "alias", "bob", []string{"MATCH_OUT=" + sshOut})
	t.Setenv("MATCH_OUT", ourOut)
	if _, err := lookupSSH(t, cfg, "alias", "bob", me, home); err != nil {
		t.Fatal(err)
	}
	want, err1 := os.ReadFile(sshOut)
	got, err2 := os.ReadFile(ourOut)
	if err1 != nil || err2 != nil || string(got) != string(want) || !strings.Contains(string(want), " real.example ") {
		t.Errorf("tokens: hostplan %q (%v), ssh %q (%v)", got, err2, want, err1)
	}
}

func writeSSHConfig(t *testing.T, dir, name, src string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// Lines ssh refuses are errors naming file and line; none is silently skipped.
func TestSSHMatchErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct{ src, err string }{
		{"Host a\n  User x\nMatch localnetwork 10.0.0.0/8\n", `line 3: Match criterion "localnetwork" is not one hostplan evaluates`},
		{"Match tagged x\n", `line 1: Match criterion "tagged"`},
		{"Match hots web\n", `line 1: Match criterion "hots"`},
		{"\n\nMatch host\n", `line 3: Match: "host" needs an argument`},
		{"Match all host web\n", `line 1: Match: "all" cannot be combined`},
		{"Match\n", `line 1: Match needs at least one criterion`},
		{"Match exec \"true\n", `line 1: Match: unterminated quote`},
		{"Match exec \"test %z\"\n", `line 1: Match exec "test %z": has the token %z`},
		{"Match exec \"true %\"\n", `lone %`},
	} {
		cfg := writeSSHConfig(t, dir, "cfg", tt.src)
		_, err := lookupSSH(t, cfg, "web", "", "me", dir)
		if err == nil || !strings.Contains(err.Error(), cfg+" "+strings.TrimPrefix(tt.err, "line")) && !strings.Contains(err.Error(), tt.err) {
			t.Errorf("%q: error %v, want %q", tt.src, err, tt.err)
		}
	}
}

// A hung Match exec fails the lookup after MatchExecTimeout, killing the command's
// whole process group, instead of hanging the run.
func TestSSHMatchExecTimeout(t *testing.T) {
	old := MatchExecTimeout
	MatchExecTimeout = 300 * time.Millisecond
	defer func() { MatchExecTimeout = old }()
	dir := t.TempDir()
	cfg := writeSSHConfig(t, dir, "cfg", "Host *\n  Port 2200\nMatch exec \"sleep 30 & sleep 30\"\n  User x\n")
	start := time.Now()
	_, err := lookupSSH(t, cfg, "web", "", "me", dir)
	if err == nil || !strings.Contains(err.Error(), cfg+" line 3: Match exec \"sleep 30 & sleep 30\": did not finish within 300ms") {
		t.Errorf("error = %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %s", d)
	}
}

// An inventory name with shell metacharacters never reaches a Match exec shell.
func TestSSHMatchExecHostileName(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "pwned")
	cfg := writeSSHConfig(t, dir, "cfg", "Match exec \"test %h = x\"\n  User x\n")
	for _, name := range []string{"x;touch " + marker, "$(touch " + marker + ")", "-oProxyCommand=x", "a b"} {
		_, err := lookupSSH(t, cfg, name, "", "me", dir)
		if err == nil || !strings.Contains(err.Error(), "characters a shell would interpret") {
			t.Errorf("%q: error = %v", name, err)
		}
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("a hostile host name ran a command")
	}
	// Names that are fine: IPv6 addresses, user@host-like, dots and dashes.
	for _, name := range []string{"2001:db8::1", "web-1.example.com", "x"} {
		if _, err := lookupSSH(t, cfg, name, "", "me", dir); err != nil {
			t.Errorf("%q: %v", name, err)
		}
	}
}

// Once a criterion fails, later exec commands on the line are not run (as in ssh), and
// a command without per-host tokens runs once for all hosts.
func TestSSHMatchExecShortCircuitAndCache(t *testing.T) {
	dir := t.TempDir()
	count := filepath.Join(dir, "count")
	cfg := writeSSHConfig(t, dir, "cfg", "Match host db exec \"echo x >> "+count+"\"\n  User d\nMatch exec \"echo y >> "+count+"\"\n  User y\n")
	inv := &Inventory{}
	for _, h := range []string{"web1", "web2", "web3"} {
		l := &sshLookup{cfg: inv.sshConfig(cfg, dir), original: h, local: "me", home: dir}
		if err := l.run(); err != nil || l.remoteUser() != "y" {
			t.Fatalf("%s: user %q, %v", h, l.remoteUser(), err)
		}
	}
	if data, _ := os.ReadFile(count); string(data) != "y\n" {
		t.Errorf("commands run: %q, want only the second, once", data)
	}
}

// Include: relative to ~/.ssh, globbed in order, Match lines inside evaluated; an
// included file's Host lines do not outlast it; an Include loop is an error.
func TestSSHMatchInclude(t *testing.T) {
	home := t.TempDir()
	sshDir := filepath.Join(home, ".ssh", "conf.d")
	if err := os.MkdirAll(sshDir, 0o700); err != nil {
		t.Fatal(err)
	}
	writeSSHConfig(t, sshDir, "10-a", "Match originalhost web\n  User inc\nHost nothing\n")
	writeSSHConfig(t, sshDir, "20-b", "Match all\n  Port 2300\n")
	cfg := writeSSHConfig(t, home, "cfg", "Host web\n  Include conf.d/*\n  IdentityFile /after\nHost *\n  User late\n")
	l, err := lookupSSH(t, cfg, "web", "", "me", home)
	if err != nil {
		t.Fatal(err)
	}
	if l.remoteUser() != "inc" || l.remotePort() != "2300" || !reflect.DeepEqual(l.all("identityfile"), []string{"/after"}) {
		t.Errorf("user %q port %q ids %q", l.remoteUser(), l.remotePort(), l.all("identityfile"))
	}
	loop := writeSSHConfig(t, home, "loop", "Include "+filepath.Join(home, "loop")+"\n")
	inv := &Inventory{}
	if f := inv.sshConfig(loop, home); f == nil || f.err == nil || !strings.Contains(f.err.Error(), "nested more than 16 deep") {
		t.Errorf("loop: %+v", f)
	}
}

// A config file another user could write is refused (Match exec runs its commands).
func TestSSHConfigPermissions(t *testing.T) {
	dir := t.TempDir()
	cfg := writeSSHConfig(t, dir, "cfg", "Host *\n  User x\n")
	if err := os.Chmod(cfg, 0o620); err != nil {
		t.Fatal(err)
	}
	_, err := lookupSSH(t, cfg, "web", "", "me", dir)
	if err == nil || !strings.Contains(err.Error(), "bad owner or permissions") {
		t.Errorf("error = %v", err)
	}
}

func TestMatchPattern(t *testing.T) {
	for _, tt := range []struct {
		s, p string
		want bool
	}{
		{"web1", "web*", true}, {"web1", "web?", true}, {"web12", "web?", false},
		{"a.example.com", "*.example.com", true}, {"example.com", "*.example.com", false},
		{"", "*", true}, {"abc", "a*b*c", true}, {"abcd", "a*b*c", false},
		{strings.Repeat("a", 200), strings.Repeat("*a", 100) + "b", false},
	} {
		if got := matchPattern(tt.s, tt.p); got != tt.want {
			t.Errorf("matchPattern(%q, %q) = %v", tt.s, tt.p, got)
		}
	}
}

// Resolve takes Match into account for every setting, the inventory's user counting as
// ssh's -l; CanonicalizeHostname, which hostplan does not do, is reported.
func TestResolveMatch(t *testing.T) {
	opts := sshOpts(t, "Host *\n  CanonicalizeHostname yes\nMatch user deploy\n  Port 2222\n  IdentityFile /k/deploy\n"+
		"Match originalhost db exec true\n  HostName db.internal\n  ProxyCommand nc %h %p\n  ProxyJump gw\n")
	inv := mustLoadSrc(t, "inv.hcl", "host \"web\" {\n  user = \"deploy\"\n}\nhost \"db\" {}\n")
	web, err := inv.Resolve(inv.Host("web"), opts)
	if err != nil || web.Port != 2222 || !reflect.DeepEqual(web.IdentityFile, []string{"/k/deploy"}) {
		t.Errorf("web: %+v %v", web, err)
	}
	db, err := inv.Resolve(inv.Host("db"), opts)
	if err != nil || db.Address != "db.internal" || db.Port != 22 || db.ProxyCommand != "nc db.internal 22" || db.Bastion != "" {
		t.Errorf("db: %+v %v", db, err)
	}
	if len(inv.Warnings) != 1 || !strings.Contains(inv.Warnings[0], "CanonicalizeHostname yes is not done by hostplan") {
		t.Errorf("warnings = %q", inv.Warnings)
	}
}
