package inventory

import (
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"

	"github.com/hostplan/hostplan/internal/ctynum"
)

// HCL inventories:
//
//	defaults {                      # optional, at most one per file
//	  user = "ops"  port = 22  identity_file = "~/.ssh/id_ed25519"
//	  known_hosts = "~/.ssh/known_hosts"  bastion = "jump@bastion.example:22"
//	  become = true  become_user = "root"  connection = "ssh"
//	}
//	host "master-1" {
//	  address = "192.168.0.11"        # and every defaults attribute, all optional
//	  groups  = ["masters"]
//	  vars    = { node_ip = "192.168.0.11", extra = { a = 1 } }
//	}
//	group "masters" {                 # optional
//	  vars     = { ... }
//	  children = ["..."]
//	}
//
// A defaults block applies to the host blocks of its own file. identity_file is a
// string or a list of strings. In identity_file and known_hosts, "~" is the home
// directory and a relative path is relative to the inventory file's directory.
// bastion = "" (or "none") means no jump host, even if ~/.ssh/config has a ProxyJump.

var connAttrSchema = []hcl.AttributeSchema{
	{Name: "user"}, {Name: "port"}, {Name: "identity_file"}, {Name: "known_hosts"},
	{Name: "bastion"}, {Name: "become"}, {Name: "become_user"}, {Name: "connection"},
	{Name: "shell"},
}

var (
	hclRootSchema = &hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{
		{Type: "defaults"},
		{Type: "host", LabelNames: []string{"name"}},
		{Type: "group", LabelNames: []string{"name"}},
	}}
	hclDefaultsSchema = &hcl.BodySchema{Attributes: connAttrSchema}
	hclHostSchema     = &hcl.BodySchema{Attributes: append(append([]hcl.AttributeSchema{}, connAttrSchema...),
		hcl.AttributeSchema{Name: "address"}, hcl.AttributeSchema{Name: "groups"}, hcl.AttributeSchema{Name: "vars"})}
	hclGroupSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "vars"}, {Name: "children"}}}
)

// Arithmetic fails rather than make a number that takes minutes to print.
func init() { ctynum.BoundArithmetic() }

func loadHCL(b *builder, path string, src []byte) (*hcl.File, hcl.Diagnostics) {
	f, diags := hclsyntax.ParseConfig(src, path, hcl.InitialPos)
	if f == nil {
		f = &hcl.File{Bytes: src}
	}
	if diags.HasErrors() {
		return f, diags
	}
	// Before any value is read: HCL prints numbers in full converting them to strings
	// ("${1e100000000}"), which takes minutes.
	if diags = ctynum.Literals(f.Body.(*hclsyntax.Body)); diags.HasErrors() {
		return f, diags
	}
	content, ds := f.Body.Content(hclRootSchema)
	diags = append(diags, ds...)
	l := &hclLoader{b: b, path: path, dir: fileDir(path), hostDefs: map[string]hcl.Range{}, groupDefs: map[string]hcl.Range{}}
	for _, blk := range content.Blocks {
		switch blk.Type {
		case "defaults":
			diags = append(diags, l.defaultsBlock(blk)...)
		case "host":
			diags = append(diags, l.hostBlock(blk)...)
		case "group":
			diags = append(diags, l.groupBlock(blk)...)
		}
	}
	for _, h := range l.hosts {
		h.defaults.overlay(&l.defaults)
	}
	return f, diags
}

// hclLoader is one HCL inventory file being read into a builder.
type hclLoader struct {
	b         *builder
	path, dir string
	defaults  connLayer
	defBlock  *hcl.Block // the defaults block, once seen
	hosts     []*bHost   // the hosts of this file: the file's defaults apply to them
	hostDefs  map[string]hcl.Range
	groupDefs map[string]hcl.Range
}

func (l *hclLoader) defaultsBlock(blk *hcl.Block) hcl.Diagnostics {
	if l.defBlock != nil {
		return hcl.Diagnostics{errorAt(blk.DefRange, "Duplicate defaults block", fmt.Sprintf("This file already has a defaults block on line %d; merge the two.", l.defBlock.DefRange.Start.Line))}
	}
	l.defBlock = blk
	body, diags := blk.Body.Content(hclDefaultsSchema)
	return append(diags, decodeConnAttrs(body.Attributes, &l.defaults, l.dir)...)
}

func (l *hclLoader) hostBlock(blk *hcl.Block) hcl.Diagnostics {
	name, nameRng := blk.Labels[0], blk.LabelRanges[0]
	if msg := badHostName(name); msg != "" {
		return hcl.Diagnostics{errorAt(nameRng, "Invalid host name", msg)}
	}
	if prev, ok := l.hostDefs[name]; ok {
		return hcl.Diagnostics{errorWith(nameRng, blk.DefRange, "Duplicate host", fmt.Sprintf("Host %q is already defined on line %d of this file; merge the two blocks into one.", name, prev.Start.Line))}
	}
	l.hostDefs[name] = blk.DefRange
	body, diags := blk.Body.Content(hclHostSchema)
	var conn connLayer
	diags = append(diags, decodeConnAttrs(body.Attributes, &conn, l.dir)...)
	if a := body.Attributes["address"]; a != nil {
		s, ds := hclString(a, false)
		diags = append(diags, ds...)
		conn.Address = s
	}
	h := l.b.host(name, l.path)
	h.conn.overlay(&conn)
	l.hosts = append(l.hosts, h)
	if a := body.Attributes["groups"]; a != nil {
		refs, ds := hclNameList(a, "groups")
		diags = append(diags, ds...)
		for _, r := range refs {
			l.b.addMember(r.name, h)
		}
	}
	if a := body.Attributes["vars"]; a != nil {
		diags = append(diags, hclVars(a, &h.layer)...)
	}
	return diags
}

func (l *hclLoader) groupBlock(blk *hcl.Block) hcl.Diagnostics {
	name, nameRng := blk.Labels[0], blk.LabelRanges[0]
	if !validGroupName(name) {
		return hcl.Diagnostics{errorAt(nameRng, "Invalid group name", fmt.Sprintf("%q cannot be a group name. %s", name, groupNameRule))}
	}
	if prev, ok := l.groupDefs[name]; ok {
		return hcl.Diagnostics{errorWith(nameRng, blk.DefRange, "Duplicate group", fmt.Sprintf("Group %q is already defined on line %d of this file; merge the two blocks into one.", name, prev.Start.Line))}
	}
	l.groupDefs[name] = blk.DefRange
	body, diags := blk.Body.Content(hclGroupSchema)
	g := l.b.groupIn(name, l.path)
	g.declared = true
	if a := body.Attributes["vars"]; a != nil {
		diags = append(diags, hclVars(a, &g.layer)...)
	}
	if a := body.Attributes["children"]; a != nil {
		refs, ds := hclNameList(a, "children")
		diags = append(diags, ds...)
		for _, r := range refs {
			l.b.addChild(name, r.name, r.rng)
		}
	}
	return diags
}

// badHostName explains what is wrong with a host name, or returns "".
func badHostName(name string) string {
	switch {
	case name == "":
		return "A host name cannot be empty."
	case strings.ContainsAny(name, " \t\r\n,"):
		return fmt.Sprintf("Host name %q contains a space or a comma; use the host's DNS name or a short alias, and put the address to dial in address.", name)
	case strings.ContainsAny(name[:1], "!&~"):
		return fmt.Sprintf("Host name %q starts with %q, which host patterns (--limit) use as an operator.", name, name[:1])
	case strings.ContainsAny(name, "*?[]"):
		return fmt.Sprintf("Host name %q contains a wildcard character; HCL inventories name each host (no ranges).", name)
	}
	return ""
}

// decodeConnAttrs reads the connection attributes of a defaults or host block into c.
func decodeConnAttrs(attrs hcl.Attributes, c *connLayer, dir string) hcl.Diagnostics {
	diags := decodeConnStrings(attrs, c, dir)
	diags = append(diags, decodePort(attrs["port"], c)...)
	diags = append(diags, decodeBecome(attrs["become"], c)...)
	return append(diags, decodeIdentityFile(attrs["identity_file"], c, dir)...)
}

// decodeConnStrings reads the string attributes. Only bastion may be empty: that is
// how a block turns off a ProxyJump from ~/.ssh/config.
func decodeConnStrings(attrs hcl.Attributes, c *connLayer, dir string) hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, name := range []string{"user", "become_user", "known_hosts", "connection", "bastion", "shell"} {
		a := attrs[name]
		if a == nil {
			continue
		}
		s, ds := hclString(a, name == "bastion")
		diags = append(diags, ds...)
		if ds.HasErrors() {
			continue
		}
		diags = append(diags, setConnString(c, name, s, a.Expr.Range(), dir)...)
	}
	return diags
}

// setConnString sets the string attribute name to s, refusing values hostplan cannot
// connect with; rng is the value's, for diagnostics.
func setConnString(c *connLayer, name, s string, rng hcl.Range, dir string) hcl.Diagnostics {
	switch name {
	case "user":
		c.User = s
	case "become_user":
		c.BecomeUser = s
	case "known_hosts":
		c.KnownHosts = expandPath(s, dir)
	case "connection":
		if s != "ssh" && s != "local" {
			return hcl.Diagnostics{errorAt(rng, "Invalid connection", fmt.Sprintf("connection must be \"ssh\" or \"local\"; got %q.", s))}
		}
		c.Connection = s
	case "shell":
		if s != "sh" && s != "cmd" {
			return hcl.Diagnostics{errorAt(rng, "Invalid shell", fmt.Sprintf("shell must be \"sh\" or \"cmd\" (cmd.exe, OpenSSH for Windows' default); got %q. Leave it out to detect it when connecting.", s))}
		}
		c.Shell = s
	case "bastion":
		if s == "" || s == "none" {
			c.Bastion, c.bastionSet = "", true
			return nil
		}
		if _, _, _, err := parseJumpHost(s); err != nil {
			return hcl.Diagnostics{errorAt(rng, "Invalid bastion", err.Error())}
		}
		c.Bastion, c.bastionSet = s, true
	}
	return nil
}

// attrValue evaluates an optional attribute. ok is false when it is absent, null or
// fails to evaluate (diags say why): the setting then stays unset.
func attrValue(a *hcl.Attribute) (v cty.Value, ok bool, diags hcl.Diagnostics) {
	if a == nil {
		return cty.NilVal, false, nil
	}
	v, diags = a.Expr.Value(nil)
	return v, !diags.HasErrors() && !v.IsNull(), diags
}

// decodePort reads port, a whole number from 1 to 65535.
func decodePort(a *hcl.Attribute, c *connLayer) hcl.Diagnostics {
	v, ok, diags := attrValue(a)
	if !ok {
		return diags
	}
	p, ok := valuePort(v)
	if !ok {
		return append(diags, errorAt(a.Expr.Range(), "Invalid port", fmt.Sprintf("port must be a whole number from 1 to 65535; got %s.", showValue(v))))
	}
	c.Port = p
	return diags
}

// decodeBecome reads become: false is a setting too, over a lower layer's true (see
// connLayer).
func decodeBecome(a *hcl.Attribute, c *connLayer) hcl.Diagnostics {
	v, ok, diags := attrValue(a)
	if !ok {
		return diags
	}
	bv, err := convert.Convert(v, cty.Bool)
	if err != nil {
		return append(diags, errorAt(a.Expr.Range(), "Invalid become", fmt.Sprintf("become must be true or false; got %s.", showValue(v))))
	}
	c.Become, c.becomeSet = bv.True(), true
	return diags
}

// decodeIdentityFile reads identity_file, one path or a list of them, each relative
// to the inventory file's directory dir.
func decodeIdentityFile(a *hcl.Attribute, c *connLayer, dir string) hcl.Diagnostics {
	v, ok, diags := attrValue(a)
	if !ok {
		return diags
	}
	files, ok := stringList(v)
	if !ok {
		return append(diags, errorAt(a.Expr.Range(), "Invalid identity_file", fmt.Sprintf("identity_file must be a path or a list of paths; got %s.", showValue(v))))
	}
	for i, f := range files {
		files[i] = expandPath(f, dir)
	}
	c.IdentityFile = files
	return diags
}

// hclString evaluates a string attribute; a null value is "" (unset).
func hclString(a *hcl.Attribute, allowEmpty bool) (string, hcl.Diagnostics) {
	v, diags := a.Expr.Value(nil)
	if diags.HasErrors() || v.IsNull() {
		return "", diags
	}
	s, ok := valueString(v)
	if !ok {
		return "", append(diags, errorAt(a.Expr.Range(), "Invalid "+a.Name, fmt.Sprintf("%s must be a string; got %s.", a.Name, showValue(v))))
	}
	if strings.TrimSpace(s) == "" && !allowEmpty {
		return "", append(diags, errorAt(a.Expr.Range(), "Empty "+a.Name, fmt.Sprintf("%s is empty: give it a value or remove the line.", a.Name)))
	}
	return s, diags
}

func stringList(v cty.Value) ([]string, bool) {
	if s, ok := valueString(v); ok && v.Type() == cty.String {
		return []string{s}, true
	}
	t := v.Type()
	if !t.IsListType() && !t.IsTupleType() && !t.IsSetType() {
		return nil, false
	}
	var out []string
	for it := v.ElementIterator(); it.Next(); {
		_, e := it.Element()
		if e.IsNull() || e.Type() != cty.String {
			return nil, false
		}
		out = append(out, e.AsString())
	}
	return out, true
}

// hclNameList evaluates a list of group names, with a range for each element.
func hclNameList(a *hcl.Attribute, what string) ([]ref, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	var out []ref
	exprs, ds := hcl.ExprList(a.Expr)
	if ds.HasErrors() {
		return nil, append(diags, errorAt(a.Expr.Range(), "Invalid "+what, fmt.Sprintf("%s must be a list of group names, like [\"masters\", \"etcd\"].", what)))
	}
	for _, e := range exprs {
		v, ds := e.Value(nil)
		diags = append(diags, ds...)
		if ds.HasErrors() {
			continue
		}
		s, ok := valueString(v)
		if !ok || v.Type() != cty.String {
			diags = append(diags, errorAt(e.Range(), "Invalid "+what, fmt.Sprintf("%s must be a list of group names (strings); got %s.", what, showValue(v))))
			continue
		}
		if !validGroupName(s) {
			diags = append(diags, errorAt(e.Range(), "Invalid group name", fmt.Sprintf("%q cannot be a group name. %s", s, groupNameRule)))
			continue
		}
		out = append(out, ref{name: s, rng: e.Range()})
	}
	return out, diags
}

func hclVars(a *hcl.Attribute, l *layer) hcl.Diagnostics {
	v, diags := a.Expr.Value(nil)
	if diags.HasErrors() || v.IsNull() {
		return diags
	}
	t := v.Type()
	if !t.IsObjectType() && !t.IsMapType() {
		return append(diags, errorAt(a.Expr.Range(), "Invalid vars", fmt.Sprintf("vars must be an object, like { node_ip = \"10.0.0.1\" }; got %s.", showValue(v))))
	}
	for it := v.ElementIterator(); it.Next(); {
		k, e := it.Element()
		l.setVar(k.AsString(), e)
	}
	return diags
}
