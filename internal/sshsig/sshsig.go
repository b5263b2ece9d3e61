// Package sshsig signs and verifies detached signatures in OpenSSH's SSHSIG format
// (PROTOCOL.sshsig in OpenSSH's source), the format of `ssh-keygen -Y sign`, so that a
// signature made here verifies with `ssh-keygen -Y verify` and the other way round.
//
// Armored signature ("-----BEGIN SSH SIGNATURE-----"), base64 of:
//
//	byte[6] "SSHSIG"; uint32 version (1); string publickey; string namespace;
//	string reserved; string hash_algorithm; string signature
//
// where signature is an SSH signature over
//
//	byte[6] "SSHSIG"; string namespace; string reserved; string hash_algorithm;
//	string H(message)
//
// The namespace binds a signature to one use: a plan signature cannot be replayed as,
// say, a git commit signature, nor one the other way.
package sshsig

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/ssh"
)

const (
	magic   = "SSHSIG"
	version = 1
	// hashAlg is what ssh-keygen uses by default; sha256 is accepted on verify too.
	hashAlg    = "sha512"
	beginArmor = "-----BEGIN SSH SIGNATURE-----"
	endArmor   = "-----END SSH SIGNATURE-----"
	// armorWidth is ssh-keygen's line length, so our files look like its files.
	armorWidth = 70
)

// Signature is a parsed, not yet verified, SSHSIG signature.
type Signature struct {
	PublicKey ssh.PublicKey
	Namespace string
	HashAlg   string
	sig       *ssh.Signature
}

// wireBlob is the signature blob after the 6-byte preamble.
type wireBlob struct {
	Version   uint32
	PublicKey []byte
	Namespace string
	Reserved  string
	HashAlg   string
	Signature []byte
}

// signedData is what the SSH key actually signs, after the 6-byte preamble.
type signedData struct {
	Namespace string
	Reserved  string
	HashAlg   string
	Hash      []byte
}

// Sign signs message for namespace with signer and returns the armored signature.
// RSA keys sign with rsa-sha2-512, as PROTOCOL.sshsig requires and ssh-keygen does.
func Sign(signer ssh.Signer, namespace string, message []byte) ([]byte, error) {
	if namespace == "" {
		return nil, errors.New("sshsig: a namespace is required")
	}
	data := toSign(namespace, hashAlg, message)
	var sig *ssh.Signature
	var err error
	if signer.PublicKey().Type() == ssh.KeyAlgoRSA {
		as, ok := signer.(ssh.AlgorithmSigner)
		if !ok {
			return nil, errors.New("sshsig: this RSA signer cannot sign with rsa-sha2-512")
		}
		sig, err = as.SignWithAlgorithm(rand.Reader, data, ssh.KeyAlgoRSASHA512)
	} else {
		sig, err = signer.Sign(rand.Reader, data)
	}
	if err != nil {
		return nil, fmt.Errorf("sshsig: sign: %w", err)
	}
	blob := ssh.Marshal(wireBlob{Version: version, PublicKey: signer.PublicKey().Marshal(),
		Namespace: namespace, HashAlg: hashAlg, Signature: ssh.Marshal(sig)})
	return armor(append([]byte(magic), blob...)), nil
}

func toSign(namespace, alg string, message []byte) []byte {
	return append([]byte(magic), ssh.Marshal(signedData{Namespace: namespace, HashAlg: alg, Hash: digest(alg, message)})...)
}

func digest(alg string, message []byte) []byte {
	if alg == "sha256" {
		h := sha256.Sum256(message)
		return h[:]
	}
	h := sha512.Sum512(message)
	return h[:]
}

func armor(blob []byte) []byte {
	enc := base64.StdEncoding.EncodeToString(blob)
	var b bytes.Buffer
	b.WriteString(beginArmor + "\n")
	for len(enc) > armorWidth {
		b.WriteString(enc[:armorWidth] + "\n")
		enc = enc[armorWidth:]
	}
	b.WriteString(enc + "\n" + endArmor + "\n")
	return b.Bytes()
}

// Parse reads an armored signature. It checks the format, not the signature: see
// Verify.
func Parse(armored []byte) (*Signature, error) {
	text := strings.TrimSpace(string(armored))
	body, ok := strings.CutPrefix(text, beginArmor)
	if !ok {
		return nil, errors.New("not an SSH signature (no " + beginArmor + " line)")
	}
	body, ok = strings.CutSuffix(body, endArmor)
	if !ok {
		return nil, errors.New("truncated SSH signature (no " + endArmor + " line)")
	}
	blob, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(body), ""))
	if err != nil {
		return nil, fmt.Errorf("corrupt SSH signature: %w", err)
	}
	return parseBlob(blob)
}

func parseBlob(blob []byte) (*Signature, error) {
	rest, ok := bytes.CutPrefix(blob, []byte(magic))
	if !ok {
		return nil, errors.New("corrupt SSH signature: no SSHSIG preamble")
	}
	var w wireBlob
	if err := ssh.Unmarshal(rest, &w); err != nil {
		return nil, fmt.Errorf("corrupt SSH signature: %w", err)
	}
	if w.Version != version {
		return nil, fmt.Errorf("SSH signature version %d is not supported (only %d)", w.Version, version)
	}
	if w.HashAlg != "sha256" && w.HashAlg != "sha512" {
		return nil, fmt.Errorf("SSH signature hash %q is not supported (sha256, sha512)", w.HashAlg)
	}
	pub, err := ssh.ParsePublicKey(w.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("corrupt SSH signature: its public key: %w", err)
	}
	if _, isCert := pub.(*ssh.Certificate); isCert {
		return nil, errors.New("SSH signatures by certificates are not supported: sign with the plain key")
	}
	var sig ssh.Signature
	if err := ssh.Unmarshal(w.Signature, &sig); err != nil {
		return nil, fmt.Errorf("corrupt SSH signature: %w", err)
	}
	// SHA-1 RSA signatures are refused, as PROTOCOL.sshsig and ssh-keygen do.
	if pub.Type() == ssh.KeyAlgoRSA && sig.Format != ssh.KeyAlgoRSASHA256 && sig.Format != ssh.KeyAlgoRSASHA512 {
		return nil, fmt.Errorf("SSH signature algorithm %q is not allowed for RSA keys", sig.Format)
	}
	return &Signature{PublicKey: pub, Namespace: w.Namespace, HashAlg: w.HashAlg, sig: &sig}, nil
}

// ErrBadSignature is returned by Verify for a signature that is not a signature of
// the message by its key: the message or the signature was changed.
var ErrBadSignature = errors.New("the signature does not match the file: it was changed after it was signed, or the signature is of another file")

// Verify checks that s signs message for namespace. It says nothing about whether the
// key is trusted: that is the caller's decision (AllowedSigners).
func (s *Signature) Verify(namespace string, message []byte) error {
	if s.Namespace != namespace {
		return fmt.Errorf("the signature is for namespace %q, not %q: it was made for another purpose", s.Namespace, namespace)
	}
	if err := s.PublicKey.Verify(toSign(namespace, s.HashAlg, message), s.sig); err != nil {
		return ErrBadSignature
	}
	return nil
}
