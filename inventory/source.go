package inventory

import (
	"sort"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
)

// srcFile builds hcl.Ranges for the line-based formats (INI, YAML), so their
// diagnostics carry file, line, column and byte offsets like HCL's own and print with
// source snippets.
type srcFile struct {
	name       string
	src        []byte
	lineStarts []int // byte offset where each line starts; lineStarts[0] is line 1
}

func newSrcFile(name string, src []byte) *srcFile {
	f := &srcFile{name: name, src: src, lineStarts: []int{0}}
	for i, b := range src {
		if b == '\n' {
			f.lineStarts = append(f.lineStarts, i+1)
		}
	}
	return f
}

// lineEnd is the byte offset of the end of a line (before "\r\n" or "\n").
func (f *srcFile) lineEnd(line int) int {
	if line < 1 {
		return 0
	}
	if line > len(f.lineStarts) {
		return len(f.src)
	}
	end := len(f.src)
	if line < len(f.lineStarts) {
		end = f.lineStarts[line] - 1
	}
	if end > f.lineStarts[line-1] && f.src[end-1] == '\r' {
		end--
	}
	return end
}

// posAt converts a byte offset to an hcl.Pos (1-based line, 1-based column counted in
// characters).
func (f *srcFile) posAt(off int) hcl.Pos {
	if off < 0 {
		off = 0
	}
	if off > len(f.src) {
		off = len(f.src)
	}
	line := sort.Search(len(f.lineStarts), func(i int) bool { return f.lineStarts[i] > off })
	start := f.lineStarts[line-1]
	return hcl.Pos{Line: line, Column: utf8.RuneCount(f.src[start:off]) + 1, Byte: off}
}

// offsetOf converts a 1-based line and 1-based character column (as yaml.v3 reports
// them) to a byte offset.
func (f *srcFile) offsetOf(line, col int) int {
	if line < 1 {
		return 0
	}
	if line > len(f.lineStarts) {
		return len(f.src)
	}
	off := f.lineStarts[line-1]
	end := f.lineEnd(line)
	for c := 1; c < col && off < end; c++ {
		_, size := utf8.DecodeRune(f.src[off:end])
		off += size
	}
	return off
}

// rng is the range between two byte offsets.
func (f *srcFile) rng(start, end int) hcl.Range {
	if end < start {
		end = start
	}
	return hcl.Range{Filename: f.name, Start: f.posAt(start), End: f.posAt(end)}
}

// lineRange is the range of a whole line, without its line break.
func (f *srcFile) lineRange(line int) hcl.Range {
	if line < 1 || line > len(f.lineStarts) {
		return f.rng(len(f.src), len(f.src))
	}
	return f.rng(f.lineStarts[line-1], f.lineEnd(line))
}

func (f *srcFile) hclFile() *hcl.File {
	return &hcl.File{Bytes: f.src}
}

// errorAt and warningAt build single diagnostics.
func errorAt(r hcl.Range, summary, detail string) *hcl.Diagnostic {
	return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: r.Ptr()}
}

func errorWith(r hcl.Range, ctx hcl.Range, summary, detail string) *hcl.Diagnostic {
	d := errorAt(r, summary, detail)
	d.Context = ctx.Ptr()
	return d
}
