package policy

import (
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

func nativeCompile(e celast.Expr) (nBool, bool) { return nativeBool(e) }

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
		if nb, ok := nativeBool(e); ok {
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

func nativeBool(e celast.Expr) (nBool, bool) {
	switch e.Kind() {
	case celast.LiteralKind:
		if b, ok := e.AsLiteral().(types.Bool); ok {
			v := bool(b)
			return func(*Input) bool { return v }, true
		}
	case celast.IdentKind:
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
		case "_&&_", "_||_":
			if len(args) != 2 {
				return nil, false
			}
			a, ok1 := nativeBool(args[0])
			b, ok2 := nativeBool(args[1])
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
			a, ok := nativeBool(args[0])
			if !ok {
				return nil, false
			}
			return func(in *Input) bool { return !a(in) }, true
		case "_<_", "_<=_", "_>_", "_>=_", "_==_", "_!=_":
			if len(args) != 2 {
				return nil, false
			}
			op := call.FunctionName()
			if a, ok := nativeNum(args[0]); ok {
				b, ok := nativeNum(args[1])
				if !ok || a.kind != b.kind {
					return nil, false
				}
				return compareNum(op, a.f, b.f), true
			}
			if op != "_==_" && op != "_!=_" {
				return nil, false
			}
			if a, ok := nativeBool(args[0]); ok {
				b, ok := nativeBool(args[1])
				if !ok {
					return nil, false
				}
				if op == "_==_" {
					return func(in *Input) bool { return a(in) == b(in) }, true
				}
				return func(in *Input) bool { return a(in) != b(in) }, true
			}
			a, ok1 := nativeStr(args[0])
			b, ok2 := nativeStr(args[1])
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

func nativeNum(e celast.Expr) (nNum, bool) {
	switch e.Kind() {
	case celast.LiteralKind:
		if i, ok := e.AsLiteral().(types.Int); ok {
			v := int64(i)
			return nNum{func(*Input) int64 { return v }, 'i'}, true
		}
	case celast.IdentKind:
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
			if target.Kind() != celast.IdentKind {
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

func nativeStr(e celast.Expr) (nStr, bool) {
	switch e.Kind() {
	case celast.LiteralKind:
		if s, ok := e.AsLiteral().(types.String); ok {
			v := string(s)
			return func(*Input) string { return v }, true
		}
	case celast.IdentKind:
		switch e.AsIdent() {
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
