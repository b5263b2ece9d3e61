package render

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
)

// Diagnostics prints each diagnostic with file:line:col, the source line and a marker
// under the problem. Unlike hcl's own writer it never prints the values of expressions,
// which could be sensitive.
func (r *Human) Diagnostics(diags hcl.Diagnostics) {
	fmt.Fprint(r.W, r.formatDiagnostics(diags))
}

func (r *Human) formatDiagnostics(diags hcl.Diagnostics) string {
	var b strings.Builder
	for i, d := range diags {
		if i > 0 {
			b.WriteString("\n")
		}
		sev, color := "Error", red
		if d.Severity == hcl.DiagWarning {
			sev, color = "Warning", yellow
		}
		fmt.Fprintf(&b, "%s %s\n", r.paint(color, sev+":"), r.paint(bold, d.Summary))
		if d.Subject != nil {
			r.snippet(&b, d.Subject)
		}
		if d.Detail != "" {
			fmt.Fprintf(&b, "%s\n", d.Detail)
		}
	}
	return b.String()
}

func (r *Human) snippet(b *strings.Builder, rng *hcl.Range) {
	fmt.Fprintf(b, "  --> %s:%d:%d\n", rng.Filename, rng.Start.Line, rng.Start.Column)
	src := r.source(rng.Filename)
	if src == nil || rng.Start.Byte > len(src) {
		return
	}
	lineStart := strings.LastIndexByte(string(src[:rng.Start.Byte]), '\n') + 1
	lineEnd := len(src)
	if n := strings.IndexByte(string(src[lineStart:]), '\n'); n >= 0 {
		lineEnd = lineStart + n
	}
	line := strings.TrimRight(string(src[lineStart:lineEnd]), "\r")
	if r.HideLine != nil && r.HideLine(rng.Filename, line) {
		fmt.Fprintf(b, "  (the line is not shown: it may hold a secret)\n")
		return
	}
	num := fmt.Sprint(rng.Start.Line)
	pad := strings.Repeat(" ", len(num))
	end := rng.End.Byte
	if end > lineEnd || end <= rng.Start.Byte {
		end = lineEnd
	}
	// Keep tabs so the marker lines up under tab-indented source.
	var lead strings.Builder
	for _, c := range string(src[lineStart:rng.Start.Byte]) {
		if c == '\t' {
			lead.WriteRune('\t')
		} else {
			lead.WriteRune(' ')
		}
	}
	width := utf8.RuneCount(src[rng.Start.Byte:end])
	if width < 1 {
		width = 1
	}
	fmt.Fprintf(b, " %s |\n", pad)
	fmt.Fprintf(b, " %s | %s\n", num, line)
	fmt.Fprintf(b, " %s | %s%s\n", pad, lead.String(), r.paint(red, strings.Repeat("^", width)))
}

// source returns a file's bytes, read once from disk.
func (r *Human) source(name string) []byte {
	if b, ok := r.sources[name]; ok {
		return b
	}
	b, err := os.ReadFile(name)
	if err != nil {
		return nil
	}
	if r.sources == nil {
		r.sources = map[string][]byte{}
	}
	r.sources[name] = b
	return b
}

// credentialLine matches lines that set a password, secret, token or key, as inventories
// write them: ansible_ssh_pass=..., ansible_become_password: ..., db_token = "...".
var credentialLine = regexp.MustCompile(`(?i)(pass|secret|token|key)\w*["']?\s*[=:]`)

// PrivateLines is a Human.HideLine for a run's var files, none of whose lines are shown
// (they set the values of sensitive variables), and its inventories, whose lines that
// look like they set a credential are not shown.
func PrivateLines(varFiles, inventories []string) func(filename, line string) bool {
	vars, invs := map[string]bool{}, map[string]bool{}
	for _, f := range varFiles {
		vars[f] = true
	}
	for _, f := range inventories {
		invs[f] = true
	}
	return func(filename, line string) bool {
		return vars[filename] || invs[filename] && credentialLine.MatchString(line)
	}
}
