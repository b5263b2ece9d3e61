package main

import (
	"fmt"
	"sync"
)

// dialWarnMu keeps warnings from concurrent connections whole and the progress block
// out of them.
var dialWarnMu sync.Mutex

// dialWarning prints what the transport warns about and goes on with, as ssh prints it
// (a host key added under StrictHostKeyChecking no, a missing identity file).
func (a *app) dialWarning(msg string) {
	dialWarnMu.Lock()
	defer dialWarnMu.Unlock()
	defer a.prompting()()
	fmt.Fprintf(a.stderr, "Warning: %s\n", msg)
}
