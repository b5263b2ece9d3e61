package main

import (
	"fmt"
	"io"
	"runtime/debug"
	"strings"
)

func versionCommand(args []string, stdout, stderr io.Writer) int {
	pos, err := parse(bareFlagSet("version", stderr), args)
	if err == nil && len(pos) > 0 {
		err = fmt.Errorf("hostplan version: unexpected argument %q", pos[0])
	}
	if argsFailed(err, stderr) {
		return exitError
	}
	fmt.Fprintln(stdout, "hostplan", buildVersion())
	return exitOK
}

// buildVersion is this binary's version as hostplan version prints it after the name,
// and as saved plans record it.
func buildVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return develVersion
	}
	return formatVersion(bi)
}

// develVersion is what the toolchain calls a build whose module version it does not know.
const develVersion = "(devel)"

// formatVersion reads what the Go toolchain stamps into every binary, so no release
// step has to: `go install .../cmd/hostplan@v1.2.3` sets the module version (v1.2.3),
// and a build in a checkout records the VCS revision, its commit time and whether the
// tree had uncommitted changes. For example "v1.2.3", or "(devel) (rev 0123456789ab,
// 2026-11-23T14:22:29Z, dirty)".
func formatVersion(bi *debug.BuildInfo) string {
	v := bi.Main.Version
	// Go 1.24+ derives a checkout's module version from its tags, marking uncommitted
	// changes with +dirty; "dirty" is said once, below.
	v = strings.TrimSuffix(v, "+dirty")
	if v == "" {
		v = develVersion
	}
	var rev, at string
	dirty := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	var about []string
	if rev != "" {
		about = append(about, "rev "+rev[:min(len(rev), 12)])
	}
	if at != "" {
		about = append(about, at)
	}
	if dirty {
		about = append(about, "dirty")
	}
	if len(about) == 0 {
		return v
	}
	return fmt.Sprintf("%s (%s)", v, strings.Join(about, ", "))
}
