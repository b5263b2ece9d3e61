package inventory

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hostplan/hostplan/internal/golden"
)

func TestLoadGolden(t *testing.T) {
	t.Setenv("HOME", testHome)
	tests := []struct {
		golden string
		files  []string
	}{
		{"cluster.hcl.golden", []string{"cluster.hcl"}},
		{"hosts.ini.golden", []string{"hosts.ini"}},
		{"hosts.yml.golden", []string{"hosts.yml"}},
		{"merged.golden", []string{"hosts.ini", "override.yml", "extra.hcl"}},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			var paths []string
			for _, f := range tt.files {
				paths = append(paths, filepath.Join("testdata", f))
			}
			inv := mustLoad(t, paths...)
			cwd, err := os.Getwd()
			if err != nil {
				t.Fatal(err)
			}
			golden.Check(t, tt.golden, []byte(strings.ReplaceAll(dump(inv), cwd+string(filepath.Separator), "$PWD/")))
		})
	}
}
