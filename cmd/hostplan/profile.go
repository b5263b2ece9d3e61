package main

import (
	"fmt"
	"io"
	"os"
	"runtime/pprof"
)

// startProfile writes a CPU profile of this run to $HOSTPLAN_CPUPROFILE, for profiling
// the real binary against real hosts (go tool pprof bin/hostplan FILE); the returned
// function stops it. An environment variable rather than a flag: it is for developers,
// and every command gets it without a flag of its own.
func startProfile(getenv func(string) string, stderr io.Writer) func() {
	path := getenv("HOSTPLAN_CPUPROFILE")
	if path == "" {
		return func() {}
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err == nil {
		err = pprof.StartCPUProfile(f)
	}
	if err != nil {
		fmt.Fprintf(stderr, "hostplan: HOSTPLAN_CPUPROFILE: %v\n", err)
		if f != nil {
			f.Close()
		}
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}
