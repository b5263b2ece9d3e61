package config

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"math/big"
	"path/filepath"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/tryfunc"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
	"gopkg.in/yaml.v3"

	"github.com/hostplan/hostplan/internal/ctynum"
)

type funcMap = map[string]function.Function

// funcTable builds the functions of the plan language; file paths are relative to dir,
// and files are read through src so a saved plan replays what they held. Its function
// maps are built once: a plan evaluates a context per host, and building some 60
// wrapped functions for each was 3% of hostplan's CPU in a 200-host plan.
type funcTable struct {
	dir                  string
	src                  Source
	once                 sync.Once
	pureFuncs, planFuncs funcMap
}

func newFuncTable(dir string, src Source) *funcTable { return &funcTable{dir: dir, src: src} }

// evalFuncs are the plan's functions; pure, those of a template (all but
// templatefile). Each call gets a map of its own: copying is cheap, building is not.
func (t *funcTable) evalFuncs() funcMap {
	t.build()
	return maps.Clone(t.planFuncs)
}

func (t *funcTable) pure() funcMap {
	t.build()
	return maps.Clone(t.pureFuncs)
}

func (t *funcTable) build() {
	t.once.Do(func() {
		t.pureFuncs = t.makePure()
		t.planFuncs = t.makePure()
		t.planFuncs["templatefile"] = hideSensitiveErrors("templatefile", boundNumbers("templatefile", t.templateFileFunc()))
	})
}

// hideSensitiveErrors wraps f so that its error for a call with a sensitive argument
// does not quote that argument: go-cty's functions put values in their messages
// (tonumber: cannot convert "..." to number; parseint, regex, jsondecode likewise), and
// the message reaches the terminal, the journal and saved plans. The call itself is
// unchanged: the wrapper passes the arguments, marks included, to f.
func hideSensitiveErrors(name string, f function.Function) function.Function {
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
	return rewrap(f,
		func(args []cty.Value) (cty.Type, error) {
			ty, err := f.ReturnTypeForValues(args)
			return ty, hide(args, err)
		},
		func(args []cty.Value) (cty.Value, error) {
			v, err := f.Call(args)
			return v, hide(args, err)
		})
}

// rewrap makes a function with f's parameters, each accepting marked values so that f
// still sees the marks, whose type and call are typ and call.
func rewrap(f function.Function, typ func([]cty.Value) (cty.Type, error), call func([]cty.Value) (cty.Value, error)) function.Function {
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
	return function.New(&function.Spec{
		Description: f.Description(),
		Params:      params,
		VarParam:    varParam,
		Type:        typ,
		Impl:        func(args []cty.Value, _ cty.Type) (cty.Value, error) { return call(args) },
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

// Limits on what a function call may ask for: go-cty's format pads to any width
// (format("%999999999s", "") is a gigabyte), indent repeats spaces for every line, and
// reading a number from text takes time quadratic in its length (seven seconds for a
// million digits; float64's range needs at most a few hundred).
const (
	maxPad        = 1024 // width or precision of a format verb, spaces of indent
	maxNumberText = 4096 // characters of a number read from text
)

// numberGuards check the arguments of the functions that would run away on them.
var numberGuards = map[string]func(args []cty.Value) error{
	"format":     formatGuard,
	"formatlist": formatGuard,
	"indent":     indentGuard,
	"tonumber":   numberTextGuard(textLen),
	"parseint":   numberTextGuard(textLen),
	"jsondecode": numberTextGuard(longestJSONNumber),
}

// boundNumbers wraps f so that no number beyond float64's range comes out (go-cty
// prints such numbers in full when it converts them, which takes minutes), and so that
// the calls numberGuards knows are checked first.
func boundNumbers(name string, f function.Function) function.Function {
	return rewrap(f, f.ReturnTypeForValues, func(args []cty.Value) (cty.Value, error) {
		if guard := numberGuards[name]; guard != nil {
			if err := guard(args); err != nil {
				return cty.NilVal, err
			}
		}
		v, err := f.Call(args)
		if err != nil {
			return v, err
		}
		if _, ok := ctynum.Find(v); ok {
			return cty.NilVal, ctynum.ErrBeyond
		}
		return v, nil
	})
}

// knownString is a known string argument, unmarked.
func knownString(v cty.Value) (string, bool) {
	v, _ = v.UnmarkDeep()
	if !v.IsKnown() || v.IsNull() || v.Type() != cty.String {
		return "", false
	}
	return v.AsString(), true
}

func formatGuard(args []cty.Value) error {
	if s, ok := knownString(args[0]); ok && largestFormatNumber(s) > maxPad {
		return function.NewArgErrorf(0, "a width or precision in the format is above %d", maxPad)
	}
	return nil
}

// largestFormatNumber returns the largest width or precision of the verbs in a
// format() string (%[flags][width][.precision][[index]]verb), or maxPad+1 for any above
// maxPad.
func largestFormatNumber(s string) int {
	largest := 0
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			continue
		}
		if i++; i < len(s) && s[i] == '%' {
			continue
		}
		for i < len(s) && strings.IndexByte("0#-+ ", s[i]) >= 0 {
			i++
		}
		var n int
		n, i = boundedDigits(s, i)
		largest = max(largest, n)
		if i < len(s) && s[i] == '.' {
			n, i = boundedDigits(s, i+1)
			largest = max(largest, n)
		}
	}
	return largest
}

// boundedDigits reads the decimal digits of s from i, returning their value (maxPad+1
// if larger) and where they end.
func boundedDigits(s string, i int) (int, int) {
	n := 0
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		n = min(n*10+int(s[i]-'0'), maxPad+1)
	}
	return n, i
}

func indentGuard(args []cty.Value) error {
	v, _ := args[0].UnmarkDeep()
	if !v.IsKnown() || v.IsNull() || v.Type() != cty.Number {
		return nil
	}
	// go-cty's indent panics on a negative count, and the message carries the stack.
	if n, acc := v.AsBigFloat().Int64(); acc != big.Exact || n < 0 || n > maxPad {
		return function.NewArgErrorf(0, "indent adds a whole number of spaces from 0 to %d", maxPad)
	}
	return nil
}

// numberTextGuard refuses a text argument whose longest number, as measure finds it, is
// longer than maxNumberText.
func numberTextGuard(measure func(string) int) func([]cty.Value) error {
	return func(args []cty.Value) error {
		if s, ok := knownString(args[0]); ok && measure(s) > maxNumberText {
			return function.NewArgErrorf(0, "a number written with more than %d characters is not read", maxNumberText)
		}
		return nil
	}
}

// textLen measures a text that is one number as a whole.
func textLen(s string) int { return len(s) }

// longestJSONNumber returns the length of the longest run of characters that can make
// up a number ([0-9.eE+-]) outside the strings of a JSON text.
func longestJSONNumber(s string) int {
	longest, run, inString := 0, 0, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case inString && c == '\\':
			i++ // the escaped character cannot end the string
		case inString:
			inString = c != '"'
		case c == '"':
			inString, run = true, 0
		case c >= '0' && c <= '9' || strings.IndexByte(".eE+-", c) >= 0:
			run++
			longest = max(longest, run)
		default:
			run = 0
		}
	}
	return longest
}

// pure are the functions a template may call too (templatefile may not recurse).
func (t *funcTable) makePure() funcMap {
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
		fns[name] = hideSensitiveErrors(name, boundNumbers(name, f))
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

func (t *funcTable) path(p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(t.dir, p)
}

func (t *funcTable) fileFunc() function.Function {
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

func (t *funcTable) templateFileFunc() function.Function {
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
func (t *funcTable) RenderTemplate(path string, vars cty.Value, private bool) (cty.Value, error) {
	read := orOS(t.src).ReadFile
	if private {
		read = orOS(t.src).ReadPrivate
	}
	src, err := read(path)
	if err != nil {
		return cty.NilVal, err
	}
	expr, diags := hclsyntax.ParseTemplate(src, path, hcl.InitialPos)
	diags = append(diags, ctynum.Literals(expr)...)
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
		if !ctynum.InRange(bf) {
			// YAML readers take float64 at most, and big.Float's decimal conversion of
			// 1e10000000 takes seconds (for every host).
			return nil, fmt.Errorf("%s has no YAML form", ctynum.Beyond)
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
