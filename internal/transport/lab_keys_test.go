package transport

// Lab tests of issue 15 against real OpenSSH: host certificates (sshd's HostCertificate),
// user certificates (TrustedUserCAKeys), and an agent at a custom IdentityAgent socket.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/hostplan/hostplan/internal/lab"
)

// certLab starts a one-host lab whose sshd offers Dir/h1/ssh_host_ed25519_key-cert.pub
// as its host certificate and trusts the user CA in Dir/h1/user_ca.pub, when those
// files exist (sshd logs and ignores a missing one; the test writes them after Start,
// as sshd -i reads them for each connection).
func certLab(t *testing.T) (*lab.Lab, *lab.Host) {
	t.Helper()
	t.Parallel()
	b := make([]byte, 3)
	rand.Read(b)
	name := "hk" + hex.EncodeToString(b)
	h1 := filepath.Join(lab.DefaultRoot, name, "h1")
	cfg := fmt.Sprintf("HostCertificate %s/ssh_host_ed25519_key-cert.pub\nTrustedUserCAKeys %s/user_ca.pub\n", h1, h1)
	l := lab.ForTest(t, lab.Options{Hosts: 1, Name: name, SSHDConfig: cfg})
	if l.Dir != filepath.Join(lab.DefaultRoot, name) {
		t.Fatalf("lab dir %s, want %s", l.Dir, filepath.Join(lab.DefaultRoot, name))
	}
	return l, l.Hosts[0]
}

func writeAuthorizedKey(t *testing.T, path string, k ssh.PublicKey) {
	t.Helper()
	if err := os.WriteFile(path, ssh.MarshalAuthorizedKey(k), 0o644); err != nil {
		t.Fatal(err)
	}
}

// A host certificate signed by a CA that known_hosts trusts (@cert-authority with a
// wildcard pattern) is accepted with no plain key in known_hosts; a certificate from
// another CA leaves the host unknown, saying why.
func TestLabHostCertificate(t *testing.T) {
	l, h := certLab(t)
	ca := testSigner(t, "ed25519")
	hostKey := h.HostKeys()[0]
	if hostKey.Type() != ssh.KeyAlgoED25519 {
		t.Fatalf("first lab host key is %s", hostKey.Type())
	}
	writeAuthorizedKey(t, filepath.Join(l.Dir, "h1", "ssh_host_ed25519_key-cert.pub"),
		signCert(t, hostKey, ca, ssh.HostCert, h.Address))
	dir := t.TempDir()
	kh := filepath.Join(dir, "known_hosts")
	os.WriteFile(kh, []byte(caLine(fmt.Sprintf("[127.0.1.*]:%d", h.Port), ca.PublicKey())+"\n"), 0o600)
	target := labTarget(l, h, "labuser")
	target.KnownHosts = kh
	target.GlobalKnownHosts = []string{"none"}
	c := mustDial(t, newTestDialer(t, DialerOptions{}), target)
	if out, err := c.Run(context.Background(), "echo certified", nil); err != nil || strings.TrimSpace(string(out.Stdout)) != "certified" {
		t.Fatalf("run over the certified connection: %q %v", out.Stdout, err)
	}
	c.Close()

	// Another CA signed it: the plain key is checked instead and is unknown.
	writeAuthorizedKey(t, filepath.Join(l.Dir, "h1", "ssh_host_ed25519_key-cert.pub"),
		signCert(t, hostKey, testSigner(t, "ed25519"), ssh.HostCert, h.Address))
	_, err := newTestDialer(t, DialerOptions{}).Dial(context.Background(), target)
	var unknown *UnknownHostKeyError
	if !errors.As(err, &unknown) || unknown.CertProblem == "" || unknown.Fingerprint != ssh.FingerprintSHA256(hostKey) {
		t.Fatalf("certificate from an unknown CA: %T %v", err, err)
	}
}

// A user certificate signed by the CA in sshd's TrustedUserCAKeys logs in with a key
// that is in no authorized_keys: as KEY-cert.pub beside the key, or named by
// CertificateFile. Without it the same key is refused.
func TestLabUserCertificate(t *testing.T) {
	l, h := certLab(t)
	ca := testSigner(t, "ed25519")
	writeAuthorizedKey(t, filepath.Join(l.Dir, "h1", "user_ca.pub"), ca.PublicKey())
	dir := t.TempDir()
	k := newTestPriv(t)
	keyFile := k.write(t, filepath.Join(dir, "id_user"), "")
	target := labTarget(l, h, "labuser")
	target.IdentityFiles = []string{keyFile}
	target.IdentityAgent = "none"
	_, err := newTestDialer(t, DialerOptions{}).Dial(context.Background(), target)
	if err == nil || !strings.Contains(err.Error(), "authentication as labuser failed") {
		t.Fatalf("key without certificate: %v", err)
	}

	cert := signCert(t, k.pub, ca, ssh.UserCert, "labuser")
	// CertificateFile elsewhere.
	other := filepath.Join(dir, "certs", "labuser-cert.pub")
	os.MkdirAll(filepath.Dir(other), 0o700)
	writeAuthorizedKey(t, other, cert)
	target.CertificateFiles = []string{other}
	c := mustDial(t, newTestDialer(t, DialerOptions{}), target)
	if out, err := c.Run(context.Background(), "id -un", nil); err != nil || strings.TrimSpace(string(out.Stdout)) != "labuser" {
		t.Fatalf("id -un with CertificateFile: %q %v", out.Stdout, err)
	}
	c.Close()
	// KEY-cert.pub beside the key.
	target.CertificateFiles = nil
	writeAuthorizedKey(t, keyFile+"-cert.pub", cert)
	c = mustDial(t, newTestDialer(t, DialerOptions{}), target)
	c.Close()
	// A certificate for another login is refused by sshd.
	writeAuthorizedKey(t, keyFile+"-cert.pub", signCert(t, k.pub, ca, ssh.UserCert, "root"))
	if _, err := newTestDialer(t, DialerOptions{}).Dial(context.Background(), target); err == nil {
		t.Fatal("a certificate for root logged in as labuser")
	}
}

// startSSHAgent runs OpenSSH's ssh-agent on a socket of its own (not $SSH_AUTH_SOCK)
// holding the given key files, or an in-process agent when ssh-agent is missing.
func startSSHAgent(t *testing.T, keys []testPriv, files []string) string {
	t.Helper()
	if _, err := exec.LookPath("ssh-agent"); err != nil {
		t.Logf("no ssh-agent binary: using x/crypto's agent")
		return serveAgent(t, keys...)
	}
	sock := filepath.Join(t.TempDir(), "agent.sock")
	cmd := exec.Command("ssh-agent", "-D", "-a", sock)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for i := 0; ; i++ {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		if i == 100 {
			t.Fatal("ssh-agent did not create its socket")
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, f := range files {
		add := exec.Command("ssh-add", f)
		add.Env = append(os.Environ(), "SSH_AUTH_SOCK="+sock)
		if out, err := add.CombinedOutput(); err != nil {
			t.Fatalf("ssh-add %s: %v\n%s", f, err, out)
		}
	}
	return sock
}

// An agent at a custom IdentityAgent socket holds the lab key and a key sshd does not
// accept. IdentityFile naming a .pub selects the agent key; with IdentitiesOnly only
// that key is offered, so naming the wrong key fails, while without IdentitiesOnly the
// agent's other key still gets in.
func TestLabIdentityAgentIdentitiesOnly(t *testing.T) {
	l := startLab(t, 1)
	h := l.Hosts[0]
	dir := t.TempDir()
	wrong := newTestPriv(t)
	wrongFile := wrong.write(t, filepath.Join(dir, "id_wrong"), "")
	sock := startSSHAgent(t, nil, []string{wrongFile, l.UserKey})
	if len(l.UserKey) == 0 {
		t.Fatal("no lab key")
	}
	labPub := writePub(t, filepath.Join(dir, "lab.pub"), l.Signer().PublicKey())
	wrongPub := writePub(t, filepath.Join(dir, "wrong.pub"), wrong.pub)
	os.Remove(wrongFile) // only the agent has the private keys now

	target := labTarget(l, h, "labuser")
	target.IdentityAgent = sock
	target.IdentitiesOnly = true
	target.IdentityFiles = []string{labPub}
	c := mustDial(t, newTestDialer(t, DialerOptions{}), target)
	if out, err := c.Run(context.Background(), "id -un", nil); err != nil || strings.TrimSpace(string(out.Stdout)) != "labuser" {
		t.Fatalf("id -un: %q %v", out.Stdout, err)
	}
	c.Close()

	target.IdentityFiles = []string{wrongPub}
	_, err := newTestDialer(t, DialerOptions{}).Dial(context.Background(), target)
	if err == nil || !strings.Contains(err.Error(), "offered 1 key(s)") {
		t.Fatalf("IdentitiesOnly with the wrong key: %v", err)
	}
	target.IdentitiesOnly = false
	c = mustDial(t, newTestDialer(t, DialerOptions{}), target)
	c.Close()
}
