package transport

import (
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	"golang.org/x/crypto/ssh"
)

// testSSHServer serves SSH in-process on 127.0.0.1 with the given host keys (plain
// signers or certificate signers) and lets any public key log in. Sessions are
// refused: tests use it for the handshake (host key checks) and authentication only.
// It returns the address and, through accepted, the public keys that logged in.
func testSSHServer(t *testing.T, accept func(ssh.PublicKey) bool, hostKeys ...ssh.Signer) *net.TCPAddr {
	t.Helper()
	cfg := &ssh.ServerConfig{
		PublicKeyCallback: func(_ ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			if accept == nil || accept(key) {
				return nil, nil
			}
			return nil, errRefusedKey
		},
	}
	for _, k := range hostKeys {
		cfg.AddHostKey(k)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, chans, reqs, err := ssh.NewServerConn(c, cfg)
				if err != nil {
					return
				}
				go ssh.DiscardRequests(reqs)
				for ch := range chans {
					ch.Reject(ssh.Prohibited, "test server")
				}
			}()
		}
	}()
	return ln.Addr().(*net.TCPAddr)
}

type refusedKey struct{}

func (refusedKey) Error() string { return "key refused by the test server" }

var errRefusedKey error = refusedKey{}

// signerPrivs maps testSigner public keys (Marshal) to their private keys.
var signerPrivs sync.Map

// testSigner is a fresh host or user key of kind "ed25519", "ecdsa" or "rsa".
func testSigner(t testing.TB, kind string) ssh.Signer {
	t.Helper()
	priv := testPrivKey(t, kind)
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	signerPrivs.Store(string(s.PublicKey().Marshal()), priv)
	return s
}

// writeSignerFile stores s's private key (made by testSigner) unencrypted in a temp file.
func writeSignerFile(t *testing.T, s ssh.Signer) string {
	t.Helper()
	priv, ok := signerPrivs.Load(string(s.PublicKey().Marshal()))
	if !ok {
		t.Fatal("writeSignerFile: not a testSigner key")
	}
	blk, err := ssh.MarshalPrivateKey(priv, "test")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "id_test")
	if err := os.WriteFile(path, pem.EncodeToMemory(blk), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func itoa(n int) string { return strconv.Itoa(n) }
