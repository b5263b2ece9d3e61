package main

import (
	"fmt"
	"io"
	"os"
	"runtime/metrics"
	"runtime/pprof"
	"sync"
	"time"
)

// startProfile writes a CPU profile of this run to $HOSTPLAN_CPUPROFILE, and a heap
// profile taken at its peak to $HOSTPLAN_MEMPROFILE, for profiling the real binary
// against real hosts (go tool pprof bin/hostplan FILE); the returned function stops
// them. Environment variables rather than flags: they are for developers, and every
// command gets them without a flag of its own.
func startProfile(getenv func(string) string, stderr io.Writer) func() {
	stopCPU := startCPUProfile(getenv("HOSTPLAN_CPUPROFILE"), stderr)
	stopMem := startHeapPeak(getenv("HOSTPLAN_MEMPROFILE"), stderr)
	return func() {
		stopMem()
		stopCPU()
	}
}

func startCPUProfile(path string, stderr io.Writer) func() {
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

// heapPoll is how often startHeapPeak looks at the heap.
const heapPoll = 250 * time.Millisecond

// startHeapPeak writes a heap profile to path each time the live heap grew by a tenth
// over the last one written, so the file ends up holding the run's peak.
func startHeapPeak(path string, stderr io.Writer) func() {
	if path == "" {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
		var peak uint64
		t := time.NewTicker(heapPoll)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			metrics.Read(sample)
			if live := sample[0].Value.Uint64(); live > peak+peak/10 {
				peak = live
				if err := writeHeapProfile(path); err != nil {
					fmt.Fprintf(stderr, "hostplan: HOSTPLAN_MEMPROFILE: %v\n", err)
					return
				}
			}
		}
	}()
	return func() {
		close(done)
		wg.Wait()
	}
}

func writeHeapProfile(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
