package auditpolicy

import (
	"fmt"
	"strconv"
	"strings"
)

// Version is a Kubernetes minor version.
type Version struct{ Major, Minor, Patch int }

// MinVersion is the oldest Kubernetes hostplan configures audit logging for:
// the vendor's log-based threat detection needs kube-apiserver 1.16 or later.
var MinVersion = Version{Major: 1, Minor: 16}

// The audit.k8s.io versions a Policy file can be written in.
const (
	APIVersionV1       = "audit.k8s.io/v1"       // since 1.12
	APIVersionV1beta1  = "audit.k8s.io/v1beta1"  // 1.8 to 1.23
	APIVersionV1alpha1 = "audit.k8s.io/v1alpha1" // 1.7 to 1.23
)

// ParseVersion parses "v1.32.13", "1.32", "v1.28.3-gke.100", "v1.32.13+k3s1"
// and the like: an optional "v", then major.minor with an optional .patch;
// anything after a "-" or "+" (pre-release or build metadata) is ignored.
func ParseVersion(s string) (Version, error) {
	in := strings.TrimSpace(s)
	rest := strings.TrimPrefix(strings.TrimPrefix(in, "v"), "V")
	if i := strings.IndexAny(rest, "-+"); i >= 0 {
		rest = rest[:i]
	}
	parts := strings.Split(rest, ".")
	if len(parts) < 2 || len(parts) > 3 {
		return Version{}, fmt.Errorf("invalid Kubernetes version %q: want major.minor[.patch], like v1.32.13", s)
	}
	var nums [3]int
	for i, p := range parts {
		n, err := parseNumber(p)
		if err != nil {
			return Version{}, fmt.Errorf("invalid Kubernetes version %q: %v", s, err)
		}
		nums[i] = n
	}
	return Version{Major: nums[0], Minor: nums[1], Patch: nums[2]}, nil
}

func parseNumber(p string) (int, error) {
	if p == "" {
		return 0, fmt.Errorf("empty number")
	}
	for _, c := range p {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%q is not a number", p)
		}
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		return 0, fmt.Errorf("%q is out of range", p)
	}
	return n, nil
}

// String formats v as Kubernetes does, e.g. "v1.32.13" ("v1.32.0" for "1.32").
func (v Version) String() string {
	return fmt.Sprintf("v%d.%d.%d", v.Major, v.Minor, v.Patch)
}

// AtLeast reports whether v is major.minor or later, whatever its patch.
func (v Version) AtLeast(major, minor int) bool {
	if v.Major != major {
		return v.Major > major
	}
	return v.Minor >= minor
}

// supported says why hostplan refuses a cluster of version v, or nil.
func supported(v Version) error {
	if v.Major != 1 {
		return fmt.Errorf("Kubernetes %s is not supported: hostplan knows only Kubernetes 1.x", v)
	}
	if !v.AtLeast(MinVersion.Major, MinVersion.Minor) {
		return fmt.Errorf("Kubernetes %s is not supported: audit logging for log-based threat detection needs kube-apiserver 1.16 or later; upgrade the cluster first", v)
	}
	return nil
}

// APIVersion is the audit policy apiVersion to ship to a cluster of version v.
// Clusters older than 1.16 are refused with a clear message (hostplan's minimum; audit
// logging for log-based threat detection needs >= 1.16).
//
// audit.k8s.io/v1 is served from 1.12 on, and the only version served from
// 1.24 on, so it is the answer for every supported cluster.
func APIVersion(v Version) (string, error) {
	if err := supported(v); err != nil {
		return "", err
	}
	return APIVersionV1, nil
}

// servedBy says why a cluster of version v cannot load a policy written in
// apiVersion, or nil. apiVersion must be one of the three known versions.
func servedBy(apiVersion string, v Version) error {
	switch apiVersion {
	case APIVersionV1:
		if !v.AtLeast(1, 12) {
			return fmt.Errorf("%s is served only from Kubernetes 1.12 on, not by %s", apiVersion, v)
		}
	case APIVersionV1beta1, APIVersionV1alpha1:
		if v.AtLeast(1, 24) {
			return fmt.Errorf("%s was removed in Kubernetes 1.24: kube-apiserver %s exits at start with `no kind \"Policy\" is registered for version %q`; use %s", apiVersion, v, apiVersion, APIVersionV1)
		}
	}
	return nil
}
