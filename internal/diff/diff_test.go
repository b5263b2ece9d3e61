package diff

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// lines returns "1\n2\n...n\n".
func lines(n int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "%d\n", i)
	}
	return b.String()
}

// change replaces whole lines of s ("5\n" -> "five\n") for compact cases.
func change(s string, pairs ...string) string {
	for i := 0; i < len(pairs); i += 2 {
		old := "\n" + pairs[i] + "\n"
		if !strings.Contains("\n"+s, old) {
			panic("no line " + pairs[i])
		}
		s = strings.TrimPrefix(strings.Replace("\n"+s, old, "\n"+pairs[i+1]+"\n", 1), "\n")
	}
	return s
}

const noEOL = "\\ No newline at end of file\n"

// edgeCases are also replayed against GNU diff and patch in gnu_test.go.
var edgeCases = []struct {
	name          string
	before, after string
	context       int
	want          string // without the ---/+++ header
	added, remvd  int
}{
	{name: "equal", before: "a\nb\n", after: "a\nb\n", context: 3, want: ""},
	{name: "both empty", context: 3, want: ""},
	{name: "new file", before: "", after: "a\nb\n", context: 3,
		want: "@@ -0,0 +1,2 @@\n+a\n+b\n", added: 2},
	{name: "new file one line no EOL", before: "", after: "a", context: 3,
		want: "@@ -0,0 +1 @@\n+a\n" + noEOL, added: 1},
	{name: "deleted file", before: "a\nb\n", after: "", context: 3,
		want: "@@ -1,2 +0,0 @@\n-a\n-b\n", remvd: 2},
	{name: "deleted file no EOL", before: "a\nb", after: "", context: 3,
		want: "@@ -1,2 +0,0 @@\n-a\n-b\n" + noEOL, remvd: 2},
	{name: "newline added at EOF", before: "a\nb", after: "a\nb\n", context: 3,
		want: "@@ -1,2 +1,2 @@\n a\n-b\n" + noEOL + "+b\n", added: 1, remvd: 1},
	{name: "newline removed at EOF", before: "a\nb\n", after: "a\nb", context: 3,
		want: "@@ -1,2 +1,2 @@\n a\n-b\n+b\n" + noEOL, added: 1, remvd: 1},
	{name: "only a newline", before: "\n", after: "", context: 3,
		want: "@@ -1 +0,0 @@\n-\n", remvd: 1},
	{name: "last line changed, no EOL on both", before: "a\nb", after: "a\nc", context: 3,
		want: "@@ -1,2 +1,2 @@\n a\n-b\n" + noEOL + "+c\n" + noEOL, added: 1, remvd: 1},
	{name: "no EOL in trailing context", before: "a\nb\nc", after: "x\nb\nc", context: 3,
		want: "@@ -1,3 +1,3 @@\n-a\n+x\n b\n c\n" + noEOL, added: 1, remvd: 1},
	{name: "no EOL beyond context", before: lines(9) + "10", after: change(lines(9), "1", "one") + "10", context: 3,
		want: "@@ -1,4 +1,4 @@\n-1\n+one\n 2\n 3\n 4\n", added: 1, remvd: 1},
	{name: "first line", before: lines(10), after: change(lines(10), "1", "one"), context: 3,
		want: "@@ -1,4 +1,4 @@\n-1\n+one\n 2\n 3\n 4\n", added: 1, remvd: 1},
	{name: "last line", before: lines(10), after: change(lines(10), "10", "ten"), context: 3,
		want: "@@ -7,4 +7,4 @@\n 7\n 8\n 9\n-10\n+ten\n", added: 1, remvd: 1},
	{name: "insert at top", before: lines(5), after: "0\n" + lines(5), context: 3,
		want: "@@ -1,3 +1,4 @@\n+0\n 1\n 2\n 3\n", added: 1},
	{name: "append at end", before: lines(5), after: lines(5) + "6\n", context: 3,
		want: "@@ -3,3 +3,4 @@\n 3\n 4\n 5\n+6\n", added: 1},
	{name: "two hunks far apart", before: lines(20), after: change(lines(20), "2", "two", "18", "eighteen"), context: 3,
		want: "@@ -1,5 +1,5 @@\n 1\n-2\n+two\n 3\n 4\n 5\n" +
			"@@ -15,6 +15,6 @@\n 15\n 16\n 17\n-18\n+eighteen\n 19\n 20\n", added: 2, remvd: 2},
	{name: "gap of 2*context merges", before: lines(20), after: change(lines(20), "5", "five", "12", "twelve"), context: 3,
		want:  "@@ -2,14 +2,14 @@\n 2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n 9\n 10\n 11\n-12\n+twelve\n 13\n 14\n 15\n",
		added: 2, remvd: 2},
	{name: "gap of 2*context+1 splits", before: lines(20), after: change(lines(20), "5", "five", "13", "thirteen"), context: 3,
		want: "@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n" +
			"@@ -10,7 +10,7 @@\n 10\n 11\n 12\n-13\n+thirteen\n 14\n 15\n 16\n", added: 2, remvd: 2},
	{name: "context 0", before: lines(10), after: change(lines(10), "5", "five", "7", "seven"), context: 0,
		want: "@@ -5 +5 @@\n-5\n+five\n@@ -7 +7 @@\n-7\n+seven\n", added: 2, remvd: 2},
	{name: "context 0 adjacent changes", before: lines(10), after: change(lines(10), "5", "five", "6", "six"), context: 0,
		want: "@@ -5,2 +5,2 @@\n-5\n-6\n+five\n+six\n", added: 2, remvd: 2},
	{name: "context 0 insert", before: lines(5), after: change(lines(5), "3", "3\nnew"), context: 0,
		want: "@@ -3,0 +4 @@\n+new\n", added: 1},
	{name: "context 0 delete", before: lines(5), after: change(lines(5), "4\n5", "5"), context: 0,
		want: "@@ -4 +3,0 @@\n-4\n", remvd: 1},
	{name: "context 0 insert at top", before: lines(2), after: "0\n" + lines(2), context: 0,
		want: "@@ -0,0 +1 @@\n+0\n", added: 1},
	{name: "negative context is 0", before: lines(10), after: change(lines(10), "5", "five"), context: -1,
		want: "@@ -5 +5 @@\n-5\n+five\n", added: 1, remvd: 1},
	{name: "context 5", before: lines(20), after: change(lines(20), "10", "ten"), context: 5,
		want: "@@ -5,11 +5,11 @@\n 5\n 6\n 7\n 8\n 9\n-10\n+ten\n 11\n 12\n 13\n 14\n 15\n", added: 1, remvd: 1},
	{name: "context 5 merges what context 3 splits", before: lines(20), after: change(lines(20), "5", "five", "13", "thirteen"), context: 5,
		want:  "@@ -1,18 +1,18 @@\n 1\n 2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n 9\n 10\n 11\n 12\n-13\n+thirteen\n 14\n 15\n 16\n 17\n 18\n",
		added: 2, remvd: 2},
	{name: "CRLF", before: "a\r\nb\r\nc\r\n", after: "a\r\nB\r\nc\r\n", context: 3,
		want: "@@ -1,3 +1,3 @@\n a\r\n-b\r\n+B\r\n c\r\n", added: 1, remvd: 1},
	{name: "CRLF to LF", before: "a\r\nb\r\n", after: "a\nb\n", context: 3,
		want: "@@ -1,2 +1,2 @@\n-a\r\n-b\r\n+a\n+b\n", added: 2, remvd: 2},
	{name: "CR without LF is not a line break", before: "a\rb\n", after: "a\rc\n", context: 3,
		want: "@@ -1 +1 @@\n-a\rb\n+a\rc\n", added: 1, remvd: 1},
	{name: "lines that look like headers", before: "-- x\nz\n", after: "++ y\nz\n", context: 3,
		want: "@@ -1,2 +1,2 @@\n--- x\n+++ y\n z\n", added: 1, remvd: 1},
	// go-diff numbers lines with runes; before v1.4.0 line "10" could
	// partly match line "11" (see docs/go-pitfalls.md).
	{name: "rune-encoded line numbers", before: lines(300), after: change(lines(300), "10", "10a", "110", "110a"), context: 0,
		want: "@@ -10 +10 @@\n-10\n+10a\n@@ -110 +110 @@\n-110\n+110a\n", added: 2, remvd: 2},
	{name: "rewritten file", before: "a\nb\nc\n", after: "x\ny\n", context: 3,
		want: "@@ -1,3 +1,2 @@\n-a\n-b\n-c\n+x\n+y\n", added: 2, remvd: 3},
	{name: "invalid UTF-8 kept as is", before: "a\n\xff\xfe\n", after: "a\n\xff\xfd\n", context: 3,
		want: "@@ -1,2 +1,2 @@\n a\n-\xff\xfe\n+\xff\xfd\n", added: 1, remvd: 1},
}

func TestUnified(t *testing.T) {
	for _, tc := range edgeCases {
		t.Run(tc.name, func(t *testing.T) {
			got := Unified("a/f", "b/f", []byte(tc.before), []byte(tc.after), tc.context)
			want := tc.want
			if want != "" {
				want = "--- a/f\n+++ b/f\n" + want
			}
			if got != want {
				t.Errorf("Unified() =\n%s\nwant\n%s", got, want)
			}
			if a, r := Stats(got); a != tc.added || r != tc.remvd {
				t.Errorf("Stats() = +%d -%d, want +%d -%d", a, r, tc.added, tc.remvd)
			}
		})
	}
}

func TestSummaries(t *testing.T) {
	text := []byte("a\nb\n")
	bin := []byte("a\x00b\n")
	for _, tc := range []struct {
		name          string
		before, after []byte
		maxBytes      int
		want          string
	}{
		{"NUL before", bin, text, MaxBytes, "binary file differs (4 bytes -> 4 bytes)\n"},
		{"NUL after", text, bin, MaxBytes, "binary file differs (4 bytes -> 4 bytes)\n"},
		{"equal binary", bin, bin, MaxBytes, ""},
		{"large before", bytes.Repeat(text, 3), text, 8, "large file differs (12 bytes -> 4 bytes)\n"},
		{"large after", text, bytes.Repeat(text, 3), 8, "large file differs (4 bytes -> 12 bytes)\n"},
		{"large wins over binary", bytes.Repeat(bin, 3), text, 8, "large file differs (12 bytes -> 4 bytes)\n"},
		{"at the limit", text, []byte("a\nc\n"), 4, "@@ -1,2 +1,2 @@\n a\n-b\n+c\n"},
		{"too many lines", bytes.Repeat([]byte{'\n'}, maxLines), nil, 2 * maxLines,
			fmt.Sprintf("large file differs (%d bytes -> 0 bytes)\n", maxLines)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := unified("old", "new", tc.before, tc.after, 3, tc.maxBytes)
			want := tc.want
			if want != "" {
				want = "--- old\n+++ new\n" + want
			}
			if got != want {
				t.Errorf("unified() =\n%q\nwant\n%q", got, want)
			}
			if strings.Contains(tc.want, "differs") {
				if a, r := Stats(got); a != 0 || r != 0 {
					t.Errorf("Stats() = +%d -%d, want +0 -0", a, r)
				}
			}
		})
	}
}

// The exported limit itself: exactly MaxBytes is diffed, one byte more is not.
func TestMaxBytes(t *testing.T) {
	line := []byte(strings.Repeat("x", 63) + "\n")
	big := bytes.Repeat(line, MaxBytes/len(line))
	changed := bytes.Clone(big)
	changed[0] = 'y'
	if len(big) != MaxBytes {
		t.Fatalf("bad fixture: %d bytes", len(big))
	}
	if a, r := Stats(Unified("a", "b", big, changed, 3)); a != 1 || r != 1 {
		t.Errorf("at MaxBytes: Stats() = +%d -%d, want +1 -1", a, r)
	}
	got := Unified("a", "b", append(big, 'x'), big, 3)
	if want := fmt.Sprintf("--- a\n+++ b\nlarge file differs (%d bytes -> %d bytes)\n", MaxBytes+1, MaxBytes); got != want {
		t.Errorf("over MaxBytes: got %q, want %q", got, want)
	}
}

func TestStats(t *testing.T) {
	for _, tc := range []struct {
		name, diff   string
		added, remvd int
	}{
		{"empty", "", 0, 0},
		{"headers only", "--- a\n+++ b\n", 0, 0},
		{"two hunks", "--- a\n+++ b\n@@ -1,2 +1,3 @@\n a\n-b\n+c\n+d\n@@ -10 +11,0 @@\n-x\n", 2, 2},
		{"removed line that reads like a header", "--- a\n+++ b\n@@ -1,2 +1,2 @@\n--- x\n+++ y\n ctx\n", 1, 1},
		{"no newline markers", "--- a\n+++ b\n@@ -1 +1 @@\n-a\n\\ No newline at end of file\n+a\n", 1, 1},
		{"empty context line stripped", "--- a\n+++ b\n@@ -1,3 +1,3 @@\n\n-b\n+c\n x\n", 1, 1},
		{"git style header line", "diff --git a/f b/f\nindex 1..2 100644\n--- a/f\n+++ b/f\n@@ -1 +1 @@ func main\n-a\n+b\n", 1, 1},
		{"summary", "--- a\n+++ b\nbinary file differs (1 bytes -> 2 bytes)\n", 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if a, r := Stats(tc.diff); a != tc.added || r != tc.remvd {
				t.Errorf("Stats() = +%d -%d, want +%d -%d", a, r, tc.added, tc.remvd)
			}
		})
	}
}

// The diff must not depend on timing: go-diff's default 1s deadline made it
// vary between runs.
func TestDeterministic(t *testing.T) {
	before, after := randomEdit(42, 2000, 20, false)
	first := Unified("a", "b", before, after, 3)
	for range 5 {
		if got := Unified("a", "b", before, after, 3); got != first {
			t.Fatal("Unified returned a different diff for the same input")
		}
	}
}

func BenchmarkUnified(b *testing.B) {
	before, after := randomEdit(7, 2000, 20, false)
	b.SetBytes(int64(len(before) + len(after)))
	b.ReportAllocs()
	for b.Loop() {
		Unified("a", "b", before, after, DefaultContext)
	}
}
