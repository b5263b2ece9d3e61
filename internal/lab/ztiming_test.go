package lab

import (
	"context"
	"testing"
	"time"
)

func TestZTiming(t *testing.T) {
	for _, n := range []int{1, 3, 20} {
		t0 := time.Now()
		l, err := Start(context.Background(), Options{Hosts: n})
		if err != nil {
			t.Fatal(err)
		}
		t1 := time.Now()
		if err := l.Stop(); err != nil {
			t.Fatal(err)
		}
		t.Logf("%d hosts: start %v stop %v", n, t1.Sub(t0), time.Since(t1))
	}
}
