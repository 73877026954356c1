package policy

import (
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/palisade-fedi/palisade/rules"
	"github.com/prometheus/client_golang/prometheus"
)

func mustCompile(t testing.TB, src Source) *Snapshot {
	t.Helper()
	s, err := Compile(src)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func note(actor, content string) *Input {
	raw := `{"type":"Create","actor":"` + actor + `","object":{"type":"Note","content":"` + content + `","to":["https://www.w3.org/ns/activitystreams#Public"]}}`
	return &Input{Raw: []byte(raw), Now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
}

// An invalid rule file never replaces a working policy, and the error
// names the file, the line and the problem.
func TestReloadKeepsWorkingSnapshot(t *testing.T) {
	good := Source{RuleFiles: []RuleFile{{Name: "rules/spam.yaml", Data: []byte("rules:\n  - id: no-casino\n    match: {keywords: casino}\n    action: reject\n")}}}
	e := NewEngine(mustCompile(t, good))
	before := e.Current()
	bad := Source{RuleFiles: []RuleFile{{Name: "rules/spam.yaml", Data: []byte("rules:\n  - id: no-casino\n    match: {keywords: casino}\n    action: rejct\n")}}}
	err := e.Reload(bad)
	if err == nil {
		t.Fatal("Reload accepted an unknown action")
	}
	want := `rules/spam.yaml:4: unknown action "rejct" (want one of accept, reject, silence,`
	if !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("error %q, want prefix %q", err, want)
	}
	var le *LoadError
	if !errors.As(err, &le) || le.File != "rules/spam.yaml" || le.Line != 4 {
		t.Fatalf("error is not a LoadError at rules/spam.yaml:4: %#v", err)
	}
	if e.Current() != before {
		t.Fatal("a failed Reload replaced the snapshot")
	}
	if d := e.Evaluate(note("https://a.example/u/x", "best casino")); d.Action != Reject {
		t.Fatalf("working rules no longer apply: %s", d.String())
	}
}

// Evaluate keeps answering, with one snapshot or the other and never a
// mixture, while another goroutine swaps policies as fast as it can.
func TestEvaluateDuringSwap(t *testing.T) {
	blocking := mustCompile(t, Source{Domains: []DomainEntry{{Domain: "a.example", Severity: SeveritySuspend}}})
	open := mustCompile(t, Source{Domains: []DomainEntry{{Domain: "a.example", Severity: SeveritySilence}}})
	e := NewEngine(blocking)
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; !stop.Load(); i++ {
			if i%2 == 0 {
				e.Swap(open)
			} else {
				e.Swap(blocking)
			}
		}
	}()
	seen := map[Action]int{}
	for i := 0; i < 20000; i++ {
		d := e.Evaluate(note("https://a.example/u/x", "hi"))
		seen[d.Action]++
		if d.Action != Reject && d.Action != Silence {
			t.Fatalf("decision %s from neither snapshot", d.String())
		}
	}
	stop.Store(true)
	wg.Wait()
	if len(seen) == 0 {
		t.Fatal("no decisions")
	}
}

// The gate must not allocate: it runs before any other ingress work.
func TestGateDoesNotAllocate(t *testing.T) {
	s := mustCompile(t, Source{Domains: benchDomains(10000)})
	for _, h := range []string{"host1.blocked1.example", "A.B.Host2.Blocked2.Example", "unknown.example", "x.example:8443"} {
		allocs := testing.AllocsPerRun(100, func() { s.Gate(h) })
		if allocs != 0 {
			t.Errorf("Gate(%q) allocates %.0f times", h, allocs)
		}
	}
	// Obfuscated entries are looked up by digest, still without allocating.
	s = mustCompile(t, Source{Domains: []DomainEntry{{Domain: "h****n.example", Digest: DomainDigest("hidden.example"), Severity: SeveritySuspend}}})
	if allocs := testing.AllocsPerRun(100, func() { s.Gate("sub.hidden.example") }); allocs != 0 {
		t.Errorf("digest Gate allocates %.0f times", allocs)
	}
	if !s.Gate("sub.hidden.example").Refuse {
		t.Error("digest entry does not refuse its subdomain")
	}
}

// A policy of domain and envelope rules decides without parsing content.
func TestCheapRulesDoNotParse(t *testing.T) {
	s := mustCompile(t, Source{
		Domains:   []DomainEntry{{Domain: "loud.example", Severity: SeveritySilence}},
		RuleFiles: []RuleFile{{Name: "r.yaml", Data: []byte("rules:\n  - id: relays\n    match: {type: Announce, domain: relay.example}\n    action: reject\n  - id: e\n    expr: 'type == \"Like\" && domain == \"x.example\"'\n    action: report\n")}},
	})
	e := NewEngine(s)
	in := &Input{Type: "Create", Actor: "https://loud.example/users/a", Raw: []byte(`{"not": "parsed"`)}
	d := e.Evaluate(in)
	if d.Action != Silence {
		t.Fatalf("decision %s, want silence", d.String())
	}
	if in.state&stParsed != 0 {
		t.Fatal("content was parsed for a policy that needs none")
	}
}

// A costly expression stops at the cost limit and does not match, rather
// than holding up the pipeline.
func TestExpressionCostLimit(t *testing.T) {
	src := Source{RuleFiles: []RuleFile{{Name: "r.yaml", Data: []byte(`rules:
  - id: costly
    expr: 'mentions.all(a, mentions.all(b, mentions.all(c, a + b + c != "")))'
    action: reject
`)}}}
	s := mustCompile(t, src)
	var tags strings.Builder
	for i := 0; i < 300; i++ {
		if i > 0 {
			tags.WriteByte(',')
		}
		tags.WriteString(`{"type":"Mention","href":"https://b.example/u/` + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + `` + strings.Repeat("y", i) + `"}`)
	}
	in := &Input{Raw: []byte(`{"type":"Create","actor":"https://a.example/u/x","object":{"type":"Note","tag":[` + tags.String() + `]}}`)}
	ex := s.Explain(in)
	if ex.Decision.Action != Accept {
		t.Fatalf("costly expression decided %s", ex.Decision.String())
	}
	if why := ex.Rules[0].Why; !strings.Contains(why, "expr failed") || !strings.Contains(why, "cost") {
		t.Fatalf("explanation %q does not say the cost limit stopped the expression", why)
	}
}

func TestRecordRoundTripAndFilter(t *testing.T) {
	s := mustCompile(t, Source{
		Domains:   []DomainEntry{{Domain: "loud.example", Severity: SeveritySilence}},
		RuleFiles: []RuleFile{{Name: "r.yaml", Data: []byte("rules:\n  - id: casino\n    match: {keywords: casino}\n    action: quarantine\n    reason: gambling\n  - id: try\n    match: {keywords: casino}\n    action: reject\n    shadow: true\n")}},
	})
	in := note("https://sub.loud.example/users/a", "casino night")
	in.ID = "https://sub.loud.example/a/1"
	d := NewEngine(s).Evaluate(in)
	at := time.Date(2026, 3, 1, 12, 0, 0, 123, time.UTC)
	r := NewRecord(at, in, &d)
	b, err := r.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var got Record
	if err := got.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	if !got.At.Equal(at) || got.ActivityID != in.ID || got.Domain != "sub.loud.example" || got.Action != Quarantine ||
		strings.Join(got.Fired, ",") != "domain:loud.example,casino" || strings.Join(got.Reasons, ",") != "domain_silenced,gambling" ||
		strings.Join(got.Shadow, ",") != "try" || !got.Modifiers.Has(ModSilence|ModQuarantine) {
		t.Fatalf("round trip: %+v", got)
	}
	for _, c := range []struct {
		f    Filter
		want bool
	}{
		{Filter{}, true},
		{Filter{Domain: "loud.example"}, true},
		{Filter{Domain: "other.example"}, false},
		{Filter{Rule: "casino"}, true},
		{Filter{Rule: "try"}, true},
		{Filter{Rule: "nope"}, false},
		{Filter{Actions: []Action{Reject, Quarantine}}, true},
		{Filter{Actions: []Action{Reject}}, false},
		{Filter{Since: at.Add(-time.Hour)}, true},
		{Filter{Since: at.Add(time.Hour)}, false},
		{Filter{Until: at}, false},
	} {
		if got := c.f.Match(&got); got != c.want {
			t.Errorf("%+v.Match = %v, want %v", c.f, got, c.want)
		}
	}
	// Truncated and corrupt records are refused, never half-read.
	for i := 0; i < len(b); i++ {
		var r Record
		if err := r.UnmarshalBinary(b[:i]); err == nil {
			t.Fatalf("truncated record of %d bytes accepted", i)
		}
	}
}

func TestMetrics(t *testing.T) {
	s := mustCompile(t, Source{
		Domains:   []DomainEntry{{Domain: "bad.example", Severity: SeveritySuspend}},
		RuleFiles: []RuleFile{{Name: "r.yaml", Data: []byte("rules:\n  - id: casino\n    match: {keywords: casino}\n    action: quarantine\n  - id: try\n    match: {keywords: casino}\n    action: reject\n    shadow: true\n")}},
	})
	e := NewEngine(s, WithTopDomains(1))
	reg := prometheus.NewRegistry()
	reg.MustRegister(e.Collector())
	for i := 0; i < promoteAfter+10; i++ {
		e.Evaluate(note("https://busy.example/u/a", "casino"))
	}
	e.Evaluate(note("https://bad.example/u/a", "hi"))
	e.Evaluate(note("https://quiet.example/u/a", "hi"))
	got := gather(t, reg)
	want := `palisade_policy_decisions_total{action="accept",mode="enforce",rule="none"} 1
palisade_policy_decisions_total{action="quarantine",mode="enforce",rule="casino"} 110
palisade_policy_decisions_total{action="reject",mode="enforce",rule="domain_policy"} 1
palisade_policy_decisions_total{action="reject",mode="shadow",rule="try"} 110
palisade_policy_domain_decisions_total{action="accept",domain="other"} 1
palisade_policy_domain_decisions_total{action="quarantine",domain="busy.example"} 10
palisade_policy_domain_decisions_total{action="quarantine",domain="other"} 100
palisade_policy_domain_decisions_total{action="reject",domain="other"} 1
`
	// busy.example earned the one label after promoteAfter decisions; the
	// rest, including its first ones, are "other".
	if got != want {
		t.Fatalf("metrics:\n%s\nwant:\n%s", got, want)
	}
}

// gather renders the registry's counters as sorted "name{labels} value"
// lines.
func gather(t *testing.T, reg *prometheus.Registry) string {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, mf := range mfs {
		if mf.GetName() == "palisade_policy_rate_limited_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"=\""+l.GetValue()+"\"")
			}
			lines = append(lines, fmt.Sprintf("%s{%s} %g", mf.GetName(), strings.Join(labels, ","), m.GetCounter().GetValue()))
		}
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n") + "\n"
}

// Rate buckets are bounded: many distinct actors never grow the table
// past its limit.
func TestRateBucketsBounded(t *testing.T) {
	s := mustCompile(t, Source{RuleFiles: []RuleFile{{Name: "r.yaml", Data: []byte("rules:\n  - id: rate\n    match: {}\n    rate: {per: actor, limit: 5, window: 1h}\n")}}})
	e := NewEngine(s, WithMaxBuckets(1024))
	for i := 0; i < 20000; i++ {
		in := note("https://a.example/u/"+strings.Repeat("x", i%13)+time.Duration(i).String(), "hi")
		e.Evaluate(in)
	}
	if n := e.rl.size(); n > 1024 {
		t.Fatalf("%d buckets held, limit 1024", n)
	}
	// A busy actor is still limited.
	var last Decision
	for i := 0; i < 6; i++ {
		last = e.Evaluate(note("https://a.example/u/busy", "hi"))
	}
	if !last.RateLimited || last.RetryAfter <= 0 {
		t.Fatalf("sixth post within the hour: %s", last.String())
	}
}

// Every shipped pack compiles, together and in the documented order.
func TestPacksCompile(t *testing.T) {
	packs := rules.Packs()
	if len(packs) < 2 {
		t.Fatalf("packs: %v", packs)
	}
	var files []RuleFile
	names := map[string]bool{}
	for _, p := range packs {
		names[p.Name] = true
		if p.Description == "" {
			t.Errorf("%s has no description", p.Name)
		}
		data, err := fs.ReadFile(rules.FS, p.Name)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, RuleFile{Name: "pack:" + p.Name, Data: data})
	}
	if !names["baseline.yaml"] || !names["spam-wave.yaml"] {
		t.Fatalf("missing baseline.yaml or spam-wave.yaml: %v", names)
	}
	mustCompile(t, Source{RuleFiles: files})
}

func TestParseActionNames(t *testing.T) {
	for a := Accept; a < numActions; a++ {
		got, err := ParseAction(a.String())
		if err != nil || got != a {
			t.Errorf("ParseAction(%q) = %v, %v", a.String(), got, err)
		}
	}
	if _, err := ParseAction("rejct"); err == nil || !strings.Contains(err.Error(), "accept, reject, silence, delist, strip_media, sensitive, cw, followers_only, quarantine, report") {
		t.Errorf("error does not list the actions: %v", err)
	}
	// The documented precedence.
	order := []Action{Reject, Quarantine, Silence, FollowersOnly, Delist, StripMedia, Sensitive, CW, Report, Accept}
	for i := 0; i+1 < len(order); i++ {
		if !order[i].Stronger(order[i+1]) {
			t.Errorf("%s is not stronger than %s", order[i], order[i+1])
		}
	}
}

// Shadow rules keep the latest activities they would have hit.
func TestShadowSamples(t *testing.T) {
	s := mustCompile(t, Source{RuleFiles: []RuleFile{{Name: "r.yaml", Data: []byte("rules:\n  - id: trial\n    match: {keywords: casino}\n    action: reject\n    shadow: true\n")}}})
	e := NewEngine(s)
	for i := 0; i < 25; i++ {
		in := note("https://a.example/u/x", "casino")
		in.ID = fmt.Sprintf("https://a.example/a/%d", i)
		if d := e.Evaluate(in); d.Action != Accept || len(d.Shadow) != 1 {
			t.Fatalf("shadow rule changed the decision: %s %v", d.String(), d.Shadow)
		}
	}
	e.Evaluate(note("https://a.example/u/x", "nothing to see"))
	got := e.ShadowSamples("trial")
	if len(got) != shadowSamplesPerRule || got[0].ActivityID != "https://a.example/a/24" || got[len(got)-1].ActivityID != "https://a.example/a/5" {
		t.Fatalf("samples: %d, newest %q", len(got), got[0].ActivityID)
	}
	if e.ShadowSamples("other") != nil {
		t.Fatal("samples for a rule that never fired")
	}
}

// The early rate check charges envelope-only rate rules once, and leaves
// content-dependent ones to Evaluate.
func TestRateLimitEarly(t *testing.T) {
	s := mustCompile(t, Source{RuleFiles: []RuleFile{{Name: "r.yaml", Data: []byte(`rules:
  - id: per-actor
    match: {type: Create}
    rate: {per: actor, limit: 2, window: 1h}
  - id: links
    match: {links: ">= 1"}
    rate: {per: actor, limit: 1, window: 1h}
`)}}})
	e := NewEngine(s)
	for i := 0; i < 2; i++ {
		in := note("https://a.example/u/x", "hi")
		in.Type = "Create"
		in.Actor = "https://a.example/u/x"
		if limited, _, _ := e.RateLimit(in); limited {
			t.Fatalf("post %d limited early", i)
		}
		if in.state&stParsed != 0 {
			t.Fatal("early rate check parsed the content")
		}
		if d := e.Evaluate(in); d.RateLimited {
			t.Fatalf("post %d limited by Evaluate: token taken twice? %v", i, d.Fired)
		}
	}
	in := note("https://a.example/u/x", "hi")
	in.Type, in.Actor = "Create", "https://a.example/u/x"
	limited, retry, id := e.RateLimit(in)
	if !limited || id != "per-actor" || retry < time.Second {
		t.Fatalf("third post: limited=%v retry=%s rule=%q", limited, retry, id)
	}
}

// Many goroutines evaluate content rules on one snapshot while it is
// reloaded: run with -race, this finds shared mutable state.
func TestConcurrentEvaluate(t *testing.T) {
	e := NewEngine(benchSnapshot(t, 100, 200))
	src := Source{Domains: benchDomains(100), RuleFiles: []RuleFile{{Name: "bench.yaml", Data: benchRules(200)}}}
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				in := &Input{Type: "Create", Actor: "https://mastodon.example/users/alice", Raw: []byte(typicalNote), Facts: benchFacts{seen: time.Now()}}
				if d := e.Evaluate(in); d.Action != Accept && d.Action != Sensitive {
					t.Errorf("decision %s %v", d.String(), d.Fired)
					return
				}
				e.Explain(in)
			}
		}()
	}
	for i := 0; i < 3; i++ {
		if err := e.Reload(src); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
}
