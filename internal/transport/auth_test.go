package transport

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

type testPriv struct {
	priv ed25519.PrivateKey
	pub  ssh.PublicKey
}

func newTestPriv(t *testing.T) testPriv {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return testPriv{priv, s.PublicKey()}
}

// write stores the key in OpenSSH format, encrypted when passphrase is not empty.
func (k testPriv) write(t *testing.T, path, passphrase string) string {
	t.Helper()
	var blk *pem.Block
	var err error
	if passphrase == "" {
		blk, err = ssh.MarshalPrivateKey(k.priv, "test")
	} else {
		blk, err = ssh.MarshalPrivateKeyWithPassphrase(k.priv, "test", []byte(passphrase))
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(blk), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// startAgent serves an in-memory ssh-agent holding keys on a socket in $SSH_AUTH_SOCK.
func startAgent(t *testing.T, keys ...testPriv) {
	t.Helper()
	t.Setenv("SSH_AUTH_SOCK", serveAgent(t, keys...))
}

func pubs(signers []ssh.Signer) []string {
	var out []string
	for _, s := range signers {
		out = append(out, ssh.FingerprintSHA256(s.PublicKey()))
	}
	return out
}

func fps(keys ...testPriv) []string {
	var out []string
	for _, k := range keys {
		out = append(out, ssh.FingerprintSHA256(k.pub))
	}
	return out
}

func sameList(a, b []string) bool {
	return strings.Join(a, ",") == strings.Join(b, ",")
}

func TestSignersOrder(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	k1, k2, a1, a2, def := newTestPriv(t), newTestPriv(t), newTestPriv(t), newTestPriv(t), newTestPriv(t)
	f1 := k1.write(t, filepath.Join(home, "k1"), "")
	f2 := k2.write(t, filepath.Join(home, "k2"), "")
	def.write(t, filepath.Join(home, ".ssh", "id_ecdsa"), "") // id_ed25519 and id_rsa missing
	startAgent(t, a1, k1, a2)
	d := NewDialer(DialerOptions{})
	defer d.Close()

	// Configured files first, in order, then the agent's other keys (k1 only once).
	got, notes, err := d.signers(Target{IdentityFiles: []string{f2, f1}})
	if err != nil {
		t.Fatal(err)
	}
	if want := fps(k2, k1, a1, a2); !sameList(pubs(got), want) || len(notes) != 0 {
		t.Errorf("explicit: got %v %v, want %v", pubs(got), notes, want)
	}

	// Nothing configured: the agent first, then the default files that exist.
	got, _, err = d.signers(Target{})
	if err != nil {
		t.Fatal(err)
	}
	if want := fps(a1, k1, a2, def); !sameList(pubs(got), want) {
		t.Errorf("defaults: got %v, want %v", pubs(got), want)
	}

	// A configured file that is missing is skipped with a warning naming it (once per
	// run) and a note, as ssh does ("no such identity"); the other keys still go.
	missing := filepath.Join(home, "nope")
	var warnings []string
	dw := NewDialer(DialerOptions{Warn: func(m string) { warnings = append(warnings, m) }})
	defer dw.Close()
	for i := 0; i < 2; i++ {
		got, notes, err := dw.signers(Target{IdentityFiles: []string{missing, f1}})
		if err != nil || !sameList(pubs(got), fps(k1, a1, a2)) || len(notes) != 1 || !strings.Contains(notes[0], missing) {
			t.Errorf("missing explicit key: %v %v %v", pubs(got), notes, err)
		}
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "no such identity: identity file "+missing) {
		t.Errorf("warnings: %q", warnings)
	}
	// The default files the inventory fills in are not warned about.
	warnings = nil
	if _, _, err := dw.signers(Target{IdentityFiles: []string{"~/.ssh/id_ed25519", f1}}); err != nil || len(warnings) != 0 {
		t.Errorf("missing default key: %v %q", err, warnings)
	}
	// "~/" is expanded.
	if _, _, err := d.signers(Target{IdentityFiles: []string{"~/k1"}}); err != nil {
		t.Errorf("~/k1: %v", err)
	}
}

func TestSignersEncrypted(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("SSH_AUTH_SOCK", "")
	k := newTestPriv(t)
	enc := k.write(t, filepath.Join(home, "enc"), "secret")

	// No way to ask: a clear error.
	d := NewDialer(DialerOptions{})
	_, _, err := d.signers(Target{IdentityFiles: []string{enc}})
	if err == nil || !strings.Contains(err.Error(), "key "+enc+" is encrypted; run on a terminal to be asked for its passphrase, or load it into ssh-agent") {
		t.Errorf("no Passphrase func: %v", err)
	}

	// Asked once per run, however many hosts.
	asked := 0
	d = NewDialer(DialerOptions{Passphrase: func(file string) ([]byte, error) {
		asked++
		if file != enc {
			t.Errorf("asked for %s", file)
		}
		return []byte("secret"), nil
	}})
	for i := 0; i < 3; i++ {
		got, _, err := d.signers(Target{IdentityFiles: []string{enc}})
		if err != nil || !sameList(pubs(got), fps(k)) {
			t.Fatalf("with passphrase: %v %v", pubs(got), err)
		}
	}
	if asked != 1 {
		t.Errorf("passphrase asked %d times", asked)
	}

	// Wrong passphrase.
	d = NewDialer(DialerOptions{Passphrase: func(string) ([]byte, error) { return []byte("wrong"), nil }})
	if _, _, err := d.signers(Target{IdentityFiles: []string{enc}}); err == nil || !strings.Contains(err.Error(), "wrong passphrase") {
		t.Errorf("wrong passphrase: %v", err)
	}
	// The asking fails (e.g. ^C at the prompt).
	d = NewDialer(DialerOptions{Passphrase: func(string) ([]byte, error) { return nil, errors.New("interrupted") }})
	if _, _, err := d.signers(Target{IdentityFiles: []string{enc}}); err == nil || !strings.Contains(err.Error(), "interrupted") {
		t.Errorf("failing prompt: %v", err)
	}

	// An encrypted default key that cannot be unlocked is skipped with a note.
	k.write(t, filepath.Join(home, ".ssh", "id_ed25519"), "secret")
	d = NewDialer(DialerOptions{})
	got, notes, err := d.signers(Target{})
	if err != nil || len(got) != 0 || len(notes) != 1 || !strings.Contains(notes[0], "is encrypted") {
		t.Errorf("encrypted default: %v %v %v", pubs(got), notes, err)
	}
}

// An encrypted key the agent holds is used through the agent, without a prompt.
func TestSignersEncryptedInAgent(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	k, other := newTestPriv(t), newTestPriv(t)
	enc := k.write(t, filepath.Join(home, "enc"), "secret")
	startAgent(t, other, k)
	d := NewDialer(DialerOptions{Passphrase: func(string) ([]byte, error) {
		t.Error("passphrase asked although the agent holds the key")
		return nil, errors.New("no")
	}})
	defer d.Close()
	got, _, err := d.signers(Target{IdentityFiles: []string{enc}})
	if err != nil {
		t.Fatal(err)
	}
	if want := fps(k, other); !sameList(pubs(got), want) {
		t.Errorf("got %v, want %v", pubs(got), want)
	}
}
