package inventory

import (
	"fmt"
	"math/big"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"

	"github.com/hostplan/hostplan/internal/ctynum"
)

// varKind says what an ansible_* variable of an INI or YAML inventory does here.
type varKind int

const (
	kindPlain        varKind = iota // not an ansible_* variable: an ordinary variable
	kindAddress                     // ConnSettings.Address
	kindPort                        // ConnSettings.Port
	kindUser                        // ConnSettings.User
	kindKey                         // ConnSettings.IdentityFile
	kindConnection                  // ConnSettings.Connection
	kindBecome                      // ConnSettings.Become
	kindBecomeUser                  // ConnSettings.BecomeUser
	kindBecomeMethod                // "sudo" is what hostplan does; anything else is unsupported
	kindShellType                   // ConnSettings.Shell: "sh" or "cmd"; powershell is unsupported
	kindHarmless                    // tunes Ansible itself; dropped silently
	kindUnsupported                 // changes connection behaviour; dropped with a warning
	kindUnknown                     // an ansible_* name we do not know; kept, with a warning
)

type varInfo struct {
	kind varKind
	hint string // for kindUnsupported: what to do instead
}

const (
	hintPassword = "hostplan logs in with keys only: use identity_file (ansible_ssh_private_key_file) or an ssh-agent"
	hintBecomePw = "hostplan runs sudo without a password: allow it with NOPASSWD in sudoers for this user"
	hintSSHArgs  = "put ssh options into ~/.ssh/config (hostplan reads HostName, User, Port, IdentityFile, ProxyJump and UserKnownHostsFile from it), or use bastion in an HCL inventory for a jump host"
	hintBecome   = "hostplan always becomes root (or ansible_become_user) with sudo"
	hintHostKey  = "hostplan always checks host keys against known_hosts"
	hintConnType = "hostplan connects only with ssh or local"
	hintTimeout  = "hostplan has its own connection timeout"
)

var ansibleVars = map[string]varInfo{
	"ansible_host":                 {kind: kindAddress},
	"ansible_ssh_host":             {kind: kindAddress},
	"ansible_port":                 {kind: kindPort},
	"ansible_ssh_port":             {kind: kindPort},
	"ansible_user":                 {kind: kindUser},
	"ansible_ssh_user":             {kind: kindUser},
	"ansible_ssh_private_key_file": {kind: kindKey},
	"ansible_private_key_file":     {kind: kindKey},
	"ansible_connection":           {kind: kindConnection},
	"ansible_become":               {kind: kindBecome},
	"ansible_become_user":          {kind: kindBecomeUser},
	"ansible_become_method":        {kind: kindBecomeMethod},
	"ansible_shell_type":           {kind: kindShellType},

	"ansible_python_interpreter":  {kind: kindHarmless},
	"ansible_pipelining":          {kind: kindHarmless},
	"ansible_ssh_pipelining":      {kind: kindHarmless},
	"ansible_control_path":        {kind: kindHarmless},
	"ansible_control_path_dir":    {kind: kindHarmless},
	"ansible_ssh_executable":      {kind: kindHarmless},
	"ansible_scp_if_ssh":          {kind: kindHarmless},
	"ansible_sftp_batch_mode":     {kind: kindHarmless},
	"ansible_ssh_transfer_method": {kind: kindHarmless},
	"ansible_remote_tmp":          {kind: kindHarmless},

	"ansible_password":               {kindUnsupported, hintPassword},
	"ansible_ssh_pass":               {kindUnsupported, hintPassword},
	"ansible_ssh_password":           {kindUnsupported, hintPassword},
	"ansible_private_key_passphrase": {kindUnsupported, "use an unencrypted key or load the key into an ssh-agent"},
	"ansible_become_password":        {kindUnsupported, hintBecomePw},
	"ansible_become_pass":            {kindUnsupported, hintBecomePw},
	"ansible_sudo_pass":              {kindUnsupported, hintBecomePw},
	"ansible_sudo_password":          {kindUnsupported, hintBecomePw},
	"ansible_su_pass":                {kindUnsupported, hintBecomePw},
	"ansible_su_password":            {kindUnsupported, hintBecomePw},
	"ansible_ssh_common_args":        {kindUnsupported, hintSSHArgs},
	"ansible_ssh_extra_args":         {kindUnsupported, hintSSHArgs},
	"ansible_ssh_args":               {kindUnsupported, hintSSHArgs},
	"ansible_sftp_extra_args":        {kindUnsupported, hintSSHArgs},
	"ansible_scp_extra_args":         {kindUnsupported, hintSSHArgs},
	"ansible_ssh_use_tty":            {kindUnsupported, "hostplan never allocates a terminal"},
	"ansible_become_exe":             {kindUnsupported, hintBecome},
	"ansible_become_flags":           {kindUnsupported, hintBecome},
	"ansible_sudo":                   {kindUnsupported, "use ansible_become"},
	"ansible_sudo_user":              {kindUnsupported, "use ansible_become_user"},
	"ansible_sudo_exe":               {kindUnsupported, hintBecome},
	"ansible_sudo_flags":             {kindUnsupported, hintBecome},
	"ansible_su":                     {kindUnsupported, hintBecome},
	"ansible_su_user":                {kindUnsupported, hintBecome},
	"ansible_su_exe":                 {kindUnsupported, hintBecome},
	"ansible_su_flags":               {kindUnsupported, hintBecome},
	"ansible_shell_executable":       {kindUnsupported, "hostplan runs commands with /bin/sh -c"},
	"ansible_host_key_checking":      {kindUnsupported, hintHostKey},
	"ansible_ssh_host_key_checking":  {kindUnsupported, hintHostKey},
	"ansible_timeout":                {kindUnsupported, hintTimeout},
	"ansible_ssh_timeout":            {kindUnsupported, hintTimeout},
	"ansible_ssh_retries":            {kindUnsupported, hintTimeout},
	"ansible_network_os":             {kindUnsupported, hintConnType},
}

// Prefixes of connection plugin options we do not support (winrm, docker, network
// devices, ...).
var ansiblePrefixes = []struct {
	prefix string
	info   varInfo
}{
	{"ansible_paramiko_", varInfo{kindUnsupported, hintSSHArgs}},
	{"ansible_libssh_", varInfo{kindUnsupported, hintSSHArgs}},
	{"ansible_winrm_", varInfo{kindUnsupported, hintConnType}},
	{"ansible_psrp_", varInfo{kindUnsupported, hintConnType}},
	{"ansible_docker_", varInfo{kindUnsupported, hintConnType}},
	{"ansible_kubectl_", varInfo{kindUnsupported, hintConnType}},
	{"ansible_netconf_", varInfo{kindUnsupported, hintConnType}},
	{"ansible_httpapi_", varInfo{kindUnsupported, hintConnType}},
	{"ansible_persistent_", varInfo{kindUnsupported, hintConnType}},
	{"ansible_network_", varInfo{kindUnsupported, hintConnType}},
}

func classifyVar(name string) varInfo {
	if !strings.HasPrefix(name, "ansible_") {
		return varInfo{kind: kindPlain}
	}
	if vi, ok := ansibleVars[name]; ok {
		return vi
	}
	if strings.HasSuffix(name, "_interpreter") {
		return varInfo{kind: kindHarmless}
	}
	for _, p := range ansiblePrefixes {
		if strings.HasPrefix(name, p.prefix) {
			return p.info
		}
	}
	return varInfo{kind: kindUnknown}
}

// setAnsibleVar records one variable of an INI or YAML inventory in layer l: a
// connection variable goes into l.conn, an ordinary one into l.vars. rng points at the
// value, for diagnostics; dir is the inventory file's directory (relative key paths).
func setAnsibleVar(l *layer, name string, v cty.Value, rng hcl.Range, dir string) *hcl.Diagnostic {
	vi := classifyVar(name)
	switch vi.kind {
	case kindPlain:
		l.setVar(name, v)
		return nil
	case kindUnknown:
		l.setVar(name, v)
		l.note(name, "is not an Ansible setting hostplan knows; it was kept as an ordinary variable")
		return nil
	case kindHarmless:
		return nil
	case kindUnsupported:
		l.note(name, "is not supported and was ignored; "+vi.hint)
		return nil
	}
	return setAnsibleConn(l, vi.kind, name, v, rng, dir)
}

// setAnsibleConn records a connection variable of kind k in l.conn.
func setAnsibleConn(l *layer, k varKind, name string, v cty.Value, rng hcl.Range, dir string) *hcl.Diagnostic {
	if v.IsNull() {
		// `ansible_user:` with no value in YAML, or ~ (null): leave the setting unset.
		return nil
	}
	if isTemplate(v) {
		return errorAt(rng, "Jinja template in "+name, fmt.Sprintf("%s is a Jinja template, which Ansible would evaluate and hostplan cannot: connecting with the text as written would go to the wrong place or as the wrong user. Give %s a plain value.", name, name))
	}
	switch k {
	case kindBecome:
		b, ok := ansibleBool(v)
		if !ok {
			return errorAt(rng, "Invalid "+name, fmt.Sprintf("%s must be a boolean: yes/no, true/false, on/off or 1/0 (any case); got %s.", name, showValue(v)))
		}
		l.conn.Become, l.conn.becomeSet = b, true
		return nil
	case kindPort:
		p, ok := valuePort(v)
		if !ok {
			return errorAt(rng, "Invalid "+name, fmt.Sprintf("%s must be a port number from 1 to 65535; got %s.", name, showValue(v)))
		}
		l.conn.Port = p
		return nil
	}

	s, ok := valueString(v)
	if !ok {
		return errorAt(rng, "Invalid "+name, fmt.Sprintf("%s must be a string; got %s.", name, showValue(v)))
	}
	s = strings.TrimSpace(s)
	if s == "" {
		return errorAt(rng, "Empty "+name, fmt.Sprintf("%s is empty: give it a value or remove it.", name))
	}
	return setAnsibleConnString(l, k, name, s, rng, dir)
}

// setAnsibleConnString records a connection variable of kind k whose value is the
// string s (trimmed, not empty). A become method or shell type hostplan lacks is
// noted and ignored, like other Ansible settings it has no use for; a connection type
// it cannot make is an error.
func setAnsibleConnString(l *layer, k varKind, name, s string, rng hcl.Range, dir string) *hcl.Diagnostic {
	switch k {
	case kindAddress:
		l.conn.Address = s
	case kindUser:
		l.conn.User = s
	case kindBecomeUser:
		l.conn.BecomeUser = s
	case kindKey:
		l.conn.IdentityFile = []string{expandPath(s, dir)}
	case kindConnection:
		switch strings.ToLower(s) {
		case "ssh", "smart", "paramiko", "paramiko_ssh", "ansible.builtin.ssh", "ansible.builtin.paramiko_ssh":
			l.conn.Connection = "ssh"
		case "local", "ansible.builtin.local":
			l.conn.Connection = "local"
		default:
			return errorAt(rng, "Unsupported connection type", fmt.Sprintf("%s = %q is not supported: hostplan connects with \"ssh\" or \"local\".", name, s))
		}
	case kindBecomeMethod:
		if strings.ToLower(s) == "sudo" || s == "ansible.builtin.sudo" {
			l.note(name, "") // overrides an unsupported method set in a lower layer
		} else {
			l.note(name, "is not supported and was ignored; "+hintBecome)
		}
	case kindShellType:
		switch s {
		case "sh", "cmd":
			l.conn.Shell = s
			l.note(name, "")
		default:
			l.note(name, "is not supported and was ignored; hostplan runs commands with /bin/sh -c, or with cmd.exe on Windows (ansible_shell_type=cmd)")
		}
	}
	return nil
}

// isTemplate reports a string with a Jinja expression or statement in it.
func isTemplate(v cty.Value) bool {
	if v.Type() != cty.String || !v.IsKnown() {
		return false
	}
	s := v.AsString()
	return strings.Contains(s, "{{") || strings.Contains(s, "{%")
}

// ansibleBool parses a boolean the way Ansible's boolean() filter does.
func ansibleBool(v cty.Value) (bool, bool) {
	switch v.Type() {
	case cty.Bool:
		return v.True(), true
	case cty.Number:
		f := v.AsBigFloat()
		if f.Cmp(big.NewFloat(1)) == 0 {
			return true, true
		}
		if f.Sign() == 0 {
			return false, true
		}
		return false, false
	case cty.String:
		switch strings.ToLower(strings.TrimSpace(v.AsString())) {
		case "yes", "y", "true", "t", "on", "1", "1.0":
			return true, true
		case "no", "n", "false", "f", "off", "0", "0.0":
			return false, true
		}
	}
	return false, false
}

func valuePort(v cty.Value) (int, bool) {
	if v.Type() == cty.String && len(v.AsString()) > maxPortText {
		return 0, false // reading a long number takes time quadratic in its length
	}
	n, err := convert.Convert(v, cty.Number)
	if err != nil || n.IsNull() || !n.IsKnown() {
		return 0, false
	}
	bf := n.AsBigFloat()
	if !bf.IsInt() {
		return 0, false
	}
	i, _ := bf.Int64()
	if i < 1 || i > 65535 {
		return 0, false
	}
	return int(i), true
}

// maxPortText is more than any port needs, spaces around it included.
const maxPortText = 64

func valueString(v cty.Value) (string, bool) {
	if !v.Type().IsPrimitiveType() {
		return "", false
	}
	s, err := convert.Convert(v, cty.String)
	if err != nil || s.IsNull() || !s.IsKnown() {
		return "", false
	}
	return s.AsString(), true
}

// showValue renders a value for a diagnostic.
func showValue(v cty.Value) string {
	switch {
	case v.IsNull():
		return "null"
	case !v.IsKnown():
		return "an unknown value"
	case v.Type() == cty.String:
		return fmt.Sprintf("%q", v.AsString())
	case v.Type() == cty.Number:
		return ctynum.Describe(v.AsBigFloat())
	case v.Type() == cty.Bool:
		return fmt.Sprint(v.True())
	case v.Type().IsTupleType() || v.Type().IsListType() || v.Type().IsSetType():
		return "a list"
	case v.Type().IsObjectType() || v.Type().IsMapType():
		return "a map"
	}
	return v.Type().FriendlyName()
}
