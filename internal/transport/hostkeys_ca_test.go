package transport

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// caLine is a known_hosts @cert-authority line for pattern.
func caLine(pattern string, ca ssh.PublicKey) string {
	return "@cert-authority " + pattern + " " + strings.TrimSpace(string(ssh.MarshalAuthorizedKey(ca)))
}

// Regression (issue 15): any @cert-authority line used to switch off the choice of host
// key algorithms, so a host known only by its Ed25519 key was offered ECDSA first
// (golang/go#29286) and reported as CHANGED.
func TestHostKeyCALineKeepsAlgorithmPinning(t *testing.T) {
	keys(t)
	ed, ec := testSigner(t, "ed25519"), testSigner(t, "ecdsa")
	addr := testSSHServer(t, nil, ed, ec)
	hostport := fmt.Sprintf("127.0.0.1:%d", addr.Port)
	file := writeKnownHosts(t,
		knownhosts.Line([]string{hostport}, ed.PublicKey()),
		caLine("*.example", ecKey))
	user := testSigner(t, "ed25519")
	d := newTestDialer(t, DialerOptions{})
	t.Setenv("HOME", t.TempDir())
	keyFile := writeSignerFile(t, user)
	target := Target{Name: "ed-only", Address: "127.0.0.1", Port: addr.Port, User: "u",
		IdentityFiles: []string{keyFile}, KnownHosts: file}
	c, err := d.Dial(context.Background(), target)
	if err != nil {
		t.Fatalf("host known by its Ed25519 key, with a CA line in known_hosts: %v", err)
	}
	c.Close()

	db, err := readKnownHosts(file)
	if err != nil {
		t.Fatal(err)
	}
	if got := db.hostKeyAlgorithms(hostport); strings.Join(got, ",") != ssh.KeyAlgoED25519 {
		t.Errorf("algorithms for %s: %v, want only %s", hostport, got, ssh.KeyAlgoED25519)
	}
}

// A host that a @cert-authority line matches but that offers a plain key is unknown
// (OpenSSH asks about it), not changed: the CA key is no host key.
func TestHostKeyCAMatchedPlainKeyIsUnknown(t *testing.T) {
	keys(t)
	file := writeKnownHosts(t, caLine("*.example", ecKey))
	d := NewDialer(DialerOptions{})
	err := d.hostKeyCallback("web1", testPolicy(file, false))("web1.example:22", fakeRemote, edKey)
	var unknown *UnknownHostKeyError
	if !errors.As(err, &unknown) {
		t.Fatalf("CA-matched host with a plain key: got %T %v, want unknown", err, err)
	}
}

// testPolicy checks against file alone (no system files), strictly or accepting new keys.
func testPolicy(file string, accept bool) hostKeyPolicy {
	p := hostKeyPolicy{user: []string{file}, mode: strictYes, warn: func(string) {}}
	if accept {
		p.mode = strictAcceptNew
	}
	return p
}

// An unknown host that has Ed25519 and ECDSA keys is recorded by its Ed25519 key, as
// ssh records it (x/crypto alone would ask for ECDSA first).
func TestAcceptNewPrefersEd25519(t *testing.T) {
	ed, ec := testSigner(t, "ed25519"), testSigner(t, "ecdsa")
	addr := testSSHServer(t, nil, ec, ed)
	file := filepath.Join(t.TempDir(), "known_hosts")
	target := Target{Name: "new", Address: "127.0.0.1", Port: addr.Port, User: "u",
		IdentityFiles: []string{writeSignerFile(t, testSigner(t, "ed25519"))}, KnownHosts: file,
		SSHOptions: SSHOptions{GlobalKnownHosts: []string{"none"}}}
	c, err := newTestDialer(t, DialerOptions{AcceptNewHostKeys: true}).Dial(context.Background(), target)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	data, _ := os.ReadFile(file)
	if want := knownhosts.Line([]string{fmt.Sprintf("127.0.0.1:%d", addr.Port)}, ed.PublicKey()) + "\n"; string(data) != want {
		t.Errorf("known_hosts = %q, want %q", data, want)
	}
}
