package health

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseProcesses(t *testing.T) {
	out := "123 4567 kube-apiserver\x1f--secure-port=6443\x1f--audit-log-path=/var/log/a b\x1f\n" +
		"garbage line\n" +
		"99 12 kube-apiserver\x1f\n" +
		"x 12 kube-apiserver\x1f\n"
	got := parseProcesses(out)
	want := []Process{
		{PID: 123, Start: 4567, Argv: []string{"kube-apiserver", "--secure-port=6443", "--audit-log-path=/var/log/a b"}},
		{PID: 99, Start: 12, Argv: []string{"kube-apiserver"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
}

func TestFailedChecks(t *testing.T) {
	body := "[+]ping ok\n[-]etcd failed: reason withheld\n[+]log ok\n[-]poststarthook/rbac failed\nreadyz check failed\n"
	if got := failedChecks([]byte(body)); got != "[-]etcd failed: reason withheld; [-]poststarthook/rbac failed" {
		t.Errorf("failedChecks = %q", got)
	}
	if got := failedChecks([]byte("Unauthorized\n")); got != "Unauthorized" {
		t.Errorf("failedChecks without check lines = %q", got)
	}
}

func TestDefaults(t *testing.T) {
	g := &KubeAPIServer{Timeout: 90 * time.Second}
	if g.ManifestPath() != "/etc/kubernetes/manifests/kube-apiserver.yaml" {
		t.Errorf("ManifestPath %q", g.ManifestPath())
	}
	want := "kube-apiserver of /etc/kubernetes/manifests/kube-apiserver.yaml restarted with the new flags, /livez and /readyz OK on 127.0.0.1 at its --secure-port (timeout 1m30s)"
	if d := g.Describe(); d != want {
		t.Errorf("Describe:\n%s\nwant\n%s", d, want)
	}
}

// A start since the change whose server is gone on two looks in a row, or two starts,
// is a crash; a slow start (no new log yet, or a new server running) is not.
func TestCrashWatch(t *testing.T) {
	old := "/var/log/pods/kube-system_kube-apiserver-m1_aaa/kube-apiserver/0.log"
	start0 := "/var/log/pods/kube-system_kube-apiserver-m1_bbb/kube-apiserver/0.log"
	start1 := "/var/log/pods/kube-system_kube-apiserver-m1_bbb/kube-apiserver/1.log"
	for _, tc := range []struct {
		name  string
		looks []struct {
			logs    []string
			running bool
		}
		crashAt int // index of the look that reports the crash, -1 for none
	}{
		{"old server still up", []struct {
			logs    []string
			running bool
		}{{[]string{old}, false}, {[]string{old}, false}, {[]string{old}, false}}, -1},
		{"slow healthy start", []struct {
			logs    []string
			running bool
		}{{[]string{start0, old}, false}, {[]string{start0, old}, true}, {[]string{start0, old}, true}}, -1},
		{"exits at once", []struct {
			logs    []string
			running bool
		}{{[]string{start0, old}, false}, {[]string{start0, old}, false}}, 1},
		{"restarted by kubelet", []struct {
			logs    []string
			running bool
		}{{[]string{start1, start0, old}, false}}, 0},
	} {
		w := newCrashWatch([]string{old})
		got := -1
		for i, l := range tc.looks {
			if starts := w.crashed(l.logs, l.running); starts != nil && got < 0 {
				got = i
				if starts[0] != l.logs[0] {
					t.Errorf("%s: newest start %s, want %s", tc.name, starts[0], l.logs[0])
				}
			}
		}
		if got != tc.crashAt {
			t.Errorf("%s: crash seen at look %d, want %d", tc.name, got, tc.crashAt)
		}
	}
}

func TestFailureLines(t *testing.T) {
	flagErr := "2026-12-02T10:00:00.1Z stderr F Error: invalid argument \"thirty\" for \"--audit-log-maxage\" flag: strconv.ParseInt: parsing \"thirty\": invalid syntax\n" +
		"2026-12-02T10:00:00.1Z stderr F Usage:\n2026-12-02T10:00:00.1Z stderr F   kube-apiserver [flags]\n"
	if got, failed := failureLines(flagErr, 3); !failed || len(got) != 1 || got[0] != `Error: invalid argument "thirty" for "--audit-log-maxage" flag: strconv.ParseInt: parsing "thirty": invalid syntax` {
		t.Errorf("flag error: %q", got)
	}
	klog := "I1202 10:00:00.000001 1 options.go:228] external host was not specified\n" +
		`E1202 10:00:00.000002 1 run.go:72] "command failed" err="loading audit policy file: no kind \"Policy\" is registered for version \"audit.k8s.io/v1beta1\""` + "\n"
	if got, failed := failureLines(klog, 3); !failed || len(got) != 1 || !strings.Contains(got[0], `no kind \"Policy\" is registered`) {
		t.Errorf("klog error: %q", got)
	}
	if got, failed := failureLines("a\nb\nc\nd\n", 2); failed || !reflect.DeepEqual(got, []string{"c", "d"}) {
		t.Errorf("no failure line: %q", got)
	}
}

// TestQuoteCrash: the newest start may still be running, its log empty or without its
// error yet; the start before it has ended and is quoted instead.
func TestQuoteCrash(t *testing.T) {
	const flagErr = "2026-12-02T10:00:00.1Z stderr F Error: invalid argument \"thirty\" for \"--audit-log-maxage\" flag\n"
	const starting = "2026-12-02T10:00:01.1Z stderr F I1202 10:00:01.100000 1 options.go:228] external host was not specified\n"
	for _, tc := range []struct {
		name   string
		logs   map[string]string // by path; absent: unreadable
		starts []string
		log    string
		lines  []string
	}{
		{"newest failed", map[string]string{"2.log": flagErr, "1.log": "old"}, []string{"2.log", "1.log"},
			"2.log", []string{`Error: invalid argument "thirty" for "--audit-log-maxage" flag`}},
		{"newest empty", map[string]string{"2.log": "", "1.log": flagErr}, []string{"2.log", "1.log"},
			"1.log", []string{`Error: invalid argument "thirty" for "--audit-log-maxage" flag`}},
		{"newest still starting", map[string]string{"2.log": starting, "1.log": flagErr}, []string{"2.log", "1.log"},
			"1.log", []string{`Error: invalid argument "thirty" for "--audit-log-maxage" flag`}},
		{"neither failed", map[string]string{"2.log": starting, "1.log": "x"}, []string{"2.log", "1.log", "0.log"},
			"2.log", []string{"I1202 10:00:01.100000 1 options.go:228] external host was not specified"}},
		{"newest unreadable", map[string]string{"1.log": flagErr}, []string{"2.log", "1.log"},
			"1.log", []string{`Error: invalid argument "thirty" for "--audit-log-maxage" flag`}},
		{"one start", map[string]string{"0.log": ""}, []string{"0.log"}, "0.log", nil},
	} {
		e := quoteCrash(tc.starts, func(log string) (string, bool) {
			text, ok := tc.logs[log]
			return text, ok
		})
		if e.Starts != len(tc.starts) || e.Log != tc.log || !reflect.DeepEqual(e.Lines, tc.lines) {
			t.Errorf("%s: %d starts, log %s, lines %q; want log %s, lines %q", tc.name, e.Starts, e.Log, e.Lines, tc.log, tc.lines)
		}
	}
}

func TestWithhold(t *testing.T) {
	crash := &CrashError{Starts: 2, Log: "/var/log/pods/x/kube-apiserver/1.log", Lines: []string{`Error: invalid argument "s3cr3t"`}}
	err := error(&NotHealthyError{After: 9 * time.Second, Err: crash})
	Withhold(err)
	if strings.Contains(err.Error(), "s3cr3t") || !strings.Contains(err.Error(), "not quoted here") {
		t.Errorf("withheld crash error: %v", err)
	}
	Withhold(errors.New("no kube-apiserver process is running")) // not a crash: left alone
}
