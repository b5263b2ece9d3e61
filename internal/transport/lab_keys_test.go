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
	"path/filepath"
	"strings"
	"testing"

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
