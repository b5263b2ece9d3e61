package planfile

import (
	"fmt"
	"strings"

	"github.com/hostplan/hostplan/internal/report"
)

// Stale compares the reviewed plan with the same plan made again just before applying
// it, host by host. It returns, for each host that must not be applied, why: its state
// changed since the plan was made, so the change reviewed is not the change that would
// be made. Hosts whose fresh plan failed are left to the engine (they fail anyway).
func Stale(reviewed, fresh *report.Plan) map[string]string {
	now := map[string]*report.Host{}
	for i := range fresh.Hosts {
		now[fresh.Hosts[i].Name] = &fresh.Hosts[i]
	}
	out := map[string]string{}
	for i := range reviewed.Hosts {
		was := &reviewed.Hosts[i]
		is, ok := now[was.Name]
		switch {
		case !ok:
			out[was.Name] = "it is not in this run"
		case was.Failed():
			out[was.Name] = "its plan had failed when the plan was made; make a new plan"
		case is.Failed():
		default:
			if why := staleSteps(was, is); why != "" {
				out[was.Name] = why
			}
		}
	}
	return out
}

func staleSteps(was, is *report.Host) string {
	if len(was.Steps) != len(is.Steps) {
		return fmt.Sprintf("it now has %d resources, the plan had %d", len(is.Steps), len(was.Steps))
	}
	var why []string
	for i := range was.Steps {
		a, b := &was.Steps[i], &is.Steps[i]
		if a.Address() != b.Address() || a.Task != b.Task {
			return fmt.Sprintf("its resources differ from the plan's (%s where the plan had %s)", b.Address(), a.Address())
		}
		if a.Fingerprint != b.Fingerprint {
			why = append(why, stepChange(a, b))
		}
	}
	return strings.Join(why, "; ")
}

// stepChange says in a user's words what differs between a reviewed step and now.
func stepChange(a, b *report.Step) string {
	if a.Before != nil && b.Before != nil {
		x, y := a.Before, b.Before
		switch {
		case x.Exists && !y.Exists:
			return fmt.Sprintf("%s was removed since the plan was made", x.Path)
		case !x.Exists && y.Exists:
			return fmt.Sprintf("%s was created since the plan was made (%s)", x.Path, contentNote(b, "", y.SHA256))
		case x.SHA256 != y.SHA256:
			return fmt.Sprintf("%s changed since the plan was made (%s)", x.Path, contentNote(b, x.SHA256, y.SHA256))
		case x.Mode != y.Mode:
			return fmt.Sprintf("%s mode changed since the plan was made (%s → %s)", x.Path, x.Mode, y.Mode)
		case x.UID != y.UID || x.GID != y.GID:
			return fmt.Sprintf("%s owner changed since the plan was made (%d:%d → %d:%d)", x.Path, x.UID, x.GID, y.UID, y.GID)
		}
	}
	if a.Action != b.Action {
		return fmt.Sprintf("%s: the plan was to %s, now it would %s", a.Address(), a.Action, b.Action)
	}
	for i := 0; i < max(len(a.Details), len(b.Details)); i++ {
		x, y := at(a.Details, i), at(b.Details, i)
		if x != y {
			return fmt.Sprintf("%s: its state changed since the plan was made (planned %q, now %q)", a.Address(), x, y)
		}
	}
	return fmt.Sprintf("%s: its state changed since the plan was made", a.Address())
}

// contentNote names a content change by its digests, or, for sensitive content whose
// digests are keyed and mean nothing to people, says so.
func contentNote(s *report.Step, was, is string) string {
	switch {
	case s.Sensitive:
		return "sensitive content"
	case was == "":
		return "sha256 " + short(is)
	}
	return fmt.Sprintf("sha256 %s → %s", short(was), short(is))
}

func at(s []string, i int) string {
	if i < len(s) {
		return s[i]
	}
	return "(nothing)"
}

// short abbreviates a digest as people compare them.
func short(hexDigest string) string {
	if len(hexDigest) > 12 {
		return hexDigest[:12] + "…"
	}
	return hexDigest
}
