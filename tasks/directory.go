package tasks

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"

	"github.com/hostplan/hostplan/internal/transport"
)

func init() {
	register(&Kind{
		Type:      "directory",
		LabelName: "path",
		Spec: hcldec.ObjectSpec{
			"mode":  &hcldec.AttrSpec{Name: "mode", Type: cty.String},
			"owner": &hcldec.AttrSpec{Name: "owner", Type: cty.String},
			"group": &hcldec.AttrSpec{Name: "group", Type: cty.String},
		},
		Build: buildDirectory,
	})
}

// Directory makes sure a directory exists (missing parents too) with a mode and owner.
type Directory struct {
	Path    string
	Mode    fs.FileMode
	HasMode bool
	Owner   string
	Group   string
}

func buildDirectory(label string, a Attrs) (Resource, error) {
	if err := checkAbsPath(label); err != nil {
		return nil, err
	}
	d := &Directory{Path: label, Owner: a.String("owner", ""), Group: a.String("group", "")}
	var err error
	if d.Mode, d.HasMode, err = a.Mode("mode"); err != nil {
		return nil, err
	}
	return d, nil
}

// Type implements Resource.
func (d *Directory) Type() string { return "directory" }

// Label implements Resource.
func (d *Directory) Label() string { return d.Path }

// Looks implements FileLooker.
func (d *Directory) Looks(*Host) []transport.Look { return []transport.Look{{Path: d.Path}} }

// Plan implements Resource.
func (d *Directory) Plan(ctx context.Context, h *Host) (*Change, error) {
	uid, gid, err := h.ownerIDs(d.Owner, d.Group)
	if err != nil {
		return nil, err
	}
	cur, err := h.Conn.Stat(ctx, d.Path)
	if errors.Is(err, fs.ErrNotExist) {
		missing, err := transport.MissingParents(ctx, h.Conn, d.Path)
		if err != nil {
			return nil, err
		}
		c := &Change{Action: Create, Details: []string{"mode " + FormatMode(d.newMode())}}
		if d.Owner != "" || d.Group != "" {
			c.Details = append(c.Details, "owner "+h.ownerString(uid, gid))
		}
		for _, p := range missing {
			if !h.dirs[p] {
				c.Details = append(c.Details, "creates parent "+p+" (mode 0755)")
			}
			h.willCreateDir(p)
		}
		h.willCreateDir(d.Path)
		return c, nil
	}
	if err != nil {
		return nil, err
	}
	if !cur.IsDir() {
		return nil, fmt.Errorf("%s exists and is not a directory (%s)", d.Path, cur.Mode.Type())
	}
	if details := attrChanges(h, cur, d.Mode, d.HasMode, uid, gid); len(details) > 0 {
		return &Change{Action: Update, Details: details}, nil
	}
	return &Change{Action: NoOp}, nil
}

func (d *Directory) newMode() fs.FileMode {
	if d.HasMode {
		return d.Mode
	}
	return 0o755
}

// Apply implements Resource.
func (d *Directory) Apply(ctx context.Context, h *Host, c *Change) error {
	uid, gid, err := h.ownerIDs(d.Owner, d.Group)
	if err != nil {
		return err
	}
	if c.Action != Create {
		return setAttrs(ctx, h, d.Path, d.Mode, d.HasMode, uid, gid)
	}
	missing, err := transport.MissingParents(ctx, h.Conn, d.Path)
	if err != nil {
		return err
	}
	for _, p := range missing {
		if err := h.Conn.Mkdir(ctx, p, transport.FileAttrs{Mode: 0o755, UID: -1, GID: -1}); err != nil {
			return err
		}
	}
	if err := h.Conn.Mkdir(ctx, d.Path, transport.FileAttrs{Mode: d.newMode(), UID: uid, GID: gid}); err != nil {
		return err
	}
	return nil
}
