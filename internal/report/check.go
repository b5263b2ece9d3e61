package report

import (
	"fmt"
	"strings"

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
// NewCheck starts the check document of plan: each host's drift findings, or why its
// plan failed. The CIS findings of masters are added by the caller (AddCIS).
func NewCheck(plan *Plan) *Check {
	doc := &Check{FormatVersion: FormatVersion, Kind: "check", Hosts: make([]CheckHost, len(plan.Hosts))}
	for i := range plan.Hosts {
		h := &plan.Hosts[i]
		ch := &doc.Hosts[i]
		ch.Name = h.Name
		if h.Failed() {
			ch.Error = hostError(h)
			continue
		}
		ch.Findings = DriftFindings(h)
	}
	return doc
}

// Host returns the check of the named host, nil for none.
func (c *Check) Host(name string) *CheckHost {
	for i := range c.Hosts {
		if c.Hosts[i].Name == name {
			return &c.Hosts[i]
		}
	}
	return nil
}

// AddCIS records that h is a master and adds its CIS findings.
func (h *CheckHost) AddCIS(findings []cis.Finding) {
	h.Master = true
	h.Findings = append(h.Findings, findings...)
}

// hostError is why a host's plan failed: its own error, or its steps' errors.
func hostError(h *Host) string {
	if h.Error != "" {
		return h.Error
	}
	var errs []string
	for _, st := range h.Steps {
		if st.Error != "" {
			errs = append(errs, fmt.Sprintf("%s: %s", st.Address(), st.Error))
		}
	}
	return strings.Join(errs, "\n")
}

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
