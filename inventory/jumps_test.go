package inventory

import (
	"reflect"
	"strings"
	"testing"
)

const proxySSHConfig = `
Host web
  HostName web.internal
  User cfguser
  Port 2200
  ProxyCommand /usr/bin/nc -w 5 %h %p --name=%n --user=%r --key=%k 100%% ~/x

Host badtok
  ProxyCommand nc %h %d

Host lone
  ProxyCommand nc %h %

# First of ProxyCommand and ProxyJump wins, "none" included (as in OpenSSH).
Host pcfirst
  ProxyCommand nc %h %p
Host pjfirst
  ProxyJump gw
Host pcnone
  ProxyCommand none
Host pjnone
  ProxyJump none

Host pcfirst pjfirst pcnone pjnone
  ProxyJump late-gw
  ProxyCommand late-command %h

Host evil*
  ProxyCommand nc %h %p
`

const proxyInventory = `
host "web" {}
host "web-as-ops" {
  address = "web"
  user    = "ops"
}
host "badtok" {}
host "lone" {}
host "pcfirst" {}
host "pjfirst" {}
host "pcnone" {}
host "pjnone" {}
host "web-direct" {
  address = "web"
  bastion = ""
}
host "web-inv-bastion" {
  address = "web"
  bastion = "inv-gw"
}
host "loc" {
  address    = "web"
  connection = "local"
}
host "evil" {
  address = "evil$(touch /tmp/pwned)"
}
`

// ProxyCommand tokens are expanded as ssh expands them: %h after HostName, %n as
// given, %p and %r final (the inventory's user counts), %% a percent sign, no "~".
func TestResolveProxyCommand(t *testing.T) {
	inv := mustLoadSrc(t, "inv.hcl", proxyInventory)
	opts := sshOpts(t, proxySSHConfig)
	want := map[string]string{
		"web":        "/usr/bin/nc -w 5 web.internal 2200 --name=web --user=cfguser --key=web 100% ~/x",
		"web-as-ops": "/usr/bin/nc -w 5 web.internal 2200 --name=web --user=ops --key=web 100% ~/x",
		"pcfirst":    "nc pcfirst 22",
		"pjfirst":    "",
		"pcnone":     "",
		"pjnone":     "",
		"web-direct": "", // the inventory's bastion = "" means direct
		"loc":        "",
	}
	for host, w := range want {
		got, err := inv.Resolve(inv.Host(host), opts)
		if err != nil || got.ProxyCommand != w {
			t.Errorf("%s: ProxyCommand %q, %v; want %q", host, got.ProxyCommand, err, w)
		}
	}
	bastions := map[string]string{"pjfirst": "gw", "pcfirst": "", "pcnone": "", "pjnone": "", "web-direct": "", "web-inv-bastion": "inv-gw"}
	for host, w := range bastions {
		got, err := inv.Resolve(inv.Host(host), opts)
		if err != nil || got.Bastion != w {
			t.Errorf("%s: Bastion %q, %v; want %q", host, got.Bastion, err, w)
		}
	}
	errs := map[string]string{
		"badtok": "ProxyCommand for host badtok has the token %d, which ssh does not expand there either",
		"lone":   "ProxyCommand for host lone ends in a lone %",
		"evil":   `the value "evil$(touch /tmp/pwned)" has characters a shell would interpret`,
	}
	for host, w := range errs {
		if _, err := inv.Resolve(inv.Host(host), opts); err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("%s: got %v, want %q", host, err, w)
		}
	}
	if len(inv.Warnings) != 0 {
		t.Errorf("warnings: %q", inv.Warnings)
	}
}

const chainSSHConfig = `
Host t1
  ProxyJump hop1,hop2:2202

Host hop1
  HostName 10.1.0.1
  User u1
  Port 2201
  IdentityFile ~/.ssh/k1
  UserKnownHostsFile ~/.ssh/kh1
  ProxyJump outer

Host outer
  HostName outer.example.com
  User uo
  ProxyCommand nc %h %p %r

Host hop2
  HostName 10.1.0.2
  User u2
  # hop2 is reached through hop1 (ssh -J passes it one): these do not apply.
  ProxyJump ignored
  ProxyCommand ignored

Host loopa
  ProxyJump loopb
Host loopb
  ProxyJump loopa
Host self
  ProxyJump self
Host long
  ProxyJump j1,j2,j3,j4,j5,j6,j7,j8,j9
Host twice
  ProxyJump x@a,b,x@a
Host badhop
  ProxyJump hop1,badport
Host badport
  Port ssh
`

func TestResolveJumpChain(t *testing.T) {
	inv := mustLoadSrc(t, "inv.hcl", `
host "t1" {}
host "inv-chain" {
  bastion       = "hop2,me@hop1"
  identity_file = "/target/key"
}
host "loopa" {}
host "self" {}
host "long" {}
host "twice" {}
host "badhop" {}
`)
	opts := sshOpts(t, chainSSHConfig)
	h := testHome
	outer := ConnSettings{Connection: "ssh", Address: "outer.example.com", Port: 22, User: "uo",
		IdentityFile: []string{h + "/.ssh/id_ed25519", h + "/.ssh/id_ecdsa", h + "/.ssh/id_rsa"},
		KnownHosts:   h + "/.ssh/known_hosts", BecomeUser: "root", ProxyCommand: "nc outer.example.com 22 uo"}
	hop1 := ConnSettings{Connection: "ssh", Address: "10.1.0.1", Port: 2201, User: "u1",
		IdentityFile: []string{h + "/.ssh/k1"}, KnownHosts: h + "/.ssh/kh1", BecomeUser: "root"}
	hop2 := ConnSettings{Connection: "ssh", Address: "10.1.0.2", Port: 2202, User: "u2",
		IdentityFile: []string{h + "/.ssh/id_ed25519", h + "/.ssh/id_ecdsa", h + "/.ssh/id_rsa"},
		KnownHosts:   h + "/.ssh/known_hosts", BecomeUser: "root"}
	got, err := inv.Resolve(inv.Host("t1"), opts)
	if err != nil {
		t.Fatal(err)
	}
	// The first hop's own ProxyJump (outer, with its ProxyCommand) comes before it.
	if want := []ConnSettings{outer, hop1, hop2}; got.Bastion != "hop1,hop2:2202" || !reflect.DeepEqual(got.Jumps, want) {
		t.Errorf("t1: Bastion %q\njumps %+v\nwant  %+v", got.Bastion, got.Jumps, want)
	}

	// The inventory's chain: hop2 first, so its own ProxyJump (to the host "ignored")
	// applies now.
	got, err = inv.Resolve(inv.Host("inv-chain"), opts)
	if err != nil || len(got.Jumps) != 3 || got.Jumps[0].Address != "ignored" || got.Jumps[1].Address != "10.1.0.2" {
		t.Errorf("inv-chain: %+v %v", got.Jumps, err)
	}
	// The user written in the chain wins, and a hop without keys of its own borrows
	// the target's.
	inv2 := mustLoadSrc(t, "inv.hcl", "host \"c\" {\n  bastion = \"me@hop1,hop2\"\n  identity_file = \"/target/key\"\n}\n")
	got, err = inv2.Resolve(inv2.Host("c"), opts)
	hop1me := hop1
	hop1me.User = "me"
	hop2own := hop2
	hop2own.Port, hop2own.IdentityFile = 22, []string{"/target/key"}
	outerOwn := outer
	outerOwn.IdentityFile = []string{"/target/key"}
	if want := []ConnSettings{outerOwn, hop1me, hop2own}; err != nil || !reflect.DeepEqual(got.Jumps, want) {
		t.Errorf("c: %v\njumps %+v\nwant  %+v", err, got.Jumps, want)
	}

	errs := map[string]string{
		"loopa":  "ProxyJump loop: loopa -> loopb -> loopa",
		"self":   "ProxyJump loop: self -> self",
		"long":   "needs more than 8 jump hosts",
		"twice":  "goes through x@a:22 twice (hops 1 and 3): a loop",
		"badhop": `jump host badport (2 of 2): ` + opts.SSHConfig + `: Port "ssh" for host badport`,
	}
	for host, w := range errs {
		if _, err := inv.Resolve(inv.Host(host), opts); err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("%s: got %v, want %q", host, err, w)
		}
	}
}

// The classic ssh_config mistake: "Host *" with a ProxyJump that the jump host matches
// too. ssh loops for ever; hostplan names the loop.
func TestResolveJumpHostMatchesItself(t *testing.T) {
	inv := mustLoadSrc(t, "inv.hcl", "host \"web\" {}\n")
	opts := sshOpts(t, "Host *\n  ProxyJump gw\n")
	_, err := inv.Resolve(inv.Host("web"), opts)
	if err == nil || !strings.Contains(err.Error(), "ProxyJump loop: web -> gw -> gw") {
		t.Errorf("got %v", err)
	}
	// Excluding it, as ssh users must, works.
	opts = sshOpts(t, "Host * !gw\n  ProxyJump gw\n")
	got, err := inv.Resolve(inv.Host("web"), opts)
	if err != nil || len(got.Jumps) != 1 || got.Jumps[0].Address != "gw" {
		t.Errorf("got %+v %v", got, err)
	}
}
