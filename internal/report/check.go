package report

import (
	"fmt"

	"github.com/hostplan/hostplan/internal/cis"
)

// Check is `hostplan check` as data: per host, the drift from the plan and the CIS
// audit checks of a control-plane node.
type Check struct {
	FormatVersion int          `json:"format_version"`
	Kind          string       `json:"kind"` // "check"
	Hosts         []CheckHost  `json:"hosts"`
	Summary       CheckSummary `json:"summary"`
}

// CheckHost is one host's findings. Error is set when the host could not be checked.
type CheckHost struct {
	Name     string        `json:"name"`
	Error    string        `json:"error,omitempty"`
	Master   bool          `json:"master"` // has a kube-apiserver static pod: the CIS checks ran
	Findings []cis.Finding `json:"findings"`
}

// CheckSummary counts findings.
type CheckSummary struct {
	Passed      int `json:"passed"`
	Failed      int `json:"failed"`
	FailedHosts int `json:"failed_hosts"` // hosts that could not be checked
}

// DriftCheck names the findings of drift from the plan.
const DriftCheck = "drift"

// DriftFindings turns one host's plan into findings: one failing finding per resource
// that differs from the plan, or one passing finding when none does. A host whose plan
// failed has no findings and an error instead.
func DriftFindings(h *Host) []cis.Finding {
	var out []cis.Finding
	for i := range h.Steps {
		st := &h.Steps[i]
		if st.Changed() {
			why := fmt.Sprintf("%s would %s it", st.Address(), st.Action)
			if len(st.Details) > 0 {
				why += ": " + st.Details[0]
			}
			out = append(out, cis.Finding{Check: DriftCheck, Why: why})
		}
	}
	if len(out) == 0 {
		out = append(out, cis.Finding{Check: DriftCheck, Pass: true})
	}
	return out
}

// Tally fills in the summary.
func (c *Check) Tally() {
	c.Summary = CheckSummary{}
	for _, h := range c.Hosts {
		if h.Error != "" {
			c.Summary.FailedHosts++
		}
		for _, f := range h.Findings {
			if f.Pass {
				c.Summary.Passed++
			} else {
				c.Summary.Failed++
			}
		}
	}
}
