package lab

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestZTiming(t *testing.T) {
	for _, n := range []int{1, 3, 20, 20} {
		t0 := time.Now()
		l, err := Start(context.Background(), Options{Hosts: n})
		if err != nil {
			t.Fatal(err)
		}
		t1 := time.Now()
		if err := l.Stop(); err != nil {
			b, _ := os.ReadFile("/proc/self/mountinfo")
			for _, line := range strings.Split(string(b), "\n") {
				if strings.Contains(line, l.Name) {
					t.Log(line)
				}
			}
			self, _ := os.Readlink("/proc/self/ns/mnt")
			tasks, _ := filepath.Glob("/proc/[0-9]*/task/*")
			for _, task := range tasks {
				ns, _ := os.Readlink(task + "/ns/mnt")
				if ns == self || ns == "" {
					continue
				}
				mi, _ := os.ReadFile(task + "/mountinfo")
				if strings.Contains(string(mi), l.Name) {
					comm, _ := os.ReadFile(task + "/comm")
					t.Logf("%s %s %s", task, ns, comm)
					for _, line := range strings.Split(string(mi), "\n") {
						if strings.Contains(line, l.Name) {
							t.Log("   ", line)
						}
					}
				}
			}
			t.Fatal(err)
		}
		t.Logf("%d hosts: start %v stop %v", n, t1.Sub(t0), time.Since(t1))
	}
}
