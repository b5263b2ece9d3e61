package winstandin

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/hostplan/hostplan/internal/netsh"
)

// TestConcurrentAdds runs adds as concurrent SSH sessions would: none of
// them may be lost to another's read-modify-write.
func TestConcurrentAdds(t *testing.T) {
	st := newState(t)
	const n = 20
	var wg sync.WaitGroup
	errs := make(chan string, 2*n)
	for i := range n {
		wg.Go(func() {
			for _, line := range []string{
				fmt.Sprintf("netsh interface portproxy add v4tov4 listenport=%d connectaddress=10.0.0.%d", 10000+i, i+1),
				fmt.Sprintf(`netsh advfirewall firewall add rule name="hostplan r%d" dir=in action=allow protocol=TCP localport=%d`, i, 10000+i),
			} {
				if stdout, stderr, code := run(t, st, line); code != 0 {
					errs <- fmt.Sprintf("%s: exit %d %q %q", line, code, stdout, stderr)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	log, err := os.ReadFile(st + ".log")
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Count(string(log), "\n"); lines != 2*n {
		t.Errorf("%d log lines, want %d", lines, 2*n)
	}
	entries := showEntries(t, st)
	if len(entries) != n {
		t.Errorf("%d entries, want %d: %v", len(entries), n, entries)
	}
	for i, e := range entries {
		if want := (netsh.Entry{ListenAddress: "*", ListenPort: 10000 + i, ConnectAddress: fmt.Sprintf("10.0.0.%d", i+1), ConnectPort: 10000 + i}); e != want {
			t.Errorf("entry %d = %v, want %v", i, e, want)
		}
	}
	out := mustRun(t, st, "netsh advfirewall firewall show rule name=all", 0)
	if rules, err := netsh.ParseShowRule(out, 0); err != nil || len(rules) != n {
		t.Errorf("%d rules (%v), want %d", len(rules), err, n)
	}
	// Every write went through a temporary file that was renamed away.
	left, err := filepath.Glob(st + ".tmp*")
	if err != nil || len(left) > 0 {
		t.Errorf("temporary files left: %v %v", left, err)
	}
}

func TestLog(t *testing.T) {
	st := newState(t)
	lines := []string{
		"echo hostname=%COMPUTERNAME%& ver",
		"netsh interface portproxy show v4tov4",
		"bogus && echo never",
		"echo a | sort",
		"",
		`netsh advfirewall firewall show rule name="hostplan apiserver"`,
	}
	for _, l := range lines {
		run(t, st, l)
	}
	// Only what cmd.exe runs is logged: the first line, without its CR.
	run(t, st, "echo first\r\necho second")
	want := strings.Join(lines, "\n") + "\necho first\n"
	got, err := os.ReadFile(st + ".log")
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Errorf("log:\n%s\nwant:\n%s", got, want)
	}
	// Reading commands do not create the state file; the log is all they leave.
	if _, err := os.Stat(st); !os.IsNotExist(err) {
		t.Errorf("state file after read-only commands: %v", err)
	}
}

func TestStateFile(t *testing.T) {
	st := newState(t)
	mustRun(t, st, "netsh interface portproxy add v4tov4 listenport=80 listenaddress=0.0.0.0 connectaddress=Host connectport=8080", 0)
	mustRun(t, st, "netsh advfirewall firewall add rule name=x dir=in action=allow protocol=TCP localport=80", 0)
	b, err := os.ReadFile(st)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"listenAddress": "0.0.0.0"`, `"connectAddress": "Host"`, `"connectPort": 8080`, `"name": "x"`, `"localPort": "80"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("state file lacks %s:\n%s", want, b)
		}
	}

	if err := os.WriteFile(st, []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := run(t, st, "netsh interface portproxy show v4tov4 & echo after")
	if code != 0 || stdout != "after\r\n" || !strings.Contains(stderr, "winstandin: state file") {
		t.Errorf("corrupt state: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if _, _, code := run(t, st, "netsh interface portproxy show v4tov4"); code != exitRefused {
		t.Errorf("corrupt state: exit %d, want %d", code, exitRefused)
	}
}
