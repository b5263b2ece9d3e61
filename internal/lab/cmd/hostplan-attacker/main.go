// Command hostplan-attacker is what a hostile unprivileged user on a lab host runs
// against hostplan, for the lab tests that prove hostplan's defences (see
// lab.InstallAttacker). It is never used outside the lab.
//
//	hostplan-attacker watch DIR READY
//
// watches DIR with inotify and opens every file created or moved into it the moment it
// appears, holding each handle. It creates the file READY once it watches, and stops
// when a file named "stop" appears in DIR (or after two minutes); then it reads every
// held handle and prints "captured NAME: CONTENT" (content quoted), then
// "events N opened M".
package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

func main() {
	if len(os.Args) != 4 || os.Args[1] != "watch" {
		fmt.Fprintln(os.Stderr, "usage: hostplan-attacker watch DIR READY")
		os.Exit(2)
	}
	if err := watch(os.Args[2], os.Args[3]); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

type held struct {
	name string
	f    *os.File
}

func watch(dir, ready string) error {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return err
	}
	if _, err := unix.InotifyAddWatch(fd, dir, unix.IN_CREATE|unix.IN_MOVED_TO); err != nil {
		return fmt.Errorf("watch %s: %w", dir, err)
	}
	if err := os.WriteFile(ready, nil, 0o644); err != nil {
		return err
	}
	var files []held
	events := 0
	buf := make([]byte, 64*1024)
	deadline := time.Now().Add(2 * time.Minute)
	for stop := false; !stop && time.Now().Before(deadline); {
		n, err := unix.Read(fd, buf)
		if err == unix.EAGAIN {
			unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, 50)
			continue
		}
		if err != nil {
			return err
		}
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
			name := string(buf[off+unix.SizeofInotifyEvent : off+unix.SizeofInotifyEvent+int(ev.Len)])
			name = trimNUL(name)
			off += unix.SizeofInotifyEvent + int(ev.Len)
			events++
			if name == "stop" {
				stop = true
				continue
			}
			// Non-blocking, so a FIFO cannot stall the watch.
			if f, err := os.OpenFile(filepath.Join(dir, name), os.O_RDONLY|unix.O_NONBLOCK, 0); err == nil {
				files = append(files, held{name, f})
			}
		}
	}
	for _, h := range files {
		b, _ := io.ReadAll(h.f)
		fmt.Printf("captured %s: %s\n", h.name, strconv.Quote(string(b)))
	}
	fmt.Printf("events %d opened %d\n", events, len(files))
	return nil
}

func trimNUL(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			return s[:i]
		}
	}
	return s
}
