package transport

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// signCert certifies key with ca: a host certificate for principals (hostnames) or,
// with certType ssh.UserCert, a user certificate for them (login names).
func signCert(t testing.TB, key ssh.PublicKey, ca ssh.Signer, certType uint32, principals ...string) *ssh.Certificate {
	t.Helper()
	cert := &ssh.Certificate{Key: key, CertType: certType, KeyId: "hostplan-test", Serial: 7,
		ValidPrincipals: principals, ValidBefore: ssh.CertTimeInfinity}
	if err := cert.SignCert(rand.Reader, ca); err != nil {
		t.Fatal(err)
	}
	return cert
}

func TestHostCertificates(t *testing.T) {
	keys(t)
	ca, otherCA := testSigner(t, "ed25519"), testSigner(t, "ecdsa")
	host := testSigner(t, "ecdsa")
	good := signCert(t, host.PublicKey(), ca, ssh.HostCert, "web1.example")
	file := writeKnownHosts(t, caLine("*.example", ca.PublicKey()),
		knownhosts.Line([]string{"plain.example"}, host.PublicKey()))
	d := NewDialer(DialerOptions{})
	check := d.hostKeyCallback("web1", testPolicy(file, false))
	if err := check("web1.example:22", fakeRemote, good); err != nil {
		t.Fatalf("certificate signed by the CA: %v", err)
	}
	// Wrong principal, wrong CA: the plain key inside is checked instead (OpenSSH's
	// retry), so a host known by that key is fine and an unknown one is unknown (and
	// says why the certificate was not enough).
	wrongName := signCert(t, host.PublicKey(), ca, ssh.HostCert, "other.example")
	if err := check("plain.example:22", fakeRemote, wrongName); err != nil {
		t.Errorf("certificate for another name, plain key known: %v", err)
	}
	for name, c := range map[string]*ssh.Certificate{
		"wrong principal": wrongName,
		"other CA":        signCert(t, host.PublicKey(), otherCA, ssh.HostCert, "web1.example"),
		"user cert":       signCert(t, host.PublicKey(), ca, ssh.UserCert, "web1.example"),
	} {
		err := check("web1.example:22", fakeRemote, c)
		var unknown *UnknownHostKeyError
		if !errors.As(err, &unknown) || unknown.CertProblem == "" || !strings.Contains(err.Error(), "certificate was not accepted") ||
			unknown.Fingerprint != ssh.FingerprintSHA256(host.PublicKey()) {
			t.Errorf("%s: got %T %v", name, err, err)
		}
	}
	// A revoked CA is refused, whatever known_hosts says about the plain key.
	revoked := writeKnownHosts(t, caLine("*.example", ca.PublicKey()),
		knownhosts.Line([]string{"web1.example"}, host.PublicKey()),
		"@revoked * "+strings.TrimSpace(string(ssh.MarshalAuthorizedKey(ca.PublicKey()))))
	err := d.hostKeyCallback("web1", testPolicy(revoked, true))("web1.example:22", fakeRemote, good)
	if err == nil || !strings.Contains(err.Error(), "@revoked") {
		t.Errorf("revoked CA: %v", err)
	}
}

// End to end over SSH: a server showing a certificate (and plain keys) is accepted
// through the CA line alone, because the certificate algorithms are asked for.
func TestHostCertificateHandshake(t *testing.T) {
	ca := testSigner(t, "ed25519")
	host := testSigner(t, "ed25519")
	cert := signCert(t, host.PublicKey(), ca, ssh.HostCert, "127.0.0.1")
	cs, err := ssh.NewCertSigner(cert, host)
	if err != nil {
		t.Fatal(err)
	}
	addr := testSSHServer(t, nil, cs, testSigner(t, "ecdsa"))
	file := writeKnownHosts(t, caLine("127.0.0.*", ca.PublicKey()), caLine(fmt.Sprintf("[127.0.0.*]:%d", addr.Port), ca.PublicKey()))
	target := Target{Name: "certhost", Address: "127.0.0.1", Port: addr.Port, User: "u",
		IdentityFiles: []string{writeSignerFile(t, testSigner(t, "ed25519"))}, KnownHosts: file,
		SSHOptions: SSHOptions{GlobalKnownHosts: []string{"none"}}}
	c, err := newTestDialer(t, DialerOptions{}).Dial(context.Background(), target)
	if err != nil {
		t.Fatalf("host with a certificate from a known CA: %v", err)
	}
	c.Close()
	// Without the CA line the host is unknown.
	target.KnownHosts = writeKnownHosts(t, "# empty")
	_, err = newTestDialer(t, DialerOptions{}).Dial(context.Background(), target)
	var unknown *UnknownHostKeyError
	if !errors.As(err, &unknown) {
		t.Errorf("without the CA: %T %v", err, err)
	}
}

func TestHostKeyPolicyFiles(t *testing.T) {
	keys(t)
	dir := t.TempDir()
	first, second := filepath.Join(dir, "first"), filepath.Join(dir, "second")
	global := writeKnownHosts(t, knownhosts.Line([]string{"g.example"}, ecKey))
	os.WriteFile(second, []byte(knownhosts.Line([]string{"s.example"}, edKey)+"\n"), 0o600)
	var warnings []string
	d := NewDialer(DialerOptions{Warn: func(m string) { warnings = append(warnings, m) }})
	target := Target{KnownHosts: first, SSHOptions: SSHOptions{UserKnownHosts: []string{second},
		GlobalKnownHosts: []string{global}}}
	pol := d.hostKeyPolicy(target)
	if got := strings.Join(pol.files(), ","); got != first+","+second+","+global {
		t.Errorf("files: %s", got)
	}
	check := d.hostKeyCallback("h", pol)
	for addr, k := range map[string]ssh.PublicKey{"s.example:22": edKey, "g.example:22": ecKey} {
		if err := check(addr, fakeRemote, k); err != nil {
			t.Errorf("%s: %v", addr, err)
		}
	}
	err := check("new.example:22", fakeRemote, edKey)
	var unknown *UnknownHostKeyError
	if !errors.As(err, &unknown) || !strings.Contains(err.Error(), second) || !strings.Contains(err.Error(), ">> "+first) {
		t.Errorf("unknown host should name every file searched and add to the first: %v", err)
	}
	// A changed key whose old entry is in the second file: the hint removes it there.
	var changed *HostKeyChangedError
	if err := check("s.example:22", fakeRemote, ecKey); !errors.As(err, &changed) || changed.KnownHosts != second ||
		!strings.Contains(err.Error(), "-f "+second) {
		t.Errorf("changed key in the second file: %v", err)
	}
	// Defaults: the system files; "none": none.
	if got := d.hostKeyPolicy(Target{KnownHosts: first}).global; strings.Join(got, ",") != "/etc/ssh/ssh_known_hosts,/etc/ssh/ssh_known_hosts2" {
		t.Errorf("default global files: %v", got)
	}
	if got := d.hostKeyPolicy(Target{KnownHosts: first, SSHOptions: SSHOptions{GlobalKnownHosts: []string{"none"}}}).global; got != nil {
		t.Errorf("GlobalKnownHostsFile none: %v", got)
	}
}

func TestStrictHostKeyChecking(t *testing.T) {
	keys(t)
	for _, c := range []struct {
		strict string
		flag   bool
		want   string
	}{
		{"", false, strictYes}, {"", true, strictAcceptNew}, {"yes", false, strictYes}, {"ask", false, strictYes},
		{"yes", true, strictAcceptNew}, {"accept-new", false, strictAcceptNew}, {"no", false, strictNo},
		{"off", true, strictNo}, {"No", false, strictNo},
	} {
		d := NewDialer(DialerOptions{AcceptNewHostKeys: c.flag})
		if got := d.hostKeyPolicy(Target{SSHOptions: SSHOptions{StrictHostKeyChecking: c.strict}}).mode; got != c.want {
			t.Errorf("StrictHostKeyChecking %q, flag %v: %s, want %s", c.strict, c.flag, got, c.want)
		}
	}

	// no: an unknown key is added to the first user file with a warning; a changed key
	// is still refused (hostplan's choice, see hostKeyCallback) and not written.
	dir := t.TempDir()
	first, second := filepath.Join(dir, "a", "first"), filepath.Join(dir, "second")
	var warnings []string
	d := NewDialer(DialerOptions{Warn: func(m string) { warnings = append(warnings, m) }})
	pol := d.hostKeyPolicy(Target{KnownHosts: first, SSHOptions: SSHOptions{UserKnownHosts: []string{second},
		GlobalKnownHosts: []string{"none"}, StrictHostKeyChecking: "no"}})
	check := d.hostKeyCallback("h", pol)
	if err := check("h.example:22", fakeRemote, edKey); err != nil {
		t.Fatalf("no, unknown host: %v", err)
	}
	data, _ := os.ReadFile(first)
	if string(data) != knownhosts.Line([]string{"h.example"}, edKey)+"\n" {
		t.Errorf("first file: %q", data)
	}
	if _, err := os.Stat(second); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("second file written: %v", err)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "StrictHostKeyChecking no") || !strings.Contains(warnings[0], ssh.FingerprintSHA256(edKey)) {
		t.Errorf("warnings: %q", warnings)
	}
	var changed *HostKeyChangedError
	if err := check("h.example:22", fakeRemote, ed2K); !errors.As(err, &changed) {
		t.Errorf("no, changed key: %T %v", err, err)
	}
	if after, _ := os.ReadFile(first); string(after) != string(data) {
		t.Errorf("changed key written: %q", after)
	}
}
