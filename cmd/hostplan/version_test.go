package main

import (
	"runtime/debug"
	"testing"
)

func TestFormatVersion(t *testing.T) {
	vcs := func(kv ...string) []debug.BuildSetting {
		var s []debug.BuildSetting
		for i := 0; i < len(kv); i += 2 {
			s = append(s, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return s
	}
	const rev = "0123456789abcdef0123456789abcdef01234567"
	for _, tc := range []struct {
		name string
		main string
		set  []debug.BuildSetting
		want string
	}{
		{"go install @v1.2.3", "v1.2.3", nil, "v1.2.3"},
		{"tagged checkout", "v1.2.3", vcs("vcs.revision", rev, "vcs.time", "2026-11-23T14:22:29Z", "vcs.modified", "false"),
			"v1.2.3 (rev 0123456789ab, 2026-11-23T14:22:29Z)"},
		{"tagged checkout, edited", "v1.2.3+dirty", vcs("vcs.revision", rev, "vcs.time", "2026-11-23T14:22:29Z", "vcs.modified", "true"),
			"v1.2.3 (rev 0123456789ab, 2026-11-23T14:22:29Z, dirty)"},
		{"untagged checkout", "v0.0.0-20261123142229-0123456789ab", vcs("vcs", "git", "vcs.revision", rev, "vcs.time", "2026-11-23T14:22:29Z"),
			"v0.0.0-20261123142229-0123456789ab (rev 0123456789ab, 2026-11-23T14:22:29Z)"},
		{"-buildvcs=false", "(devel)", nil, "(devel)"},
		{"no module version", "", vcs("vcs.revision", "abc", "vcs.modified", "true"), "(devel) (rev abc, dirty)"},
	} {
		bi := &debug.BuildInfo{Main: debug.Module{Path: "github.com/hostplan/hostplan", Version: tc.main}, Settings: tc.set}
		if got := formatVersion(bi); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}
