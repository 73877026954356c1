package policy

import (
	"fmt"
	"regexp"
	"regexp/syntax"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// cond is one compiled match condition of a rule.
type cond struct {
	// Indexed conditions (domain, keywords) are registered in the
	// snapshot's condIndex by Compile.
	domIdx  *indexRef
	linkIdx *indexRef
	domSet  *domainSet
	kwIdx   *indexRef
	kw      *keywordCond

	// gate is the chain prefilter that narrows this condition (see
	// prefilter.go); exact says the prefilter decides it fully, so the
	// chain need not run match after it. gateVals are the listed values
	// of type, actor and hashtag gates; rx the literals of a regex gate.
	gate     gateKind
	exact    bool
	gateVals []string
	rx       *litFilter
	fields   fieldMask // the text fields of a keywords or regex condition

	key  string // "match.mentions", shown in explanations
	line int
	cost uint8 // evaluation order within a rule: cheapest first
	want string
	// match reports whether the condition holds for the input.
	match func(in *Input) bool
	// got describes the input's value for an explanation.
	got func(in *Input) string
}

// Condition costs: envelope fields are free, content needs the parse, facts
// may read a local store, text matching scans the whole text.
const (
	costEnvelope uint8 = iota
	costContent
	costFacts
	costKeywords
	costRegex
)

func condDomain(set domainSet, l []string) cond {
	ref := &indexRef{}
	return cond{cost: costEnvelope, want: strings.Join(l, ", "), domIdx: ref, domSet: &set, gate: gateDomain, exact: true,
		match: func(in *Input) bool {
			if in.idx.of != nil {
				return in.domainHit(ref.id)
			}
			var buf [maxHost]byte
			return set.match(normalizeInto(&buf, in.host()))
		},
		got: func(in *Input) string { return "domain " + in.host() },
	}
}

func condActor(l []string) cond {
	return cond{cost: costEnvelope, want: strings.Join(l, ", "), gate: gateActor, exact: true, gateVals: l,
		match: func(in *Input) bool { return slices.Contains(l, in.Actor) },
		got:   func(in *Input) string { return "actor " + in.Actor },
	}
}

func condType(object bool, l []string) cond {
	if object {
		return cond{cost: costEnvelope, want: strings.Join(l, ", "),
			match: func(in *Input) bool { return containsFold(l, in.objectType()) },
			got:   func(in *Input) string { return "object type " + orNone(in.objectType()) },
		}
	}
	// The prefilter indexes ASCII type names only: strings.EqualFold folds
	// beyond ASCII (the Kelvin sign is a k), which a lowercased key cannot.
	gate := gateType
	for _, t := range l {
		if !isASCII(t) {
			gate = gateNone
		}
	}
	return cond{cost: costEnvelope, want: strings.Join(l, ", "), gate: gate, exact: gate != gateNone, gateVals: l,
		match: func(in *Input) bool { return containsFold(l, in.activityType()) },
		got:   func(in *Input) string { return "type " + orNone(in.activityType()) },
	}
}

func condVisibility(mask uint8, l []string) cond {
	return cond{cost: costContent, want: strings.Join(l, ", "),
		match: func(in *Input) bool {
			c, _ := in.Content()
			return mask&(1<<c.Visibility) != 0
		},
		got: func(in *Input) string {
			c, _ := in.Content()
			return "visibility " + c.Visibility.String()
		},
	}
}

func condCount(what string, r intRange) cond {
	count := func(in *Input) int {
		c, _ := in.Content()
		switch what {
		case "mentions":
			return len(c.Mentions)
		case "recipients":
			return c.Recipients
		case "hashtag_count":
			return len(c.Hashtags)
		case "links":
			return len(c.LinkDomains)
		}
		return c.Attachments
	}
	noun := strings.ReplaceAll(what, "_", " ")
	return cond{cost: costContent, want: r.text,
		match: func(in *Input) bool { return r.contains(int64(count(in))) },
		got:   func(in *Input) string { return strconv.Itoa(count(in)) + " " + noun },
	}
}

func condHashtags(l []string) cond {
	return cond{cost: costContent, want: strings.Join(l, ", "), gate: gateHashtags, exact: true, gateVals: l,
		match: func(in *Input) bool {
			c, _ := in.Content()
			for _, h := range c.Hashtags {
				if slices.Contains(l, h) {
					return true
				}
			}
			return false
		},
		got: func(in *Input) string {
			c, _ := in.Content()
			return "hashtags " + listOrNone(c.Hashtags)
		},
	}
}

func condLinkDomains(set domainSet, l []string) cond {
	ref := &indexRef{}
	return cond{cost: costContent, want: strings.Join(l, ", "), linkIdx: ref, domSet: &set, gate: gateLinks, exact: true,
		match: func(in *Input) bool {
			if in.idx.of != nil {
				return in.linkHit(ref.id)
			}
			c, _ := in.Content()
			for _, d := range c.LinkDomains {
				if set.match(d) {
					return true
				}
			}
			return false
		},
		got: func(in *Input) string {
			c, _ := in.Content()
			return "link domains " + listOrNone(c.LinkDomains)
		},
	}
}

// mediaTypeMatch matches "image/png" against "image/png", "image/*" or "*/*";
// an attachment known only as "image/*" matches "image/png" patterns too,
// since it is some image.
func mediaTypeMatch(pattern, mt string) bool {
	if pattern == mt || pattern == "*/*" {
		return true
	}
	pm, _, _ := strings.Cut(pattern, "/")
	tm, ts, _ := strings.Cut(mt, "/")
	return pm == tm && (strings.HasSuffix(pattern, "/*") || ts == "*")
}

func condMediaTypes(l []string) cond {
	// The prefilter indexes the patterns (see prefilter.go); the
	// condition still runs for the rules it leaves.
	return cond{cost: costContent, want: strings.Join(l, ", "), gate: gateMedia, gateVals: l,
		match: func(in *Input) bool {
			c, _ := in.Content()
			for _, mt := range c.MediaTypes {
				for _, p := range l {
					if mediaTypeMatch(p, mt) {
						return true
					}
				}
			}
			return false
		},
		got: func(in *Input) string {
			c, _ := in.Content()
			return "media types " + listOrNone(c.MediaTypes)
		},
	}
}

// condLanguage matches a contentMap language; "en" also matches "en-gb".
func condLanguage(l []string) cond {
	// No language matches a post without a contentMap.
	return cond{cost: costContent, want: strings.Join(l, ", "), gate: gateLanguage,
		match: func(in *Input) bool {
			c, _ := in.Content()
			for _, lang := range c.Languages {
				base, _, _ := strings.Cut(lang, "-")
				if slices.Contains(l, lang) || slices.Contains(l, base) {
					return true
				}
			}
			return false
		},
		got: func(in *Input) string {
			c, _ := in.Content()
			return "languages " + listOrNone(c.Languages)
		},
	}
}

func condAge(published bool, r intRange) cond {
	if published {
		return cond{cost: costFacts, want: r.text,
			match: func(in *Input) bool {
				t, ok := in.published()
				// An unknown creation time proves nothing: no match.
				return ok && r.contains(int64(max(in.now().Sub(t), 0)))
			},
			got: func(in *Input) string {
				t, ok := in.published()
				if !ok {
					return "actor published time unknown"
				}
				return "actor published " + fmtAge(in.now().Sub(t)) + " ago"
			},
		}
	}
	return cond{cost: costFacts, want: r.text,
		match: func(in *Input) bool { return r.contains(int64(in.firstSeenAge())) },
		got: func(in *Input) string {
			if !in.knownActor() {
				return "actor never seen before (age 0)"
			}
			return "actor first seen " + fmtAge(in.firstSeenAge()) + " ago"
		},
	}
}

func condBool(what string, want bool) cond {
	var get func(in *Input) bool
	cost := costFacts
	switch what {
	case "known_actor":
		get = (*Input).knownActor
	case "followed_by_local":
		get = func(in *Input) bool { return in.localFollowers() > 0 }
	case "username_is_display_name":
		get = func(in *Input) bool {
			u, d := in.profile()
			u, d = strings.TrimSpace(u), strings.TrimSpace(d)
			return u != "" && strings.EqualFold(u, d)
		}
	case "sensitive":
		cost = costContent
		get = func(in *Input) bool {
			c, _ := in.Content()
			return c.Sensitive
		}
	}
	noun := strings.ReplaceAll(what, "_", " ")
	return cond{cost: cost, want: strconv.FormatBool(want),
		match: func(in *Input) bool { return get(in) == want },
		got: func(in *Input) string {
			if what == "username_is_display_name" {
				u, d := in.profile()
				return fmt.Sprintf("username %q, display name %q", u, d)
			}
			if what == "followed_by_local" {
				return strconv.Itoa(in.localFollowers()) + " local followers"
			}
			return noun + " " + strconv.FormatBool(get(in))
		},
	}
}

// fieldMask selects text fields for keywords and regex.
type fieldMask uint8

const allFields fieldMask = 1<<fieldContent | 1<<fieldSummary | 1<<fieldName

var fieldNames = [...]string{"content", "summary", "name"}

type keywordCond struct {
	fields     fieldMask
	words      []string            // single-word keywords, as listed
	set        map[string]struct{} // the same, as a set
	phrases    []string            // " multi word " keywords
	firstWords []string            // the first word of each phrase
}

// matchField returns the first keyword found in one field, or "". It is
// the explanation's path; decisions go through the snapshot's index.
func (k *keywordCond) matchField(in *Input, f textField) string {
	for _, w := range in.words(f) {
		if _, ok := k.set[w]; ok {
			return w
		}
	}
	if len(k.phrases) > 0 {
		joined := in.joinedWords(f)
		for _, ph := range k.phrases {
			if strings.Contains(joined, ph) {
				return strings.TrimSpace(ph)
			}
		}
	}
	return ""
}

func (k *keywordCond) find(in *Input) (string, textField) {
	for f := fieldContent; f <= fieldName; f++ {
		if k.fields&(1<<f) != 0 {
			if w := k.matchField(in, f); w != "" {
				return w, f
			}
		}
	}
	return "", 0
}

func condKeywords(k *keywordCond, l []string) cond {
	k.set = make(map[string]struct{}, len(k.words))
	for _, w := range k.words {
		k.set[w] = struct{}{}
	}
	want := strings.Join(l, ", ")
	if len(l) > 8 {
		want = strings.Join(l[:8], ", ") + fmt.Sprintf(", ... (%d keywords)", len(l))
	}
	ref := &indexRef{}
	return cond{cost: costKeywords, want: want, kwIdx: ref, kw: k, gate: gateKeywords,
		match: func(in *Input) bool {
			if in.idx.of == nil {
				w, _ := k.find(in)
				return w != ""
			}
			if in.keywordHit(ref.id) {
				return true
			}
			// A phrase can only occur where its first word does; the index
			// says whether any first word occurs before the text is scanned.
			if len(k.phrases) == 0 || !in.phraseCandidate(ref.id) {
				return false
			}
			for f := fieldContent; f <= fieldName; f++ {
				if k.fields&(1<<f) != 0 {
					joined := in.joinedWords(f)
					for _, ph := range k.phrases {
						if strings.Contains(joined, ph) {
							return true
						}
					}
				}
			}
			return false
		},
		got: func(in *Input) string {
			if w, f := k.find(in); w != "" {
				return fmt.Sprintf("%q in %s", w, fieldNames[f])
			}
			return "none of the keywords in " + fieldList(k.fields)
		},
	}
}

// litFilter is a necessary condition for a regex to match a text: one of
// lits occurs in it (in the lowercased text when fold). A substring search
// is much cheaper than running the regex, and most posts contain none of
// the literals of an admin's spam patterns.
type litFilter struct {
	lits []string
	fold bool
}

// maxFilterLits bounds the literals of one filter, so checking it stays
// cheaper than the regex.
const maxFilterLits = 16

// possible reports whether the regex can match text t of field f.
func (lf *litFilter) possible(in *Input, f textField) bool {
	t := in.rawText(f)
	if lf.fold {
		t = in.loweredText(f)
	}
	for _, l := range lf.lits {
		if strings.Contains(t, l) {
			return true
		}
	}
	// (?i)s also matches U+017F (long s), which strings.ToLower keeps as
	// it is: a lowercased text with one proves nothing about an "s".
	return lf.fold && lf.hasS() && strings.Contains(t, "\u017f")
}

func (lf *litFilter) hasS() bool {
	for _, l := range lf.lits {
		if strings.IndexByte(l, 's') >= 0 {
			return true
		}
	}
	return false
}

func (lf *litFilter) key() string {
	return fmt.Sprintf("%t%q", lf.fold, lf.lits)
}

// requiredLiterals returns literals one of which every match of re
// contains, and whether they are case-folded (lowercased); ok is false
// when there are none worth checking (a match can be empty or made of
// classes only, or a literal is shorter than 3 bytes).
func requiredLiterals(re *syntax.Regexp) (lits []string, fold, ok bool) {
	switch re.Op {
	case syntax.OpLiteral:
		fold := re.Flags&syntax.FoldCase != 0
		lit := string(re.Rune)
		if fold {
			for _, r := range re.Rune {
				if r >= utf8.RuneSelf {
					return nil, false, false // Unicode folding differs from ToLower: no shortcut
				}
			}
			lit = strings.ToLower(lit)
		}
		if len(lit) < 3 {
			return nil, false, false // too short to rule much out
		}
		return []string{lit}, fold, true
	case syntax.OpCapture, syntax.OpPlus:
		return requiredLiterals(re.Sub[0])
	case syntax.OpRepeat:
		if re.Min >= 1 {
			return requiredLiterals(re.Sub[0])
		}
	case syntax.OpConcat:
		// Any part's literals will do; take the part whose shortest
		// literal is longest (the most selective).
		best, bestMin := []string(nil), 0
		bestFold := false
		for _, sub := range re.Sub {
			l, f, ok := requiredLiterals(sub)
			if !ok {
				continue
			}
			m := minLen(l)
			if m > bestMin || m == bestMin && len(l) < len(best) {
				best, bestMin, bestFold = l, m, f
			}
		}
		return best, bestFold, best != nil
	case syntax.OpAlternate:
		// Every branch must bring its literals, all folded or none.
		for i, sub := range re.Sub {
			l, f, ok := requiredLiterals(sub)
			if !ok || i > 0 && f != fold || len(lits)+len(l) > maxFilterLits {
				return nil, false, false
			}
			fold = f
			lits = append(lits, l...)
		}
		return lits, fold, len(lits) > 0
	}
	return nil, false, false
}

func minLen(l []string) int {
	m := 0
	for i, s := range l {
		if i == 0 || len(s) < m {
			m = len(s)
		}
	}
	return m
}

func condRegex(re *regexp.Regexp, fields fieldMask) cond {
	var lf *litFilter
	if parsed, err := syntax.Parse(re.String(), syntax.Perl); err == nil {
		if lits, fold, ok := requiredLiterals(parsed.Simplify()); ok {
			lf = &litFilter{lits: lits, fold: fold}
		}
	}
	emptyMatches := re.MatchString("")
	// possible reports whether the field can match at all.
	possible := func(in *Input, f textField) bool {
		if lf != nil {
			return lf.possible(in, f)
		}
		return emptyMatches || in.rawText(f) != ""
	}
	find := func(in *Input) (string, textField, bool) {
		for f := fieldContent; f <= fieldName; f++ {
			if fields&(1<<f) != 0 {
				t := in.rawText(f)
				if loc := re.FindStringIndex(t); loc != nil {
					return t[loc[0]:loc[1]], f, true
				}
			}
		}
		return "", 0, false
	}
	gate := gateNone
	if lf != nil {
		gate = gateRegex
	}
	return cond{cost: costRegex, want: re.String(), gate: gate, rx: lf, fields: fields,
		match: func(in *Input) bool {
			for f := fieldContent; f <= fieldName; f++ {
				if fields&(1<<f) != 0 && possible(in, f) && re.MatchString(in.rawText(f)) {
					return true
				}
			}
			return false
		},
		got: func(in *Input) string {
			if m, f, ok := find(in); ok {
				if len(m) > 60 {
					m = m[:60] + "..."
				}
				return fmt.Sprintf("%q in %s", m, fieldNames[f])
			}
			return "no match in " + fieldList(fields)
		},
	}
}

func fieldList(m fieldMask) string {
	var l []string
	for f, n := range fieldNames {
		if m&(1<<f) != 0 {
			l = append(l, n)
		}
	}
	return strings.Join(l, ", ")
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

func containsFold(l []string, s string) bool {
	for _, x := range l {
		if x == s || len(x) == len(s) && strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func listOrNone(l []string) string {
	if len(l) == 0 {
		return "(none)"
	}
	if len(l) > 10 {
		return strings.Join(l[:10], ", ") + fmt.Sprintf(", ... (%d)", len(l))
	}
	return strings.Join(l, ", ")
}

func fmtAge(d time.Duration) string {
	d = max(d, 0)
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%.1fd", d.Hours()/24)
	case d >= time.Hour:
		return fmt.Sprintf("%.1fh", d.Hours())
	case d >= time.Minute:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	}
	return fmt.Sprintf("%ds", int(d.Seconds()))
}

// words returns the lowercased words of a text field, in order.
func (in *Input) words(f textField) []string {
	in.tokenizeFields()
	return in.wl.tok[f]
}

// joinedWords returns the field's words in order, space-separated and
// space-enclosed, for phrase keywords. It is built on first use: most
// activities contain no phrase's first word and never need it.
func (in *Input) joinedWords(f textField) string {
	in.tokenizeFields()
	if in.state2&stJoined == 0 {
		in.state2 |= stJoined
		for f := fieldContent; f <= fieldName; f++ {
			toks := in.wl.tok[f]
			if len(toks) == 0 {
				continue
			}
			// The words are substrings of the lowered text, so their total
			// length is below its length.
			var b strings.Builder
			b.Grow(len(in.lowered[f]) + 2)
			b.WriteByte(' ')
			for _, t := range toks {
				b.WriteString(t)
				b.WriteByte(' ')
			}
			in.wl.joined[f] = b.String()
		}
	}
	return in.wl.joined[f]
}

func (in *Input) tokenizeFields() {
	if in.state2&stTokens != 0 {
		return
	}
	in.state2 |= stTokens
	in.wl = &wordLists{}
	for f := fieldContent; f <= fieldName; f++ {
		lt := in.loweredText(f)
		if lt == "" {
			continue
		}
		// Tokenize into a stack buffer and keep an exact-size copy: one
		// allocation instead of one per doubling.
		var buf [64]string
		if toks := tokenize(lt, buf[:0]); len(toks) > 0 {
			in.wl.tok[f] = slices.Clone(toks)
		}
	}
}
