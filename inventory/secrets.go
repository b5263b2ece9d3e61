package inventory

import (
	"bytes"
	"regexp"

	"github.com/hashicorp/hcl/v2"
)

// credentialLine matches a line that sets a password, secret, token or key, as
// inventories write them: ansible_ssh_pass=..., ansible_become_password: ...,
// db_token = "...", api_key=....
var credentialLine = regexp.MustCompile(`(?i)(pass|secret|token|key)\w*["']?\s*[=:]`)

// quoted matches what messages quote: "..." (Go's %q, HCL), '...' and `...` (yaml.v3).
var quoted = regexp.MustCompile("\"(?:[^\"\\\\]|\\\\.)*\"|'[^']*'|`[^`]*`")

// hideSecrets takes quoted text out of the messages of diagnostics on a line that sets
// a credential: a message may quote the value it failed to read (yaml.v3's "cannot
// unmarshal !!str `hunter2`", HCL's invalid escape "q"), and reaches the terminal, CI
// logs and saved plans. The renderer leaves such a line out of the snippet too.
func hideSecrets(files map[string]*hcl.File, diags hcl.Diagnostics) hcl.Diagnostics {
	for _, d := range diags {
		if d.Subject == nil || files[d.Subject.Filename] == nil {
			continue
		}
		if credentialLine.Match(lineAt(files[d.Subject.Filename].Bytes, d.Subject.Start.Byte)) {
			d.Summary = quoted.ReplaceAllString(d.Summary, `"(hidden)"`)
			d.Detail = quoted.ReplaceAllString(d.Detail, `"(hidden)"`)
		}
	}
	return diags
}

// lineAt is the line of src that holds byte off.
func lineAt(src []byte, off int) []byte {
	off = min(max(off, 0), len(src))
	start := bytes.LastIndexByte(src[:off], '\n') + 1
	end := len(src)
	if i := bytes.IndexByte(src[off:], '\n'); i >= 0 {
		end = off + i
	}
	return src[start:end]
}
