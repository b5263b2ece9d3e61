package auditpolicy

import (
	"strings"

	"github.com/hostplan/hostplan/internal/textdist"
)

// suggest returns the candidate s most likely mistypes ("verb" for "verbs",
// "Verbs", "metdata"), or "" when none is close enough to be a useful guess.
func suggest(s string, candidates []string) string {
	best, bestDist := "", 3
	for _, cand := range candidates {
		if strings.EqualFold(s, cand) {
			return cand
		}
		d := textdist.Distance(strings.ToLower(s), strings.ToLower(cand))
		// Short words are all close to each other: demand a closer match.
		if d < bestDist && d <= len([]rune(cand))/3 {
			best, bestDist = cand, d
		}
	}
	return best
}
