package render

import (
	"encoding/json"
	"io"
)

// JSON writes a report document (report.Plan, report.Apply, ...) as one indented JSON
// document: what --json promises, nothing else on the stream.
func JSON(w io.Writer, doc any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(doc)
}

// JSONLine writes v as one compact JSON line.
func JSONLine(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
