package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/user"
	"strings"
	"time"

	"github.com/hostplan/hostplan/internal/journal"
	"github.com/hostplan/hostplan/internal/render"
	"github.com/hostplan/hostplan/internal/report"
)

// lookupEnv reads the run's environment (the last setting wins, as in os.Getenv).
func (a *app) lookupEnv(name string) (value string, ok bool) {
	for _, kv := range a.environ {
		if v, found := strings.CutPrefix(kv, name+"="); found {
			value, ok = v, true
		}
	}
	return value, ok
}

func (a *app) getenv(name string) string {
	v, _ := a.lookupEnv(name)
	return v
}

// journalPath is --journal, else $HOSTPLAN_JOURNAL, else the default place.
func (a *app) journalPath(flag string) string {
	if flag != "" {
		return flag
	}
	if p := a.getenv("HOSTPLAN_JOURNAL"); p != "" {
		return p
	}
	return journal.DefaultPath(a.getenv)
}

// record appends an apply to the journal; "none" keeps no journal. A journal that
// cannot be written is reported but does not fail the apply, which already happened.
func (a *app) record(path string, doc *report.Apply) {
	if path == "none" {
		return
	}
	if err := journal.Append(path, journal.Entries(doc, a.runID(), operator(), time.Now())); err != nil {
		fmt.Fprintf(a.stderr, "hostplan: warning: %v\n", err)
	}
}

// runID names this invocation (time and a random suffix), the same in host locks and
// the journal.
func (a *app) runID() string {
	if a.run == "" {
		id := make([]byte, 4)
		rand.Read(id)
		a.run = time.Now().UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(id)
	}
	return a.run
}

// operator names who ran hostplan: the local user at this machine.
func operator() string {
	name := "unknown"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	host, _ := os.Hostname()
	return name + "@" + host
}

func (a *app) history(args []string) int {
	argv, err := parseHistoryArgs(args, a.stderr)
	if argsFailed(err, a.stderr) {
		return exitError
	}
	path, host, limit, asJSON := argv.journal, argv.host, argv.last, argv.json
	path = a.journalPath(path)
	entries, skipped, err := journal.Read(path)
	if err != nil {
		fmt.Fprintf(a.stderr, "hostplan: %v\n", err)
		return exitError
	}
	if skipped > 0 {
		fmt.Fprintf(a.stderr, "Warning: %s: %d unreadable lines skipped\n", path, skipped)
	}
	shown := journal.Select(entries, host, limit)
	if asJSON {
		for _, e := range shown {
			render.JSONLine(a.stdout, e)
		}
		return exitOK
	}
	if len(shown) == 0 {
		fmt.Fprintf(a.stdout, "No applies recorded in %s.\n", path)
		return exitOK
	}
	render.History(a.stdout, shown)
	return exitOK
}
