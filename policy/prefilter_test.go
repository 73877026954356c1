package policy

import (
	"fmt"
	"math/rand/v2"
	"regexp"
	"regexp/syntax"
	"slices"
	"strings"
	"testing"
	"time"
)

// Vocabularies of the random rules and activities below. They overlap on
// purpose, and carry the case-folding traps: U+212A (Kelvin sign, folds to
// k) and U+017F (long s, folds to s, lowercases to itself).
var (
	pfTypes    = []string{"Create", "create", "Announce", "Like", "Update", "Delete", "Undo", "Li\u212ae"}
	pfHosts    = []string{"a.example", "x.b.example", "b.example", "c.example", "deep.x.b.example"}
	pfWords    = []string{"spam", "casino", "buy", "now", "free", "crypto", "hello", "world", "\u017fpam", "\u212aelvin", "kelvin", "SPAM", "Casino99", "followers"}
	pfLinks    = []string{"bit.ly", "x.phish.example", "phish.example", "ok.example"}
	pfTags     = []string{"spam", "news", "art"}
	pfRegexes  = []string{`(?i)spam`, `(?i)(buy|sell)\s+now`, `casino\d+`, `(?i)\b(viagra|casino|crypto)\b`, `^$`, `x*`, `(?i)kelvin`, `https?://bit\.ly/\w+`, `(?i)(free|cheap)\s+(followers|likes)`, `SPAM|Spam`, `[a-z]+\d`}
	pfExprs    = []string{"size(mentions) > 1", "attachments > 0 && mentions.exists(m, m.endsWith(\"/2\"))", "content.contains(\"free\")", "!known_actor || local_followers > 0"}
	pfMedia    = []string{"image/*", "video/mp4", "*/*", "image/png", "audio/*"}
	pfLangs    = []string{"en", "de", "en-gb"}
	pfActions  = []string{"report", "sensitive", "quarantine", "silence", "delist", "cw", "reject", "accept"}
	pfFields   = []string{"[content]", "[summary]", "[content, summary, name]"}
	pfKeywords = []string{"spam", "buy now", "casino", "crypto", "\u017fpam", "kelvin", "free followers", "hello world"}
)

func pick[T any](r *rand.Rand, l []T) T { return l[r.IntN(len(l))] }

func pickN(r *rand.Rand, l []string, n int) string {
	var out []string
	for range 1 + r.IntN(n) {
		out = append(out, fmt.Sprintf("%q", pick(r, l)))
	}
	return "[" + strings.Join(out, ", ") + "]"
}

// randomConds writes one to three random conditions as a YAML flow map.
func randomConds(r *rand.Rand) string {
	var conds []string
	used := map[int]bool{}
	for range 1 + r.IntN(3) {
		k := r.IntN(14)
		if used[k] {
			continue
		}
		used[k] = true
		switch k {
		case 0:
			conds = append(conds, "type: "+pickN(r, pfTypes, 2))
		case 1:
			hosts := append(slices.Clone(pfHosts), "*.b.example")
			conds = append(conds, "domain: "+pickN(r, hosts, 2))
		case 2:
			conds = append(conds, fmt.Sprintf("actor: %q", "https://"+pick(r, pfHosts)+"/u/x"))
		case 3:
			conds = append(conds, "keywords: "+pickN(r, pfKeywords, 3))
			if r.IntN(2) == 0 {
				conds = append(conds, "fields: "+pick(r, pfFields))
				used[4] = true // fields once
			}
		case 4:
			conds = append(conds, "regex: '"+pick(r, pfRegexes)+"'")
			if !used[3] && r.IntN(2) == 0 {
				conds = append(conds, "fields: "+pick(r, pfFields))
				used[3] = true
			}
		case 5:
			conds = append(conds, "link_domains: "+pickN(r, append(slices.Clone(pfLinks), "*.phish.example"), 2))
		case 6:
			conds = append(conds, "hashtags: "+pickN(r, pfTags, 2))
		case 7:
			conds = append(conds, "media_types: "+pickN(r, pfMedia, 2))
		case 8:
			conds = append(conds, "language: "+pickN(r, pfLangs, 2))
		case 9:
			conds = append(conds, fmt.Sprintf("mentions: \">= %d\"", r.IntN(3)))
		case 10:
			conds = append(conds, "object_type: "+pickN(r, []string{"Note", "Question"}, 1))
		case 11:
			conds = append(conds, "first_seen: \"< 1h\"")
		case 12:
			conds = append(conds, "visibility: "+pick(r, []string{"public", "direct"}))
		case 13:
			conds = append(conds, fmt.Sprintf("known_actor: %v", r.IntN(2) == 0))
		}
	}
	return "{" + strings.Join(conds, ", ") + "}"
}

func randomRuleFile(r *rand.Rand, n int) []byte {
	var b strings.Builder
	b.WriteString("rules:\n")
	for i := range n {
		fmt.Fprintf(&b, "  - id: r%d\n    match: %s\n", i, randomConds(r))
		if r.IntN(5) == 0 {
			fmt.Fprintf(&b, "    unless: %s\n", randomConds(r))
		}
		if r.IntN(6) == 0 {
			fmt.Fprintf(&b, "    expr: '%s'\n", pick(r, pfExprs))
		}
		a := pick(r, pfActions)
		if a == "reject" || a == "accept" {
			if r.IntN(4) != 0 {
				a = "report" // keep most chains going to the end
			}
		}
		fmt.Fprintf(&b, "    action: %s\n", a)
		if a == "cw" {
			b.WriteString("    cw: x\n")
		}
		if r.IntN(10) == 0 {
			b.WriteString("    shadow: true\n")
		}
	}
	return []byte(b.String())
}

func randomActivity(r *rand.Rand) []byte {
	host := pick(r, pfHosts)
	var text []string
	for range r.IntN(12) {
		switch r.IntN(6) {
		case 0:
			l := pick(r, pfLinks)
			text = append(text, fmt.Sprintf(`<a href=\"https://%s/p/1\">%s</a>`, l, l))
		case 1:
			text = append(text, "<p>")
		default:
			text = append(text, pick(r, pfWords))
		}
	}
	var tags []string
	for range r.IntN(4) {
		if r.IntN(2) == 0 {
			tags = append(tags, fmt.Sprintf(`{"type":"Hashtag","name":"#%s"}`, pick(r, pfTags)))
		} else {
			tags = append(tags, fmt.Sprintf(`{"type":"Mention","href":"https://c.example/u/%d"}`, r.IntN(3)))
		}
	}
	var att []string
	for range r.IntN(3) {
		if r.IntN(3) == 0 {
			// Type only: known as "image/*" or "video/*".
			att = append(att, fmt.Sprintf(`{"type":%q}`, pick(r, []string{"Image", "Video"})))
			continue
		}
		att = append(att, fmt.Sprintf(`{"type":"Document","mediaType":%q}`, pick(r, []string{"image/png", "video/mp4", "audio/ogg", "Image/JPEG"})))
	}
	summary := ""
	if r.IntN(3) == 0 {
		summary = pick(r, pfWords) + " " + pick(r, pfWords)
	}
	lang := ""
	if r.IntN(2) == 0 {
		lang = fmt.Sprintf(`,"contentMap":{%q:"x"}`, pick(r, pfLangs))
	}
	to := `"https://www.w3.org/ns/activitystreams#Public"`
	if r.IntN(3) == 0 {
		to = `"https://c.example/u/1"`
	}
	return fmt.Appendf(nil, `{"type":%q,"actor":"https://%s/u/x","object":{"type":%q,"to":[%s],"content":"%s","summary":%q,"tag":[%s],"attachment":[%s]%s}}`,
		pick(r, pfTypes), host, pick(r, []string{"Note", "Question"}), to, strings.Join(text, " "), summary, strings.Join(tags, ","), strings.Join(att, ","), lang)
}

// TestPrefilterMatchesChain: on random rule sets and activities, the
// prefiltered chain (Evaluate) selects exactly the rules the naive chain
// does, every condition of every rule run in order (as explanations do),
// and each rule the prefilter passes over is one whose conditions fail.
func TestPrefilterMatchesChain(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	facts := &scriptFacts{firstSeen: map[string]time.Time{}, published: map[string]time.Time{}, followers: map[string]int{}, profile: map[string][2]string{}}
	facts.firstSeen["https://a.example/u/x"] = now.Add(-time.Minute)
	facts.firstSeen["https://c.example/u/x"] = now.Add(-48 * time.Hour)
	facts.followers["https://c.example/u/x"] = 1
	checked, matched := 0, 0
	for set := range 150 {
		data := randomRuleFile(r, 1+r.IntN(80))
		s, err := Compile(Source{RuleFiles: []RuleFile{{Name: "random.yaml", Data: data}}})
		if err != nil {
			t.Fatalf("rule set %d: %v\n%s", set, err, data)
		}
		for range 15 {
			raw := randomActivity(r)
			fresh := func() *Input { return &Input{Raw: raw, Facts: facts, Now: now} }

			got := s.Evaluate(fresh())
			want := s.explain(fresh(), nil).Decision
			if got.String() != want.String() || !slices.Equal(got.RuleIDs(), want.RuleIDs()) || fmt.Sprint(got.Shadow) != fmt.Sprint(want.Shadow) || got.CW != want.CW {
				t.Fatalf("rule set %d, activity %s:\nprefiltered %v %v shadow %v\nnaive       %v %v shadow %v\nrules:\n%s", set, raw, got.String(), got.RuleIDs(), got.Shadow, want.String(), want.RuleIDs(), want.Shadow, data)
			}

			// Rule by rule, without the chain's early stops. host() fills
			// Actor from Raw first, as decide does.
			in := fresh()
			in.host()
			in.bindIndex(s.idx)
			s.pre.start(in, &in.pf)
			pre := make([]bool, len(s.rules))
			for i := 0; ; i++ {
				if i = s.pre.next(in, &in.pf, i, false, false); i >= len(s.rules) {
					break
				}
				pre[i] = s.rules[i].matchRest(in)
			}
			naive := fresh()
			naive.host()
			naive.bindIndex(s.idx)
			for i, rl := range s.rules {
				w := rl.match(naive)
				checked++
				if w {
					matched++
				}
				if pre[i] != w {
					t.Fatalf("rule set %d, rule %s, activity %s: prefiltered %v, naive %v\nrules:\n%s", set, rl.id, raw, pre[i], w, data)
				}
			}
		}
	}
	if matched == 0 || matched == checked {
		t.Fatalf("%d of %d rule checks matched: the random sets test nothing", matched, checked)
	}
	t.Logf("%d rule checks, %d matched", checked, matched)
}

// TestRequiredLiterals: the literal filter of a regex is a necessary
// condition: whenever the regex matches a text, the filter allows it.
func TestRequiredLiterals(t *testing.T) {
	cases := []struct {
		re   string
		lits []string
		fold bool
	}{
		{`(?i)whatsapp\s*\+?\d{6,}`, []string{"whatsapp"}, true},
		{`(?i)\b(viagra|cialis)\b`, []string{"viagra", "cialis"}, true},
		{`(?i)(free|cheap)\s+(followers|likes)`, []string{"followers", "likes"}, true},
		{`https?://(bit\.ly|t\.co)/x`, []string{"http"}, false},
		{`casino\d+`, []string{"casino"}, false},
		{`a|bcd`, nil, false},
		{`(?i)é+tude`, []string{"tude"}, true},
		{`x*`, nil, false},
		{`(?i)abc|def`, []string{"abc", "def"}, true},
		{`(?i:abc)|DEF`, nil, false},
	}
	for _, c := range cases {
		re := mustRegex(t, c.re)
		lits, fold, ok := requiredLiterals(re)
		if !ok {
			lits = nil
		}
		if !slices.Equal(lits, c.lits) || ok && fold != c.fold {
			t.Errorf("%s: literals %q fold %v, want %q fold %v", c.re, lits, fold, c.lits, c.fold)
		}
	}
}

func mustRegex(t *testing.T, s string) *syntax.Regexp {
	t.Helper()
	re, err := syntax.Parse(s, syntax.Perl)
	if err != nil {
		t.Fatal(err)
	}
	return re.Simplify()
}

// TestRegexFilterIsNecessary: a regex condition, literal filter and all,
// matches exactly when the regex matches the text, on random texts with
// the folding traps (U+017F and U+212A against (?i)s and (?i)k).
func TestRegexFilterIsNecessary(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	words := append(slices.Clone(pfWords), "whatsapp 1234567", "WhatsApp", "what\u017fapp", "vi\u212aagra", "viagra", "ca\u017fino7", "bit.ly/x", "http://bit.ly/abc", "FREE likes", "cheap  FOLLOWERS")
	regexes := append(slices.Clone(pfRegexes), `(?i)whatsapp\s*\d{6,}`, `(?i)\b(viagra|cialis)\b`, `(?i)casino\d`, `(?i)KiK`, `(?i)ask`)
	for _, src := range regexes {
		re := regexp.MustCompile(src)
		c := condRegex(re, 1<<fieldContent)
		for range 300 {
			var ws []string
			for range r.IntN(5) {
				ws = append(ws, pick(r, words))
			}
			text := strings.Join(ws, " ")
			in := &Input{Raw: fmt.Appendf(nil, `{"type":"Create","object":{"type":"Note","content":%q}}`, text)}
			if got, want := c.match(in), re.MatchString(in.rawText(fieldContent)); got != want {
				t.Fatalf("%s on %q: condition %v, regexp %v", src, text, got, want)
			}
		}
	}
}

// TestContentStrippedInPlace: the content's text is written over its
// decoding buffer; link domains read from tags earlier in that buffer must
// survive the text written over them later.
func TestContentStrippedInPlace(t *testing.T) {
	var html strings.Builder
	var want []string
	for i := range 20 {
		fmt.Fprintf(&html, `<p>para %d with a <a href=\"https://host%d.example/x?q=1\" class=\"\">link</a> and \u003cb\u003ebold\u003c/b\u003e text that is long enough to overwrite what came before it</p>`, i, i)
		want = append(want, fmt.Sprintf("host%d.example", i))
	}
	raw := []byte(`{"type":"Create","actor":"https://a.example/u/x","object":{"type":"Note","content":"` + html.String() + `"}}`)
	in, err := InputFromActivity(raw, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := in.Content()
	if !slices.Equal(c.LinkDomains, want) {
		t.Fatalf("link domains %q, want %q", c.LinkDomains, want)
	}
	if !strings.HasPrefix(c.Content, "para 0 with a link and bold text") || !strings.HasSuffix(c.Content, "para 19 with a link and bold text that is long enough to overwrite what came before it") || strings.Contains(c.Content, "<") {
		t.Fatalf("content %q", c.Content)
	}
}

// TestPrefilterAcrossSnapshots: an Input evaluated on a large snapshot and
// then on a smaller one (a reload in between) sees only the second's rules.
func TestPrefilterAcrossSnapshots(t *testing.T) {
	rules := func(n int, action string) *Snapshot {
		var b strings.Builder
		b.WriteString("rules:\n")
		for i := range n {
			fmt.Fprintf(&b, "  - id: r%d\n    match: {type: Create}\n    action: %s\n", i, action)
		}
		return mustCompile(t, Source{RuleFiles: []RuleFile{{Name: "r.yaml", Data: []byte(b.String())}}})
	}
	in := note("https://a.example/u/x", "hello")
	if d := rules(450, "report").Evaluate(in); len(d.Fired) != 450 {
		t.Fatalf("first snapshot: %d rules fired, want 450", len(d.Fired))
	}
	if d := rules(300, "delist").Evaluate(in); len(d.Fired) != 300 || d.Action != Delist {
		t.Fatalf("second snapshot: %d rules fired (%s), want 300 delist", len(d.Fired), d.String())
	}
	if d := rules(3, "sensitive").Evaluate(in); len(d.Fired) != 3 || d.Action != Sensitive {
		t.Fatalf("third snapshot: %d rules fired (%s), want 3 sensitive", len(d.Fired), d.String())
	}
}
