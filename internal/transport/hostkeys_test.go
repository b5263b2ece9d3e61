package transport

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

func testKey(t testing.TB, kind string) ssh.PublicKey {
	t.Helper()
	return testSigner(t, kind).PublicKey()
}

func testPrivKey(t testing.TB, kind string) any {
	t.Helper()
	var priv any
	var err error
	switch kind {
	case "ed25519":
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	case "ecdsa":
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "rsa":
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	default:
		t.Fatalf("unknown key kind %q", kind)
	}
	if err != nil {
		t.Fatal(err)
	}
	return priv
}

var (
	keysOnce                   sync.Once
	edKey, ecKey, rsaKey, ed2K ssh.PublicKey
)

func keys(t testing.TB) {
	keysOnce.Do(func() {
		edKey, ecKey, rsaKey, ed2K = testKey(t, "ed25519"), testKey(t, "ecdsa"), testKey(t, "rsa"), testKey(t, "ed25519")
	})
}

func writeKnownHosts(t testing.TB, lines ...string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(f, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestHostKeyAlgorithms(t *testing.T) {
	keys(t)
	file := writeKnownHosts(t,
		"# comment",
		knownhosts.Line([]string{"ed.example:22"}, edKey),
		knownhosts.Line([]string{"[10.0.0.1]:2222"}, edKey),
		knownhosts.Line([]string{"[10.0.0.1]:2222"}, ecKey),
		knownhosts.Line([]string{"rsa.example"}, rsaKey),
		"|1|"+strings.TrimPrefix(knownhosts.HashHostname("hashed.example"), "|1|")+" "+strings.SplitN(knownhosts.Line([]string{"x"}, ecKey), " ", 2)[1],
		"*.wild.example "+strings.SplitN(knownhosts.Line([]string{"x"}, rsaKey), " ", 2)[1],
	)
	db, err := readKnownHosts(file)
	if err != nil {
		t.Fatal(err)
	}
	// What known_hosts knows nothing about gets every plain type, Ed25519 first (as ssh),
	// not x/crypto's default (ECDSA first).
	all := plainHostKeyAlgorithms()
	for _, c := range []struct {
		addr string
		want []string
	}{
		{"ed.example:22", []string{"ssh-ed25519"}},
		// Port 2222 entries do not match port 22 and vice versa.
		{"ed.example:2222", all},
		{"10.0.0.1:2222", []string{"ssh-ed25519", "ecdsa-sha2-nistp256"}},
		{"10.0.0.1:22", all},
		{"rsa.example:22", []string{"rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"}},
		{"hashed.example:22", []string{"ecdsa-sha2-nistp256"}},
		{"a.wild.example:22", []string{"rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"}},
		{"unknown.example:22", all},
	} {
		if got := db.hostKeyAlgorithms(c.addr); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: got %v, want %v", c.addr, got, c.want)
		}
	}

	// A @cert-authority line adds the certificate algorithms first for the hosts it
	// matches, and changes nothing for the others.
	ca := writeKnownHosts(t,
		knownhosts.Line([]string{"ed.example", "ed.other.org"}, edKey),
		"@cert-authority *.example "+strings.SplitN(knownhosts.Line([]string{"x"}, ecKey), " ", 2)[1])
	db, err = readKnownHosts(ca)
	if err != nil {
		t.Fatal(err)
	}
	certs := strings.Join(certHostKeyAlgorithms, ",")
	for addr, want := range map[string]string{
		"ed.example:22":   certs + ",ssh-ed25519",
		"ed.other.org:22": "ssh-ed25519",
		"ca.example:22":   certs + "," + strings.Join(plainHostKeyAlgorithms(), ","),
		"x.other.org:22":  strings.Join(plainHostKeyAlgorithms(), ","),
	} {
		if got := strings.Join(db.hostKeyAlgorithms(addr), ","); got != want {
			t.Errorf("with a CA, %s: got %v, want %v", addr, got, want)
		}
	}

	// A missing file is an empty one.
	db, err = readKnownHosts(filepath.Join(t.TempDir(), "nope", "known_hosts"))
	if err != nil {
		t.Fatal(err)
	}
	if got := db.hostKeyAlgorithms("ed.example:22"); !reflect.DeepEqual(got, all) {
		t.Errorf("missing file: got %v", got)
	}
}

func TestAlgorithmsForKeyTypes(t *testing.T) {
	got := algorithmsForKeyTypes([]string{"ssh-rsa", "ssh-ed25519", "sk-ssh-ed25519@openssh.com", "ssh-rsa"})
	want := []string{"ssh-ed25519", "rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if got := algorithmsForKeyTypes([]string{"sk-ssh-ed25519@openssh.com"}); got != nil {
		t.Errorf("unsupported only: got %v", got)
	}
}

var fakeRemote = &net.TCPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 2222}

func TestHostKeyClassification(t *testing.T) {
	keys(t)
	file := writeKnownHosts(t,
		"# first line is a comment",
		knownhosts.Line([]string{"[10.0.0.1]:2222"}, edKey),
		"@revoked * "+strings.SplitN(knownhosts.Line([]string{"x"}, rsaKey), " ", 2)[1],
	)
	d := NewDialer(DialerOptions{})
	check := d.hostKeyCallback("web1", testPolicy(file, false))

	if err := check("10.0.0.1:2222", fakeRemote, edKey); err != nil {
		t.Fatalf("known key refused: %v", err)
	}

	// Unknown host: fingerprint, type, and both ways to accept it.
	err := check("10.0.0.2:2222", fakeRemote, ecKey)
	var unknown *UnknownHostKeyError
	if !errors.As(err, &unknown) {
		t.Fatalf("unknown host: got %T %v", err, err)
	}
	msg := err.Error()
	for _, want := range []string{"web1", ssh.FingerprintSHA256(ecKey), "ecdsa-sha2-nistp256", "--accept-new-host-keys",
		"ssh-keyscan -p 2222 10.0.0.2 >> " + file} {
		if !strings.Contains(msg, want) {
			t.Errorf("unknown host message lacks %q: %s", want, msg)
		}
	}

	// Behind bastions the scan must run on the last one: from here the address may be
	// another machine, or this one.
	for chain, want := range map[string]string{
		"jump":         "ssh jump ssh-keyscan -p 2222 10.0.0.2 >> " + file,
		"a,ops@b:2200": "ssh -J a ops@b:2200 ssh-keyscan -p 2222 10.0.0.2 >> " + file,
	} {
		unknown.Via = chain
		if msg := unknown.Error(); !strings.Contains(msg, want) || strings.Contains(msg, "add it with: ssh-keyscan") {
			t.Errorf("behind %s the hint is not %q: %s", chain, want, msg)
		}
	}

	// Changed key (same type, and another type): names file and line of the old entry.
	for _, k := range []ssh.PublicKey{ed2K, ecKey} {
		err = check("10.0.0.1:2222", fakeRemote, k)
		var changed *HostKeyChangedError
		if !errors.As(err, &changed) {
			t.Fatalf("changed key: got %T %v", err, err)
		}
		msg = err.Error()
		for _, want := range []string{"HOST KEY CHANGED", "web1", fmt.Sprintf("%s:2", file), ssh.FingerprintSHA256(edKey), ssh.FingerprintSHA256(k)} {
			if !strings.Contains(msg, want) {
				t.Errorf("changed key message lacks %q: %s", want, msg)
			}
		}
	}

	// Revoked key.
	err = check("10.0.0.9:22", fakeRemote, rsaKey)
	if err == nil || !strings.Contains(err.Error(), "@revoked") || !strings.Contains(err.Error(), file+":3") {
		t.Errorf("revoked: %v", err)
	}
}

func TestHostKeyAcceptNew(t *testing.T) {
	keys(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "sub", "known_hosts") // neither dir nor file exist yet
	d := NewDialer(DialerOptions{AcceptNewHostKeys: true})
	accept := d.hostKeyCallback("web1", testPolicy(file, true))
	strict := d.hostKeyCallback("web1", testPolicy(file, false))

	if err := strict("10.0.0.1:2222", fakeRemote, edKey); err == nil {
		t.Fatal("strict check accepted an unknown host")
	}
	if err := accept("10.0.0.1:2222", fakeRemote, edKey); err != nil {
		t.Fatalf("accept-new: %v", err)
	}
	if err := strict("10.0.0.1:2222", fakeRemote, edKey); err != nil {
		t.Fatalf("strict after accept: %v", err)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if want := knownhosts.Line([]string{"[10.0.0.1]:2222"}, edKey) + "\n"; string(data) != want {
		t.Errorf("known_hosts = %q, want %q", data, want)
	}
	// A changed key is refused even when accepting new keys, and the file is untouched.
	var changed *HostKeyChangedError
	if err := accept("10.0.0.1:2222", fakeRemote, ed2K); !errors.As(err, &changed) {
		t.Errorf("accept-new took a changed key: %v", err)
	}
	if after, _ := os.ReadFile(file); string(after) != string(data) {
		t.Errorf("known_hosts changed: %q", after)
	}

	// Concurrent accepts of many hosts: every line whole, each host once.
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			if err := accept(fmt.Sprintf("10.1.0.%d:22", i), fakeRemote, edKey); err != nil {
				t.Error(err)
			}
		}(i)
	}
	wg.Wait()
	db, err := readKnownHosts(file)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		if err := db.check(fmt.Sprintf("10.1.0.%d:22", i), fakeRemote, edKey); err != nil {
			t.Errorf("host %d: %v", i, err)
		}
	}

	// A file without a final newline gets one before the new line.
	file2 := filepath.Join(dir, "kh2")
	os.WriteFile(file2, []byte(knownhosts.Line([]string{"a.example"}, edKey)), 0o600)
	if err := appendKnownHost(file2, "b.example:22", ecKey); err != nil {
		t.Fatal(err)
	}
	db, err = readKnownHosts(file2)
	if err != nil {
		t.Fatal(err)
	}
	if db.check("a.example:22", fakeRemote, edKey) != nil || db.check("b.example:22", fakeRemote, ecKey) != nil {
		t.Errorf("append without final newline broke the file")
	}
}

func TestParseBastions(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []hop
		err  bool
	}{
		{in: "jump", want: []hop{{host: "jump", port: 22}}},
		{in: "ops@jump:2200", want: []hop{{user: "ops", host: "jump", port: 2200}}},
		{in: "a, u@b:23", want: []hop{{host: "a", port: 22}, {user: "u", host: "b", port: 23}}},
		{in: "[::1]:2222", want: []hop{{host: "::1", port: 2222}}},
		{in: "[fe80::1]", want: []hop{{host: "fe80::1", port: 22}}},
		{in: "jump:x", err: true},
		{in: "a,,b", err: true},
		{in: "@jump", err: true},
	} {
		got, err := parseBastions(c.in)
		if (err != nil) != c.err || (!c.err && !reflect.DeepEqual(got, c.want)) {
			t.Errorf("parseBastions(%q) = %v, %v", c.in, got, err)
		}
	}
}

// The Dialer reads a set of known_hosts files once while none of them changes, and
// again after an append, a replacement or a removal.
func TestKnownHostsReadOnce(t *testing.T) {
	keys(t)
	file := writeKnownHosts(t, knownhosts.Line([]string{"ed.example:22"}, edKey))
	d := NewDialer(DialerOptions{})
	files := []string{file, filepath.Join(t.TempDir(), "missing")}
	read := func() *knownHostsDB {
		t.Helper()
		db, err := d.knownHosts(files)
		if err != nil {
			t.Fatal(err)
		}
		return db
	}
	first := read()
	if read() != first {
		t.Fatal("read again though nothing changed")
	}
	if err := appendKnownHost(file, "ec.example:22", ecKey); err != nil {
		t.Fatal(err)
	}
	appended := read()
	if appended == first || !reflect.DeepEqual(appended.hostKeyAlgorithms("ec.example:22"), []string{"ecdsa-sha2-nistp256"}) {
		t.Fatal("an appended key is not seen")
	}
	// The same size, another file (an editor's save by rename).
	other := writeKnownHosts(t, knownhosts.Line([]string{"ed.exampl2:22"}, edKey), knownhosts.Line([]string{"ec.example:22"}, ecKey))
	if err := os.Rename(other, file); err != nil {
		t.Fatal(err)
	}
	if read() == appended {
		t.Fatal("a replaced file is not read again")
	}
	os.Remove(file)
	if gone := read(); !reflect.DeepEqual(gone.hostKeyAlgorithms("ec.example:22"), plainHostKeyAlgorithms()) {
		t.Fatal("a removed file is still read")
	}
}

// BenchmarkKnownHosts1000 is a dial's known_hosts reading with 1,000 hosts in the file:
// parsed afresh (as every dial did) and as the Dialer keeps it.
func BenchmarkKnownHosts1000(b *testing.B) {
	keys(b)
	lines := make([]string, 1000)
	for i := range lines {
		lines[i] = knownhosts.Line([]string{fmt.Sprintf("[127.0.%d.%d]:22", i/250, i%250+1)}, edKey)
	}
	file := writeKnownHosts(b, lines...)
	b.Run("parsed", func(b *testing.B) {
		for b.Loop() {
			if _, err := readKnownHosts(file); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("kept", func(b *testing.B) {
		d := NewDialer(DialerOptions{})
		for b.Loop() {
			if _, err := d.knownHosts([]string{file}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
