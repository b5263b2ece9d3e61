package inventory

import (
	"reflect"
	"strings"
	"testing"
)

const sshOptionsConfig = `
Host certs
  UserKnownHostsFile ~/.ssh/kh_a %d/kh_b /etc/kh_c
  GlobalKnownHostsFile /etc/ssh/ca_known_hosts ~/global_%h
  StrictHostKeyChecking accept-new
  CertificateFile ~/.ssh/%r-cert.pub
  CertificateFile /certs/%n-cert.pub
  IdentityAgent ~/.ssh/agent.%h.sock
  IdentitiesOnly yes
  IdentityFile ~/.ssh/id_%h.pub

Host noglobal
  GlobalKnownHostsFile none
  StrictHostKeyChecking No
  IdentityAgent SSH_AUTH_SOCK

Host envagent
  IdentityAgent $MY_AGENT
  IdentitiesOnly no

Host bad
  StrictHostKeyChecking sometimes
  IdentitiesOnly maybe
`

func TestResolveSSHOptions(t *testing.T) {
	inv := mustLoadSrc(t, "inv.hcl", "host \"certs\" {\n user = \"ops\"\n}\nhost \"noglobal\" {}\nhost \"envagent\" {}\nhost \"bad\" {}\n")
	opts := sshOpts(t, sshOptionsConfig)
	h := testHome
	for host, want := range map[string]SSHOptions{
		"certs": {UserKnownHosts: []string{h + "/kh_b", "/etc/kh_c"},
			GlobalKnownHosts: []string{"/etc/ssh/ca_known_hosts", h + "/global_certs"}, StrictHostKeyChecking: "accept-new",
			CertificateFiles: []string{h + "/.ssh/ops-cert.pub", "/certs/certs-cert.pub"},
			IdentityAgent:    h + "/.ssh/agent.certs.sock", IdentitiesOnly: true},
		"noglobal": {GlobalKnownHosts: []string{"none"}, StrictHostKeyChecking: "no", IdentityAgent: "SSH_AUTH_SOCK"},
		"envagent": {IdentityAgent: "$MY_AGENT"},
		"bad":      {},
	} {
		got, err := inv.Resolve(inv.Host(host), opts)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got.SSHOptions, want) {
			t.Errorf("%s:\ngot  %+v\nwant %+v", host, got.SSHOptions, want)
		}
		if host == "certs" && (got.KnownHosts != h+"/.ssh/kh_a" || !reflect.DeepEqual(got.IdentityFile, []string{h + "/.ssh/id_certs.pub"})) {
			t.Errorf("certs: KnownHosts %s, IdentityFile %v", got.KnownHosts, got.IdentityFile)
		}
	}
	w := strings.Join(inv.Warnings, "\n")
	if !strings.Contains(w, `StrictHostKeyChecking "sometimes" for host bad`) || !strings.Contains(w, `IdentitiesOnly "maybe" for host bad`) {
		t.Errorf("warnings:\n%s", w)
	}
}
