package render

import (
	"fmt"
	"io"
	"strings"

	"github.com/hostplan/hostplan/internal/report"
	"github.com/hostplan/hostplan/tasks"
)

// Markdown writes a compact summary of a plan for a change ticket or a pull request: a
// table of hosts, then one collapsible section per host with changes or errors, its
// diffs in fenced diff blocks (GitHub and GitLab render <details> and ```diff). Hosts
// with identical plans share a row and a section, unless perHost.
func Markdown(w io.Writer, p *report.Plan, perHost bool) error {
	var b strings.Builder
	mdHeading(&b, p.Summary)
	mdRollouts(&b, p.Rollouts)
	groups := hostGroups(p, perHost)
	mdHostTable(&b, groups)
	for i := range groups {
		mdHostDetails(&b, groups[i].Names, &groups[i].Host)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func mdHeading(b *strings.Builder, s report.Summary) {
	fmt.Fprintf(b, "### hostplan plan: %d %s, %d to change, %d unchanged", s.Hosts, plural(s.Hosts, "host", "hosts"), s.Changes, s.Unchanged)
	if s.FailedHosts > 0 {
		fmt.Fprintf(b, ", %d %s failed", s.FailedHosts, plural(s.FailedHosts, "host", "hosts"))
	}
	b.WriteString("\n\n")
}

// mdRollouts lists the tasks that do not change all their hosts at once, and how they
// change them.
func mdRollouts(b *strings.Builder, rollouts []report.Rollout) {
	for _, ro := range rollouts {
		var parts []string
		if ro.Serial != "" {
			parts = append(parts, "serial "+ro.Serial)
		}
		switch {
		case ro.RunOnce != "":
			parts = append(parts, "once, on "+mdCode(ro.RunOnce))
		case ro.RunOncePerGroup:
			parts = append(parts, "once in each group")
		}
		if ro.HealthGate != "" {
			parts = append(parts, "health gate: "+mdText(ro.HealthGate))
		}
		if ro.Per != "" && len(ro.Groups) > 1 {
			parts = append(parts, fmt.Sprintf("per %s, %d groups side by side; %s", mdCode(ro.Per), len(ro.Groups), stopRule(ro.MaxFailPercentage)))
		}
		fmt.Fprintf(b, "- task %s: %s\n", mdCode(ro.Task), strings.Join(parts, "; "))
		for i := 0; len(ro.Groups) > 1 && i < len(ro.Groups); i++ {
			fmt.Fprintf(b, "  - %s: %s\n", mdCode(ro.Groups[i].Key), mdHosts(ro.Groups[i].Hosts))
		}
	}
	if len(rollouts) > 0 {
		b.WriteString("\n")
	}
}

func mdHostTable(b *strings.Builder, groups []report.HostGroup) {
	b.WriteString("| host | to change | unchanged | status |\n|---|---:|---:|---|\n")
	for i := range groups {
		h := &groups[i].Host
		changed, unchanged := counts(h)
		status := "no changes"
		switch {
		case h.Failed():
			status = "**failed**"
		case changed > 0:
			status = "changes"
		}
		each := onEach(groups[i].Names)
		fmt.Fprintf(b, "| %s | %d%s | %d%s | %s |\n", mdHosts(groups[i].Names), changed, each, unchanged, each, status)
	}
}

// mdHosts names a row's hosts: `m1`, or `m1, m2, m3` (3 hosts).
func mdHosts(names []string) string {
	if len(names) == 1 {
		return mdCode(names[0])
	}
	return fmt.Sprintf("%s (%d hosts)", mdCode(hostList(names)), len(names))
}

// mdHostDetails writes the collapsible section of a host, or of hosts sharing a plan, if
// it has changes or errors: the table says all there is about the others.
func mdHostDetails(b *strings.Builder, names []string, h *report.Host) {
	changed, _ := counts(h)
	if changed == 0 && !h.Failed() {
		return
	}
	summary := fmt.Sprintf("%d to change%s", changed, onEach(names))
	if h.Failed() {
		summary = "failed"
	}
	fmt.Fprintf(b, "\n<details><summary><b>%s</b>: %s</summary>\n\n", htmlEscape(groupName(names)), summary)
	if h.Error != "" {
		b.WriteString(fence(Visible(h.Error), ""))
	}
	for j := range h.Steps {
		mdStep(b, &h.Steps[j])
	}
	b.WriteString("\n</details>\n")
}

// mdStep writes a step that failed or changes something; unchanged steps are only
// counted.
func mdStep(b *strings.Builder, st *report.Step) {
	switch {
	case st.Error != "":
		fmt.Fprintf(b, "- **error** %s (task %s)\n\n", mdCode(st.Address()), mdCode(st.Task))
		b.WriteString(indent(fence(Visible(st.Error), ""), "  "))
	case st.Changed():
		fmt.Fprintf(b, "- **%s** %s (task %s)\n", actionSymbols[tasks.Action(st.Action)].word, mdCode(st.Address()), mdCode(st.Task))
		for _, d := range st.Details {
			fmt.Fprintf(b, "  - %s\n", mdText(Visible(d)))
		}
		if st.Sensitive {
			fmt.Fprintf(b, "  - sensitive content: lines shown as %s\n", mdCode(report.SensitiveLine))
		}
		if st.Diff != "" {
			b.WriteString("\n" + indent(fence(Visible(st.Diff), "diff"), "  "))
		}
	}
}

func counts(h *report.Host) (changed, unchanged int) {
	for i := range h.Steps {
		switch st := &h.Steps[i]; {
		case st.Changed():
			changed++
		case st.Error == "":
			unchanged++
		}
	}
	return changed, unchanged
}

// fence wraps text in a code fence longer than any run of backticks inside it, so no
// content can end the block early.
func fence(text, lang string) string {
	longest, run := 0, 0
	for _, r := range text {
		if r == '`' {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	f := strings.Repeat("`", max(3, longest+1))
	return f + lang + "\n" + strings.TrimRight(text, "\n") + "\n" + f + "\n"
}

func indent(text, prefix string) string {
	lines := strings.SplitAfter(text, "\n")
	var b strings.Builder
	for _, l := range lines {
		if l != "" {
			b.WriteString(prefix + l)
		}
	}
	return b.String()
}

// mdCode is inline code that survives any backticks and pipes (tables) in s.
func mdCode(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	if !strings.Contains(s, "`") {
		return "`" + s + "`"
	}
	return "`` " + s + " ``"
}

// mdText escapes what Markdown or HTML would interpret inside a list item's text (">" and
// "#" act only at the start of a line, where list items never put text).
func mdText(s string) string {
	r := strings.NewReplacer(`\`, `\\`, "`", "\\`", "*", `\*`, "_", `\_`, "[", `\[`, "]", `\]`, "<", "&lt;", "|", `\|`)
	return r.Replace(s)
}

func htmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(s)
}
