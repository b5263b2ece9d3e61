package config

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/tryfunc"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
	"gopkg.in/yaml.v3"
)

type funcMap = map[string]function.Function

// funcTable builds the functions of the plan language; file paths are relative to dir,
// and files are read through src so a saved plan replays what they held.
type funcTable struct {
	dir string
	src Source
}

func newFuncTable(dir string, src Source) funcTable { return funcTable{dir: dir, src: src} }

func (t funcTable) evalFuncs() funcMap {
	fns := t.pure()
	fns["templatefile"] = hideSensitiveErrors("templatefile", t.templateFileFunc())
	return fns
}

// hideSensitiveErrors wraps f so that its error for a call with a sensitive argument
// does not quote that argument: go-cty's functions put values in their messages
// (tonumber: cannot convert "..." to number; parseint, regex, jsondecode likewise), and
// the message reaches the terminal, the journal and saved plans. The call itself is
// unchanged: the wrapper passes the arguments, marks included, to f.
func hideSensitiveErrors(name string, f function.Function) function.Function {
	allowMarked := func(p function.Parameter) function.Parameter {
		p.AllowMarked = true
		return p
	}
	params := f.Params()
	for i := range params {
		params[i] = allowMarked(params[i])
	}
	var varParam *function.Parameter
	if vp := f.VarParam(); vp != nil {
		p := allowMarked(*vp)
		varParam = &p
	}
	hide := func(args []cty.Value, err error) error {
		if err == nil || !anySensitive(args) {
			return err
		}
		msg := fmt.Sprintf("%s failed on a sensitive value (the error would show the value, so it is not printed)", name)
		var ae function.ArgError
		if errors.As(err, &ae) {
			return function.NewArgErrorf(ae.Index, "%s", msg)
		}
		return errors.New(msg)
	}
	return function.New(&function.Spec{
		Description: f.Description(),
		Params:      params,
		VarParam:    varParam,
		Type: func(args []cty.Value) (cty.Type, error) {
			ty, err := f.ReturnTypeForValues(args)
			return ty, hide(args, err)
		},
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			v, err := f.Call(args)
			return v, hide(args, err)
		},
	})
}

// anySensitive reports whether any value, or any value inside one, is sensitive.
func anySensitive(args []cty.Value) bool {
	for _, a := range args {
		_, pvm := a.UnmarkDeepWithPaths()
		for _, pm := range pvm {
			if _, ok := pm.Marks[SensitiveMark]; ok {
				return true
			}
		}
	}
	return false
}

// pure are the functions a template may call too (templatefile may not recurse).
func (t funcTable) pure() funcMap {
	fns := funcMap{
		"abs": stdlib.AbsoluteFunc, "ceil": stdlib.CeilFunc, "chomp": stdlib.ChompFunc,
		"coalesce": stdlib.CoalesceFunc, "compact": stdlib.CompactFunc, "concat": stdlib.ConcatFunc,
		"contains": stdlib.ContainsFunc, "distinct": stdlib.DistinctFunc, "element": stdlib.ElementFunc,
		"flatten": stdlib.FlattenFunc, "floor": stdlib.FloorFunc, "format": stdlib.FormatFunc,
		"formatlist": stdlib.FormatListFunc, "indent": stdlib.IndentFunc, "join": stdlib.JoinFunc,
		"jsondecode": stdlib.JSONDecodeFunc, "jsonencode": stdlib.JSONEncodeFunc, "keys": stdlib.KeysFunc,
		"length": lengthFunc, "lookup": stdlib.LookupFunc, "lower": stdlib.LowerFunc,
		"max": stdlib.MaxFunc, "merge": stdlib.MergeFunc, "min": stdlib.MinFunc,
		"parseint": stdlib.ParseIntFunc, "range": stdlib.RangeFunc, "regex": stdlib.RegexFunc,
		"regexall": stdlib.RegexAllFunc, "replace": stdlib.ReplaceFunc, "reverse": stdlib.ReverseListFunc,
		"setintersection": stdlib.SetIntersectionFunc, "setunion": stdlib.SetUnionFunc,
		"slice": stdlib.SliceFunc, "sort": stdlib.SortFunc, "split": stdlib.SplitFunc,
		"strrev": stdlib.ReverseFunc, "substr": stdlib.SubstrFunc, "title": stdlib.TitleFunc,
		"trim": stdlib.TrimFunc, "trimprefix": stdlib.TrimPrefixFunc, "trimspace": stdlib.TrimSpaceFunc,
		"trimsuffix": stdlib.TrimSuffixFunc, "upper": stdlib.UpperFunc, "values": stdlib.ValuesFunc,
		"zipmap":   stdlib.ZipmapFunc,
		"tostring": stdlib.MakeToFunc(cty.String), "tonumber": stdlib.MakeToFunc(cty.Number),
		"tobool": stdlib.MakeToFunc(cty.Bool), "tolist": stdlib.MakeToFunc(cty.List(cty.DynamicPseudoType)),
		"tomap": stdlib.MakeToFunc(cty.Map(cty.DynamicPseudoType)), "toset": stdlib.MakeToFunc(cty.Set(cty.DynamicPseudoType)),
		"base64encode": stringFunc(func(s string) (string, error) { return base64.StdEncoding.EncodeToString([]byte(s)), nil }),
		"base64decode": stringFunc(func(s string) (string, error) {
			b, err := base64.StdEncoding.DecodeString(s)
			if err != nil {
				return "", fmt.Errorf("not valid base64: %w", err)
			}
			if !utf8.Valid(b) {
				return "", fmt.Errorf("the decoded bytes are not UTF-8 text")
			}
			return string(b), nil
		}),
		"sha256": stringFunc(func(s string) (string, error) {
			sum := sha256.Sum256([]byte(s))
			return hex.EncodeToString(sum[:]), nil
		}),
		"file":       t.fileFunc(),
		"yamlencode": yamlEncodeFunc,
	}
	for name, f := range fns {
		fns[name] = hideSensitiveErrors(name, f)
	}
	// can and try, as in Terraform: validation conditions such as can(regex(...)). They
	// take unevaluated expressions and report no error of their own.
	fns["can"], fns["try"] = tryfunc.CanFunc, tryfunc.TryFunc
	return fns
}

func stringFunc(f func(string) (string, error)) function.Function {
	return function.New(&function.Spec{
		Params: []function.Parameter{{Name: "str", Type: cty.String}},
		Type:   function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			out, err := f(args[0].AsString())
			if err != nil {
				return cty.UnknownVal(cty.String), err
			}
			return cty.StringVal(out), nil
		},
	})
}

func (t funcTable) path(p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(t.dir, p)
}

func (t funcTable) fileFunc() function.Function {
	return function.New(&function.Spec{
		Params: []function.Parameter{{Name: "path", Type: cty.String, AllowMarked: true}},
		Type:   function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			arg, marks := args[0].Unmark()
			path := t.path(arg.AsString())
			read := orOS(t.src).ReadFile
			if _, ok := marks[SensitiveMark]; ok {
				read = orOS(t.src).ReadPrivate
			}
			data, err := read(path)
			if err != nil {
				return cty.UnknownVal(cty.String), err
			}
			if !utf8.Valid(data) {
				return cty.UnknownVal(cty.String), fmt.Errorf("%s is not UTF-8 text; use a file resource with source = ... for binary files", arg.AsString())
			}
			return cty.StringVal(string(data)).WithMarks(marks), nil
		},
	})
}

func (t funcTable) templateFileFunc() function.Function {
	return function.New(&function.Spec{
		Params: []function.Parameter{
			{Name: "path", Type: cty.String, AllowMarked: true},
			{Name: "vars", Type: cty.DynamicPseudoType},
		},
		Type: function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			arg, marks := args[0].Unmark()
			_, private := marks[SensitiveMark]
			out, err := t.RenderTemplate(t.path(arg.AsString()), args[1], private)
			if err != nil {
				return cty.UnknownVal(cty.String), err
			}
			return out.WithMarks(marks), nil
		},
	})
}

// RenderTemplate renders an HCL template file (${...} and %{...} syntax) with vars, an
// object or map whose keys become the template's variables. Sensitive vars keep their
// mark on the result. A private path (a sensitive one) is read with ReadPrivate.
func (t funcTable) RenderTemplate(path string, vars cty.Value, private bool) (cty.Value, error) {
	read := orOS(t.src).ReadFile
	if private {
		read = orOS(t.src).ReadPrivate
	}
	src, err := read(path)
	if err != nil {
		return cty.NilVal, err
	}
	expr, diags := hclsyntax.ParseTemplate(src, path, hcl.InitialPos)
	if diags.HasErrors() {
		return cty.NilVal, diags
	}
	if vars.IsNull() || !(vars.Type().IsObjectType() || vars.Type().IsMapType()) {
		return cty.NilVal, fmt.Errorf("template vars must be an object, like { name = \"value\" }")
	}
	ctx := &hcl.EvalContext{Variables: vars.AsValueMap(), Functions: t.pure()}
	for _, tr := range expr.Variables() {
		if _, ok := ctx.Variables[tr.RootName()]; !ok {
			return cty.NilVal, fmt.Errorf("%s: template uses %q, which is not in vars", tr.SourceRange(), tr.RootName())
		}
	}
	out, diags := expr.Value(ctx)
	if diags.HasErrors() {
		return cty.NilVal, diags
	}
	return out, nil
}

// lengthFunc counts characters of a string or elements of a collection, as users of
// Terraform expect; cty's stdlib splits that into two functions.
var lengthFunc = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "value", Type: cty.DynamicPseudoType, AllowDynamicType: true, AllowUnknown: true}},
	Type:   function.StaticReturnType(cty.Number),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		if args[0].Type() == cty.String {
			return stdlib.Strlen(args[0])
		}
		return stdlib.Length(args[0])
	},
})

var yamlEncodeFunc = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "value", Type: cty.DynamicPseudoType}},
	Type:   function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		node, err := yamlNode(args[0])
		if err != nil {
			return cty.UnknownVal(cty.String), err
		}
		out, err := yaml.Marshal(node)
		if err != nil {
			return cty.UnknownVal(cty.String), err
		}
		return cty.StringVal(string(out)), nil
	},
})

// yamlNode builds the YAML tree of a value; keys come out sorted, as cty orders them.
func yamlNode(v cty.Value) (*yaml.Node, error) {
	if !v.IsWhollyKnown() {
		return nil, fmt.Errorf("value is not known yet")
	}
	if v.IsNull() {
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}, nil
	}
	t := v.Type()
	switch {
	case t == cty.String:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v.AsString()}, nil
	case t == cty.Number:
		bf := v.AsBigFloat()
		if exp := bf.MantExp(nil); exp > 1024 || exp < -1024 {
			// YAML readers take float64 at most, and big.Float's decimal conversion of
			// 1e10000000 takes seconds (for every host).
			return nil, fmt.Errorf("a number beyond float64's range (about ±1e308) has no YAML form")
		}
		tag := "!!float"
		if bf.IsInt() {
			tag = "!!int"
		}
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: bf.Text('f', -1)}, nil
	case t == cty.Bool:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: fmt.Sprint(v.True())}, nil
	case t.IsListType() || t.IsTupleType() || t.IsSetType():
		n := &yaml.Node{Kind: yaml.SequenceNode}
		for it := v.ElementIterator(); it.Next(); {
			_, e := it.Element()
			c, err := yamlNode(e)
			if err != nil {
				return nil, err
			}
			n.Content = append(n.Content, c)
		}
		return n, nil
	case t.IsMapType() || t.IsObjectType():
		n := &yaml.Node{Kind: yaml.MappingNode}
		for it := v.ElementIterator(); it.Next(); {
			k, e := it.Element()
			c, err := yamlNode(e)
			if err != nil {
				return nil, err
			}
			n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: k.AsString()}, c)
		}
		return n, nil
	}
	return nil, fmt.Errorf("cannot encode %s as YAML", t.FriendlyName())
}
