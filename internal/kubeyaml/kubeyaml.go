// Package kubeyaml makes small structural edits to kubeadm's YAML files (a static pod
// manifest, the ClusterConfiguration) so that a reviewer's diff shows only the change.
//
// A yaml.v3 decode/encode round trip re-indents kubeadm's compact sequences, drops blank
// lines and moves comments: most lines of kube-apiserver.yaml would change. So yaml.v3's
// node tree is used only to find where things are (node Line/Column, Column counting
// characters), and the original bytes are spliced. Every line an edit does not touch stays
// byte-identical: indentation, comments, quoting, key order, blank lines, a leading "---".
//
// Every edit validates its input, then checks its own result: the output must be valid,
// re-planning the same edit on it must find nothing to do, and decoding it must give
// exactly the decoded input with the intended changes. A splice bug becomes an error
// instead of a control plane that does not start.
//
// Placement: new list items copy the indentation, dash and key order of the last existing
// item. A key that must be created (env, args, volumeMounts, volumes, apiServer,
// extraArgs, extraVolumes) goes where kubeadm would write it when the mapping's keys are
// sorted, as kubeadm writes them (above a comment that sits right above the next key),
// else at the end; its content follows the indentation style measured in the file (2 or
// 4 spaces, compact "- item" or indented sequences). An empty value ({}, [], null) is
// replaced by a block.
//
// Quoting: a new or replaced value is written by yaml.v3's encoder (flow-sequence rules
// inside [...]), and additionally double-quoted when a YAML 1.1 parser such as the one
// kubelet and kubeadm use (sigs.k8s.io/yaml) would read it as a non-string: yes, on, y,
// 0x1F, 1_000... A value that would span lines is written double-quoted on one line.
// When the neighbours quote values that do not need it, new values are quoted alike.
//
// Flags: see Container.Flags for how they are read. A bare "--name" counts as "true".
//
// Line endings: LF and CRLF files are both supported and new lines use the file's ending;
// a file mixing both, or using bare CR or Unicode line separators, is refused.
//
// Refused rather than guessed: more than one YAML document (a trailing "---" included),
// duplicate keys, editing a multi-line, anchored or tagged value, adding keys to a
// flow-style mapping, aliases where the edit has to look, and adding flags after a "--".
package kubeyaml

import "fmt"

// Error is a problem with the input, or with the result of an edit. Line is the 1-based
// line of the input it concerns, or 0 when it concerns the whole file.
type Error struct {
	Line int
	Msg  string
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("line %d: %s", e.Line, e.Msg)
	}
	return e.Msg
}

// Flag is one --name=value command-line flag (Name without the leading dashes).
type Flag struct{ Name, Value string }

// EnvVar is one environment variable of a container.
type EnvVar struct{ Name, Value string }

// VolumeMount is one volumeMounts entry of a container.
type VolumeMount struct {
	Name, MountPath string
	ReadOnly        bool
}

// HostPathVolume is one hostPath entry of spec.volumes. Type is e.g. "DirectoryOrCreate";
// "" means no type (an existing type is removed).
type HostPathVolume struct{ Name, Path, Type string }

// PodEdit is the desired state of parts of one container of a static pod manifest.
type PodEdit struct {
	Container string
	// Flags are set: a flag with another value is changed where it is (keeping its
	// "--name=value" or "--name value" form), one with the same value is left alone, and
	// missing ones are appended after the existing flags, in the given order.
	Flags []Flag
	// RemoveFlags are flag names to remove; removing an absent flag is a no-op.
	RemoveFlags []string
	// Env is merged by name; an entry of the same name with another value, or with
	// valueFrom, is changed in place.
	Env []EnvVar
	// VolumeMounts are merged by name into the container's volumeMounts.
	VolumeMounts []VolumeMount
	// Volumes are merged by name into spec.volumes; a same-name volume that is not a
	// hostPath volume is refused.
	Volumes []HostPathVolume
}

// Container is what the engine and facts need to know about one container.
type Container struct {
	Name, Image   string
	Command, Args []string
	Env           []EnvVar // plain values only; valueFrom entries have Value ""

	// Source lines of Command and Args items, for error messages (nil when unknown).
	commandLines, argLines []int
}

// ExtraVolume is a kubeadm ClusterConfiguration apiServer.extraVolumes entry.
type ExtraVolume struct {
	Name, HostPath, MountPath, PathType string
	ReadOnly                            bool
}

// ClusterEdit is the desired state of parts of a ClusterConfiguration's apiServer.
type ClusterEdit struct {
	ExtraArgs    []Flag
	RemoveArgs   []string
	ExtraVolumes []ExtraVolume
}
