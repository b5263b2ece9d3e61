package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"github.com/hostplan/hostplan/internal/lab"
)

// TestLabSSHConfigKeys (issue 15): ~/.ssh/config alone says how to authenticate and
// check host keys, end to end through the CLI: IdentityAgent (an agent on a socket of
// its own, holding the lab key and a key sshd refuses), IdentitiesOnly with an
// IdentityFile naming a .pub, several UserKnownHostsFile files and
// StrictHostKeyChecking no (the new key lands in the first file, with a warning).
func TestLabSSHConfigKeys(t *testing.T) {
	l := lab.ForTest(t, lab.Options{Hosts: 1})
	h := l.Hosts[0]
	dir := t.TempDir()
	_, wrongPriv, _ := ed25519.GenerateKey(rand.Reader)
	wrong, _ := ssh.NewSignerFromKey(wrongPriv)
	sock := serveTestAgent(t, dir, wrongPriv, l.UserKey)
	labPub := filepath.Join(dir, "lab.pub")
	wrongPub := filepath.Join(dir, "wrong.pub")
	os.WriteFile(labPub, ssh.MarshalAuthorizedKey(l.Signer().PublicKey()), 0o644)
	os.WriteFile(wrongPub, ssh.MarshalAuthorizedKey(wrong.PublicKey()), 0o644)
	newKH := filepath.Join(dir, "new", "known_hosts")
	config := func(pub, strict string) string {
		return fmt.Sprintf("Host %s\n  UserKnownHostsFile %s %s\n  GlobalKnownHostsFile none\n  StrictHostKeyChecking %s\n"+
			"  IdentityAgent %s\n  IdentitiesOnly yes\n  IdentityFile %s\n", h.Address, newKH, filepath.Join(dir, "none_kh"), strict, sock, pub)
	}
	files := map[string]string{
		"inv.hcl": fmt.Sprintf("host %q {\n  address = %q\n  port = %d\n  user = %q\n}\n", h.Name, h.Address, h.Port, lab.SudoUser),
		"plan/main.hcl": `
task "t" {
  on = ["all"]
  command "hello" {
    run = "true"
  }
}`,
		"wrong_config":  config(wrongPub, "no"),
		"strict_config": config(labPub, "yes"),
		"no_config":     config(labPub, "no"),
	}
	d := writeFiles(t, files)
	inv, planDir := filepath.Join(d, "inv.hcl"), filepath.Join(d, "plan")

	// IdentitiesOnly: only the wrong key is offered, although the agent holds the right one.
	r := hostplan(t, "plan", "--ssh-config", filepath.Join(d, "wrong_config"), "-i", inv, planDir)
	if r.code == exitOK || r.code == exitChanges || !strings.Contains(r.stderr+r.stdout, "offered 1 key(s)") {
		t.Fatalf("IdentitiesOnly with the wrong key:\n%s", r)
	}
	os.Remove(newKH) // the refused run may have added the host key already
	// Strict: the host is in neither known_hosts file.
	r = hostplan(t, "plan", "--ssh-config", filepath.Join(d, "strict_config"), "-i", inv, planDir)
	if r.code == exitOK || r.code == exitChanges || !strings.Contains(r.stderr+r.stdout, "unknown host key") {
		t.Fatalf("StrictHostKeyChecking yes, unknown host:\n%s", r)
	}
	// no: accepted with a warning and written to the first file; then known.
	r = hostplan(t, "plan", "--ssh-config", filepath.Join(d, "no_config"), "-i", inv, planDir)
	if r.code != exitChanges || !strings.Contains(r.stderr, "Warning: StrictHostKeyChecking no: the host key of "+h.Name) {
		t.Fatalf("StrictHostKeyChecking no:\n%s", r)
	}
	if data, err := os.ReadFile(newKH); err != nil || !strings.HasPrefix(string(data), fmt.Sprintf("[%s]:%d ", h.Address, h.Port)) {
		t.Fatalf("first known_hosts file: %q %v", data, err)
	}
	r = hostplan(t, "plan", "--ssh-config", filepath.Join(d, "strict_config"), "-i", inv, planDir)
	if r.code != exitChanges || strings.Contains(r.stderr, "Warning") {
		t.Fatalf("strict, after the key was added:\n%s", r)
	}
}

// serveTestAgent serves an in-process ssh-agent on dir/agent.sock holding priv and the
// private key in keyFile.
func serveTestAgent(t *testing.T, dir string, priv ed25519.PrivateKey, keyFile string) string {
	t.Helper()
	ring := agent.NewKeyring()
	pem, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	labKey, err := ssh.ParseRawPrivateKey(pem)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []any{priv, labKey} {
		if err := ring.Add(agent.AddedKey{PrivateKey: k}); err != nil {
			t.Fatal(err)
		}
	}
	sock := filepath.Join(dir, "agent.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				agent.ServeAgent(ring, c)
			}()
		}
	}()
	return sock
}
