package policy

// condIndex lets a snapshot answer all domain and keyword conditions of the
// chain at once. Checked one by one, 200 rules with domain lists and
// keyword lists cost hundreds of map lookups and string comparisons per
// activity; through the index it is a few lookups per host level and one
// per distinct word of the text, whatever the number of rules.
//
// Each indexed condition gets an id. The first indexed condition evaluated
// on an Input computes a bit set of the ids that hold for it (cached in the
// Input for this snapshot); every indexed condition is then a bit test.
type condIndex struct {
	domExact map[string][]uint32 // domain → ids of domain conditions listing it
	domWild  map[string][]uint32 // "example.com" of "*.example.com" → ids
	nDomain  uint32

	linkExact map[string][]uint32 // the same for link_domains conditions
	linkWild  map[string][]uint32
	nLink     uint32

	words map[string][]wordHit // keyword → conditions listing it
	nKw   uint32
}

type wordHit struct {
	id     uint32
	fields fieldMask
	phrase bool // the first word of one of the condition's phrases
}

// indexRef is what an indexed condition holds: its kind and id, filled in
// by Compile.
type indexRef struct {
	id uint32
}

func (x *condIndex) addDomain(ref *indexRef, set *domainSet) {
	ref.id = x.nDomain
	x.nDomain++
	if x.domExact == nil {
		x.domExact, x.domWild = map[string][]uint32{}, map[string][]uint32{}
	}
	for d := range set.exact {
		x.domExact[d] = append(x.domExact[d], ref.id)
	}
	for d := range set.wild {
		x.domWild[d] = append(x.domWild[d], ref.id)
	}
}

func (x *condIndex) addLink(ref *indexRef, set *domainSet) {
	ref.id = x.nLink
	x.nLink++
	if x.linkExact == nil {
		x.linkExact, x.linkWild = map[string][]uint32{}, map[string][]uint32{}
	}
	for d := range set.exact {
		x.linkExact[d] = append(x.linkExact[d], ref.id)
	}
	for d := range set.wild {
		x.linkWild[d] = append(x.linkWild[d], ref.id)
	}
}

func (x *condIndex) addKeywords(ref *indexRef, k *keywordCond) {
	ref.id = x.nKw
	x.nKw++
	if x.words == nil {
		x.words = map[string][]wordHit{}
	}
	for _, w := range k.words {
		x.words[w] = append(x.words[w], wordHit{ref.id, k.fields, false})
	}
	for _, w := range k.firstWords {
		x.words[w] = append(x.words[w], wordHit{ref.id, k.fields, true})
	}
}

// bitset is a set of condition ids with room for 256 inline.
type bitset struct {
	inline [4]uint64
	more   []uint64
}

func (b *bitset) reset(n uint32) {
	b.inline = [4]uint64{}
	if n > 256 {
		words := int((n + 63) / 64)
		if cap(b.more) >= words {
			b.more = b.more[:words]
			clear(b.more)
		} else {
			b.more = make([]uint64, words)
		}
	} else {
		b.more = nil
	}
}

func (b *bitset) set(i uint32) {
	if b.more != nil {
		b.more[i/64] |= 1 << (i % 64)
		return
	}
	b.inline[i/64] |= 1 << (i % 64)
}

func (b *bitset) has(i uint32) bool {
	if b.more != nil {
		return b.more[i/64]&(1<<(i%64)) != 0
	}
	return b.inline[i/64]&(1<<(i%64)) != 0
}

// indexState is an Input's cached answers from one snapshot's index.
type indexState struct {
	of      *condIndex
	domDone bool
	kwDone  bool
	lnkDone bool
	domHits bitset
	lnkHits bitset
	kwHits  bitset
	phrHits bitset
}

func (in *Input) bindIndex(x *condIndex) {
	if in.idx.of != x {
		in.idx.of = x
		in.idx.domDone, in.idx.kwDone, in.idx.lnkDone = false, false, false
	}
}

// domainHit reports whether domain condition id holds for the actor host.
func (in *Input) domainHit(id uint32) bool {
	st := &in.idx
	if !st.domDone {
		st.domDone = true
		x := st.of
		st.domHits.reset(x.nDomain)
		var buf [maxHost]byte
		markSuffixes(&st.domHits, normalizeInto(&buf, in.host()), x.domExact, x.domWild)
	}
	return st.domHits.has(id)
}

// linkHit reports whether link_domains condition id holds for a host linked
// from the content.
func (in *Input) linkHit(id uint32) bool {
	st := &in.idx
	if !st.lnkDone {
		st.lnkDone = true
		x := st.of
		st.lnkHits.reset(x.nLink)
		c, _ := in.Content()
		for _, h := range c.LinkDomains {
			markSuffixes(&st.lnkHits, h, x.linkExact, x.linkWild)
		}
	}
	return st.lnkHits.has(id)
}

// markSuffixes sets the ids listed for host and its parents ("*." entries
// for strict parents only).
func markSuffixes(b *bitset, host string, exact, wild map[string][]uint32) {
	for i, sub := 0, false; host != ""; sub = true {
		suffix := host[i:]
		for _, c := range exact[suffix] {
			b.set(c)
		}
		if sub {
			for _, c := range wild[suffix] {
				b.set(c)
			}
		}
		j := indexDot(suffix)
		if j < 0 {
			return
		}
		i += j + 1
	}
}

// keywordHit reports whether keyword condition id has one of its single
// words in a field it looks at.
func (in *Input) keywordHit(id uint32) bool {
	st := &in.idx
	if !st.kwDone {
		st.kwDone = true
		x := st.of
		st.kwHits.reset(x.nKw)
		st.phrHits.reset(x.nKw)
		// One pass over each lowercased text for all keyword lists, the
		// words looked up as they are found: no word list is built.
		for f := fieldContent; f <= fieldName; f++ {
			lt := in.loweredText(f)
			for i := 0; ; {
				start, end := nextToken(lt, i)
				if start < 0 {
					break
				}
				i = end
				for _, h := range x.words[lt[start:end]] {
					if h.fields&(1<<f) == 0 {
						continue
					}
					if h.phrase {
						st.phrHits.set(h.id)
					} else {
						st.kwHits.set(h.id)
					}
				}
			}
		}
	}
	return st.kwHits.has(id)
}

// phraseCandidate reports whether the first word of one of keyword
// condition id's phrases occurs in a field it looks at. keywordHit must
// have been called for the Input first.
func (in *Input) phraseCandidate(id uint32) bool { return in.idx.phrHits.has(id) }

func indexDot(s string) int {
	for i := 0; i < len(s); i++ {
		if s[i] == '.' {
			return i
		}
	}
	return -1
}
