package diff

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/hostplan/hostplan/internal/golden"
)

// goldenCases are realistic changes; gnu_test.go replays them against GNU tools.
var goldenCases = []struct {
	name          string // testdata/<name>.golden
	before, after string // files in testdata
	path          string // as shown in the header
	context       int
}{
	// Audit logging, PodSecurity and a TLS floor added to kubeadm's manifest.
	{"kube-apiserver", "kube-apiserver.before.yaml", "kube-apiserver.after.yaml",
		"/etc/kubernetes/manifests/kube-apiserver.yaml", DefaultContext},
	{"kube-apiserver-U1", "kube-apiserver.before.yaml", "kube-apiserver.after.yaml",
		"/etc/kubernetes/manifests/kube-apiserver.yaml", 1},
	// A hand-edited file without a final newline replaced by a template.
	{"sshd_config", "sshd_config.before", "sshd_config.after", "/etc/ssh/sshd_config", DefaultContext},
	// A host's file with terminal control sequences (ESC, CR, BS, BEL, C1, DEL), bytes
	// that are not UTF-8 and bidi overrides: the diff keeps every byte, so patch
	// applies it; only render escapes them for display.
	{"terminal", "terminal.before", "terminal.after", "/etc/motd", DefaultContext},
}

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestGolden(t *testing.T) {
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			got := Unified(tc.path, tc.path, readTestdata(t, tc.before), readTestdata(t, tc.after), tc.context)
			golden.Check(t, tc.name+".golden", []byte(got))
		})
	}
}
