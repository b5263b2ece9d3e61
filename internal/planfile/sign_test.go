package planfile

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/hostplan/hostplan/internal/report"
	"github.com/hostplan/hostplan/internal/sshsig"
)

func newSigner(t *testing.T) ssh.Signer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// forge edits a plan file's body and recomputes its unkeyed sha256, as anyone who can
// write the file can.
func forge(t *testing.T, data []byte, from, to string) []byte {
	t.Helper()
	var env map[string]json.RawMessage
	if err := json.Unmarshal(data, &env); err != nil {
		t.Fatal(err)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, env["body"]); err != nil {
		t.Fatal(err)
	}
	edited := bytes.Replace(compact.Bytes(), []byte(from), []byte(to), 1)
	if bytes.Equal(edited, compact.Bytes()) {
		t.Fatalf("%q is not in the body", from)
	}
	sum := sha256.Sum256(edited)
	env["body"] = edited
	env["sha256"], _ = json.Marshal(hex.EncodeToString(sum[:]))
	out, _ := json.Marshal(env)
	return out
}

func TestSignedPlan(t *testing.T) {
	path := filepath.Join(t.TempDir(), "change.plan")
	me, colleague, stranger := newSigner(t), newSigner(t), newSigner(t)
	f := sample()
	f.Plan.ContentKey = report.NewContentKey()
	if err := WriteSigned(path, f, me); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	sig, err := ReadSig(path)
	if err != nil || sig == nil {
		t.Fatalf("signature: %v", err)
	}
	allowed, err := sshsig.ParseAllowedSigners("allowed_signers", []byte(
		"colleague@example.org namespaces=\"hostplan-plan\" "+string(ssh.MarshalAuthorizedKey(colleague.PublicKey()))))
	if err != nil {
		t.Fatal(err)
	}
	trust := Trust{Own: []OwnKey{{Key: me.PublicKey(), Source: "~/.ssh/id_ed25519"}}, AllowedSigners: allowed, AllowedPath: "allowed_signers", Now: time.Now()}
	signedBy := func(s ssh.Signer, data []byte) []byte {
		b, err := sshsig.Sign(s, Namespace, data)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	forged := forge(t, data, "greeting=hello", "greeting=pwned")
	if _, err := Parse("forged", forged); err != nil {
		t.Fatalf("the forged file does not even parse, the test proves nothing: %v", err)
	}
	gitSig, _ := sshsig.Sign(me, "git", data)
	for _, tc := range []struct {
		name      string
		data, sig []byte
		trusted   string
		err       string
	}{
		{"own key", data, sig, "your signing key, ~/.ssh/id_ed25519", ""},
		{"allowed signer", data, signedBy(colleague, data), "allowed_signers:1", ""},
		{"untrusted key", data, signedBy(stranger, data), "", ""},
		{"forged body", forged, sig, "", "the signature does not match the file"},
		{"forged and signed by a stranger", forged, signedBy(stranger, forged), "", ""},
		{"unsigned", data, nil, "", ErrUnsigned.Error()},
		{"other namespace", data, gitSig, "", `namespace "git", not "hostplan-plan"`},
		{"garbage", data, []byte("hello"), "", "not an SSH signature"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Verify(tc.data, tc.sig, trust)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.Trusted != tc.trusted {
				t.Errorf("trusted %q, want %q", s.Trusted, tc.trusted)
			}
		})
	}
	// The content key survives the round trip, in the plan file only.
	g, err := Parse(path, data)
	if err != nil || !bytes.Equal(g.Plan.ContentKey, f.Plan.ContentKey) || !bytes.Equal(g.Raw, data) {
		t.Fatalf("round trip: %v; content key kept %v; raw kept %v", err, bytes.Equal(g.Plan.ContentKey, f.Plan.ContentKey), bytes.Equal(g.Raw, data))
	}
	doc, _ := json.Marshal(g.Plan)
	if bytes.Contains(doc, []byte("content_key")) {
		t.Errorf("the plan document carries the content key")
	}
}

// An unsigned Write removes the signature of an earlier plan at the same path, which
// would otherwise be reported as a bad signature.
func TestWriteRemovesOldSignature(t *testing.T) {
	path := filepath.Join(t.TempDir(), "change.plan")
	if err := WriteSigned(path, sample(), newSigner(t)); err != nil {
		t.Fatal(err)
	}
	if err := Write(path, sample()); err != nil {
		t.Fatal(err)
	}
	if sig, err := ReadSig(path); sig != nil || err != nil {
		t.Errorf("old signature left: %v", err)
	}
}

func TestCheckMode(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		mode os.FileMode
		err  string
	}{
		{0o600, ""},
		{0o644, ""},
		{0o620, "writable by group or others (mode 0620)"},
		{0o602, "writable by group or others (mode 0602)"},
	} {
		p := filepath.Join(dir, tc.mode.String())
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, tc.mode); err != nil {
			t.Fatal(err)
		}
		fi, _ := os.Stat(p)
		err := CheckMode("x.plan", fi)
		if (tc.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("mode %04o: %v, want %q", tc.mode, err, tc.err)
		}
	}
	fi, _ := os.Stat(dir)
	if err := CheckMode("dir", fi); err == nil {
		t.Errorf("a directory passed")
	}
}

func TestKeyName(t *testing.T) {
	k := newSigner(t).PublicKey()
	if got := KeyName(k); !strings.HasPrefix(got, "SHA256:") || !strings.HasSuffix(got, " (ED25519)") {
		t.Errorf("KeyName = %q", got)
	}
}
