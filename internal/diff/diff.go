// Package diff renders GNU-compatible unified diffs, so that what hostplan
// shows a reviewer is what `diff -u` would show (bar rare ties between equally
// small diffs) and what `patch` applies.
package diff

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sergi/go-diff/diffmatchpatch"
)

// DefaultContext is the number of context lines GNU diff -u uses.
const DefaultContext = 3

// MaxBytes is the largest side Unified will diff: nobody reviews a bigger diff.
const MaxBytes = 4 << 20

// maxLines keeps us below the ~1.1M distinct lines go-diff can encode as runes
// (it panics beyond that); counting all lines is a cheap upper bound.
const maxLines = 1 << 20

// Inputs with more lines than deadlineLines get go-diff's deadline (see lineDiff).
const (
	deadlineLines  = 20000
	bigDiffTimeout = 2 * time.Second
)

// Unified returns a unified diff of before and after in the format of
// `diff -u --label oldName --label newName`, with context lines around each
// change (negative means 0). It returns "" when the contents are equal.
//
// Content with a NUL byte, or larger than MaxBytes, is not diffed: the header
// lines are followed by a one-line summary instead of hunks.
func Unified(oldName, newName string, before, after []byte, context int) string {
	return unified(oldName, newName, before, after, context, MaxBytes)
}

func unified(oldName, newName string, before, after []byte, context, maxBytes int) string {
	if bytes.Equal(before, after) {
		return ""
	}
	if context < 0 {
		context = 0
	}
	var b strings.Builder
	fmt.Fprintf(&b, "--- %s\n+++ %s\n", oldName, newName)
	switch {
	case len(before) > maxBytes || len(after) > maxBytes ||
		bytes.Count(before, []byte{'\n'})+bytes.Count(after, []byte{'\n'}) >= maxLines:
		fmt.Fprintf(&b, "large file differs (%d bytes -> %d bytes)\n", len(before), len(after))
	case bytes.IndexByte(before, 0) >= 0 || bytes.IndexByte(after, 0) >= 0:
		fmt.Fprintf(&b, "binary file differs (%d bytes -> %d bytes)\n", len(before), len(after))
	default:
		writeHunks(&b, lineDiff(string(before), string(after)), context)
	}
	return b.String()
}

// edit is one line of the edit script: op is ' ', '-' or '+', text keeps its
// trailing newline (absent only on a last line without one).
type edit struct {
	op   byte
	text string
}

func lineDiff(before, after string) []edit {
	dmp := diffmatchpatch.New()
	a, b, _ := dmp.DiffLinesToRunes(before, after)
	changedA, changedB := changedLines(dmp, a, b)
	shiftBoundaries(a, changedA, changedB)
	shiftBoundaries(b, changedB, changedA)
	return editScript(splitLines(before), splitLines(after), changedA, changedB)
}

// changedLines marks the lines of a and b outside the common subsequence go-diff
// finds: changed[i+1] tells whether line i is changed; both ends are false sentinels,
// as in GNU diff.
func changedLines(dmp *diffmatchpatch.DiffMatchPatch, a, b []rune) (changedA, changedB []bool) {
	// A line found on one side only is in no common subsequence, so leaving
	// such lines out keeps the diff minimal, and turns the quadratic worst
	// case (a file rewritten from scratch) into a linear one.
	keptA, fa := shared(a, runeSet(b))
	keptB, fb := shared(b, runeSet(a))

	// Past its deadline go-diff returns a coarser diff that depends on
	// machine speed, so only inputs whose worst case (many repeated lines
	// shuffled around) could take seconds get one; the rest stay minimal
	// and deterministic.
	dmp.DiffTimeout = 0
	if len(fa)+len(fb) > deadlineLines {
		dmp.DiffTimeout = bigDiffTimeout
	}

	changedA, changedB = make([]bool, len(a)+2), make([]bool, len(b)+2)
	for i := range a {
		changedA[i+1] = true
	}
	for j := range b {
		changedB[j+1] = true
	}
	x, y := 0, 0 // position in fa, fb
	for _, d := range dmp.DiffMainRunes(fa, fb, false) {
		n := utf8.RuneCountInString(d.Text)
		switch d.Type {
		case diffmatchpatch.DiffEqual:
			for k := range n {
				changedA[keptA[x+k]+1] = false
				changedB[keptB[y+k]+1] = false
			}
			x, y = x+n, y+n
		case diffmatchpatch.DiffDelete:
			x += n
		case diffmatchpatch.DiffInsert:
			y += n
		}
	}
	return changedA, changedB
}

// editScript lists the lines of both files with the changes marked in changedA and
// changedB; where both sides changed, removed lines come first, as in diff -u.
func editScript(aLines, bLines []string, changedA, changedB []bool) []edit {
	var edits []edit
	for i, j := 1, 1; i < len(changedA)-1 || j < len(changedB)-1; {
		switch {
		case changedA[i]:
			edits = append(edits, edit{'-', aLines[i-1]})
			i++
		case changedB[j]:
			edits = append(edits, edit{'+', bLines[j-1]})
			j++
		default:
			edits = append(edits, edit{' ', aLines[i-1]})
			i, j = i+1, j+1
		}
	}
	return edits
}

// shiftBoundaries is shift_boundaries from GNU diff's analyze.c, so that
// among equally small diffs we show the one diff -u shows. It slides each
// run of changes in lines over identical neighbours: back to merge with an
// earlier run, then forward as far as it goes, then back again to line up
// with a run of changes in the other file. changed and other are indexed as
// in changedLines.
func shiftBoundaries(lines []rune, changed, other []bool) {
	end := len(lines) + 1
	i, j := 1, 1 // j follows i in other
	for {
		for i < end && !changed[i] {
			for other[j] {
				j++
			}
			j++
			i++
		}
		if i == end {
			return
		}
		start := i
		for i++; changed[i]; i++ {
		}
		for other[j] {
			j++
		}

		var corresponding int
		start, i, j, corresponding = slideRun(lines, changed, other, start, i, j)
		for corresponding < i {
			start--
			changed[start] = true
			i--
			changed[i] = false
			for j--; other[j]; j-- {
			}
		}
	}
}

// slideRun slides the run of changes changed[start:i] back and forth, as
// shiftBoundaries describes, until its length stops growing from merging with
// neighbouring runs. It returns the run's new start and i, j following i,
// and where the run would end lined up with a run of changes in other (the
// end of lines when there is none).
func slideRun(lines []rune, changed, other []bool, start, i, j int) (int, int, int, int) {
	end := len(lines) + 1
	for {
		runLength := i - start
		for start > 1 && sameLine(lines, start-1, i-1) {
			start--
			changed[start] = true
			i--
			changed[i] = false
			for changed[start-1] {
				start--
			}
			for j--; other[j]; j-- {
			}
		}
		corresponding := end // no run in other lines up with ours
		if other[j-1] {
			corresponding = i
		}
		for i != end && sameLine(lines, start, i) {
			changed[start] = false
			start++
			changed[i] = true
			for i++; changed[i]; i++ {
			}
			for j++; other[j]; j++ {
				corresponding = i
			}
		}
		if runLength == i-start {
			return start, i, j, corresponding
		}
	}
}

// sameLine tells whether lines x and y, indexed as changed is, are equal.
func sameLine(lines []rune, x, y int) bool { return lines[x-1] == lines[y-1] }

func runeSet(s []rune) map[rune]bool {
	m := make(map[rune]bool, len(s))
	for _, r := range s {
		m[r] = true
	}
	return m
}

// shared returns the runes of s that are in other, and their indexes in s.
func shared(s []rune, other map[rune]bool) (idx []int, kept []rune) {
	for i, r := range s {
		if other[r] {
			idx = append(idx, i)
			kept = append(kept, r)
		}
	}
	return idx, kept
}

// splitLines splits like go-diff does: after each newline, and a last line
// without one.
func splitLines(s string) []string {
	l := strings.SplitAfter(s, "\n")
	if l[len(l)-1] == "" {
		l = l[:len(l)-1]
	}
	return l
}

// writeHunks groups changes the way GNU diff does: two changes share a hunk
// when at most 2*context unchanged lines separate them.
func writeHunks(b *strings.Builder, edits []edit, context int) {
	oldLine, newLine := 0, 0 // lines of each side before edits[i]
	prevStop := 0            // end of the previous hunk in edits
	for i := 0; i < len(edits); {
		if edits[i].op == ' ' {
			oldLine++
			newLine++
			i++
			continue
		}
		// edits[i] starts a hunk; find where its last change ends.
		end, gap := i, 0
		for j := i; j < len(edits) && gap <= 2*context; j++ {
			if edits[j].op == ' ' {
				gap++
			} else {
				end, gap = j+1, 0
			}
		}
		lead := min(context, i-prevStop) // only unchanged lines lie in between
		start, stop := i-lead, min(end+context, len(edits))

		oldStart, newStart := oldLine-lead, newLine-lead
		oldCount, newCount := 0, 0
		for _, e := range edits[start:stop] {
			if e.op != '+' {
				oldCount++
			}
			if e.op != '-' {
				newCount++
			}
		}
		fmt.Fprintf(b, "@@ -%s +%s @@\n", hunkRange(oldStart, oldCount), hunkRange(newStart, newCount))
		for _, e := range edits[start:stop] {
			b.WriteByte(e.op)
			b.WriteString(e.text)
			if !strings.HasSuffix(e.text, "\n") {
				b.WriteString("\n\\ No newline at end of file\n")
			}
		}
		oldLine, newLine = oldStart+oldCount, newStart+newCount
		i, prevStop = stop, stop
	}
}

// hunkRange formats one side of an @@ line; start counts the lines before the
// hunk. GNU names an empty range by the line before it, which patch relies on
// to recognise diffs against empty files.
func hunkRange(start, count int) string {
	switch count {
	case 0:
		return strconv.Itoa(start) + ",0"
	case 1:
		return strconv.Itoa(start + 1)
	default:
		return strconv.Itoa(start+1) + "," + strconv.Itoa(count)
	}
}

// Stats counts the added and removed lines of a unified diff, such as
// Unified returns, for summaries like "+3 -1". It follows the @@ counts
// rather than line prefixes, because a removed line "-- x" reads "--- x".
func Stats(unified string) (added, removed int) {
	oldLeft, newLeft := 0, 0
	for _, l := range strings.Split(unified, "\n") {
		if oldLeft <= 0 && newLeft <= 0 {
			oldLeft, newLeft = parseHunkHeader(l)
			continue
		}
		switch {
		case strings.HasPrefix(l, "-"):
			removed++
			oldLeft--
		case strings.HasPrefix(l, "+"):
			added++
			newLeft--
		case strings.HasPrefix(l, " "), l == "": // some tools strip the blank of an empty context line
			oldLeft--
			newLeft--
		}
	}
	return added, removed
}

// parseHunkHeader returns the line counts of "@@ -l[,n] +l[,n] @@", or zeros.
func parseHunkHeader(l string) (oldCount, newCount int) {
	rest, ok := strings.CutPrefix(l, "@@ -")
	if !ok {
		return 0, 0
	}
	oldRange, rest, _ := strings.Cut(rest, " +")
	newRange, _, ok := strings.Cut(rest, " @@")
	if !ok {
		return 0, 0
	}
	return rangeCount(oldRange), rangeCount(newRange)
}

func rangeCount(r string) int {
	_, n, ok := strings.Cut(r, ",")
	if !ok {
		return 1
	}
	c, err := strconv.Atoi(n)
	if err != nil || c < 0 {
		return 0
	}
	return c
}
