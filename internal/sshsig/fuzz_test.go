package sshsig

import (
	"testing"
	"time"
)

// A signature file sits next to a plan that anyone may have handed over: parsing and
// checking one must never panic, whatever it holds.
func FuzzParseSignature(f *testing.F) {
	_, signer := newTestSigner(f)
	good, err := Sign(signer, "hostplan-plan", []byte("plan"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good, []byte("plan"))
	f.Add([]byte(beginArmor+"\nU1NIU0lHAAAAAQ==\n"+endArmor), []byte(""))
	f.Add([]byte(""), []byte("x"))
	f.Fuzz(func(t *testing.T, armored, msg []byte) {
		s, err := Parse(armored)
		if err != nil {
			return
		}
		if s.PublicKey == nil {
			t.Fatal("parsed a signature without a key")
		}
		_ = s.Verify("hostplan-plan", msg)
	})
}

// An allowed_signers file is the operator's, but a reader that panics on a bad line
// would take apply down with it.
func FuzzParseAllowedSigners(f *testing.F) {
	pub, _ := newTestSigner(f)
	key := authorized(pub)
	f.Add([]byte("alice " + key + "\n"))
	f.Add([]byte(`"a b",c namespaces="x,!y",valid-after="20260101Z" ` + key))
	f.Add([]byte("# comment\n\n*@example.org cert-authority " + key))
	f.Fuzz(func(t *testing.T, data []byte) {
		signers, err := ParseAllowedSigners("f", data)
		if err != nil {
			return
		}
		for _, s := range signers {
			if s.Key == nil {
				t.Fatal("a signer without a key")
			}
			Match(signers, s.Key, "hostplan-plan", time.Now())
		}
	})
}
