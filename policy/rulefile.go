package policy

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// RuleFile is one rule file: its name (shown in errors and explanations,
// e.g. "rules/spam.yaml" or "pack:spam-wave.yaml") and its YAML bytes.
type RuleFile struct {
	Name string
	Data []byte
}

// LoadError is a problem in a rule file, at a line.
type LoadError struct {
	File string
	Line int // 0 when the problem is not at one line
	Msg  string
}

func (e *LoadError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

// Limits on rule files, so a hostile or broken file cannot make loading or
// evaluation slow.
const (
	maxRuleFileBytes = 4 << 20
	maxRulesPerFile  = 10000
	maxRegexLen      = 4096
	maxKeywords      = 10000
	maxExprLen       = 8192
)

var ruleIDRe = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,63}$`)
var reasonRe = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,63}$`)

// parser holds the state of reading one rule file.
type ruleParser struct {
	file  string
	env   *exprEnv
	rules []*rule
}

func (p *ruleParser) errf(n *yaml.Node, format string, args ...any) error {
	line := 0
	if n != nil {
		line = n.Line
	}
	return &LoadError{File: p.file, Line: line, Msg: fmt.Sprintf(format, args...)}
}

// parseRuleFile reads one rule file into compiled rules.
func parseRuleFile(f RuleFile, env *exprEnv) ([]*rule, error) {
	p := &ruleParser{file: f.Name, env: env}
	if p.file == "" {
		p.file = "rules"
	}
	if len(f.Data) > maxRuleFileBytes {
		return nil, &LoadError{File: p.file, Msg: fmt.Sprintf("file is %d bytes, more than the %d allowed: split it", len(f.Data), maxRuleFileBytes)}
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(f.Data, &doc); err != nil {
		return nil, p.yamlErr(err)
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, nil // empty file: no rules
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, p.errf(root, "want a mapping with a \"rules:\" list at the top of the file")
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		switch k.Value {
		case "version":
			if v.Value != "1" {
				return nil, p.errf(v, "unsupported version %q (this Palisade reads version 1)", v.Value)
			}
		case "description":
			// Free text about the file.
		case "rules":
			if v.Kind != yaml.SequenceNode {
				return nil, p.errf(v, "\"rules\" must be a list of rules (each starting with \"- id: ...\")")
			}
			if len(v.Content) > maxRulesPerFile {
				return nil, p.errf(v, "%d rules in one file, more than %d", len(v.Content), maxRulesPerFile)
			}
			for _, rn := range v.Content {
				r, err := p.parseRule(rn)
				if err != nil {
					return nil, err
				}
				p.rules = append(p.rules, r)
			}
		default:
			return nil, p.errf(k, "unknown top-level key %q (want version, description, rules)", k.Value)
		}
	}
	return p.rules, nil
}

// yamlErr turns a yaml.v3 error ("yaml: line 12: did not find ...") into a
// LoadError with the line.
func (p *ruleParser) yamlErr(err error) error {
	msg := err.Error()
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg = te.Errors[0]
	}
	msg = strings.TrimPrefix(msg, "yaml: ")
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if i := strings.IndexByte(rest, ':'); i > 0 {
			if n, err := strconv.Atoi(rest[:i]); err == nil {
				return &LoadError{File: p.file, Line: n, Msg: "invalid YAML: " + strings.TrimSpace(rest[i+1:])}
			}
		}
	}
	return &LoadError{File: p.file, Msg: "invalid YAML: " + msg}
}

func (p *ruleParser) parseRule(n *yaml.Node) (*rule, error) {
	if n.Kind != yaml.MappingNode {
		return nil, p.errf(n, "a rule must be a mapping (id:, match:, action: ...)")
	}
	r := &rule{file: p.file, line: n.Line, action: Reject}
	var actionNode, rateNode, cwNode, matchNode *yaml.Node
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if seen[k.Value] {
			return nil, p.errf(k, "key %q appears twice in this rule", k.Value)
		}
		seen[k.Value] = true
		var err error
		switch k.Value {
		case "id":
			r.id = v.Value
			if !ruleIDRe.MatchString(r.id) {
				return nil, p.errf(v, "rule id %q: want 1-64 lowercase letters, digits, '-', '_' or '.' (ids are stable: metrics and decision logs use them)", r.id)
			}
		case "description":
			r.description = v.Value
		case "match":
			matchNode = v
			r.conds, err = p.parseMatch(v, "match")
		case "unless":
			r.unless, err = p.parseMatch(v, "unless")
		case "expr":
			r.exprSrc = v.Value
			r.exprLine = v.Line
			if len(r.exprSrc) > maxExprLen {
				return nil, p.errf(v, "expression is %d bytes, more than %d", len(r.exprSrc), maxExprLen)
			}
			r.expr, err = p.env.compile(r.exprSrc)
			if err != nil {
				return nil, p.errf(v, "expr: %v", err)
			}
		case "action":
			actionNode = v
			r.action, err = ParseAction(v.Value)
			if err != nil {
				return nil, p.errf(v, "%v", err)
			}
		case "also":
			var names []string
			if names, err = p.stringList(v); err != nil {
				return nil, err
			}
			for _, name := range names {
				m, err := parseModifier(name)
				if err != nil {
					return nil, p.errf(v, "also: %v", err)
				}
				r.mods |= m
			}
		case "cw":
			cwNode = v
			r.cw = v.Value
		case "reason":
			r.reason = v.Value
			if !reasonRe.MatchString(r.reason) {
				return nil, p.errf(v, "reason code %q: want 1-64 lowercase letters, digits, '-', '_' or '.' (reason codes are stable identifiers, not prose: put prose in description)", r.reason)
			}
		case "shadow":
			r.shadow, err = p.boolean(v)
		case "enabled":
			var on bool
			on, err = p.boolean(v)
			r.disabled = !on
		case "rate":
			rateNode = v
			r.rate, err = p.parseRate(v)
		default:
			return nil, p.errf(k, "unknown rule key %q (want id, description, match, unless, expr, action, also, cw, reason, shadow, enabled, rate)", k.Value)
		}
		if err != nil {
			return nil, err
		}
	}
	if r.id == "" {
		return nil, p.errf(n, "rule has no id: give it a stable id such as \"hellthread-reject\"")
	}
	if actionNode == nil && rateNode == nil {
		return nil, p.errf(n, "rule %q has no action (want one of %s)", r.id, actionList)
	}
	if r.action == CW && r.cw == "" {
		return nil, p.errf(actionNode, "rule %q: action cw needs a cw: text", r.id)
	}
	if cwNode != nil && r.action != CW && r.mods&ModCW == 0 {
		r.mods |= ModCW // a cw text implies the cw effect
	}
	if r.reason == "" {
		r.reason = r.id
	}
	if matchNode == nil && len(r.unless) == 0 && r.expr == nil {
		return nil, p.errf(n, "rule %q has no match, unless or expr: it would fire on everything; write match: {} explicitly if that is meant", r.id)
	}
	r.mods |= actionModifier(r.action)
	r.finish()
	return r, nil
}

func (p *ruleParser) parseMatch(n *yaml.Node, what string) ([]cond, error) {
	if n.Kind != yaml.MappingNode {
		return nil, p.errf(n, "%s must be a mapping of conditions (type:, mentions:, keywords: ...)", what)
	}
	var conds []cond
	var fields fieldMask = allFields
	var fieldsNode *yaml.Node
	// fields applies to keywords and regex wherever it appears.
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == "fields" {
			fieldsNode = n.Content[i+1]
			names, err := p.stringList(fieldsNode)
			if err != nil {
				return nil, err
			}
			fields = 0
			for _, name := range names {
				switch strings.ToLower(name) {
				case "content":
					fields |= 1 << fieldContent
				case "summary":
					fields |= 1 << fieldSummary
				case "name":
					fields |= 1 << fieldName
				default:
					return nil, p.errf(fieldsNode, "fields: unknown field %q (want content, summary, name)", name)
				}
			}
		}
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if seen[k.Value] {
			return nil, p.errf(k, "condition %q appears twice in %s", k.Value, what)
		}
		seen[k.Value] = true
		if k.Value == "fields" {
			continue
		}
		c, err := p.parseCond(k, v, fields)
		if err != nil {
			return nil, err
		}
		c.key = what + "." + k.Value
		c.line = k.Line
		conds = append(conds, c)
	}
	if fieldsNode != nil && !seen["keywords"] && !seen["regex"] {
		return nil, p.errf(fieldsNode, "fields: only applies to keywords and regex, and %s has neither", what)
	}
	return conds, nil
}

const condNames = "domain, actor, type, object_type, visibility, mentions, recipients, hashtags, hashtag_count, link_domains, links, attachments, media_types, language, first_seen, published, known_actor, followed_by_local, username_is_display_name, sensitive, keywords, regex, fields"

func (p *ruleParser) parseCond(k, v *yaml.Node, fields fieldMask) (cond, error) {
	switch k.Value {
	case "domain":
		l, err := p.stringList(v)
		if err != nil {
			return cond{}, err
		}
		var set domainSet
		for _, d := range l {
			if err := set.add(d); err != nil {
				return cond{}, p.errf(v, "domain: %v", err)
			}
		}
		return condDomain(set, l), nil
	case "actor":
		l, err := p.stringList(v)
		if err != nil {
			return cond{}, err
		}
		return condActor(l), nil
	case "type", "object_type":
		l, err := p.stringList(v)
		if err != nil {
			return cond{}, err
		}
		for _, t := range l {
			if t == "" || strings.ContainsAny(t, " \t") {
				return cond{}, p.errf(v, "%s: %q is not an ActivityStreams type name (such as Create, Note)", k.Value, t)
			}
		}
		return condType(k.Value == "object_type", l), nil
	case "visibility":
		l, err := p.stringList(v)
		if err != nil {
			return cond{}, err
		}
		var mask uint8
		for _, s := range l {
			vis, err := parseVisibility(s)
			if err != nil {
				return cond{}, p.errf(v, "visibility: %v", err)
			}
			mask |= 1 << vis
		}
		return condVisibility(mask, l), nil
	case "mentions", "recipients", "hashtag_count", "links", "attachments":
		r, err := parseIntRange(v.Value)
		if err != nil {
			return cond{}, p.errf(v, "%s: %v", k.Value, err)
		}
		return condCount(k.Value, r), nil
	case "hashtags":
		l, err := p.stringList(v)
		if err != nil {
			return cond{}, err
		}
		for i := range l {
			l[i] = strings.ToLower(strings.TrimPrefix(strings.TrimSpace(l[i]), "#"))
			if l[i] == "" {
				return cond{}, p.errf(v, "hashtags: empty hashtag")
			}
		}
		return condHashtags(l), nil
	case "link_domains":
		l, err := p.stringList(v)
		if err != nil {
			return cond{}, err
		}
		var set domainSet
		for _, d := range l {
			if err := set.add(d); err != nil {
				return cond{}, p.errf(v, "link_domains: %v", err)
			}
		}
		return condLinkDomains(set, l), nil
	case "media_types":
		l, err := p.stringList(v)
		if err != nil {
			return cond{}, err
		}
		for i := range l {
			l[i] = strings.ToLower(strings.TrimSpace(l[i]))
			if !strings.Contains(l[i], "/") {
				return cond{}, p.errf(v, "media_types: %q is not a media type (want image/png, image/*, video/*)", l[i])
			}
		}
		return condMediaTypes(l), nil
	case "language":
		l, err := p.stringList(v)
		if err != nil {
			return cond{}, err
		}
		for i := range l {
			l[i] = strings.ToLower(strings.TrimSpace(l[i]))
		}
		return condLanguage(l), nil
	case "first_seen", "published":
		r, err := parseDurationRange(v.Value)
		if err != nil {
			return cond{}, p.errf(v, "%s: %v", k.Value, err)
		}
		return condAge(k.Value == "published", r), nil
	case "known_actor", "followed_by_local", "username_is_display_name", "sensitive":
		b, err := p.boolean(v)
		if err != nil {
			return cond{}, err
		}
		return condBool(k.Value, b), nil
	case "keywords":
		l, err := p.stringList(v)
		if err != nil {
			return cond{}, err
		}
		if len(l) > maxKeywords {
			return cond{}, p.errf(v, "keywords: %d keywords, more than %d: use several rules or a regex", len(l), maxKeywords)
		}
		kw := &keywordCond{fields: fields}
		for _, w := range l {
			toks := tokenize(strings.ToLower(w), nil)
			switch len(toks) {
			case 0:
				return cond{}, p.errf(v, "keywords: %q has no letters or digits; use regex: to match punctuation", w)
			case 1:
				kw.words = append(kw.words, toks[0])
			default:
				kw.phrases = append(kw.phrases, " "+strings.Join(toks, " ")+" ")
				kw.firstWords = append(kw.firstWords, toks[0])
			}
		}
		return condKeywords(kw, l), nil
	case "regex":
		if v.Kind != yaml.ScalarNode {
			return cond{}, p.errf(v, "regex: want one RE2 pattern (join alternatives with |)")
		}
		if len(v.Value) > maxRegexLen {
			return cond{}, p.errf(v, "regex: pattern is %d bytes, more than %d", len(v.Value), maxRegexLen)
		}
		re, err := regexp.Compile(v.Value)
		if err != nil {
			return cond{}, p.errf(v, "regex: %v (the syntax is RE2: https://github.com/google/re2/wiki/Syntax)", err)
		}
		return condRegex(re, fields), nil
	}
	return cond{}, p.errf(k, "unknown condition %q (want one of %s)", k.Value, condNames)
}

func (p *ruleParser) stringList(n *yaml.Node) ([]string, error) {
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return nil, p.errf(n, "empty value: want a string or a list of strings")
		}
		return []string{n.Value}, nil
	case yaml.SequenceNode:
		out := make([]string, 0, len(n.Content))
		for _, e := range n.Content {
			if e.Kind != yaml.ScalarNode {
				return nil, p.errf(e, "want a string, found a %s", kindName(e.Kind))
			}
			out = append(out, e.Value)
		}
		if len(out) == 0 {
			return nil, p.errf(n, "empty list: remove the condition or give at least one value")
		}
		return out, nil
	}
	return nil, p.errf(n, "want a string or a list of strings, found a %s", kindName(n.Kind))
}

func (p *ruleParser) boolean(n *yaml.Node) (bool, error) {
	if n.Kind == yaml.ScalarNode {
		switch strings.ToLower(n.Value) {
		case "true", "yes", "on":
			return true, nil
		case "false", "no", "off":
			return false, nil
		}
	}
	return false, p.errf(n, "want true or false, found %q", n.Value)
}

func kindName(k yaml.Kind) string {
	switch k {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	case yaml.AliasNode:
		return "alias"
	}
	return "scalar"
}

func (p *ruleParser) parseRate(n *yaml.Node) (*rateSpec, error) {
	if n.Kind != yaml.MappingNode {
		return nil, p.errf(n, "rate must be a mapping such as {per: actor, limit: 30, window: 1m}")
	}
	rs := &rateSpec{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch k.Value {
		case "per":
			switch v.Value {
			case "actor":
				rs.per = perActor
			case "domain":
				rs.per = perDomain
			default:
				return nil, p.errf(v, "rate.per: %q (want actor or domain)", v.Value)
			}
		case "limit", "burst":
			x, err := strconv.Atoi(v.Value)
			if err != nil || x <= 0 || x > 1e9 {
				return nil, p.errf(v, "rate.%s: want a positive whole number, found %q", k.Value, v.Value)
			}
			if k.Value == "limit" {
				rs.limit = x
			} else {
				rs.burst = x
			}
		case "window":
			d, err := parseDuration(v.Value)
			if err != nil || d <= 0 {
				return nil, p.errf(v, "rate.window: want a duration such as 1m, 1h, 1d, found %q", v.Value)
			}
			rs.window = d
		default:
			return nil, p.errf(k, "unknown rate key %q (want per, limit, window, burst)", k.Value)
		}
	}
	if rs.limit == 0 || rs.window == 0 {
		return nil, p.errf(n, "rate needs limit and window, e.g. {per: actor, limit: 30, window: 1m}")
	}
	if rs.burst == 0 {
		rs.burst = rs.limit
	}
	return rs, nil
}

// intRange is an inclusive range [lo, hi].
type intRange struct {
	lo, hi int64
	text   string
}

func (r intRange) contains(x int64) bool { return x >= r.lo && x <= r.hi }

// parseIntRange reads ">= 10", "> 5", "< 3", "<= 2", "== 0", "3", "2..5".
func parseIntRange(s string) (intRange, error) {
	lo, hi, err := parseRange(s, func(t string) (int64, error) {
		x, err := strconv.ParseInt(strings.TrimSpace(t), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%q is not a whole number", strings.TrimSpace(t))
		}
		return x, nil
	}, 1)
	if err != nil {
		return intRange{}, fmt.Errorf("%v (want a comparison such as \">= 10\", \"< 3\", \"0\" or \"2..5\")", err)
	}
	return intRange{lo, hi, strings.TrimSpace(s)}, nil
}

// parseDurationRange reads "< 24h", ">= 7d" and so on, in nanoseconds.
func parseDurationRange(s string) (intRange, error) {
	lo, hi, err := parseRange(s, func(t string) (int64, error) {
		d, err := parseDuration(strings.TrimSpace(t))
		if err != nil {
			return 0, fmt.Errorf("%q is not a duration", strings.TrimSpace(t))
		}
		return int64(d), nil
	}, 1)
	if err != nil {
		return intRange{}, fmt.Errorf("%v (want an age comparison such as \"< 24h\" or \">= 7d\"; units s, m, h, d, w)", err)
	}
	return intRange{lo, hi, strings.TrimSpace(s)}, nil
}

const maxInt64 = int64(^uint64(0) >> 1)

func parseRange(s string, num func(string) (int64, error), step int64) (lo, hi int64, err error) {
	s = strings.TrimSpace(s)
	if a, b, ok := strings.Cut(s, ".."); ok {
		if lo, err = num(a); err != nil {
			return 0, 0, err
		}
		if hi, err = num(b); err != nil {
			return 0, 0, err
		}
		if lo > hi {
			return 0, 0, fmt.Errorf("empty range %q", s)
		}
		return lo, hi, nil
	}
	op := ""
	for _, o := range []string{">=", "<=", "==", ">", "<", "="} {
		if strings.HasPrefix(s, o) {
			op, s = o, s[len(o):]
			break
		}
	}
	x, err := num(s)
	if err != nil {
		return 0, 0, err
	}
	switch op {
	case ">=":
		return x, maxInt64, nil
	case ">":
		if x == maxInt64 {
			return 0, 0, fmt.Errorf("nothing is greater than %d", x)
		}
		return x + step, maxInt64, nil
	case "<=":
		return -maxInt64 - 1, x, nil
	case "<":
		return -maxInt64 - 1, x - step, nil
	default:
		return x, x, nil
	}
}

// parseDuration extends time.ParseDuration with d (days) and w (weeks),
// which admins use for account ages.
func parseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if n := len(s); n > 1 && (s[n-1] == 'd' || s[n-1] == 'w') {
		x, err := strconv.ParseFloat(s[:n-1], 64)
		if err != nil || x < 0 || x > 1e5 {
			return 0, fmt.Errorf("bad duration %q", s)
		}
		unit := 24 * time.Hour
		if s[n-1] == 'w' {
			unit *= 7
		}
		return time.Duration(x * float64(unit)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("bad duration %q (want e.g. 30s, 10m, 24h, 7d, 2w)", s)
	}
	return d, nil
}

// tokenize splits lowercased text into words of letters and digits and
// appends them to dst. Rules and content are tokenized the same way, so a
// keyword matches whole words only: "ass" does not match "class".
func tokenize(s string, dst []string) []string {
	for i := 0; ; {
		start, end := nextToken(s, i)
		if start < 0 {
			return dst
		}
		dst = append(dst, s[start:end])
		i = end
	}
}

// nextToken returns the bounds of the first word of s at or after i, or
// -1, -1 when there is none. Words are runs of letters, digits and
// nonspacing marks.
func nextToken(s string, i int) (start, end int) {
	start = -1
	for i < len(s) {
		r, size := rune(s[i]), 1
		if r >= utf8.RuneSelf {
			r, size = utf8.DecodeRuneInString(s[i:])
		}
		word := r < utf8.RuneSelf && ('a' <= r && r <= 'z' || '0' <= r && r <= '9' || 'A' <= r && r <= 'Z') ||
			r >= utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r))
		if word {
			if start < 0 {
				start = i
			}
		} else if start >= 0 {
			return start, i
		}
		i += size
	}
	if start >= 0 {
		return start, len(s)
	}
	return -1, -1
}

// fmtDuration writes a duration compactly for people: 1h, 90s, 1h30m, 7d.
func fmtDuration(d time.Duration) string {
	if d > 0 && d%(24*time.Hour) == 0 {
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	}
	s := d.Round(time.Second).String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}
