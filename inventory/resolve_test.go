package inventory

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
)

const testSSHConfig = `# a realistic ~/.ssh/config
Host alias1
  HostName real1.example.com
  User cfguser
  Port 2201
  IdentityFile ~/.ssh/id_%h_%r
  IdentityFile "%d/keys/%n-%p"
  ProxyJump jump@bastion.example.com:2222

Host 10.0.0.*
  User netuser
  UserKnownHostsFile ~/.ssh/known_hosts_lab /etc/ssh/other_known_hosts

Match host weird exec "test -f /etc/weird"
  User matchuser
  Port 9999

Host tokhost
  HostName %h.internal
  IdentityFile /keys/%u/%C

Host nojump
  ProxyJump none

Host pc
  ProxyCommand ssh -W %h:%p gateway

Host multi
  ProxyJump a@one,b@two

Host badport
  Port ssh

Host bastion.example.com
  HostName 192.0.2.1
  IdentityFile ~/.ssh/bastion_key

Match all
  User defaultuser
  IdentityFile ~/.ssh/global
`

const resolveInventory = `
host "alias1" {}
host "override" {
  address       = "alias1"
  user          = "invuser"
  port          = 22
  identity_file = "/k"
  bastion       = ""
}
host "lab" {
  address = "10.0.0.5"
}
host "plain" {}
host "weird" {}
host "tokhost" {}
host "nojump" {}
host "pc" {}
host "multi" {}
host "badport" {}
host "local" {
  connection = "local"
}
host "invbastion" {
  address = "alias1"
  bastion = "other@gw:22"
  known_hosts = "/inv/known_hosts"
}
`

func sshOpts(t *testing.T, config string) ResolveOptions {
	t.Helper()
	p := filepath.Join(t.TempDir(), "ssh_config")
	if err := os.WriteFile(p, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	return ResolveOptions{SSHConfig: p, Home: testHome, LocalUser: "tester"}
}

func TestResolve(t *testing.T) {
	inv := mustLoadSrc(t, "inv.hcl", resolveInventory)
	opts := sshOpts(t, testSSHConfig)
	h := testHome
	tests := []struct {
		host string
		want ConnSettings
		err  string
	}{
		{host: "alias1", want: ConnSettings{
			Connection: "ssh", Address: "real1.example.com", Port: 2201, User: "cfguser",
			IdentityFile: []string{h + "/.ssh/id_real1.example.com_cfguser", h + "/keys/alias1-2201", h + "/.ssh/global"},
			KnownHosts:   h + "/.ssh/known_hosts", Bastion: "jump@bastion.example.com:2222", BecomeUser: "root",
			Jumps: []ConnSettings{{Connection: "ssh", Address: "192.0.2.1", Port: 2222, User: "jump",
				IdentityFile: []string{h + "/.ssh/bastion_key", h + "/.ssh/global"},
				KnownHosts:   h + "/.ssh/known_hosts", BecomeUser: "root"}}}},
		{host: "override", want: ConnSettings{
			Connection: "ssh", Address: "real1.example.com", Port: 22, User: "invuser",
			IdentityFile: []string{"/k"}, KnownHosts: h + "/.ssh/known_hosts", BecomeUser: "root"}},
		{host: "lab", want: ConnSettings{
			Connection: "ssh", Address: "10.0.0.5", Port: 22, User: "netuser",
			IdentityFile: []string{h + "/.ssh/global"}, KnownHosts: h + "/.ssh/known_hosts_lab", BecomeUser: "root",
			SSHOptions: SSHOptions{UserKnownHosts: []string{"/etc/ssh/other_known_hosts"}}}},
		{host: "plain", want: ConnSettings{
			Connection: "ssh", Address: "plain", Port: 22, User: "defaultuser",
			IdentityFile: []string{h + "/.ssh/global"}, KnownHosts: h + "/.ssh/known_hosts", BecomeUser: "root"}},
		// Match host weird exec "test -f /etc/weird": the test fails, so no matchuser, no port 9999.
		{host: "weird", want: ConnSettings{
			Connection: "ssh", Address: "weird", Port: 22, User: "defaultuser",
			IdentityFile: []string{h + "/.ssh/global"}, KnownHosts: h + "/.ssh/known_hosts", BecomeUser: "root"}},
		{host: "tokhost", want: ConnSettings{
			Connection: "ssh", Address: "tokhost.internal", Port: 22, User: "defaultuser",
			IdentityFile: []string{"/keys/tester/%C", h + "/.ssh/global"}, KnownHosts: h + "/.ssh/known_hosts", BecomeUser: "root"}},
		{host: "nojump", want: ConnSettings{
			Connection: "ssh", Address: "nojump", Port: 22, User: "defaultuser",
			IdentityFile: []string{h + "/.ssh/global"}, KnownHosts: h + "/.ssh/known_hosts", BecomeUser: "root"}},
		{host: "pc", want: ConnSettings{
			Connection: "ssh", Address: "pc", Port: 22, User: "defaultuser",
			IdentityFile: []string{h + "/.ssh/global"}, KnownHosts: h + "/.ssh/known_hosts", BecomeUser: "root",
			ProxyCommand: "ssh -W pc:22 gateway"}},
		// Each hop resolved by its own name (Host * gives them the global key).
		{host: "multi", want: ConnSettings{
			Connection: "ssh", Address: "multi", Port: 22, User: "defaultuser",
			IdentityFile: []string{h + "/.ssh/global"}, KnownHosts: h + "/.ssh/known_hosts", BecomeUser: "root",
			Bastion: "a@one,b@two", Jumps: []ConnSettings{
				{Connection: "ssh", Address: "one", Port: 22, User: "a", IdentityFile: []string{h + "/.ssh/global"},
					KnownHosts: h + "/.ssh/known_hosts", BecomeUser: "root"},
				{Connection: "ssh", Address: "two", Port: 22, User: "b", IdentityFile: []string{h + "/.ssh/global"},
					KnownHosts: h + "/.ssh/known_hosts", BecomeUser: "root"}}}},
		{host: "local", want: ConnSettings{
			Connection: "local", Address: "local", Port: 22, User: "tester",
			IdentityFile: []string{h + "/.ssh/id_ed25519", h + "/.ssh/id_ecdsa", h + "/.ssh/id_rsa"},
			KnownHosts:   h + "/.ssh/known_hosts", BecomeUser: "root"}},
		{host: "invbastion", want: ConnSettings{
			Connection: "ssh", Address: "real1.example.com", Port: 2201, User: "cfguser",
			IdentityFile: []string{h + "/.ssh/id_real1.example.com_cfguser", h + "/keys/alias1-2201", h + "/.ssh/global"},
			KnownHosts:   "/inv/known_hosts", Bastion: "other@gw:22", BecomeUser: "root",
			// The jump host borrows the target's known_hosts (ssh_config names none for it).
			Jumps: []ConnSettings{{Connection: "ssh", Address: "gw", Port: 22, User: "other",
				IdentityFile: []string{h + "/.ssh/global"}, KnownHosts: "/inv/known_hosts", BecomeUser: "root"}}}},
		{host: "badport", err: `Port "ssh" for host badport`},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			got, err := inv.Resolve(inv.Host(tt.host), opts)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}

	wantWarnings := []string{
		opts.SSHConfig + ": unsupported tokens for host tokhost were left as written: %C in IdentityFile",
	}
	if len(inv.Warnings) != len(wantWarnings) {
		t.Fatalf("warnings:\n%s", strings.Join(inv.Warnings, "\n"))
	}
	for i, w := range wantWarnings {
		if !strings.HasPrefix(inv.Warnings[i], w) {
			t.Errorf("warning %d = %q, want prefix %q", i, inv.Warnings[i], w)
		}
	}
	// Resolving again reports nothing new.
	for _, h := range inv.Hosts {
		_, _ = inv.Resolve(h, opts)
	}
	if len(inv.Warnings) != len(wantWarnings) {
		t.Errorf("warnings repeated:\n%s", strings.Join(inv.Warnings, "\n"))
	}
	// Resolve does not change the host.
	if c := inv.Host("alias1").Conn; c.User != "" || c.Port != 0 || c.Address != "" {
		t.Errorf("Resolve modified Host.Conn: %+v", c)
	}
}

func TestResolveBuiltinDefaults(t *testing.T) {
	inv := mustLoadSrc(t, "inv.hcl", "host \"web1\" {}\n")
	for _, cfg := range []string{"none", filepath.Join(t.TempDir(), "missing")} {
		got, err := inv.Resolve(inv.Host("web1"), ResolveOptions{SSHConfig: cfg, Home: "/h", LocalUser: "me"})
		if err != nil {
			t.Fatal(err)
		}
		want := ConnSettings{Connection: "ssh", Address: "web1", Port: 22, User: "me",
			IdentityFile: []string{"/h/.ssh/id_ed25519", "/h/.ssh/id_ecdsa", "/h/.ssh/id_rsa"},
			KnownHosts:   "/h/.ssh/known_hosts", BecomeUser: "root"}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\ngot  %+v\nwant %+v", cfg, got, want)
		}
	}
	if len(inv.Warnings) != 0 {
		t.Errorf("a missing ssh_config must not warn: %q", inv.Warnings)
	}
}

// The default ssh_config is $HOME/.ssh/config (opts.Home).
func TestResolveDefaultConfigPath(t *testing.T) {
	home := t.TempDir()
	if err := os.MkdirAll(filepath.Join(home, ".ssh"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, ".ssh", "config"), []byte("Host web1\n  User fromconfig\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	inv := mustLoadSrc(t, "inv.hcl", "host \"web1\" {}\n")
	got, err := inv.Resolve(inv.Host("web1"), ResolveOptions{Home: home, LocalUser: "me"})
	if err != nil {
		t.Fatal(err)
	}
	if got.User != "fromconfig" {
		t.Errorf("user = %q", got.User)
	}
}

// A Match criterion hostplan does not evaluate, even in an included file, fails every
// ssh host looked up in the file, naming file and line: ssh refuses the file too, and
// guessing would connect with settings ssh would not use.
func TestResolveUnsupportedMatch(t *testing.T) {
	dir := t.TempDir()
	inc := filepath.Join(dir, "included")
	if err := os.WriteFile(inc, []byte("Host *\n  Port 22\n\nMatch localnetwork 10.0.0.0/8\n  User x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	opts := sshOpts(t, "Include "+inc+"\nHost web1\n  User fromconfig\n")
	inv := mustLoadSrc(t, "inv.hcl", "host \"web1\" {}\nhost \"l\" {\n  connection = \"local\"\n}\n")
	_, err := inv.Resolve(inv.Host("web1"), opts)
	if err == nil || !strings.Contains(err.Error(), inc+" line 4: Match criterion \"localnetwork\" is not one hostplan evaluates") {
		t.Fatalf("error = %v", err)
	}
	if _, err := inv.Resolve(inv.Host("l"), opts); err != nil {
		t.Errorf("a local host does not read ssh_config: %v", err)
	}
}

func TestResolveBastion(t *testing.T) {
	inv := mustLoadSrc(t, "inv.hcl", resolveInventory)
	opts := sshOpts(t, testSSHConfig)
	target, err := inv.Resolve(inv.Host("alias1"), opts)
	if err != nil {
		t.Fatal(err)
	}
	got, err := inv.ResolveBastion(target, opts)
	if err != nil {
		t.Fatal(err)
	}
	want := ConnSettings{Connection: "ssh", Address: "192.0.2.1", Port: 2222, User: "jump",
		IdentityFile: []string{testHome + "/.ssh/bastion_key", testHome + "/.ssh/global"},
		KnownHosts:   testHome + "/.ssh/known_hosts", BecomeUser: "root"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}

	// Without ssh_config the jump host borrows the target's keys and known_hosts.
	none := ResolveOptions{SSHConfig: "none", Home: testHome, LocalUser: "me"}
	target = ConnSettings{Bastion: "[2001:db8::1]:2200", IdentityFile: []string{"/k/target"}, KnownHosts: "/k/known"}
	got, err = inv.ResolveBastion(target, none)
	if err != nil {
		t.Fatal(err)
	}
	want = ConnSettings{Connection: "ssh", Address: "2001:db8::1", Port: 2200, User: "me",
		IdentityFile: []string{"/k/target"}, KnownHosts: "/k/known", BecomeUser: "root"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	if _, err := inv.ResolveBastion(ConnSettings{}, none); err == nil {
		t.Error("no bastion: want an error")
	}
}

func TestParseJumpHost(t *testing.T) {
	tests := []struct {
		in, user, host string
		port           int
		err            string
	}{
		{in: "bastion", host: "bastion"},
		{in: "jump@bastion:2222", user: "jump", host: "bastion", port: 2222},
		{in: "ssh://jump@bastion:22", user: "jump", host: "bastion", port: 22},
		{in: "a@b@bastion", user: "a@b", host: "bastion"},
		{in: "[::1]:22", host: "::1", port: 22},
		{in: "2001:db8::1", host: "2001:db8::1"},
		{in: "@bastion", err: "empty user"},
		{in: "bastion:0", err: "port"},
		{in: "jump@", err: "no host"},
		// A chain is checked whole and gives its last hop (the one the host is reached through).
		{in: "a@one, ssh://jump@bastion:2222", user: "jump", host: "bastion", port: 2222},
		{in: "a,b:0", err: "port"},
		{in: "a,,b", err: "empty hop (number 2)"},
		{in: "[::1", err: "unclosed"},
	}
	for _, tt := range tests {
		u, h, p, err := parseJumpHost(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%q: error %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || u != tt.user || h != tt.host || p != tt.port {
			t.Errorf("%q: got %q %q %d %v", tt.in, u, h, p, err)
		}
	}
}

// Resolve is called for many hosts at once; run with -race.
func TestResolveConcurrent(t *testing.T) {
	var src strings.Builder
	for i := range 50 {
		fmt.Fprintf(&src, "host \"h%d\" {\n  address = \"10.0.0.%d\"\n}\n", i, i)
	}
	inv := mustLoadSrc(t, "inv.hcl", src.String())
	opts := sshOpts(t, testSSHConfig)
	var wg sync.WaitGroup
	errs := make(chan error, len(inv.Hosts))
	for _, h := range inv.Hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := inv.Resolve(h, opts)
			if err == nil && c.User != "netuser" {
				err = fmt.Errorf("%s: user %q", h.Name, c.User)
			}
			if err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if len(inv.Warnings) != 0 {
		t.Errorf("want no warnings, got %q", inv.Warnings)
	}
}

// Targets: the hosts --limit picks, resolved, in inventory order; a bad pattern or a
// host that does not resolve is an error naming it.
func TestTargets(t *testing.T) {
	inv := mustLoadSrc(t, "inv.hcl", `
host "web-1" { address = "10.0.0.1" }
host "web-2" { address = "10.0.0.2" }
host "db"    { address = "10.0.0.3" }
`)
	opts := ResolveOptions{SSHConfig: "none", Home: testHome, LocalUser: "tester"}
	for _, tc := range []struct {
		limit, want, err string
	}{
		{"", "web-1 10.0.0.1,web-2 10.0.0.2,db 10.0.0.3", ""},
		{"web*:!web-2", "web-1 10.0.0.1", ""},
		{"db", "db 10.0.0.3", ""},
		{"w[0:999999]x", "", "--limit w[0:999999]x: "},
	} {
		targets, err := inv.Targets(tc.limit, opts)
		var got []string
		for _, t := range targets {
			got = append(got, t.Host.Name+" "+t.Conn.Address)
		}
		if strings.Join(got, ",") != tc.want || (tc.err == "") != (err == nil) || err != nil && !strings.HasPrefix(err.Error(), tc.err) {
			t.Errorf("Targets(%q) = %q, %v; want %q, %q", tc.limit, got, err, tc.want, tc.err)
		}
	}
}
