package config

import (
	"sync"
	"testing"
)

// The functions are built once per table and shared by its users (per-host evaluations
// run at once), each given a map of its own; templatefile is a plan function, not a
// template's.
func TestFuncTableBuiltOnce(t *testing.T) {
	table := newFuncTable(t.TempDir(), nil)
	maps := make([]funcMap, 8)
	var wg sync.WaitGroup
	for i := range maps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			maps[i] = table.evalFuncs()
		}()
	}
	wg.Wait()
	for _, m := range maps[1:] {
		if m["upper"] != maps[0]["upper"] || m["templatefile"] != maps[0]["templatefile"] {
			t.Fatal("evalFuncs built its functions again")
		}
	}
	delete(maps[0], "upper")
	if _, ok := table.evalFuncs()["upper"]; !ok {
		t.Error("a caller's change of its map reached the table")
	}
	if _, ok := maps[1]["templatefile"]; !ok {
		t.Error("no templatefile among the plan's functions")
	}
	if _, ok := table.pure()["templatefile"]; ok {
		t.Error("templatefile among a template's functions")
	}
}
