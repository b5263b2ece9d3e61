package tasks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"

	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"

	"github.com/hostplan/hostplan/internal/transport"
)

func init() {
	register(&Kind{
		Type:      "file",
		LabelName: "path",
		Spec: hcldec.ObjectSpec{
			"content":  &hcldec.AttrSpec{Name: "content", Type: cty.String},
			"source":   &hcldec.AttrSpec{Name: "source", Type: cty.String},
			"template": &hcldec.AttrSpec{Name: "template", Type: cty.String},
			"vars":     &hcldec.AttrSpec{Name: "vars", Type: cty.DynamicPseudoType},
			"mode":     &hcldec.AttrSpec{Name: "mode", Type: cty.String},
			"owner":    &hcldec.AttrSpec{Name: "owner", Type: cty.String},
			"group":    &hcldec.AttrSpec{Name: "group", Type: cty.String},
			"state":    &hcldec.AttrSpec{Name: "state", Type: cty.String},
		},
		Build: buildFile,
	})
}

// File manages one regular file's content, mode and ownership.
type File struct {
	Path      string
	Content   []byte
	Absent    bool
	Mode      fs.FileMode
	HasMode   bool
	Owner     string
	Group     string
	Sensitive bool
}

func buildFile(label string, a Attrs) (Resource, error) {
	f := &File{Path: label, Owner: a.String("owner", ""), Group: a.String("group", "")}
	if err := checkAbsPath(label); err != nil {
		return nil, err
	}
	var err error
	if f.Absent, err = a.Absent(); err != nil {
		return nil, err
	}
	if err := checkFileSources(a, f.Absent); err != nil {
		return nil, err
	}
	if err := f.setContent(a); err != nil {
		return nil, err
	}
	if f.Mode, f.HasMode, err = a.Mode("mode"); err != nil {
		return nil, err
	}
	return f, nil
}

// checkFileSources checks that exactly one of content, source and template is set, or
// none for an absent file.
func checkFileSources(a Attrs, absent bool) error {
	var sources []string
	for _, n := range []string{"content", "source", "template"} {
		if a.Has(n) {
			sources = append(sources, n)
		}
	}
	if len(sources) > 1 {
		return &AttrError{Attr: sources[1], Msg: fmt.Sprintf("set only one of content, source and template (%s is set too)", sources[0])}
	}
	if a.Has("vars") && !a.Has("template") {
		return &AttrError{Attr: "vars", Msg: "vars only applies to template"}
	}
	if absent && len(sources) > 0 {
		return &AttrError{Attr: sources[0], Msg: "a file with state = \"absent\" has no content"}
	}
	if !absent && len(sources) == 0 {
		return &AttrError{Attr: "content", Msg: "a file needs one of content, source or template"}
	}
	return nil
}

// setContent reads the content from whichever of content, source and template is set.
func (f *File) setContent(a Attrs) error {
	switch {
	case a.Has("content"):
		f.Content = []byte(a.String("content", ""))
		f.Sensitive = a.sensitiveAny("content")
	case a.Has("source"):
		data, _, err := a.readLocal("source")
		if err != nil {
			return &AttrError{Attr: "source", Msg: err.Error()}
		}
		f.Content = data
		f.Sensitive = a.sensitiveAny("source")
	case a.Has("template"):
		out, err := renderTemplate(a)
		if err != nil {
			return err
		}
		f.Content = []byte(out)
		f.Sensitive = a.sensitiveAny("template", "vars")
	}
	return nil
}

func renderTemplate(a Attrs) (string, error) {
	if a.Template == nil {
		return "", &AttrError{Attr: "template", Msg: "templates are not available here"}
	}
	vars := cty.EmptyObjectVal
	if a.Has("vars") {
		vars = a.Value.GetAttr("vars")
	}
	private := a.Sensitive["template"]
	out, err := a.Template(a.localPath(a.String("template", "")), vars, private)
	if err != nil {
		if private {
			// Read and parse errors name the file.
			return "", &AttrError{Attr: "template", Msg: "the template (its path is sensitive) cannot be rendered; the error would show the path, so it is not printed"}
		}
		return "", &AttrError{Attr: "template", Msg: err.Error()}
	}
	return out, nil
}

// Type implements Resource.
func (f *File) Type() string { return "file" }

// Label implements Resource.
func (f *File) Label() string { return f.Path }

// Looks implements FileLooker.
func (f *File) Looks(*Host) []transport.Look { return []transport.Look{{Path: f.Path, Read: true}} }

// Plan implements Resource.
func (f *File) Plan(ctx context.Context, h *Host) (*Change, error) {
	cur, err := h.Conn.Stat(ctx, f.Path)
	exists := err == nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if exists && !cur.Mode.IsRegular() {
		return nil, fmt.Errorf("%w; hostplan does not replace it", &transport.NotRegularError{Path: f.Path, Mode: cur.Mode, Link: cur.Link})
	}
	fc := &FileChange{Path: f.Path, OldExists: exists, NewExists: !f.Absent, Sensitive: f.Sensitive}
	c := &Change{Action: NoOp, File: fc}
	if exists {
		fc.OldMode, fc.OldUID, fc.OldGID = cur.Mode, cur.UID, cur.GID
		if fc.Old, err = h.Conn.ReadFile(ctx, f.Path); err != nil {
			return nil, err
		}
	}
	if f.Absent {
		if exists {
			c.Action = Delete
		}
		return c, nil
	}
	fc.New = f.Content
	h.willCreateFile(f.Path)
	uid, gid, err := h.ownerIDs(f.Owner, f.Group)
	if err != nil {
		return nil, err
	}
	if !exists {
		c.Action = Create
		c.Details = append(c.Details, "mode "+FormatMode(f.newMode()))
		if f.Owner != "" || f.Group != "" {
			c.Details = append(c.Details, "owner "+h.ownerString(uid, gid))
		}
		if _, err := h.Conn.Stat(ctx, path.Dir(f.Path)); errors.Is(err, fs.ErrNotExist) && !h.dirs[path.Dir(f.Path)] {
			c.Details = append(c.Details, "parent directory "+path.Dir(f.Path)+" does not exist yet")
		}
		return c, nil
	}
	if !bytes.Equal(fc.Old, fc.New) {
		c.Action = Update
	}
	attrDetails := attrChanges(h, cur, f.Mode, f.HasMode, uid, gid)
	if len(attrDetails) > 0 {
		c.Action = Update
		c.Details = append(c.Details, attrDetails...)
	}
	return c, nil
}

func (f *File) newMode() fs.FileMode {
	if f.HasMode {
		return f.Mode
	}
	return 0o644
}

// Apply implements Resource.
func (f *File) Apply(ctx context.Context, h *Host, c *Change) error {
	if f.Absent {
		return h.Conn.Remove(ctx, f.Path)
	}
	uid, gid, err := h.ownerIDs(f.Owner, f.Group)
	if err != nil {
		return err
	}
	if c.Action == Create || !bytes.Equal(c.File.Old, c.File.New) {
		attrs := transport.FileAttrs{Mode: f.newMode(), UID: uid, GID: gid}
		if c.File.OldExists && !f.HasMode {
			attrs.Mode = c.File.OldMode
		}
		if err := h.Conn.WriteFile(ctx, f.Path, f.Content, attrs); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("%w (does the parent directory exist? add a directory resource before this file)", err)
			}
			return err
		}
		return nil
	}
	return setAttrs(ctx, h, f.Path, f.Mode, f.HasMode, uid, gid)
}

// Revert implements Reverter.
func (f *File) Revert(ctx context.Context, h *Host, c *Change) error {
	return revertFile(ctx, h, c.File)
}

// localPath resolves a path on this machine relative to the plan file.
func (a Attrs) localPath(p string) string {
	if filepath.IsAbs(p) || a.Dir == "" {
		return p
	}
	return filepath.Join(a.Dir, p)
}

// readLocal reads the local file attribute attr names, and says how messages may show
// its path. A path derived from a sensitive value is read with ReadPrivate and shown as
// "(sensitive path)".
func (a Attrs) readLocal(attr string) (data []byte, shown string, err error) {
	p := a.localPath(a.String(attr, ""))
	read, shown := a.ReadFile, p
	if a.Sensitive[attr] {
		read, shown = a.ReadPrivate, "(sensitive path)"
	}
	if read == nil {
		read = os.ReadFile
	}
	if data, err = read(p); err != nil {
		return nil, shown, fmt.Errorf("cannot read %s: %v", shown, readCause(err))
	}
	return data, shown, nil
}

// readCause drops the path a read error repeats; messages name the file themselves.
// Errors of a ReadFile that are not *fs.PathError stay whole.
func readCause(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
