package transport

import (
	"encoding/pem"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
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
	return listenSSH(t, func(c net.Conn) {
		defer c.Close()
		_, chans, reqs, err := ssh.NewServerConn(c, cfg)
		if err != nil {
			return
		}
		go ssh.DiscardRequests(reqs)
		for ch := range chans {
			ch.Reject(ssh.Prohibited, "test server")
		}
	})
}

// listenSSH accepts connections on 127.0.0.1 for the test's life, each served by serve
// in a goroutine of its own.
func listenSSH(t *testing.T, serve func(net.Conn)) *net.TCPAddr {
	t.Helper()
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
			go serve(c)
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

// shellSSHConn is a connection to an in-process SSH server that runs each exec request
// with this machine's /bin/sh, in a session (and process group) of its own that is
// killed when the client closes the channel: what sshd does, without a host to log in
// to, for tests of how commands are framed on one session.
func shellSSHConn(t *testing.T) *conn {
	t.Helper()
	cfg := &ssh.ServerConfig{NoClientAuth: true}
	cfg.AddHostKey(testSigner(t, "ed25519"))
	addr := listenSSH(t, func(nc net.Conn) { serveShell(nc, cfg) })
	client, err := ssh.Dial("tcp", addr.String(), &ssh.ClientConfig{User: "test", HostKeyCallback: ssh.InsecureIgnoreHostKey()})
	if err != nil {
		t.Fatal(err)
	}
	d := NewDialer(DialerOptions{})
	c := newSSHConn(d, Target{Name: "shell", User: "test"}, client, nil)
	t.Cleanup(func() { c.Close(); d.Close() })
	return c
}

// serveShell serves one client connection of shellSSHConn's server.
func serveShell(nc net.Conn, cfg *ssh.ServerConfig) {
	defer nc.Close()
	_, chans, reqs, err := ssh.NewServerConn(nc, cfg)
	if err != nil {
		return
	}
	go ssh.DiscardRequests(reqs)
	for newCh := range chans {
		if newCh.ChannelType() != "session" {
			newCh.Reject(ssh.UnknownChannelType, "sessions only")
			continue
		}
		ch, chReqs, err := newCh.Accept()
		if err != nil {
			continue
		}
		go serveShellSession(ch, chReqs)
	}
}

// serveShellSession runs a session's exec request and reports its exit status.
func serveShellSession(ch ssh.Channel, reqs <-chan *ssh.Request) {
	var cmd *exec.Cmd
	for r := range reqs {
		var req struct{ Command string }
		if r.Type != "exec" || cmd != nil || ssh.Unmarshal(r.Payload, &req) != nil {
			r.Reply(false, nil)
			continue
		}
		cmd = shellCommand(req.Command, ch)
		if err := cmd.Start(); err != nil {
			r.Reply(false, nil)
			ch.Close()
			return
		}
		r.Reply(true, nil)
		go func() {
			code := 0
			if err := cmd.Wait(); err != nil {
				code = 255
				if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() >= 0 {
					code = ee.ExitCode()
				}
			}
			ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{uint32(code)}))
			ch.Close()
		}()
	}
	// The client closed the channel: as sshd, end what runs there.
	if cmd != nil && cmd.Process != nil {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}

// shellCommand is /bin/sh -c command on ch, in a process group of its own.
func shellCommand(command string, ch ssh.Channel) *exec.Cmd {
	cmd := exec.Command("/bin/sh", "-c", command)
	cmd.Stdout, cmd.Stderr = ch, ch.Stderr()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	in, err := cmd.StdinPipe()
	if err == nil {
		go func() { io.Copy(in, ch); in.Close() }()
	}
	return cmd
}
