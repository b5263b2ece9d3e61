package health

// Telling a crash loop from a slow start: kubelet keeps a log file per container start
// (/var/log/pods/NAMESPACE_POD_UID/CONTAINER/N.log, a new UID for each version of a
// static pod's manifest), so starts since the change can be counted even when each
// process lives for less than one look.

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/hostplan/hostplan/internal/transport"
)

// podLogGlob matches the API server's container logs, kubeadm's static pod being
// kube-apiserver-NODE in kube-system.
const podLogGlob = "/var/log/pods/kube-system_kube-apiserver-*/"

// logListScript prints "log PATH" for each container log, newest first; only regular
// files under root's directories are listed, never a link.
func logListScript(container string) string {
	return fmt.Sprintf(`set -- %s%s/*.log
[ -e "$1" ] && ls -1t -- "$@" 2>/dev/null | while read -r f; do [ -f "$f" ] && [ ! -h "$f" ] && printf 'log %%s\n' "$f"; done
`, podLogGlob, transport.ShellQuote(container))
}

// crashWatch follows the starts of the API server's container after a change.
type crashWatch struct {
	before map[string]bool // container logs that existed before the change
	absent int             // looks in a row that found a start but no new server
}

func newCrashWatch(logs []string) *crashWatch {
	w := &crashWatch{before: map[string]bool{}}
	for _, l := range logs {
		w.before[l] = true
	}
	return w
}

// crashed looks at the container logs (newest first) and whether a new server runs,
// and returns the logs of the starts since the change when the new container has
// exited: it started twice (kubelet restarts only what exited), or it started and no
// server has run for two looks in a row.
func (w *crashWatch) crashed(logs []string, running bool) []string {
	var starts []string
	for _, l := range logs {
		if !w.before[l] {
			starts = append(starts, l)
		}
	}
	switch {
	case running || len(starts) == 0:
		w.absent = 0
		return nil
	case len(starts) >= 2:
		return starts
	}
	w.absent++
	if w.absent >= 2 {
		return starts
	}
	return nil
}

// CrashError is a new API server that exits: there is no point waiting for it.
type CrashError struct {
	Starts int      // container starts since the change
	Log    string   // the newest start's log
	Lines  []string // what the server said last about its failure
	// Withheld: the lines are not quoted because the manifest holds sensitive values,
	// which a server refusing a flag quotes back ("invalid argument VALUE").
	Withheld bool
}

// Withhold drops the quoted lines of a *CrashError in err, for a change whose values
// must not appear in a report.
func Withhold(err error) {
	var crash *CrashError
	if errors.As(err, &crash) && len(crash.Lines) > 0 {
		crash.Lines, crash.Withheld = nil, true
	}
}

func (e *CrashError) Error() string {
	msg := fmt.Sprintf("kube-apiserver exits after starting with the new manifest (%d %s since the change)", e.Starts, plural(e.Starts, "start", "starts"))
	switch {
	case e.Withheld:
		return msg + "; see its log " + e.Log + " (not quoted here: the manifest holds sensitive values)"
	case len(e.Lines) == 0:
		return msg + "; its log " + e.Log + " says nothing"
	}
	return msg + "; its log " + e.Log + " ends: " + strings.Join(e.Lines, " | ")
}

// crashError reads what the newest start logged. That start may still be running,
// its error not written yet (CI read an empty log a moment after kubelet started it):
// the start before it has ended, as kubelet restarts only what exited, so its log is
// quoted when the newest one holds no failure line.
func crashError(ctx context.Context, conn transport.Conn, starts []string) *CrashError {
	return quoteCrash(starts, func(log string) (string, bool) {
		res, err := conn.Run(ctx, "tail -c 65536 -- "+transport.ShellQuote(log), nil)
		if err != nil || res.ExitCode != 0 {
			return "", false
		}
		return string(res.Stdout), true
	})
}

// quoteCrash builds the error from the starts' logs (newest first), read by read.
func quoteCrash(starts []string, read func(log string) (string, bool)) *CrashError {
	e := &CrashError{Starts: len(starts), Log: starts[0]}
	for i, log := range starts[:min(2, len(starts))] {
		text, ok := read(log)
		if !ok {
			continue
		}
		lines, failed := failureLines(text, 3)
		if i == 0 || failed {
			e.Log, e.Lines = log, lines
		}
		if failed {
			break
		}
	}
	return e
}

// criPrefix is the CRI log format's "TIME STREAM TAG " before each line.
var criPrefix = regexp.MustCompile(`^\S+ (stdout|stderr) [FP] `)

// failureLine is how kube-apiserver reports why it stops: cobra's "Error: " for bad
// flags, klog's error and fatal lines ("E1202 10:00:00.000000 ...").
var failureLine = regexp.MustCompile(`^(Error: |[EF]\d{4} )`)

// failureLines returns the last n failure lines of a container log and true, else its
// last n lines: cobra prints the whole usage after a flag error, which says nothing.
func failureLines(log string, n int) ([]string, bool) {
	var all, failures []string
	for _, l := range strings.Split(log, "\n") {
		l = strings.TrimSpace(criPrefix.ReplaceAllString(l, ""))
		if l == "" {
			continue
		}
		all = append(all, l)
		if failureLine.MatchString(l) {
			failures = append(failures, l)
		}
	}
	failed := len(failures) > 0
	if !failed {
		failures = all
	}
	return slices.Clone(failures[max(0, len(failures)-n):]), failed
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
