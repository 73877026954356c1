package policy

import (
	"strings"
	"time"

	celast "cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/types"
)

// The most common expressions in rule files are counts, sizes and ages
// compared with constants, joined by && and || ("size(mentions) > 5 &&
// attachments > 0"). Interpreting them with CEL costs close to a
// microsecond each; compiled to Go closures they cost a few nanoseconds.
// nativeCompile handles exactly that subset of a type-checked expression
// and reports false for anything else, which then runs on CEL. Both give
// the same answer: the subset has no operation that can fail (no
// arithmetic, no indexing), so CEL's error semantics never come into play.
// TestNativeMatchesCEL checks the two against each other.

type nBool func(*Input) bool
type nStr func(*Input) string

// nNum is an int or a duration (in nanoseconds); kind keeps them apart,
// as CEL's type checker does.
type nNum struct {
	f    func(*Input) int64
	kind byte // 'i' int, 'd' duration
}

func nativeCompile(e celast.Expr) (nBool, bool) { return nativeBool(e, "") }

// nativeGuard returns the conjunction of the top-level && operands of e
// that are in the subset, nil when there are none.
func nativeGuard(e celast.Expr) nBool {
	var parts []nBool
	var walk func(e celast.Expr)
	walk = func(e celast.Expr) {
		if e.Kind() == celast.CallKind && e.AsCall().FunctionName() == "_&&_" && len(e.AsCall().Args()) == 2 {
			for _, a := range e.AsCall().Args() {
				walk(a)
			}
			return
		}
		if nb, ok := nativeBool(e, ""); ok {
			parts = append(parts, nb)
		}
	}
	walk(e)
	switch len(parts) {
	case 0:
		return nil
	case 1:
		return parts[0]
	}
	return func(in *Input) bool {
		for _, p := range parts {
			if !p(in) {
				return false
			}
		}
		return true
	}
}

// iv is the iteration variable of the enclosing exists/all, "" outside
// one; its current element is Input.iterVal.
func nativeBool(e celast.Expr, iv string) (nBool, bool) {
	switch e.Kind() {
	case celast.LiteralKind:
		if b, ok := e.AsLiteral().(types.Bool); ok {
			v := bool(b)
			return func(*Input) bool { return v }, true
		}
	case celast.ComprehensionKind:
		return nativeQuantifier(e, iv)
	case celast.IdentKind:
		if iv != "" && e.AsIdent() == iv {
			return nil, false // a string, not a bool
		}
		switch e.AsIdent() {
		case "sensitive":
			return func(in *Input) bool { c, _ := in.Content(); return c.Sensitive }, true
		case "known_actor":
			return (*Input).knownActor, true
		case "published_known":
			return func(in *Input) bool { _, ok := in.published(); return ok }, true
		}
	case celast.CallKind:
		call := e.AsCall()
		args := call.Args()
		switch call.FunctionName() {
		case "contains", "startsWith", "endsWith":
			if !call.IsMemberFunction() || len(args) != 1 {
				return nil, false
			}
			a, ok1 := nativeStr(call.Target(), iv)
			b, ok2 := nativeStr(args[0], iv)
			if !ok1 || !ok2 {
				return nil, false
			}
			// CEL's string functions are these (cel-go types.StringContains
			// and its siblings).
			switch call.FunctionName() {
			case "contains":
				return func(in *Input) bool { return strings.Contains(a(in), b(in)) }, true
			case "startsWith":
				return func(in *Input) bool { return strings.HasPrefix(a(in), b(in)) }, true
			}
			return func(in *Input) bool { return strings.HasSuffix(a(in), b(in)) }, true
		case "_&&_", "_||_":
			if len(args) != 2 {
				return nil, false
			}
			a, ok1 := nativeBool(args[0], iv)
			b, ok2 := nativeBool(args[1], iv)
			if !ok1 || !ok2 {
				return nil, false
			}
			if call.FunctionName() == "_&&_" {
				return func(in *Input) bool { return a(in) && b(in) }, true
			}
			return func(in *Input) bool { return a(in) || b(in) }, true
		case "!_":
			if len(args) != 1 {
				return nil, false
			}
			a, ok := nativeBool(args[0], iv)
			if !ok {
				return nil, false
			}
			return func(in *Input) bool { return !a(in) }, true
		case "_<_", "_<=_", "_>_", "_>=_", "_==_", "_!=_":
			if len(args) != 2 {
				return nil, false
			}
			op := call.FunctionName()
			if a, ok := nativeNum(args[0], iv); ok {
				b, ok := nativeNum(args[1], iv)
				if !ok || a.kind != b.kind {
					return nil, false
				}
				return compareNum(op, a.f, b.f), true
			}
			if op != "_==_" && op != "_!=_" {
				return nil, false
			}
			if a, ok := nativeBool(args[0], iv); ok {
				b, ok := nativeBool(args[1], iv)
				if !ok {
					return nil, false
				}
				if op == "_==_" {
					return func(in *Input) bool { return a(in) == b(in) }, true
				}
				return func(in *Input) bool { return a(in) != b(in) }, true
			}
			a, ok1 := nativeStr(args[0], iv)
			b, ok2 := nativeStr(args[1], iv)
			if !ok1 || !ok2 {
				return nil, false
			}
			if op == "_==_" {
				return func(in *Input) bool { return a(in) == b(in) }, true
			}
			return func(in *Input) bool { return a(in) != b(in) }, true
		}
	}
	return nil, false
}

func compareNum(op string, a, b func(*Input) int64) nBool {
	switch op {
	case "_<_":
		return func(in *Input) bool { return a(in) < b(in) }
	case "_<=_":
		return func(in *Input) bool { return a(in) <= b(in) }
	case "_>_":
		return func(in *Input) bool { return a(in) > b(in) }
	case "_>=_":
		return func(in *Input) bool { return a(in) >= b(in) }
	case "_==_":
		return func(in *Input) bool { return a(in) == b(in) }
	}
	return func(in *Input) bool { return a(in) != b(in) }
}

func nativeNum(e celast.Expr, iv string) (nNum, bool) {
	switch e.Kind() {
	case celast.LiteralKind:
		if i, ok := e.AsLiteral().(types.Int); ok {
			v := int64(i)
			return nNum{func(*Input) int64 { return v }, 'i'}, true
		}
	case celast.IdentKind:
		if iv != "" && e.AsIdent() == iv {
			return nNum{}, false
		}
		switch e.AsIdent() {
		case "recipients":
			return nNum{func(in *Input) int64 { c, _ := in.Content(); return int64(c.Recipients) }, 'i'}, true
		case "attachments":
			return nNum{func(in *Input) int64 { c, _ := in.Content(); return int64(c.Attachments) }, 'i'}, true
		case "local_followers":
			return nNum{func(in *Input) int64 { return int64(in.localFollowers()) }, 'i'}, true
		case "first_seen_age":
			return nNum{func(in *Input) int64 { return int64(in.firstSeenAge()) }, 'd'}, true
		case "published_age":
			return nNum{func(in *Input) int64 {
				t, ok := in.published()
				if !ok {
					return 0
				}
				return int64(max(in.now().Sub(t), 0))
			}, 'd'}, true
		}
	case celast.CallKind:
		call := e.AsCall()
		args := call.Args()
		switch call.FunctionName() {
		case "size":
			var target celast.Expr
			switch {
			case call.IsMemberFunction() && len(args) == 0:
				target = call.Target()
			case !call.IsMemberFunction() && len(args) == 1:
				target = args[0]
			default:
				return nNum{}, false
			}
			if target.Kind() != celast.IdentKind || target.AsIdent() == iv {
				return nNum{}, false
			}
			var list func(c *Content) []string
			switch target.AsIdent() {
			case "mentions":
				list = func(c *Content) []string { return c.Mentions }
			case "hashtags":
				list = func(c *Content) []string { return c.Hashtags }
			case "link_domains":
				list = func(c *Content) []string { return c.LinkDomains }
			case "media_types":
				list = func(c *Content) []string { return c.MediaTypes }
			case "languages":
				list = func(c *Content) []string { return c.Languages }
			default:
				return nNum{}, false
			}
			return nNum{func(in *Input) int64 { c, _ := in.Content(); return int64(len(list(c))) }, 'i'}, true
		case "duration":
			if len(args) != 1 || args[0].Kind() != celast.LiteralKind {
				return nNum{}, false
			}
			s, ok := args[0].AsLiteral().(types.String)
			if !ok {
				return nNum{}, false
			}
			d, err := time.ParseDuration(string(s))
			if err != nil {
				return nNum{}, false // CEL reports the error at evaluation
			}
			return nNum{func(*Input) int64 { return int64(d) }, 'd'}, true
		}
	}
	return nNum{}, false
}

func nativeStr(e celast.Expr, iv string) (nStr, bool) {
	switch e.Kind() {
	case celast.LiteralKind:
		if s, ok := e.AsLiteral().(types.String); ok {
			v := string(s)
			return func(*Input) string { return v }, true
		}
	case celast.IdentKind:
		if iv != "" && e.AsIdent() == iv {
			return func(in *Input) string { return in.iterVal }, true
		}
		switch e.AsIdent() {
		case "id":
			return func(in *Input) string { return in.ID }, true
		case "object_id":
			return func(in *Input) string { return in.ObjectID }, true
		case "content":
			return func(in *Input) string { c, _ := in.Content(); return c.Content }, true
		case "summary":
			return func(in *Input) string { c, _ := in.Content(); return c.Summary }, true
		case "name":
			return func(in *Input) string { c, _ := in.Content(); return c.Name }, true
		case "type":
			return (*Input).activityType, true
		case "actor":
			return func(in *Input) string { return in.Actor }, true
		case "domain":
			return (*Input).host, true
		case "object_type":
			return (*Input).objectType, true
		case "visibility":
			return func(in *Input) string { c, _ := in.Content(); return c.Visibility.String() }, true
		}
	}
	return nil, false
}

// contentList returns the list variable named name.
func contentList(name string) func(c *Content) []string {
	switch name {
	case "mentions":
		return func(c *Content) []string { return c.Mentions }
	case "hashtags":
		return func(c *Content) []string { return c.Hashtags }
	case "link_domains":
		return func(c *Content) []string { return c.LinkDomains }
	case "media_types":
		return func(c *Content) []string { return c.MediaTypes }
	case "languages":
		return func(c *Content) []string { return c.Languages }
	}
	return nil
}

// nativeQuantifier compiles the expansion of list.exists(v, p) and
// list.all(v, p) over a list variable, with p in the subset. p cannot
// fail, so exists is "p holds for some element" and all "for every
// element", as in CEL. Nested quantifiers stay on CEL (one iterVal).
func nativeQuantifier(e celast.Expr, iv string) (nBool, bool) {
	c := e.AsComprehension()
	if iv != "" || c.HasIterVar2() || c.IterRange().Kind() != celast.IdentKind || c.Result().Kind() != celast.IdentKind || c.Result().AsIdent() != c.AccuVar() {
		return nil, false
	}
	list := contentList(c.IterRange().AsIdent())
	init, ok := c.AccuInit().AsLiteral().(types.Bool)
	step := c.LoopStep()
	if list == nil || c.AccuInit().Kind() != celast.LiteralKind || !ok || step.Kind() != celast.CallKind {
		return nil, false
	}
	args := step.AsCall().Args()
	if len(args) != 2 || args[0].Kind() != celast.IdentKind || args[0].AsIdent() != c.AccuVar() {
		return nil, false
	}
	exists := !bool(init) && step.AsCall().FunctionName() == "_||_"
	all := bool(init) && step.AsCall().FunctionName() == "_&&_"
	if !exists && !all {
		return nil, false
	}
	pred, ok := nativeBool(args[1], c.IterVar())
	if !ok {
		return nil, false
	}
	return func(in *Input) bool {
		cnt, _ := in.Content()
		for _, s := range list(cnt) {
			in.iterVal = s
			if pred(in) == exists {
				return exists
			}
		}
		return !exists
	}, true
}
