package main

import (
	"context"
	"os"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"hostplan": func() {
			os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Environ()))
		},
		// the real main, signal handling included (see TestLabInterrupt)
		"hostplan-main": main,
	})
}

// TestScripts runs the CLI scenarios in testdata/script that need no lab hosts:
// validation errors, inventory listing, refusals. Lab scenarios are Go tests.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{Dir: "testdata/script"})
}
