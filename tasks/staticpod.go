package tasks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"path"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"

	"github.com/hostplan/hostplan/internal/kubeyaml"
	"github.com/hostplan/hostplan/internal/transport"
)

func init() {
	register(&Kind{
		Type:      "static_pod",
		LabelName: "path",
		Spec: hcldec.ObjectSpec{
			"container":    &hcldec.AttrSpec{Name: "container", Type: cty.String, Required: true},
			"flags":        &hcldec.AttrSpec{Name: "flags", Type: cty.Map(cty.String)},
			"remove_flags": &hcldec.AttrSpec{Name: "remove_flags", Type: cty.List(cty.String)},
			"env":          &hcldec.AttrSpec{Name: "env", Type: cty.Map(cty.String)},
			"backup_dir":   &hcldec.AttrSpec{Name: "backup_dir", Type: cty.String},
			"keep_backups": &hcldec.AttrSpec{Name: "keep_backups", Type: cty.Number},
			"volume_mount": &hcldec.BlockMapSpec{TypeName: "volume_mount", LabelNames: []string{"name"}, Nested: hcldec.ObjectSpec{
				"mount_path": &hcldec.AttrSpec{Name: "mount_path", Type: cty.String, Required: true},
				"read_only":  &hcldec.AttrSpec{Name: "read_only", Type: cty.Bool},
			}},
			"host_path_volume": &hcldec.BlockMapSpec{TypeName: "host_path_volume", LabelNames: []string{"name"}, Nested: hcldec.ObjectSpec{
				"path": &hcldec.AttrSpec{Name: "path", Type: cty.String, Required: true},
				"type": &hcldec.AttrSpec{Name: "type", Type: cty.String},
			}},
		},
		Build: buildStaticPod,
	})
}

// StaticPod edits one container of a kubelet static pod manifest in place: flags, env,
// volume mounts and hostPath volumes. Everything else in the file stays byte for byte.
// Before each change the old manifest is copied to a backup folder outside the
// manifests directory (kubelet runs every file there, backups included).
type StaticPod struct {
	Path        string
	Edit        kubeyaml.PodEdit
	BackupDir   string
	KeepBackups int
	// Sensitive hides the diff: a flag or env value came from a sensitive value.
	Sensitive bool
}

var hostPathTypes = map[string]bool{"": true, "DirectoryOrCreate": true, "Directory": true, "FileOrCreate": true,
	"File": true, "Socket": true, "CharDevice": true, "BlockDevice": true}

func buildStaticPod(label string, a Attrs) (Resource, error) {
	if err := checkAbsPath(label); err != nil {
		return nil, err
	}
	s := &StaticPod{
		Path:      label,
		Edit:      kubeyaml.PodEdit{Container: a.String("container", ""), RemoveFlags: a.Strings("remove_flags")},
		BackupDir: a.String("backup_dir", "/etc/kubernetes/hostplan-backups"),
		Sensitive: a.sensitiveAny("flags", "env"),
	}
	if err := s.setBackups(a); err != nil {
		return nil, err
	}
	var err error
	if s.Edit.Flags, err = podFlags(a.StringMap("flags"), s.Edit.RemoveFlags); err != nil {
		return nil, err
	}
	env := a.StringMap("env")
	for _, name := range slices.Sorted(maps.Keys(env)) {
		s.Edit.Env = append(s.Edit.Env, kubeyaml.EnvVar{Name: name, Value: env[name]})
	}
	if s.Edit.VolumeMounts, err = volumeMounts(a); err != nil {
		return nil, err
	}
	if s.Edit.Volumes, err = hostPathVolumes(a); err != nil {
		return nil, err
	}
	return s, nil
}

// setBackups reads keep_backups and checks BackupDir: kubelet runs every file in the
// manifest's folder as a pod, so the backups must be kept outside it.
func (s *StaticPod) setBackups(a Attrs) error {
	var err error
	if s.KeepBackups, err = a.Int("keep_backups", 10); err != nil {
		return err
	}
	if s.KeepBackups < 1 {
		return &AttrError{Attr: "keep_backups", Msg: "keep at least 1 backup: the rollback restores the newest"}
	}
	if !path.IsAbs(s.BackupDir) {
		return &AttrError{Attr: "backup_dir", Msg: fmt.Sprintf("%q is not an absolute path", s.BackupDir)}
	}
	s.BackupDir = path.Clean(s.BackupDir)
	if dir := path.Dir(s.Path); s.BackupDir == dir || strings.HasPrefix(s.BackupDir, dir+"/") {
		return &AttrError{Attr: "backup_dir", Msg: fmt.Sprintf("%s is inside %s: kubelet would run the backups there as pods; keep backups outside it", s.BackupDir, dir)}
	}
	return nil
}

// podFlags are the flags to set, sorted by name so the edit (and its diff) is the same
// on every run. A flag can be set or removed, not both.
func podFlags(flags map[string]string, remove []string) ([]kubeyaml.Flag, error) {
	var out []kubeyaml.Flag
	for _, name := range slices.Sorted(maps.Keys(flags)) {
		if strings.HasPrefix(name, "-") {
			return nil, &AttrError{Attr: "flags", Msg: fmt.Sprintf("write flag names without dashes: %q, not %q", strings.TrimLeft(name, "-"), name)}
		}
		out = append(out, kubeyaml.Flag{Name: name, Value: flags[name]})
	}
	for _, name := range remove {
		if _, both := flags[name]; both {
			return nil, &AttrError{Attr: "remove_flags", Msg: fmt.Sprintf("%q is also set in flags", name)}
		}
	}
	return out, nil
}

func volumeMounts(a Attrs) ([]kubeyaml.VolumeMount, error) {
	if !a.Has("volume_mount") {
		return nil, nil
	}
	var out []kubeyaml.VolumeMount
	for it := a.Value.GetAttr("volume_mount").ElementIterator(); it.Next(); {
		k, v := it.Element()
		m := kubeyaml.VolumeMount{Name: k.AsString(), MountPath: v.GetAttr("mount_path").AsString()}
		if ro := v.GetAttr("read_only"); !ro.IsNull() {
			m.ReadOnly = ro.True()
		}
		if !path.IsAbs(m.MountPath) {
			return nil, &AttrError{Attr: "volume_mount", Msg: fmt.Sprintf("mount_path of %q must be absolute, not %q", m.Name, m.MountPath)}
		}
		out = append(out, m)
	}
	return out, nil
}

func hostPathVolumes(a Attrs) ([]kubeyaml.HostPathVolume, error) {
	if !a.Has("host_path_volume") {
		return nil, nil
	}
	var out []kubeyaml.HostPathVolume
	for it := a.Value.GetAttr("host_path_volume").ElementIterator(); it.Next(); {
		k, v := it.Element()
		vol := kubeyaml.HostPathVolume{Name: k.AsString(), Path: v.GetAttr("path").AsString()}
		if t := v.GetAttr("type"); !t.IsNull() {
			vol.Type = t.AsString()
		}
		if !hostPathTypes[vol.Type] {
			return nil, &AttrError{Attr: "host_path_volume", Msg: fmt.Sprintf("type %q of %q is not a hostPath type (DirectoryOrCreate, Directory, FileOrCreate, File, Socket, CharDevice, BlockDevice)", vol.Type, vol.Name)}
		}
		if !path.IsAbs(vol.Path) {
			return nil, &AttrError{Attr: "host_path_volume", Msg: fmt.Sprintf("path of %q must be absolute, not %q", vol.Name, vol.Path)}
		}
		out = append(out, vol)
	}
	return out, nil
}

// Type implements Resource.
func (s *StaticPod) Type() string { return "static_pod" }

// Label implements Resource.
func (s *StaticPod) Label() string { return s.Path }

// Looks implements FileLooker: the manifest (read) and the files its file volumes
// mount (only looked at: one may be a growing log).
func (s *StaticPod) Looks(*Host) []transport.Look {
	looks := []transport.Look{{Path: s.Path, Read: true}}
	for _, v := range s.Edit.Volumes {
		if v.Type == "FileOrCreate" || v.Type == "File" {
			looks = append(looks, transport.Look{Path: v.Path})
		}
	}
	return looks
}

// Plan implements Resource.
func (s *StaticPod) Plan(ctx context.Context, h *Host) (*Change, error) {
	file, note, old, err := readFollowing(ctx, h, s.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no manifest at %s (is this a control-plane node? kubeadm writes it at init/join)", file)
	}
	if err != nil {
		return nil, err
	}
	// The mode and owner are the file's, never a link's (a link's 0777 copied onto the
	// manifest would let any user edit what kubelet runs as root).
	st, err := h.Conn.Stat(ctx, file)
	if err != nil {
		return nil, err
	}
	updated, err := kubeyaml.EditStaticPod(old, s.Edit)
	if err != nil {
		return nil, fmt.Errorf("%s: %w (the file was not changed)", s.Path, err)
	}
	if err := s.checkFileVolumes(ctx, h); err != nil {
		return nil, err
	}
	fc := &FileChange{Path: file, Old: old, New: updated, OldExists: true, NewExists: true,
		OldMode: st.Mode, OldUID: st.UID, OldGID: st.GID, Sensitive: s.Sensitive}
	c := &Change{Action: NoOp, File: fc}
	if note != "" {
		fc.Link = s.Path
		c.Details = append(c.Details, note)
	}
	if !bytes.Equal(old, updated) {
		c.Action = Update
		c.Details = append(c.Details,
			fmt.Sprintf("backup to %s/<UTC time>/%s first (keeps %d)", s.BackupDir, path.Base(s.Path), s.KeepBackups),
			"kubelet restarts the pod when this file changes")
	}
	return c, nil
}

// checkFileVolumes refuses a FileOrCreate volume whose file neither exists nor is
// created by an earlier resource: kubelet would create it empty, and an API server
// given an empty audit policy exits at start.
func (s *StaticPod) checkFileVolumes(ctx context.Context, h *Host) error {
	for _, v := range s.Edit.Volumes {
		if v.Type != "FileOrCreate" && v.Type != "File" {
			continue
		}
		if h.files[v.Path] {
			continue
		}
		if _, err := h.Conn.Stat(ctx, v.Path); err == nil {
			continue
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return fmt.Errorf("volume %q mounts %s (type %s), which does not exist and no earlier resource creates it: kubelet would create an empty file and the pod would fail to start; put the resource that writes %s (audit_policy or file) before this static_pod", v.Name, v.Path, v.Type, v.Path)
	}
	return nil
}

// Apply implements Resource.
func (s *StaticPod) Apply(ctx context.Context, h *Host, c *Change) error {
	cur, err := h.Conn.ReadFile(ctx, c.File.Path)
	if err != nil {
		return err
	}
	if !bytes.Equal(cur, c.File.Old) {
		return fmt.Errorf("%s changed on the host since the plan was made; run plan again", c.File.Path)
	}
	if err := s.writeBackup(ctx, h, cur, c.File); err != nil {
		return fmt.Errorf("back up %s: %w", s.Path, err)
	}
	attrs := transport.FileAttrs{Mode: c.File.OldMode.Perm(), UID: c.File.OldUID, GID: c.File.OldGID}
	if err := h.Conn.WriteFile(ctx, c.File.Path, c.File.New, attrs); err != nil {
		return err
	}
	return s.pruneBackups(ctx, h)
}

// Revert implements Reverter: the manifest as it was before Apply (Apply refuses to
// change one that differs from the plan's, so that is also its backup) goes back in
// place, unless someone changed the manifest after Apply.
func (s *StaticPod) Revert(ctx context.Context, h *Host, c *Change) error {
	return revertFile(ctx, h, c.File)
}

const backupTimeLayout = "20060102T150405.000Z"

var backupName = regexp.MustCompile(`^[0-9]{8}T[0-9]{6}\.[0-9]{3}Z$`)

func (s *StaticPod) writeBackup(ctx context.Context, h *Host, data []byte, fc *FileChange) error {
	private := transport.FileAttrs{Mode: 0o700, UID: -1, GID: -1}
	if _, err := h.Conn.Stat(ctx, s.BackupDir); errors.Is(err, fs.ErrNotExist) {
		if err := transport.MkdirAll(ctx, h.Conn, s.BackupDir, private); err != nil {
			return err
		}
	} else if err != nil {
		return err
	}
	dir := path.Join(s.BackupDir, time.Now().UTC().Format(backupTimeLayout))
	if err := h.Conn.Mkdir(ctx, dir, private); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	attrs := transport.FileAttrs{Mode: fc.OldMode.Perm(), UID: fc.OldUID, GID: fc.OldGID}
	return h.Conn.WriteFile(ctx, path.Join(dir, path.Base(s.Path)), data, attrs)
}

// pruneBackups keeps the newest KeepBackups backups of this manifest.
func (s *StaticPod) pruneBackups(ctx context.Context, h *Host) error {
	names, err := h.Conn.ReadDir(ctx, s.BackupDir)
	if err != nil {
		return err
	}
	var mine []string
	for _, name := range names {
		if !backupName.MatchString(name) {
			continue
		}
		if _, err := h.Conn.Stat(ctx, path.Join(s.BackupDir, name, path.Base(s.Path))); err == nil {
			mine = append(mine, name)
		}
	}
	sort.Strings(mine)
	for len(mine) > s.KeepBackups {
		dir := path.Join(s.BackupDir, mine[0])
		if err := h.Conn.Remove(ctx, path.Join(dir, path.Base(s.Path))); err != nil {
			return fmt.Errorf("prune old backup: %w", err)
		}
		// Other manifests' backups may share the folder: then it stays.
		_ = h.Conn.Remove(ctx, dir)
		mine = mine[1:]
	}
	return nil
}
