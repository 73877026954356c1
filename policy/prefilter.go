package policy

import (
	"math/bits"
	"strings"
)

// The chain prefilter keeps the rule loop from visiting rules that cannot
// match. Most rules of a large chain are narrow: a type, a domain list, a
// keyword list, a regex for one spam wave. Visiting each of 200 rules and
// running its conditions costs far more than answering "which rules can
// match at all" once per activity from per-snapshot indexes, as a bit set
// of candidate rules:
//
//   - envelope gates (type, actor, domain) before the chain starts, for
//     free: they never parse the content;
//   - content gates (keywords, link domains, hashtags, regex literals,
//     media types, languages) the first time a candidate rule carries one,
//     each for all rules at once: one pass over the words for all keyword
//     lists, one search per distinct regex literal set, one lookup per
//     hashtag.
//
// A gate is a necessary condition of one of the rule's match conditions,
// so a rule it removes would not have matched. Gates that decide their
// condition fully (type, actor, domain, link domains, hashtags: cond.exact)
// let the chain skip that condition after them; the others (keywords with
// phrases, regex, media types, languages) only narrow, and the condition
// still runs for the rules that remain. Explanations do not use the
// prefilter: they run every condition of every rule.
// TestPrefilterMatchesChain checks the prefiltered chain against the naive
// one on random rule sets and activities.

type gateKind uint8

const (
	gateNone gateKind = iota
	gateType
	gateActor
	gateDomain
	gateKeywords
	gateLinks
	gateHashtags
	gateRegex
	gateMedia
	gateLanguage
	numGates
)

const envelopeGates = 1<<gateType | 1<<gateActor | 1<<gateDomain

// prefilter is a snapshot's gate indexes over its rules.
type prefilter struct {
	rules  []*rule
	words  int                // uint64 words in a rule set
	all    []uint64           // every rule
	gated  [numGates][]uint64 // the rules carrying a gate of each kind
	has    uint16             // bit per gate kind some rule carries
	byType map[string][]uint64
	byActr map[string][]uint64
	byTag  map[string][]uint64
	// Media type patterns: by pattern, by major type, and by major type
	// for patterns ending in "/*" (see mediaTypeMatch).
	byMedia, byMajor, byMajorWild map[string][]uint64
	// condIndex ids of domain, keyword and link conditions → the rule
	// index whose gate each is, -1 for conditions of unless blocks.
	domRule, kwRule, lnkRule []int32
	regex                    []regexGate
}

// regexGate is one distinct literal filter and the rules gated by it.
type regexGate struct {
	lf     *litFilter
	fields fieldMask
	rules  []uint64
}

func setBit(w []uint64, i int) { w[i/64] |= 1 << (i % 64) }

func buildPrefilter(rules []*rule, x *condIndex) *prefilter {
	p := &prefilter{rules: rules, words: (len(rules) + 63) / 64}
	newSet := func() []uint64 { return make([]uint64, p.words) }
	p.all = newSet()
	for i := range rules {
		setBit(p.all, i)
	}
	for k := range p.gated {
		p.gated[k] = newSet()
	}
	ids := func(n uint32) []int32 {
		l := make([]int32, n)
		for i := range l {
			l[i] = -1
		}
		return l
	}
	p.domRule, p.kwRule, p.lnkRule = ids(x.nDomain), ids(x.nKw), ids(x.nLink)
	index := func(m *map[string][]uint64, key string, i int) {
		if *m == nil {
			*m = map[string][]uint64{}
		}
		s := (*m)[key]
		if s == nil {
			s = newSet()
			(*m)[key] = s
		}
		setBit(s, i)
	}
	regexByKey := map[string]int{}
	for i, r := range rules {
		r.gates = 0
		r.envFns, r.postFns = nil, nil
		for ci := range r.conds {
			c := &r.conds[ci]
			k := c.gate
			if k != gateNone && r.gates&(1<<k) != 0 {
				k = gateNone // one gate per kind and rule; the rest just run
			}
			switch k {
			case gateType:
				for _, t := range c.gateVals {
					index(&p.byType, lowerASCII(t), i)
				}
			case gateActor:
				for _, a := range c.gateVals {
					index(&p.byActr, a, i)
				}
			case gateHashtags:
				for _, h := range c.gateVals {
					index(&p.byTag, h, i)
				}
			case gateMedia:
				for _, pat := range c.gateVals {
					index(&p.byMedia, pat, i)
					major, _, _ := strings.Cut(pat, "/")
					index(&p.byMajor, major, i)
					if strings.HasSuffix(pat, "/*") {
						index(&p.byMajorWild, major, i)
					}
				}
			case gateDomain:
				p.domRule[c.domIdx.id] = int32(i)
			case gateLinks:
				p.lnkRule[c.linkIdx.id] = int32(i)
			case gateKeywords:
				p.kwRule[c.kwIdx.id] = int32(i)
			case gateRegex:
				key := c.rx.key() + string(rune('0'+c.fields))
				g, ok := regexByKey[key]
				if !ok {
					g = len(p.regex)
					regexByKey[key] = g
					p.regex = append(p.regex, regexGate{lf: c.rx, fields: c.fields, rules: newSet()})
				}
				setBit(p.regex[g].rules, i)
			}
			if k != gateNone {
				r.gates |= 1 << k
				p.has |= 1 << k
				setBit(p.gated[k], i)
				if c.exact {
					continue
				}
			}
			if c.cost == costEnvelope {
				r.envFns = append(r.envFns, c.match)
			} else {
				r.postFns = append(r.postFns, c.match)
			}
		}
	}
	return p
}

func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// pfState is an Input's candidate rules for one snapshot's prefilter.
type pfState struct {
	of     *prefilter
	done   uint16 // gate kinds applied
	cand   []uint64
	inline [4]uint64
	pass   []uint64 // scratch for one gate kind, past 256 rules
}

// start resets st for p and applies the envelope gates.
func (p *prefilter) start(in *Input, st *pfState) {
	st.of, st.done = p, 0
	switch {
	case p.words <= len(st.inline):
		st.cand = st.inline[:p.words]
	case cap(st.cand) < p.words || cap(st.pass) < p.words:
		st.cand, st.pass = make([]uint64, p.words), make([]uint64, p.words)
	default: // kept from a larger snapshot
		st.cand, st.pass = st.cand[:p.words], st.pass[:p.words]
	}
	copy(st.cand, p.all)
	if env := p.has & envelopeGates; env != 0 {
		p.apply(in, st, env)
	}
}

// apply computes the gates of the kinds in need for all rules and removes
// the rules whose gate fails from the candidates.
func (p *prefilter) apply(in *Input, st *pfState, need uint16) {
	var small [4]uint64
	for need != 0 {
		k := gateKind(bits.TrailingZeros16(need))
		need &^= 1 << k
		st.done |= 1 << k
		pass := small[:min(p.words, len(small))]
		if p.words > len(small) {
			pass = st.pass
		}
		clear(pass)
		switch k {
		case gateType:
			// Gated type lists are ASCII, and no other string has the same
			// length and folds equal to one: a non-ASCII type passes none.
			t := in.activityType()
			if !isASCII(t) {
				break
			}
			var buf [64]byte
			key := t
			if len(t) <= len(buf) {
				n := copy(buf[:], t)
				for i := range n {
					if 'A' <= buf[i] && buf[i] <= 'Z' {
						buf[i] += 'a' - 'A'
					}
				}
				pass = orSet(pass, p.byType[string(buf[:n])])
			} else {
				pass = orSet(pass, p.byType[lowerASCII(key)])
			}
		case gateActor:
			pass = orSet(pass, p.byActr[in.Actor])
		case gateDomain:
			in.domainHit(0)
			p.mapHits(pass, &in.idx.domHits, nil, p.domRule)
		case gateLinks:
			in.linkHit(0)
			p.mapHits(pass, &in.idx.lnkHits, nil, p.lnkRule)
		case gateKeywords:
			in.keywordHit(0)
			p.mapHits(pass, &in.idx.kwHits, &in.idx.phrHits, p.kwRule)
		case gateHashtags:
			c, _ := in.Content()
			for _, h := range c.Hashtags {
				pass = orSet(pass, p.byTag[h])
			}
		case gateRegex:
			for gi := range p.regex {
				g := &p.regex[gi]
				for f := fieldContent; f <= fieldName; f++ {
					if g.fields&(1<<f) != 0 && g.lf.possible(in, f) {
						pass = orSet(pass, g.rules)
						break
					}
				}
			}
		case gateMedia:
			// Exactly the patterns mediaTypeMatch accepts for some type.
			c, _ := in.Content()
			for _, mt := range c.MediaTypes {
				major, sub, _ := strings.Cut(mt, "/")
				pass = orSet(pass, p.byMedia[mt])
				pass = orSet(pass, p.byMedia["*/*"])
				pass = orSet(pass, p.byMajorWild[major])
				if sub == "*" {
					pass = orSet(pass, p.byMajor[major])
				}
			}
		case gateLanguage:
			if c, _ := in.Content(); len(c.Languages) > 0 {
				pass = orSet(pass, p.gated[k])
			}
		}
		for w := range st.cand {
			st.cand[w] &^= p.gated[k][w] &^ pass[w]
		}
	}
}

func orSet(dst, src []uint64) []uint64 {
	for i := range src {
		dst[i] |= src[i]
	}
	return dst
}

// mapHits sets in pass the rules whose gate condition id is in a or b.
func (p *prefilter) mapHits(pass []uint64, a, b *bitset, rule []int32) {
	for _, hits := range []*bitset{a, b} {
		if hits == nil {
			continue
		}
		words := hits.more
		if words == nil {
			words = hits.inline[:]
		}
		for w, x := range words {
			for x != 0 {
				id := w*64 + bits.TrailingZeros64(x)
				x &= x - 1
				if id < len(rule) && rule[id] >= 0 {
					setBit(pass, int(rule[id]))
				}
			}
		}
	}
}

// next returns the first candidate rule at or after i, len(rules) when
// there is none. Before returning a rule it runs the rule's envelope
// conditions the gates left and then its content gates, so content is
// parsed only for a rule that passed everything cheaper. Rules the chain
// passes over without matching (content rules when bypassed, envelope rate
// rules already charged when early) are returned as they are.
func (p *prefilter) next(in *Input, st *pfState, i int, bypassed, early bool) int {
	for {
		w := i / 64
		if w >= len(st.cand) {
			return len(p.rules)
		}
		x := st.cand[w] &^ (1<<(i%64) - 1)
		if x == 0 {
			i = (w + 1) * 64
			continue
		}
		i = w*64 + bits.TrailingZeros64(x)
		r := p.rules[i]
		if bypassed && r.rate == nil || early && r.earlyRate() {
			return i
		}
		ok := true
		for _, m := range r.envFns {
			if !m(in) {
				ok = false
				break
			}
		}
		if ok {
			if need := r.gates &^ st.done; need != 0 {
				p.apply(in, st, need)
				ok = st.cand[w]&(1<<(i%64)) != 0
			}
		}
		if ok {
			return i
		}
		i++
	}
}

// matchRest is match for a rule the prefilter returned: the conditions
// its gates did not decide, the unless block and the expression.
func (r *rule) matchRest(in *Input) bool {
	for _, m := range r.postFns {
		if !m(in) {
			return false
		}
	}
	if len(r.unlessFns) > 0 {
		all := true
		for _, m := range r.unlessFns {
			if !m(in) {
				all = false
				break
			}
		}
		if all {
			return false
		}
	}
	if r.expr != nil {
		ok, _ := r.expr.eval(in)
		return ok
	}
	return true
}
