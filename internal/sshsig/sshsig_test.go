package sshsig

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

const ns = "hostplan-plan"

// newKey makes a key with ssh-keygen and returns its private key path and signer.
func newKey(t *testing.T, keyType string) (string, ssh.Signer) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "id_"+keyType)
	if out, err := exec.Command("ssh-keygen", "-q", "-t", keyType, "-N", "", "-C", "tester", "-f", path).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen -t %s: %v\n%s", keyType, err, out)
	}
	pem, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.ParsePrivateKey(pem)
	if err != nil {
		t.Fatal(err)
	}
	return path, signer
}

func needSSHKeygen(t *testing.T) {
	if _, err := exec.LookPath("ssh-keygen"); err != nil {
		t.Skip("ssh-keygen is not installed (openssh-client)")
	}
}

// keygenVerify runs `ssh-keygen -Y verify` as a reviewer would.
func keygenVerify(t *testing.T, pub ssh.PublicKey, namespace string, msg, sig []byte) error {
	t.Helper()
	dir := t.TempDir()
	allowed := filepath.Join(dir, "allowed_signers")
	line := "ops@example.org " + string(ssh.MarshalAuthorizedKey(pub))
	if err := os.WriteFile(allowed, []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
	sigPath := filepath.Join(dir, "msg.sig")
	if err := os.WriteFile(sigPath, sig, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("ssh-keygen", "-Y", "verify", "-f", allowed, "-I", "ops@example.org", "-n", namespace, "-s", sigPath)
	cmd.Stdin = bytes.NewReader(msg)
	if out, err := cmd.CombinedOutput(); err != nil {
		return errors.New(strings.TrimSpace(string(out)))
	}
	return nil
}

func TestSignVerifiesWithSSHKeygen(t *testing.T) {
	needSSHKeygen(t)
	msg := []byte("{\"format\": \"hostplan-plan\"}\n")
	for _, kt := range []string{"ed25519", "ecdsa", "rsa"} {
		t.Run(kt, func(t *testing.T) {
			_, signer := newKey(t, kt)
			sig, err := Sign(signer, ns, msg)
			if err != nil {
				t.Fatal(err)
			}
			if err := keygenVerify(t, signer.PublicKey(), ns, msg, sig); err != nil {
				t.Errorf("ssh-keygen -Y verify refused our signature: %v\n%s", err, sig)
			}
			if err := keygenVerify(t, signer.PublicKey(), ns, append(msg, ' '), sig); err == nil {
				t.Errorf("ssh-keygen -Y verify accepted our signature of another message")
			}
			if err := keygenVerify(t, signer.PublicKey(), "git", msg, sig); err == nil {
				t.Errorf("ssh-keygen -Y verify accepted our signature for another namespace")
			}
		})
	}
}

func TestVerifySSHKeygenSignature(t *testing.T) {
	needSSHKeygen(t)
	for _, kt := range []string{"ed25519", "ecdsa", "rsa"} {
		t.Run(kt, func(t *testing.T) {
			key, signer := newKey(t, kt)
			file := filepath.Join(t.TempDir(), "change.plan")
			msg := []byte("the reviewed plan\n")
			if err := os.WriteFile(file, msg, 0o600); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command("ssh-keygen", "-Y", "sign", "-f", key, "-n", ns, file).CombinedOutput(); err != nil {
				t.Fatalf("ssh-keygen -Y sign: %v\n%s", err, out)
			}
			armored, err := os.ReadFile(file + ".sig")
			if err != nil {
				t.Fatal(err)
			}
			s, err := Parse(armored)
			if err != nil {
				t.Fatal(err)
			}
			if ssh.FingerprintSHA256(s.PublicKey) != ssh.FingerprintSHA256(signer.PublicKey()) {
				t.Errorf("signature key %s, want %s", ssh.FingerprintSHA256(s.PublicKey), ssh.FingerprintSHA256(signer.PublicKey()))
			}
			if err := s.Verify(ns, msg); err != nil {
				t.Errorf("Verify: %v", err)
			}
			if err := s.Verify(ns, []byte("the reviewed plaN\n")); !errors.Is(err, ErrBadSignature) {
				t.Errorf("Verify of an edited message: %v, want ErrBadSignature", err)
			}
			if err := s.Verify("git", msg); err == nil || !strings.Contains(err.Error(), `namespace "hostplan-plan", not "git"`) {
				t.Errorf("Verify for another namespace: %v", err)
			}
		})
	}
}

func TestParseRefusesMalformed(t *testing.T) {
	_, signer := newTestSigner(t)
	good, err := Sign(signer, ns, []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(good), "\n")
	for _, tc := range []struct{ name, text, want string }{
		{"empty", "", "not an SSH signature"},
		{"no end", strings.Join(lines[:len(lines)-2], "\n"), "truncated"},
		{"bad base64", beginArmor + "\n!!!\n" + endArmor, "corrupt"},
		{"short blob", beginArmor + "\nU1NIU0lH\n" + endArmor, "corrupt"},
		{"not sshsig", beginArmor + "\nQUJDREVGCg==\n" + endArmor, "no SSHSIG preamble"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Parse([]byte(tc.text)); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Parse: %v, want %q", err, tc.want)
			}
		})
	}
	if _, err := Sign(signer, "", []byte("x")); err == nil {
		t.Error("Sign with no namespace succeeded")
	}
}
