package policy

import (
	"errors"
	"fmt"
	"strings"
	"sync"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/cost"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/interpreter"
)

// exprCostLimit bounds the work of one expression evaluation, in CEL cost
// units (about one per operation, plus the length of strings scanned). An
// expression that exceeds it stops and counts as not matched, so a costly
// expression cannot slow the pipeline; 100,000 is far above what sensible
// expressions over a 1 MiB activity need.
const exprCostLimit = 100_000

// The variables an expression sees, with their CEL types. docs/rules.md
// lists them for admins; keep the two in step.
var exprVars = []struct {
	name string
	typ  *cel.Type
	cost uint8
}{
	{"id", cel.StringType, costEnvelope},
	{"type", cel.StringType, costEnvelope},
	{"actor", cel.StringType, costEnvelope},
	{"domain", cel.StringType, costEnvelope},
	{"object_id", cel.StringType, costEnvelope},
	{"object_type", cel.StringType, costEnvelope},
	{"visibility", cel.StringType, costContent},
	{"mentions", cel.ListType(cel.StringType), costContent},
	{"recipients", cel.IntType, costContent},
	{"hashtags", cel.ListType(cel.StringType), costContent},
	{"link_domains", cel.ListType(cel.StringType), costContent},
	{"attachments", cel.IntType, costContent},
	{"media_types", cel.ListType(cel.StringType), costContent},
	{"languages", cel.ListType(cel.StringType), costContent},
	{"content", cel.StringType, costContent},
	{"summary", cel.StringType, costContent},
	{"name", cel.StringType, costContent},
	{"sensitive", cel.BoolType, costContent},
	{"username", cel.StringType, costFacts},
	{"display_name", cel.StringType, costFacts},
	{"known_actor", cel.BoolType, costFacts},
	{"first_seen_age", cel.DurationType, costFacts},
	{"published_known", cel.BoolType, costFacts},
	{"published_age", cel.DurationType, costFacts},
	{"local_followers", cel.IntType, costFacts},
}

// exprEnv is the CEL environment shared by all expressions. Building it
// is the costly part of CEL setup, so it is built once per process.
type exprEnv struct {
	env *cel.Env
}

var (
	sharedEnvOnce sync.Once
	sharedEnv     *exprEnv
	sharedEnvErr  error
)

func newExprEnv() (*exprEnv, error) {
	sharedEnvOnce.Do(func() {
		opts := make([]cel.EnvOption, 0, len(exprVars))
		for _, v := range exprVars {
			opts = append(opts, cel.Variable(v.name, v.typ))
		}
		env, err := cel.NewEnv(opts...)
		sharedEnv, sharedEnvErr = &exprEnv{env: env}, err
	})
	return sharedEnv, sharedEnvErr
}

// compiledExpr is one expression, compiled once at load.
type compiledExpr struct {
	prog   cel.Program
	native nBool // the same expression as Go closures, when it is in the simple subset
	// nativeSmall says native stands in for CEL only on small inputs (see
	// fast): on larger ones the cost limit may stop CEL first.
	nativeSmall bool
	// guard, for an expression outside the subset, is the conjunction of
	// its top-level && operands that are in it: when the guard is false the
	// expression is false (CEL's && is false when either side is, even if
	// the other fails), so the interpreter runs only when it is true.
	guard nBool
	// fast is the program without runtime cost tracking, when tracking
	// was needed for the largest activities but not for small ones (see
	// smallBounds): it runs on small inputs, at half the cost. content
	// says its variables include content ones (the check parses).
	fast        cel.Program
	fastContent bool
	cost        uint8 // the costliest variable it reads
}

func (e *exprEnv) compile(src string) (*compiledExpr, error) {
	if strings.TrimSpace(src) == "" {
		return nil, errors.New("empty expression")
	}
	ast, iss := e.env.Compile(src)
	if iss != nil && iss.Err() != nil {
		// CEL's message carries its own "<input>:1:5:" position and a caret
		// line; keep the first line, which says what is wrong.
		msg := iss.Err().Error()
		msg = strings.TrimPrefix(msg, "ERROR: ")
		if i := strings.IndexByte(msg, '\n'); i > 0 {
			msg = msg[:i]
		}
		msg = strings.TrimPrefix(msg, "<input>:")
		return nil, fmt.Errorf("%s", msg)
	}
	if !ast.OutputType().IsExactType(cel.BoolType) {
		return nil, fmt.Errorf("expression yields %s, want a bool (true means the rule matches)", ast.OutputType())
	}
	opts := []cel.ProgramOption{
		cel.OptimizeRegex(interpreter.MatchesRegexOptimization),
		cel.EvalOptions(cel.OptOptimize),
	}
	// Runtime cost tracking costs about as much as evaluating a small
	// expression. When the static worst case, over the largest activity the
	// parser accepts, is already within the limit, tracking is pointless.
	ce := &compiledExpr{}
	tracked, smallOK := false, false
	if est, err := e.env.EstimateCost(ast, sizeBounds{}); err != nil || est.Max > exprCostLimit {
		// The static worst case over a small activity may still be within
		// the limit: then such an activity runs untracked (or natively),
		// with the same result (the limit cannot be reached).
		tracked = true
		small, err := e.env.EstimateCost(ast, smallBounds)
		if err == nil && small.Max <= exprCostLimit && !referencesProfile(ast) {
			smallOK = true
			if ce.fast, err = e.env.Program(ast, opts...); err != nil {
				return nil, err
			}
		}
		opts = append(opts, cel.CostLimit(exprCostLimit))
	}
	prog, err := e.env.Program(ast, opts...)
	if err != nil {
		return nil, err
	}
	ce.prog = prog
	// The native form knows no cost limit: it stands in for CEL only where
	// the limit cannot be reached.
	if nb, ok := nativeCompile(ast.NativeRep().Expr()); ok && (!tracked || smallOK) {
		ce.native, ce.nativeSmall = nb, tracked
	} else {
		ce.guard = nativeGuard(ast.NativeRep().Expr())
	}
	for _, ref := range ast.NativeRep().ReferenceMap() {
		for _, v := range exprVars {
			if v.name == ref.Name && v.cost > ce.cost {
				ce.cost = v.cost
			}
		}
	}
	ce.fastContent = ce.cost >= costContent
	return ce, nil
}

// referencesProfile reports whether the expression reads username or
// display_name: Input.small does not bound them (they may come from
// Facts, which it must not call).
func referencesProfile(ast *cel.Ast) bool {
	for _, ref := range ast.NativeRep().ReferenceMap() {
		if ref.Name == "username" || ref.Name == "display_name" {
			return true
		}
	}
	return false
}

// smallBounds are the size bounds of a small activity: every string
// variable at most 1 MiB (the ingress's body limit), every list at most
// 4,096 elements of at most 1 MiB.
var smallBounds = sizeBounds{str: 1 << 20, list: 4096}

// small reports whether the input is within smallBounds, for the
// variables of the envelope and, when content is set, of the content.
func (in *Input) small(content bool) bool {
	done, yes := stSmallEnv, stSmallEnvYes
	if content {
		done, yes = stSmallAll, stSmallAllYes
	}
	if in.state2&done == 0 {
		in.state2 |= done
		if in.isSmall(content) {
			in.state2 |= yes
		}
	}
	return in.state2&yes != 0
}

func (in *Input) isSmall(content bool) bool {
	lim := int(smallBounds.str)
	for _, s := range []string{in.ID, in.activityType(), in.Actor, in.host(), in.ObjectID, in.objectType()} {
		if len(s) > lim {
			return false
		}
	}
	if !content {
		return true
	}
	c, _ := in.Content()
	if len(c.Content) > lim || len(c.Summary) > lim || len(c.Name) > lim {
		return false
	}
	for _, l := range [][]string{c.Mentions, c.Hashtags, c.LinkDomains, c.MediaTypes, c.Languages} {
		if len(l) > int(smallBounds.list) {
			return false
		}
		for _, s := range l {
			if len(s) > lim {
				return false
			}
		}
	}
	return true
}

// eval runs the expression on the input. A runtime error (cost limit,
// overflow) is returned and the rule does not match.
func (c *compiledExpr) eval(in *Input) (bool, error) {
	if c.native != nil && (!c.nativeSmall || in.small(c.fastContent)) {
		return c.native(in), nil
	}
	if c.guard != nil && !c.guard(in) {
		return false, nil
	}
	return c.evalCEL(in)
}

// evalCEL runs the expression on CEL even when a native form exists.
func (c *compiledExpr) evalCEL(in *Input) (bool, error) {
	in.act.in = in
	prog := c.prog
	if c.fast != nil && in.small(c.fastContent) {
		prog = c.fast
	}
	out, _, err := prog.Eval(&in.act)
	if err != nil {
		return false, err
	}
	b, ok := out.(types.Bool)
	if !ok {
		return false, fmt.Errorf("expression yielded %v, not a bool", out)
	}
	return bool(b), nil
}

// celActivation resolves expression variables lazily from an Input, so an
// expression over envelope fields never triggers the content parse. Lists
// are wrapped once per Input and shared by all expressions.
type celActivation struct {
	in    *Input
	lists [5]ref.Val
}

func (a *celActivation) list(i int, l []string) ref.Val {
	if a.lists[i] == nil {
		a.lists[i] = types.NewStringList(types.DefaultTypeAdapter, l)
	}
	return a.lists[i]
}

func (a *celActivation) Parent() interpreter.Activation { return nil }

func (a *celActivation) ResolveName(name string) (any, bool) {
	in := a.in
	switch name {
	case "id":
		return types.String(in.ID), true
	case "type":
		return types.String(in.activityType()), true
	case "actor":
		return types.String(in.Actor), true
	case "domain":
		return types.String(in.host()), true
	case "object_id":
		return types.String(in.ObjectID), true
	case "object_type":
		return types.String(in.objectType()), true
	case "known_actor":
		return types.Bool(in.knownActor()), true
	case "first_seen_age":
		return types.Duration{Duration: in.firstSeenAge()}, true
	case "published_known":
		_, ok := in.published()
		return types.Bool(ok), true
	case "published_age":
		t, ok := in.published()
		if !ok {
			return types.Duration{}, true
		}
		return types.Duration{Duration: max(in.now().Sub(t), 0)}, true
	case "local_followers":
		return types.Int(in.localFollowers()), true
	case "username":
		u, _ := in.profile()
		return types.String(u), true
	case "display_name":
		_, d := in.profile()
		return types.String(d), true
	}
	c, _ := in.Content()
	switch name {
	case "visibility":
		return types.String(c.Visibility.String()), true
	case "mentions":
		return a.list(0, c.Mentions), true
	case "recipients":
		return types.Int(c.Recipients), true
	case "hashtags":
		return a.list(1, c.Hashtags), true
	case "link_domains":
		return a.list(2, c.LinkDomains), true
	case "attachments":
		return types.Int(c.Attachments), true
	case "media_types":
		return a.list(3, c.MediaTypes), true
	case "languages":
		return a.list(4, c.Languages), true
	case "content":
		return types.String(c.Content), true
	case "summary":
		return types.String(c.Summary), true
	case "name":
		return types.String(c.Name), true
	case "sensitive":
		return types.Bool(c.Sensitive), true
	}
	return nil, false
}

// sizeBounds bounds the variables for CEL's static cost estimate: no string
// is longer than the largest activity parsed, and no list has more elements
// than that activity could spell out (each element takes at least 8 bytes
// of JSON).
//
// With str and list set, it bounds strings to str bytes and lists to list
// elements instead: the bounds of a small activity (see Input.small).
type sizeBounds struct{ str, list uint64 }

func (b sizeBounds) EstimateSize(n cost.AstNode) *cost.SizeEstimate {
	if len(n.Path()) != 1 {
		return nil
	}
	str, list := b.str, b.list
	if str == 0 {
		str, list = maxRawActivity, maxRawActivity/8
	}
	switch n.Type().Kind() {
	case types.StringKind:
		return &cost.SizeEstimate{Min: 0, Max: str}
	case types.ListKind:
		return &cost.SizeEstimate{Min: 0, Max: list}
	}
	return nil
}

func (sizeBounds) EstimateCallCost(function, overloadID string, target *cost.AstNode, args []cost.AstNode) *cost.CallEstimate {
	return nil
}
