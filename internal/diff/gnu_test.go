package diff

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// randomEdit returns a file of n lines and a copy with edits random line
// replacements, insertions and deletions, the same for the same seed. With
// dups, a quarter of the lines come from a few common ones (blank lines,
// "readOnly: true"), which leaves several equally minimal diffs.
func randomEdit(seed uint64, n, edits int, dups bool) (before, after []byte) {
	r := rand.New(rand.NewPCG(seed, 0x6870))
	common := []string{"\n", "    readOnly: true\n", "  - hostPath:\n", "}\n"}
	line := func(format string, args ...any) string {
		if dups && r.IntN(4) == 0 {
			return common[r.IntN(len(common))]
		}
		return fmt.Sprintf(format, args...)
	}
	old := make([]string, n)
	for i := range old {
		old[i] = line("    - --flag-%d=%d\n", i, r.IntN(1000))
	}
	cur := slices.Clone(old)
	for e := range edits {
		pos, k := r.IntN(len(cur)+1), 1+r.IntN(3)
		switch r.IntN(3) {
		case 0:
			if pos < len(cur) {
				cur[pos] = line("    - --changed-%d=%d\n", e, r.IntN(1000))
			}
		case 1:
			ins := make([]string, k)
			for i := range ins {
				ins[i] = line("    - --inserted-%d-%d\n", e, i)
			}
			cur = slices.Insert(cur, pos, ins...)
		case 2:
			cur = slices.Delete(cur, pos, min(pos+k, len(cur)))
		}
	}
	join := func(l []string) []byte {
		b := []byte(strings.Join(l, ""))
		if r.IntN(5) == 0 { // sometimes no newline at end of file
			b = bytes.TrimSuffix(b, []byte("\n"))
		}
		return b
	}
	return join(old), join(cur)
}

// checkGNU asserts that GNU patch turns before into after with our diff, and
// compares the diff with GNU diff's. With exact, they must match; otherwise
// GNU may pick a different alignment (it slides changes differently and
// discards "confusing" lines, go-diff shifts edits to merge equalities) and
// ours only needs to be as small.
func checkGNU(t *testing.T, before, after []byte, context int, exact bool) {
	t.Helper()
	dir := t.TempDir()
	oldPath, newPath, outPath := filepath.Join(dir, "old"), filepath.Join(dir, "new"), filepath.Join(dir, "out")
	if err := os.WriteFile(oldPath, before, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(newPath, after, 0o644); err != nil {
		t.Fatal(err)
	}
	got := Unified("old", "new", before, after, context)

	if _, err := exec.LookPath("diff"); err == nil {
		cmd := exec.Command("diff", "-U"+strconv.Itoa(max(context, 0)), "--label", "old", "--label", "new", oldPath, newPath)
		out, err := cmd.Output()
		var exit *exec.ExitError
		if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == 1) {
			t.Fatalf("diff: %v", err)
		}
		if want := string(out); got != want {
			ga, gr := Stats(got)
			wa, wr := Stats(want)
			if exact || ga+gr > wa+wr {
				t.Errorf("differs from diff -U%d (+%d -%d vs +%d -%d):\nours:\n%s\nGNU:\n%s", context, ga, gr, wa, wr, got, want)
			} else {
				t.Logf("GNU diff chose another alignment of the same size (+%d -%d)", wa, wr)
			}
		}
	}

	if got == "" {
		return
	}
	cmd := exec.Command("patch", "--batch", "--fuzz=0", "--no-backup-if-mismatch",
		"-r", filepath.Join(dir, "rej"), "-o", outPath, oldPath)
	cmd.Stdin = strings.NewReader(got)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("patch: %v\n%s\ndiff:\n%s", err, out, got)
	}
	// "Hunk #2 succeeded at 41 (offset 1 line)" means our line numbers are off.
	if bytes.Contains(out, []byte("Hunk")) {
		t.Errorf("patch needed to adjust hunks:\n%s\ndiff:\n%s", out, got)
	}
	result, err := os.ReadFile(outPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(result, after) {
		t.Errorf("patch produced %q, want %q\ndiff:\n%s", result, after, got)
	}
}

func requirePatch(t *testing.T) {
	if _, err := exec.LookPath("patch"); err != nil {
		t.Skip("GNU patch is not on PATH; cannot check that our diffs apply")
	}
}

func TestGNUEdgeCases(t *testing.T) {
	requirePatch(t)
	for _, tc := range edgeCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			checkGNU(t, []byte(tc.before), []byte(tc.after), tc.context, true)
		})
	}
}

func TestGNUGolden(t *testing.T) {
	requirePatch(t)
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			checkGNU(t, readTestdata(t, tc.before), readTestdata(t, tc.after), tc.context, true)
		})
	}
}

func TestGNURandom(t *testing.T) {
	requirePatch(t)
	for seed := range uint64(100) {
		for _, dups := range []bool{false, true} {
			before, after := randomEdit(seed, 300, 15, dups)
			for _, context := range slices.Compact([]int{DefaultContext, int(seed % 6)}) {
				t.Run(fmt.Sprintf("seed%d/dups=%v/U%d", seed, dups, context), func(t *testing.T) {
					t.Parallel()
					// Lines are unique unless dups, so only one minimal diff exists.
					checkGNU(t, before, after, context, !dups)
				})
			}
		}
	}
}

// Past deadlineLines go-diff runs with a deadline (and its half-match
// speedup); the diff must still apply.
func TestGNUBigFile(t *testing.T) {
	requirePatch(t)
	before, after := randomEdit(1, deadlineLines, 40, true)
	checkGNU(t, before, after, DefaultContext, false)
}
