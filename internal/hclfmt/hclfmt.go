// Package hclfmt rewrites HCL files (plans, inventories, var files) in the canonical
// layout, as terraform fmt does: hclwrite's formatter, which changes only whitespace
// (indentation, aligned equals signs, spacing around operators and braces).
package hclfmt

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
)

// Format returns src in the canonical layout, or the syntax errors that keep it from
// being formatted: hclwrite formats broken input too, but may garble it beyond what
// its author can easily undo.
func Format(src []byte, filename string) ([]byte, hcl.Diagnostics) {
	if _, diags := hclsyntax.ParseConfig(src, filename, hcl.InitialPos); diags.HasErrors() {
		return nil, diags
	}
	return hclwrite.Format(src), nil
}

// Files lists the files to format for paths: a file as named, whatever its name (plan
// files, var files and inventories may have any), and the *.hcl files of a directory
// in name order, as hostplan plan DIR loads them. With recursive, the directories
// below each directory too. Names starting with a dot (.git, editors' files) are
// skipped in directories.
func Files(paths []string, recursive bool) ([]string, error) {
	var files []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			files = append(files, p)
			continue
		}
		found, err := dirFiles(p, recursive)
		if err != nil {
			return nil, err
		}
		files = append(files, found...)
	}
	return files, nil
}

func dirFiles(dir string, recursive bool) ([]string, error) {
	var files []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		hidden := path != dir && strings.HasPrefix(d.Name(), ".")
		switch {
		case d.IsDir() && (hidden || path != dir && !recursive):
			return filepath.SkipDir
		case !d.IsDir() && !hidden && strings.HasSuffix(d.Name(), ".hcl"):
			files = append(files, path)
		}
		return nil
	})
	slices.Sort(files)
	return files, err
}

// WriteFile replaces path's content with data through a temporary file in the same
// directory and a rename, so that no reader and no crash ever leaves half a file. The
// file keeps its mode and owner; through a symlink, the file it points to is rewritten
// and the link stays.
func WriteFile(path string, data []byte) error {
	target, err := filepath.EvalSymlinks(path)
	if err != nil {
		return err
	}
	st, err := os.Stat(target)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(target), "."+filepath.Base(target)+".*.tmp")
	if err != nil {
		return err
	}
	err = fill(tmp, data, st)
	if err == nil {
		err = os.Rename(tmp.Name(), target)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// fill writes data to tmp and gives it the owner and mode of the file it replaces (in
// that order: a change of owner clears the setuid and setgid bits).
func fill(tmp *os.File, data []byte, orig fs.FileInfo) error {
	_, err := tmp.Write(data)
	if sys, ok := orig.Sys().(*syscall.Stat_t); ok && err == nil && (int(sys.Uid) != os.Getuid() || int(sys.Gid) != os.Getgid()) {
		if err = tmp.Chown(int(sys.Uid), int(sys.Gid)); err != nil {
			err = fmt.Errorf("cannot keep its owner (%d:%d): %w", sys.Uid, sys.Gid, err)
		}
	}
	if err == nil {
		err = tmp.Chmod(orig.Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky))
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	return err
}
