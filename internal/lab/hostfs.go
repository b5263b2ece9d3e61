package lab

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// hostFS reads and writes a host's files from the lab process without a process per
// operation (the stand-in kubelet polls manifests/ five times a second): it holds the
// host's root directory, opened inside the host's mount namespace, and resolves every
// path with openat2(RESOLVE_IN_ROOT), so that absolute symlinks and ".." stay inside
// the host as they would for a process running there.
type hostFS struct {
	h      *Host
	mu     sync.RWMutex // closing waits for operations in flight
	root   *os.File
	closed bool
}

func openHostFS(h *Host) (*hostFS, error) {
	type result struct {
		f   *os.File
		err error
	}
	resc := make(chan result, 1)
	onThrowawayThread(func() {
		if err := h.enter(); err != nil {
			resc <- result{err: err}
			return
		}
		f, err := os.Open("/")
		resc <- result{f, err}
	})
	r := <-resc
	if r.err != nil {
		return nil, fmt.Errorf("lab: %s: open root: %w", h.Name, r.err)
	}
	return &hostFS{h: h, root: r.f}, nil
}

func (hf *hostFS) close() {
	hf.mu.Lock()
	defer hf.mu.Unlock()
	if !hf.closed {
		hf.closed = true
		hf.root.Close()
	}
}

// open opens p (absolute, as the host sees it).
func (hf *hostFS) open(p string, flags int, mode uint32) (*os.File, error) {
	hf.mu.RLock()
	defer hf.mu.RUnlock()
	if hf.closed {
		return nil, &os.PathError{Op: "open", Path: hf.h.Name + ":" + p, Err: os.ErrClosed}
	}
	for {
		fd, err := unix.Openat2(int(hf.root.Fd()), p, &unix.OpenHow{
			Flags:   uint64(flags | unix.O_CLOEXEC),
			Mode:    uint64(mode),
			Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
		})
		if err == unix.EINTR || err == unix.EAGAIN { // EAGAIN: a rename raced the lookup
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "open", Path: hf.h.Name + ":" + p, Err: err}
		}
		return os.NewFile(uintptr(fd), hf.h.Name+":"+p), nil
	}
}

func (hf *hostFS) ReadFile(p string) ([]byte, error) {
	f, err := hf.open(p, unix.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

func (hf *hostFS) ReadDir(p string) ([]os.DirEntry, error) {
	f, err := hf.open(p, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.ReadDir(-1)
}

func (hf *hostFS) Stat(p string) (os.FileInfo, error) {
	f, err := hf.open(p, unix.O_PATH, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.Stat()
}

// MkdirAll creates p and missing parents with mode (before umask, as mkdir -p).
func (hf *hostFS) MkdirAll(p string, mode os.FileMode) error {
	p = path.Clean("/" + p)
	if p == "/" {
		return nil
	}
	if fi, err := hf.Stat(p); err == nil {
		if fi.IsDir() {
			return nil
		}
		return &os.PathError{Op: "mkdir", Path: hf.h.Name + ":" + p, Err: unix.ENOTDIR}
	}
	if err := hf.MkdirAll(path.Dir(p), mode); err != nil {
		return err
	}
	parent, err := hf.open(path.Dir(p), unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		return err
	}
	defer parent.Close()
	if err := unix.Mkdirat(int(parent.Fd()), path.Base(p), uint32(mode.Perm())); err != nil && err != unix.EEXIST {
		return &os.PathError{Op: "mkdir", Path: hf.h.Name + ":" + p, Err: err}
	}
	return nil
}

// WriteFile writes p with mode (exactly: no umask) and owner root, creating missing
// parent directories (0755).
func (hf *hostFS) WriteFile(p string, data []byte, mode os.FileMode) error {
	if err := hf.MkdirAll(path.Dir(p), 0o755); err != nil {
		return err
	}
	f, err := hf.open(p, unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC, uint32(mode.Perm()))
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(mode)
	}
	if err == nil {
		err = f.Chown(0, 0)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// CreateEmpty creates an empty file at p (mode 0644) unless something is there; the
// parent must exist.
func (hf *hostFS) CreateEmpty(p string) error {
	f, err := hf.open(p, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL, 0o644)
	if errors.Is(err, os.ErrExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return f.Close()
}

// OpenAppend opens p for appending, creating it (0644) and its parent (0755).
func (hf *hostFS) OpenAppend(p string) (*os.File, error) {
	if err := hf.MkdirAll(path.Dir(p), 0o755); err != nil {
		return nil, err
	}
	return hf.open(p, unix.O_WRONLY|unix.O_APPEND|unix.O_CREAT, 0o644)
}

// LookPath finds an executable like a shell in the host would, with hostEnv's PATH.
func (hf *hostFS) LookPath(name string) (string, error) {
	if strings.Contains(name, "/") {
		if hf.isExecutable(name) {
			return name, nil
		}
		return "", fmt.Errorf("%s: no executable file at %s", hf.h.Name, name)
	}
	for _, e := range hostEnv {
		if dirs, ok := strings.CutPrefix(e, "PATH="); ok {
			for _, d := range strings.Split(dirs, ":") {
				if p := path.Join(d, name); hf.isExecutable(p) {
					return p, nil
				}
			}
		}
	}
	return "", fmt.Errorf("%s: executable file %q not found in $PATH", hf.h.Name, name)
}

func (hf *hostFS) isExecutable(p string) bool {
	fi, err := hf.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}
