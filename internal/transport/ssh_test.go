package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// A session error says "connection lost" only when the connection has in fact ended:
// a refused session, an ended ctx or an error on a live connection stay as they are.
func TestExplainSessionError(t *testing.T) {
	ended := &liveness{closed: make(chan struct{})}
	close(ended.closed)
	alive := &liveness{closed: make(chan struct{})}
	done, cancel := context.WithCancel(context.Background())
	cancel()
	refused := &ssh.OpenChannelError{Reason: ssh.ConnectionFailed, Message: "open failed"}
	for _, tc := range []struct {
		name string
		lv   *liveness
		ctx  context.Context
		err  error
		want string
	}{
		{"connection ended", ended, context.Background(), io.EOF, "connection lost: EOF"},
		{"connection alive", alive, context.Background(), io.EOF, "EOF"},
		{"refused", ended, context.Background(), refused, refused.Error()},
		{"ctx ended", ended, done, context.Canceled, "context canceled"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSSHStarter(nil, tc.lv, "h1", 4)
			got := s.explain(tc.ctx, tc.err)
			if got.Error() != tc.want || !errors.Is(got, tc.err) {
				t.Errorf("explain(%v) = %q, want %q wrapping it", tc.err, got, tc.want)
			}
		})
	}
}

// A connection is "dropped" (and retried) only when it ended before the server's SSH
// version line; what the server said before closing is quoted.
func TestDroppedBeforeGreeting(t *testing.T) {
	for _, tc := range []struct {
		name, head string
		err        error
		said       string
		dropped    bool
	}{
		{"silent close", "", io.EOF, "", true},
		{"reset", "", syscall.ECONNRESET, "", true},
		{"MaxStartups", "Exceeded MaxStartups\r\n", io.EOF, "Exceeded MaxStartups", true},
		{"after the greeting", "SSH-2.0-OpenSSH_9.2\r\n", io.EOF, "", false},
		{"banner, then greeting", "welcome\r\nSSH-2.0-OpenSSH_9.2\r\n", io.EOF, "", false},
		{"timeout", "", os.ErrDeadlineExceeded, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &greetingConn{head: []byte(tc.head)}
			err := c.dropped(fmt.Errorf("ssh: handshake failed: %w", tc.err))
			var d *droppedError
			if got := errors.As(err, &d); got != tc.dropped || (got && d.said != tc.said) {
				t.Errorf("dropped = %v (%v), want %v said %q", got, err, tc.dropped, tc.said)
			}
		})
	}
}

// pkg/sftp reports a request it could not send on a dead connection as "failed to send
// packet: EOF"; that is a lost connection. Status codes keep their fs errors.
func TestSFTPErr(t *testing.T) {
	if err := sftpErr(fmt.Errorf("failed to send packet: %w", io.EOF)); !strings.HasPrefix(err.Error(), "connection lost: ") {
		t.Errorf("dead channel: %v", err)
	}
	if err := sftpErr(&sftp.StatusError{Code: uint32(sftp.ErrSSHFxNoSuchFile)}); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("no such file: %v", err)
	}
}

// readSizes records the sizes of the reads made of it.
type readSizes struct {
	left  int
	sizes []int
}

func (r *readSizes) Read(p []byte) (int, error) {
	r.sizes = append(r.sizes, len(p))
	if r.left == 0 {
		return 0, io.EOF
	}
	n := min(len(p), r.left)
	r.left -= n
	return n, nil
}

// A session's output is copied through a copyBuffer, not io.Copy's 32 KiB, unless
// its writer reads by itself.
func TestSmallCopies(t *testing.T) {
	r := &readSizes{left: 10000}
	var out strings.Builder
	if n, err := io.Copy(smallCopies(struct{ io.Writer }{&out}), r); err != nil || n != 10000 || out.Len() != 10000 {
		t.Fatalf("copied %d (%d written): %v", n, out.Len(), err)
	}
	for _, size := range r.sizes {
		if size > copyBuffer {
			t.Errorf("read through a buffer of %d bytes", size)
		}
	}
	var b bytes.Buffer
	if w := smallCopies(&b); w != io.Writer(&b) {
		t.Errorf("a bytes.Buffer was wrapped")
	}
}
