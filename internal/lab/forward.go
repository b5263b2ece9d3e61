package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// A socket belongs to the network namespace of the thread that created it, whatever
// thread uses it later. So a listener or a connection inside a lab host is made on a
// throwaway thread that joined the host's network namespace, and then served by
// ordinary goroutines; connections out of a forwarder are made on ordinary threads,
// which are in the real machine's namespace.

// inNetNS runs fn on a throwaway thread in the host's network namespace (only: its
// mount namespace is not needed to make sockets).
func (h *Host) inNetNS(fn func() error) error {
	errc := make(chan error, 1)
	onThrowawayThread(func() {
		if err := unix.Setns(int(h.ns.net.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("lab: %s: setns net: %w", h.Name, err)
			return
		}
		errc <- fn()
	})
	return <-errc
}

// ListenIn listens on addr (e.g. "127.0.0.1:2379") inside the host's network namespace.
func (h *Host) ListenIn(addr string) (net.Listener, error) {
	var ln net.Listener
	err := h.inNetNS(func() (err error) {
		ln, err = net.Listen("tcp", addr)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("lab: %s: listen on %s: %w", h.Name, addr, err)
	}
	return ln, nil
}

// DialIn connects to addr from inside the host's network namespace.
func (h *Host) DialIn(ctx context.Context, addr string) (net.Conn, error) {
	var c net.Conn
	err := h.inNetNS(func() (err error) {
		var d net.Dialer
		c, err = d.DialContext(ctx, "tcp", addr)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("lab: %s: dial %s: %w", h.Name, addr, err)
	}
	return c, nil
}

// forwarder accepts connections on a listener inside a lab host and relays each one
// to a fixed address in the real machine's network namespace.
type forwarder struct {
	ln     net.Listener
	target string

	mu     sync.Mutex
	conns  map[net.Conn]bool
	closed bool
	wg     sync.WaitGroup
}

// forward starts relaying connections to listen (inside h) to target (outside).
func (h *Host) forward(listen, target string) (*forwarder, error) {
	ln, err := h.ListenIn(listen)
	if err != nil {
		return nil, err
	}
	f := &forwarder{ln: ln, target: target, conns: map[net.Conn]bool{}}
	f.wg.Add(1)
	go f.serve()
	return f, nil
}

func (f *forwarder) serve() {
	defer f.wg.Done()
	for {
		c, err := f.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond) // EMFILE & co.
			continue
		}
		if !f.track(c) {
			c.Close()
			return
		}
		f.wg.Add(1)
		go f.relay(c)
	}
}

// track registers c for close; false once the forwarder is closed.
func (f *forwarder) track(c net.Conn) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return false
	}
	f.conns[c] = true
	return true
}

func (f *forwarder) untrack(c net.Conn) {
	f.mu.Lock()
	delete(f.conns, c)
	f.mu.Unlock()
	c.Close()
}

func (f *forwarder) relay(in net.Conn) {
	defer f.wg.Done()
	defer f.untrack(in)
	out, err := net.DialTimeout("tcp", f.target, 5*time.Second)
	if err != nil {
		return // the client sees the connection close, as with a dead backend
	}
	if !f.track(out) {
		out.Close()
		return
	}
	defer f.untrack(out)
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		// Pass the half-close on: etcd and HTTP/2 clients close their side to say "done".
		if tc, ok := dst.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		done <- struct{}{}
	}
	go pipe(out, in)
	go pipe(in, out)
	<-done
	<-done
}

// close stops accepting, cuts every relayed connection and waits for the relays.
func (f *forwarder) close() {
	f.mu.Lock()
	f.closed = true
	f.ln.Close()
	for c := range f.conns {
		c.Close()
	}
	f.mu.Unlock()
	f.wg.Wait()
}
