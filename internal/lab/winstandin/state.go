package winstandin

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// state is what the stand-in host remembers between command lines.
type state struct {
	// PortProxy mirrors the registry key netsh keeps v4tov4 entries in, one
	// value per listen address and port, kept sorted by value name.
	PortProxy []proxyEntry `json:"portproxy"`
	// Rules are the firewall rules in the order they were added; names
	// need not be unique, as in Windows Firewall.
	Rules []rule `json:"rules"`
}

// proxyEntry is one v4tov4 entry. Addresses are kept exactly as typed,
// because netsh keeps and shows them that way.
type proxyEntry struct {
	ListenAddress  string `json:"listenAddress"`
	ListenPort     int    `json:"listenPort"`
	ConnectAddress string `json:"connectAddress"`
	ConnectPort    int    `json:"connectPort"`
}

// key is the entry's registry value name ("<listenaddress>/<listenport>"),
// lower-cased because registry value names are case-insensitive.
func (e proxyEntry) key() string {
	return strings.ToLower(e.ListenAddress + "/" + strconv.Itoa(e.ListenPort))
}

// rule is one firewall rule, its values spelled as `show rule` prints them.
type rule struct {
	Name      string `json:"name"`
	Enabled   string `json:"enabled"`   // Yes, No
	Direction string `json:"direction"` // In, Out
	Protocol  string `json:"protocol"`  // TCP, UDP, Any
	LocalPort string `json:"localPort"` // as typed, or Any
	Action    string `json:"action"`    // Allow, Block, Bypass
}

// store is the state file of one stand-in host. Several SSH sessions may
// run at once, each in its own process, so every change is a
// read-modify-write under an exclusive flock, and the file is replaced by
// rename so that a reader without the lock never sees half of it.
type store struct {
	path string
}

// load reads the state; a missing file is a host with nothing configured.
func (s store) load() (*state, error) {
	var st state
	b, err := os.ReadFile(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return &st, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("state file %s: %w", s.path, err)
	}
	return &st, nil
}

// update runs change on the current state under the lock and writes the
// result back if change reports that it changed something.
func (s store) update(change func(*state) bool) error {
	return s.locked(func() error {
		st, err := s.load()
		if err != nil {
			return err
		}
		if !change(st) {
			return nil
		}
		return s.save(st)
	})
}

func (s store) save(st *state) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(s.path), filepath.Base(s.path)+".tmp*")
	if err != nil {
		return err
	}
	// No fsync: the lab's state only has to survive the processes, not the machine.
	_, err = tmp.Write(append(b, '\n'))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), s.path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write state file %s: %w", s.path, err)
	}
	return nil
}

// log appends line to the command log. It takes the lock too, so that lines
// of concurrent sessions never interleave, whatever the file system.
func (s store) log(line string) error {
	return s.locked(func() error {
		f, err := os.OpenFile(s.path+".log", os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return err
		}
		_, err = f.WriteString(line + "\n")
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return err
	})
}

// locked runs fn holding an exclusive flock on a separate lock file: the
// state file itself is replaced on every write, so a lock on it would not
// outlive the first rename.
func (s store) locked(fn func() error) error {
	f, err := os.OpenFile(s.path+".lock", os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	defer f.Close() // closing the file releases the lock
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("lock %s: %w", f.Name(), err)
	}
	return fn()
}
