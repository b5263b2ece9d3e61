package transport

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// serveAgent serves an in-memory ssh-agent holding keys on a new socket, returned.
func serveAgent(t *testing.T, keys ...testPriv) string {
	t.Helper()
	ring := agent.NewKeyring()
	for _, k := range keys {
		if err := ring.Add(agent.AddedKey{PrivateKey: k.priv}); err != nil {
			t.Fatal(err)
		}
	}
	sock := filepath.Join(t.TempDir(), "agent.sock")
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
				agent.ServeAgent(ring, c)
				c.Close()
			}()
		}
	}()
	return sock
}

func writePub(t *testing.T, path string, k ssh.PublicKey) string {
	t.Helper()
	if err := os.WriteFile(path, ssh.MarshalAuthorizedKey(k), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestIdentityAgent(t *testing.T) {
	t.Setenv("HOME", t.TempDir()) // no default key files
	def, custom := newTestPriv(t), newTestPriv(t)
	startAgent(t, def)
	sock := serveAgent(t, custom)
	t.Setenv("HOSTPLAN_TEST_SOCK", sock)
	d := NewDialer(DialerOptions{})
	defer d.Close()
	for agentOpt, want := range map[string][]string{
		"":                      fps(def),
		"SSH_AUTH_SOCK":         fps(def),
		sock:                    fps(custom),
		"$HOSTPLAN_TEST_SOCK":   fps(custom),
		"${HOSTPLAN_TEST_SOCK}": fps(custom),
		"$HOSTPLAN_UNSET_SOCK":  nil,
		"none":                  nil,
	} {
		got, _, err := d.signers(Target{SSHOptions: SSHOptions{IdentityAgent: agentOpt}})
		if err != nil || !sameList(pubs(got), want) {
			t.Errorf("IdentityAgent %q: got %v %v, want %v", agentOpt, pubs(got), err, want)
		}
	}
	// An unusable socket is no agent, with a note naming it.
	bad := filepath.Join(t.TempDir(), "gone.sock")
	got, notes, err := d.signers(Target{SSHOptions: SSHOptions{IdentityAgent: bad}})
	if err != nil || len(got) != 0 || len(notes) != 1 || !strings.Contains(notes[0], "IdentityAgent "+bad) {
		t.Errorf("unusable socket: %v %v %v", pubs(got), notes, err)
	}
}

func TestIdentitiesOnly(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	k1, k2, a1, a2 := newTestPriv(t), newTestPriv(t), newTestPriv(t), newTestPriv(t)
	sock := serveAgent(t, a1, k1, a2)
	pub1 := writePub(t, filepath.Join(home, "k1.pub"), k1.pub)
	f2 := k2.write(t, filepath.Join(home, "k2"), "")
	d := NewDialer(DialerOptions{})
	defer d.Close()
	for _, c := range []struct {
		files []string
		only  bool
		want  []string
	}{
		// A .pub file selects that key in the agent.
		{[]string{pub1}, true, fps(k1)},
		{[]string{pub1}, false, fps(k1, a1, a2)},
		{[]string{f2}, true, fps(k2)},
		{[]string{f2, pub1}, true, fps(k2, k1)},
		{[]string{f2}, false, fps(k2, a1, k1, a2)},
	} {
		got, notes, err := d.signers(Target{IdentityFiles: c.files, SSHOptions: SSHOptions{IdentityAgent: sock, IdentitiesOnly: c.only}})
		if err != nil || !sameList(pubs(got), c.want) || len(notes) != 0 {
			t.Errorf("files %v IdentitiesOnly %v: got %v %v %v, want %v", c.files, c.only, pubs(got), notes, err, c.want)
		}
	}
	// A .pub whose key the agent lacks is noted, not fatal.
	other := writePub(t, filepath.Join(home, "other.pub"), newTestPriv(t).pub)
	got, notes, err := d.signers(Target{IdentityFiles: []string{other, f2}, SSHOptions: SSHOptions{IdentityAgent: sock, IdentitiesOnly: true}})
	if err != nil || !sameList(pubs(got), fps(k2)) || len(notes) != 1 || !strings.Contains(notes[0], "is a public key and the agent does not hold") {
		t.Errorf(".pub not in the agent: %v %v %v", pubs(got), notes, err)
	}
}

func TestUserCertificates(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	ca := testSigner(t, "ed25519")
	k1, a1, stray := newTestPriv(t), newTestPriv(t), newTestPriv(t)
	sock := serveAgent(t, a1)
	f1 := k1.write(t, filepath.Join(home, "id_k1"), "")
	cert1 := signCert(t, k1.pub, ca, ssh.UserCert, "u")
	writePub(t, f1+"-cert.pub", cert1)
	certA := signCert(t, a1.pub, ca, ssh.UserCert, "u")
	certAFile := writePub(t, filepath.Join(home, "agent-cert.pub"), certA)
	strayFile := writePub(t, filepath.Join(home, "stray-cert.pub"), signCert(t, stray.pub, ca, ssh.UserCert, "u"))
	var warnings []string
	d := NewDialer(DialerOptions{Warn: func(m string) { warnings = append(warnings, m) }})
	defer d.Close()
	got, notes, err := d.signers(Target{IdentityFiles: []string{f1}, SSHOptions: SSHOptions{IdentityAgent: sock,
		CertificateFiles: []string{certAFile, strayFile}}})
	want := []string{ssh.FingerprintSHA256(cert1), ssh.FingerprintSHA256(k1.pub), ssh.FingerprintSHA256(certA), ssh.FingerprintSHA256(a1.pub)}
	if err != nil || !sameList(pubs(got), want) {
		t.Fatalf("got %v %v, want %v", pubs(got), err, want)
	}
	if _, ok := got[0].PublicKey().(*ssh.Certificate); !ok {
		t.Errorf("first signer is not a certificate signer")
	}
	if len(notes) != 1 || len(warnings) != 1 || !strings.Contains(warnings[0], strayFile+" certifies none of the keys") {
		t.Errorf("stray certificate: notes %q warnings %q", notes, warnings)
	}
}

// End to end: a server that accepts only certificates from its user CA lets in the key
// whose KEY-cert.pub lies beside it, and refuses the same key without it.
func TestUserCertificateHandshake(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	ca := testSigner(t, "ed25519")
	checker := &ssh.CertChecker{IsUserAuthority: func(auth ssh.PublicKey) bool {
		return bytes.Equal(auth.Marshal(), ca.PublicKey().Marshal())
	}}
	accept := func(k ssh.PublicKey) bool {
		c, ok := k.(*ssh.Certificate)
		return ok && checker.CheckCert("u", c) == nil
	}
	host := testSigner(t, "ed25519")
	addr := testSSHServer(t, accept, host)
	kh := writeKnownHosts(t, caLine("x", ca.PublicKey()), strings.TrimSpace(
		"[127.0.0.1]:"+itoa(addr.Port)+" "+string(ssh.MarshalAuthorizedKey(host.PublicKey()))))
	k := newTestPriv(t)
	f := k.write(t, filepath.Join(home, "id_user"), "")
	target := Target{Name: "cert-only", Address: "127.0.0.1", Port: addr.Port, User: "u", IdentityFiles: []string{f},
		KnownHosts: kh, SSHOptions: SSHOptions{GlobalKnownHosts: []string{"none"}, IdentityAgent: "none"}}
	if _, err := newTestDialer(t, DialerOptions{}).Dial(context.Background(), target); err == nil || !strings.Contains(err.Error(), "authentication as u failed") {
		t.Fatalf("without a certificate: %v", err)
	}
	writePub(t, f+"-cert.pub", signCert(t, k.pub, ca, ssh.UserCert, "u"))
	c, err := newTestDialer(t, DialerOptions{}).Dial(context.Background(), target)
	if err != nil {
		t.Fatalf("with KEY-cert.pub: %v", err)
	}
	c.Close()
}
