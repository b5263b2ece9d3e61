package render

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/hostplan/hostplan/internal/journal"
)

// History prints journal entries as `hostplan history` shows them: a table, one entry a
// line, with the first line of an error (escaped: it may quote a host's output) and
// the content digests shortened.
func History(w io.Writer, entries []journal.Entry) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tOPERATOR\tHOST\tRESOURCE\tACTION\tRESULT\tCONTENT")
	for _, e := range entries {
		content := ""
		if e.Before != "" || e.After != "" {
			content = shortHash(e.Before) + " -> " + shortHash(e.After)
		}
		result := e.Result
		if e.Error != "" {
			line, _, _ := strings.Cut(e.Error, "\n")
			result += ": " + Visible(line)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Time.Local().Format("2006-01-02 15:04:05"), e.Operator, e.Host, e.Resource, e.Action, result, content)
	}
	tw.Flush()
}

func shortHash(h string) string {
	if h == "" {
		return "(none)"
	}
	return h[:min(len(h), 12)]
}
