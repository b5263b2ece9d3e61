package transport

import (
	"io/fs"
	"strings"
	"testing"
)

// TestParseFileReads: the output of FileReads' script is taken only whole and as
// printed: a file's content cannot pass for more lines of the script, and whatever is
// odd leaves either no view or no content (the file session then answers).
func TestParseFileReads(t *testing.T) {
	asked := []string{"/etc/a", "/etc/b"}
	head := "u 0\ns 0 0 41ed 4096 1 /\ns 0 0 41ed 4096 1 /etc\ns 0 0 81a4 2 1 /etc/a\ns 0 0 81a4 9 1 /etc/b\n"
	end := "\n" + fileEnd + " 0\n"
	for _, tc := range []struct {
		name    string
		out     string
		view    bool              // a view at all
		content map[string]string // what it keeps
	}{
		{"both", head + "c /etc/a\nc /etc/b\nd\na\nm /x\ns 0 " + end, true, map[string]string{"/etc/a": "a\n", "/etc/b": "m /x\ns 0 "}},
		{"one", head + "c /etc/b\nd\n123456789" + end, true, map[string]string{"/etc/b": "123456789"}},
		{"none read", head + "m /etc/c\n", true, map[string]string{}},
		{"changed size", head + "c /etc/a\nc /etc/b\nd\na\n12345678" + end, true, map[string]string{}},
		{"cat failed", head + "c /etc/a\nd\na\n\n" + fileEnd + " 1\n", true, map[string]string{}},
		{"not root", strings.Replace(head, "u 0", "u 1000", 1), false, nil},
		{"no user", "s 0 0 41ed 4096 1 /\n", false, nil},
		{"not asked", head + "c /etc/shadow\nd\nx" + end, false, nil},
		{"not stat'ed", "u 0\nc /etc/a\nd\na\n" + end, false, nil},
		{"cut short", head + "c /etc/a\nd\na\n", false, nil},
		{"bad stat line", "u 0\ns 0 0 zz 1 1 /etc/a\n", false, nil},
		{"short stat line", "u 0\ns 0 0 81a4 /etc/a\n", false, nil},
		{"unknown line", head + "x /etc/a\n", false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := parseFileReads([]byte(tc.out), asked)
			if (err == nil) != tc.view {
				t.Fatalf("view %v, err %v", v != nil, err)
			}
			if !tc.view {
				return
			}
			if len(v.content) != len(tc.content) {
				t.Errorf("kept %d contents, want %d", len(v.content), len(tc.content))
			}
			for p, want := range tc.content {
				if got := string(v.content[p]); got != want {
					t.Errorf("%s: %q, want %q", p, got, want)
				}
			}
		})
	}
}

func TestModeOf(t *testing.T) {
	for raw, want := range map[uint32]fs.FileMode{
		0o040755:  fs.ModeDir | 0o755,
		0o041777:  fs.ModeDir | fs.ModeSticky | 0o777,
		0o100644:  0o644,
		0o104755:  fs.ModeSetuid | 0o755,
		0o102755:  fs.ModeSetgid | 0o755,
		0o120777:  fs.ModeSymlink | 0o777,
		0o010600:  fs.ModeNamedPipe | 0o600,
		0o140755:  fs.ModeSocket | 0o755,
		0o020620:  fs.ModeDevice | fs.ModeCharDevice | 0o620,
		0o060660:  fs.ModeDevice | 0o660,
		0o170644:  fs.ModeIrregular | 0o644,
		0o0100600: 0o600,
	} {
		if got := modeOf(raw); got != want {
			t.Errorf("modeOf(%o) = %v, want %v", raw, got, want)
		}
	}
}
