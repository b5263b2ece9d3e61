package render

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/hostplan/hostplan/internal/report"
)

// Check prints `hostplan check` as a table of host, check, result and why.
func (r *Human) Check(c *report.Check) {
	tw := tabwriter.NewWriter(r.W, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "HOST\tCHECK\tRESULT\tWHY")
	for _, h := range c.Hosts {
		if h.Error != "" {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", h.Name, "(host)", "ERROR", strings.ReplaceAll(firstLines(Visible(h.Error), 3), "\n", " / "))
			continue
		}
		for _, f := range h.Findings {
			result := "pass"
			if !f.Pass {
				result = "FAIL"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", h.Name, f.Check, result, Visible(f.Why))
		}
		if !h.Master {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", h.Name, "kube-apiserver audit", "n/a", "not a control-plane node (no kube-apiserver static pod)")
		}
	}
	tw.Flush()
	s := c.Summary
	line := fmt.Sprintf("Check: %d passed, %d failed", s.Passed, s.Failed)
	if s.FailedHosts > 0 {
		line += fmt.Sprintf(", %d %s could not be checked", s.FailedHosts, plural(s.FailedHosts, "host", "hosts"))
	}
	color := bold
	if s.Failed > 0 || s.FailedHosts > 0 {
		color = red
	}
	fmt.Fprintln(r.W, "\n"+r.paint(color, line+"."))
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(strings.TrimSpace(s), "\n", n+1)
	if len(lines) > n {
		lines = append(lines[:n], "...")
	}
	return strings.Join(lines, "\n")
}
