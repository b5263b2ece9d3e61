package config

import (
	"reflect"
	"sync"
	"testing"
)

// The function maps are built once per table and shared by its copies and goroutines
// (per-host evaluations run at once); templatefile is a plan function, not a template's.
func TestFuncTableBuiltOnce(t *testing.T) {
	table := newFuncTable(t.TempDir(), nil)
	maps := make([]funcMap, 8)
	var wg sync.WaitGroup
	for i := range maps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			copied := table
			maps[i] = copied.evalFuncs()
		}()
	}
	wg.Wait()
	for _, m := range maps[1:] {
		if reflect.ValueOf(m).Pointer() != reflect.ValueOf(maps[0]).Pointer() {
			t.Fatal("evalFuncs built its map again")
		}
	}
	if _, ok := maps[0]["templatefile"]; !ok {
		t.Error("no templatefile among the plan's functions")
	}
	if _, ok := table.pure()["templatefile"]; ok {
		t.Error("templatefile among a template's functions")
	}
}
