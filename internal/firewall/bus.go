package firewall

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/godbus/dbus/v5"
)

// Bus is one host's system bus connection for a run: the look at firewalld's state that
// the facts leave to hostplan (FirewalldRunning), the zone reads and every step's calls
// share it. A connection costs the host's bus daemon an authentication and a Hello, and
// a distant host four round trips; busctl, in the facts, a process start besides. The
// zero value connects on first use; Close ends it. A Host without one connects for each
// read and each step.
type Bus struct {
	mu     sync.Mutex
	conn   *dbus.Conn
	end    context.CancelFunc // ends conn
	closed bool
}

// errBusClosed is the error of a Bus used after Close.
var errBusClosed = errors.New("the run's system bus connection is closed")

// get returns the connection, connecting when there is none or the last one broke (the
// bus daemon restarted, say). The connection outlives ctx, which bounds only its
// making.
func (b *Bus) get(ctx context.Context, h Host) (*dbus.Conn, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, errBusClosed
	}
	if b.conn != nil && b.conn.Connected() {
		return b.conn, nil
	}
	b.closeConn()
	life, end := context.WithCancel(context.Background())
	conn, err := openBusFor(ctx, life, h, systemBus)
	if err != nil {
		end()
		return nil, err
	}
	b.conn, b.end = conn, end
	return conn, nil
}

func (b *Bus) closeConn() {
	if b.conn != nil {
		b.conn.Close()
		b.end()
		b.conn, b.end = nil, nil
	}
}

// Close ends the connection. It is safe on a nil Bus and more than once.
func (b *Bus) Close() {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	b.closeConn()
}

// withBus runs fn with the host's bus connection: the run's (Host.Bus), else one of
// its own for fn alone. errNoBus (wrapped) when the bus could not be reached.
func withBus(ctx context.Context, h Host, fn func(*dbus.Conn) error) error {
	if h.Bus != nil {
		conn, err := h.Bus.get(ctx, h)
		if err != nil {
			return err
		}
		return fn(conn)
	}
	conn, err := openBus(ctx, h)
	if err != nil {
		return err
	}
	defer conn.Close()
	return fn(conn)
}

// ErrNoBus says FirewalldRunning could not reach the host's system bus: the facts'
// shell check (facts.FirewalldCheck) is to say instead.
var ErrNoBus = errNoBus

// FirewalldRunning asks firewalld's state over the host's system bus, as the facts'
// busctl does: running when it answers RUNNING, not when no one owns its name (or it
// answers anything else). The answer comes over h.Bus when set.
func FirewalldRunning(ctx context.Context, h Host) (bool, error) {
	var running bool
	err := withBus(ctx, h, func(conn *dbus.Conn) error {
		var state dbus.Variant
		err := busCallOn(ctx, conn.Object(busName, busRuntime), "org.freedesktop.DBus.Properties.Get", busName, "state").Store(&state)
		var de dbus.Error
		switch {
		case errors.As(err, &de):
			return nil // no firewalld on the bus (ServiceUnknown), or a refusal: not running
		case err != nil:
			return err
		}
		running = state.Value() == "RUNNING"
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("ask firewalld's state on %s: %w", h.Name, err)
	}
	return running, nil
}
