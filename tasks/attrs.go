package tasks

import (
	"fmt"
	"io/fs"
	"math/big"
	"strconv"

	"github.com/hostplan/hostplan/internal/ctynum"
)

// Has reports whether the attribute was set (not null).
func (a Attrs) Has(name string) bool {
	if !a.Value.Type().HasAttribute(name) {
		return false
	}
	return !a.Value.GetAttr(name).IsNull()
}

// String returns a string attribute, or def when unset.
func (a Attrs) String(name, def string) string {
	if !a.Has(name) {
		return def
	}
	return a.Value.GetAttr(name).AsString()
}

// Bool returns a bool attribute, or def when unset.
func (a Attrs) Bool(name string, def bool) bool {
	if !a.Has(name) {
		return def
	}
	return a.Value.GetAttr(name).True()
}

// Int returns a whole-number attribute, or def when unset.
func (a Attrs) Int(name string, def int) (int, error) {
	if !a.Has(name) {
		return def, nil
	}
	bf := a.Value.GetAttr(name).AsBigFloat()
	if !bf.IsInt() {
		return 0, &AttrError{Attr: name, Msg: fmt.Sprintf("%s is not a whole number", ctynum.Describe(bf))}
	}
	i, acc := bf.Int64()
	if acc != big.Exact {
		return 0, &AttrError{Attr: name, Msg: fmt.Sprintf("%s is too large", ctynum.Describe(bf))}
	}
	return int(i), nil
}

// Strings returns a list-of-strings attribute, or nil when unset.
func (a Attrs) Strings(name string) []string {
	if !a.Has(name) {
		return nil
	}
	var out []string
	for it := a.Value.GetAttr(name).ElementIterator(); it.Next(); {
		_, v := it.Element()
		out = append(out, v.AsString())
	}
	return out
}

// StringMap returns a map-of-strings attribute, or nil when unset.
func (a Attrs) StringMap(name string) map[string]string {
	if !a.Has(name) {
		return nil
	}
	out := map[string]string{}
	for it := a.Value.GetAttr(name).ElementIterator(); it.Next(); {
		k, v := it.Element()
		out[k.AsString()] = v.AsString()
	}
	return out
}

// Absent reads the state attribute: "present" (the default) or "absent".
func (a Attrs) Absent() (bool, error) {
	switch state := a.String("state", "present"); state {
	case "present":
		return false, nil
	case "absent":
		return true, nil
	default:
		return false, &AttrError{Attr: "state", Msg: fmt.Sprintf("%q is not a state; use \"present\" or \"absent\"", state)}
	}
}

// Mode parses an octal permission string such as "0644" or "600".
func (a Attrs) Mode(name string) (fs.FileMode, bool, error) {
	if !a.Has(name) {
		return 0, false, nil
	}
	s := a.Value.GetAttr(name).AsString()
	m, err := strconv.ParseUint(s, 8, 32)
	if err != nil || m > 0o7777 {
		return 0, false, &AttrError{Attr: name, Msg: fmt.Sprintf("%q is not an octal file mode; write it as a string like \"0644\"", s)}
	}
	return fs.FileMode(m&0o777) | extraModeBits(m), true, nil
}

// extraModeBits maps setuid, setgid and sticky from octal to fs.FileMode.
func extraModeBits(m uint64) fs.FileMode {
	var out fs.FileMode
	if m&0o4000 != 0 {
		out |= fs.ModeSetuid
	}
	if m&0o2000 != 0 {
		out |= fs.ModeSetgid
	}
	if m&0o1000 != 0 {
		out |= fs.ModeSticky
	}
	return out
}

// FormatMode prints a mode as octal the way users write it ("0644").
func FormatMode(m fs.FileMode) string {
	v := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		v |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		v |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		v |= 0o1000
	}
	return fmt.Sprintf("%04o", v)
}

// sensitiveAny reports whether any of the named attributes is sensitive.
func (a Attrs) sensitiveAny(names ...string) bool {
	for _, n := range names {
		if a.Sensitive[n] {
			return true
		}
	}
	return false
}
