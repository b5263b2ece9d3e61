package transport

import (
	"bufio"
	"context"
	"io"
	"strings"
	"sync/atomic"
	"testing"
)

// refusingSudo is sudo that asks for the password, takes it, and then refuses the
// command (not allowed to run /bin/sh as the user): it exits 1 without "Sorry, try
// again.", as it also does with passwd_tries=1 or an expired account.
type refusingSudo struct {
	spec      *sudoSpec
	starts    atomic.Int32
	passwords atomic.Int32
}

type pipeProcess struct {
	r    *io.PipeReader
	w    *io.PipeWriter
	done chan struct{}
}

func (p *pipeProcess) stdin() io.WriteCloser { return p.w }
func (p *pipeProcess) wait() (int, error)    { <-p.done; return 1, nil }
func (p *pipeProcess) kill()                 { p.r.Close() }

func (s *refusingSudo) start(_ context.Context, _ string, _, stderr io.Writer, _ lifetime) (process, error) {
	s.starts.Add(1)
	r, w := io.Pipe()
	p := &pipeProcess{r: r, w: w, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		stderr.Write([]byte(s.spec.prompt))
		if _, err := bufio.NewReader(r).ReadString('\n'); err == nil {
			s.passwords.Add(1)
		}
		stderr.Write([]byte("Sorry, user u is not allowed to execute '/bin/sh' as root on h.\n"))
		r.Close()
	}()
	return p, nil
}

// TestKeptShellRefusedAfterPassword: when sudo takes the password and then refuses the
// kept shell, the batch fails with sudo's reason and the password is sent once: no
// session of the batch's own follows, which would send it again (found in review).
func TestKeptShellRefusedAfterPassword(t *testing.T) {
	spec := newSudoSpec("root", true)
	sudo := &refusingSudo{spec: spec}
	d := NewDialer(DialerOptions{BecomePassword: func() ([]byte, error) { return []byte("pw"), nil }})
	c := &conn{d: d, host: "h", login: "u", st: sudo, spec: spec, become: spec}
	for i := range 2 {
		err := RunAll(context.Background(), c, []string{"true"})
		if err == nil || !strings.Contains(err.Error(), "not allowed to execute") {
			t.Fatalf("batch %d: %v, want sudo's refusal", i+1, err)
		}
		if n := sudo.passwords.Load(); n != int32(i+1) {
			t.Fatalf("after batch %d the password was sent %d times, want %d (%d starts)", i+1, n, i+1, sudo.starts.Load())
		}
	}
}
