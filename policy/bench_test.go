package policy

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// typicalNote is a Mastodon Create(Note) as it arrives: a reply with one
// mention, a hashtag, a link, an image, public addressing.
const typicalNote = `{"@context":["https://www.w3.org/ns/activitystreams",{"ostatus":"http://ostatus.org#","atomUri":"ostatus:atomUri","inReplyToAtomUri":"ostatus:inReplyToAtomUri","conversation":"ostatus:conversation","sensitive":"as:sensitive","toot":"http://joinmastodon.org/ns#","votersCount":"toot:votersCount","Hashtag":"as:Hashtag"}],` +
	`"id":"https://mastodon.example/users/alice/statuses/113456789012345678/activity","type":"Create","actor":"https://mastodon.example/users/alice","published":"2026-01-01T10:00:00Z",` +
	`"to":["https://www.w3.org/ns/activitystreams#Public"],"cc":["https://mastodon.example/users/alice/followers","https://other.example/users/bob"],` +
	`"object":{"id":"https://mastodon.example/users/alice/statuses/113456789012345678","type":"Note","summary":null,"inReplyTo":"https://other.example/users/bob/statuses/1","published":"2026-01-01T10:00:00Z","url":"https://mastodon.example/@alice/113456789012345678","attributedTo":"https://mastodon.example/users/alice",` +
	`"to":["https://www.w3.org/ns/activitystreams#Public"],"cc":["https://mastodon.example/users/alice/followers","https://other.example/users/bob"],"sensitive":false,"atomUri":"https://mastodon.example/users/alice/statuses/113456789012345678","conversation":"tag:other.example,2026-01-01:objectId=1:objectType=Conversation",` +
	`"content":"\u003cp\u003e\u003cspan class=\"h-card\" translate=\"no\"\u003e\u003ca href=\"https://other.example/@bob\" class=\"u-url mention\"\u003e@\u003cspan\u003ebob\u003c/span\u003e\u003c/a\u003e\u003c/span\u003e I agree, the new release is great. Release notes: \u003ca href=\"https://blog.project.example/releases/2026\" target=\"_blank\" rel=\"nofollow noopener\"\u003e\u003cspan class=\"invisible\"\u003ehttps://\u003c/span\u003e\u003cspan class=\"\"\u003eblog.project.example/releases/2026\u003c/span\u003e\u003c/a\u003e \u003ca href=\"https://mastodon.example/tags/opensource\" class=\"mention hashtag\" rel=\"tag\"\u003e#\u003cspan\u003eopensource\u003c/span\u003e\u003c/a\u003e\u003c/p\u003e",` +
	`"contentMap":{"en":"\u003cp\u003eI agree, the new release is great.\u003c/p\u003e"},` +
	`"attachment":[{"type":"Document","mediaType":"image/jpeg","url":"https://files.mastodon.example/media/1.jpg","name":"A screenshot of the release page","blurhash":"UBL_:rOpGG-;","width":1200,"height":800}],` +
	`"tag":[{"type":"Mention","href":"https://other.example/users/bob","name":"@bob@other.example"},{"type":"Hashtag","href":"https://mastodon.example/tags/opensource","name":"#opensource"}],` +
	`"replies":{"id":"https://mastodon.example/users/alice/statuses/113456789012345678/replies","type":"Collection","first":{"type":"CollectionPage","next":"https://mastodon.example/users/alice/statuses/113456789012345678/replies?only_other_accounts=true\u0026page=true","partOf":"https://mastodon.example/users/alice/statuses/113456789012345678/replies","items":[]}}}}`

// benchFacts answers like a warm cache.
type benchFacts struct{ seen time.Time }

func (f benchFacts) FirstSeen(string) (time.Time, bool)      { return f.seen, true }
func (f benchFacts) ActorPublished(string) (time.Time, bool) { return f.seen, true }
func (f benchFacts) LocalFollowers(string) int               { return 2 }

func benchDomains(n int) []DomainEntry {
	sev := []Severity{SeveritySuspend, SeveritySilence, SeverityNoop}
	out := make([]DomainEntry, n)
	for i := range out {
		out[i] = DomainEntry{Domain: fmt.Sprintf("host%d.blocked%d.example", i, i%97), Severity: sev[i%3], RejectMedia: i%5 == 0, Source: "bench"}
	}
	return out
}

// benchRules writes n rules in the mix an admin with a large chain has:
// mostly cheap type/domain/count conditions, keyword lists, some regexes
// (each with its own literals, some alternations), some expressions (most
// in the native subset, a few needing the CEL interpreter) and a few rate
// limits.
func benchRules(n int) []byte {
	var b strings.Builder
	b.WriteString("rules:\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "  - id: r%d\n", i)
		switch i % 10 {
		case 0:
			fmt.Fprintf(&b, "    match: {type: Create, mentions: \">= %d\"}\n    action: reject\n", 10+i)
		case 1:
			fmt.Fprintf(&b, "    match: {domain: [\"*.spam%d.example\", bad%d.example]}\n    action: silence\n", i, i)
		case 2:
			fmt.Fprintf(&b, "    match: {type: Create, keywords: [spamword%d, \"buy now %d\", casino%d, crypto%d, giveaway%d, pills%d]}\n    action: quarantine\n", i, i, i, i, i, i)
		case 3:
			// Spam patterns as admins write them: each its own literals,
			// some alternations with no single required literal.
			re := []string{
				`(?i)whatsapp\s*\+?%d{6,}`,
				`(?i)\b(viagra|cialis|levitra)%d\b`,
				`(?i)telegram\s*:?\s*@[a-z0-9_]{5,}%d`,
				`https?://(bit\.ly|tinyurl\.com|t\.co)/spam%d`,
				`(?i)(free|cheap)\s+(followers|likes)\s+%d`,
			}[i/10%5]
			fmt.Fprintf(&b, "    match: {type: Create, regex: '"+re+"'}\n    action: reject\n", i)
		case 4:
			fmt.Fprintf(&b, "    match: {link_domains: [scam%d.example, \"*.phish%d.example\"]}\n    action: reject\n", i, i)
		case 5:
			fmt.Fprintf(&b, "    match: {type: Create, first_seen: \"< 1h\", followed_by_local: false, attachments: \">= 1\"}\n    action: sensitive\n")
		case 6:
			switch {
			case i%100 == 26:
				// Needs the CEL interpreter on every Create.
				fmt.Fprintf(&b, "    match: {type: Create}\n    expr: 'mentions.exists(m, m.startsWith(\"https://spam%d.example/\"))'\n    action: report\n", i)
			case i%50 == 6:
				// Needs CEL, behind a cheap count.
				fmt.Fprintf(&b, "    match: {type: Create}\n    expr: 'size(mentions) > 3 && mentions.exists(m, m.endsWith(\"/users/spam%d\"))'\n    action: report\n", i)
			default:
				fmt.Fprintf(&b, "    match: {type: Create}\n    expr: 'size(mentions) > %d && size(link_domains) > 0'\n    action: report\n", 5+i)
			}
		case 7:
			fmt.Fprintf(&b, "    match: {hashtags: [tag%d, other%d], language: [xx]}\n    action: cw\n    cw: \"tag %d\"\n", i, i, i)
		case 8:
			fmt.Fprintf(&b, "    match: {type: Announce, actor: \"https://relay%d.example/actor\"}\n    action: reject\n", i)
		case 9:
			if i%50 == 9 {
				fmt.Fprintf(&b, "    match: {type: Create}\n    rate: {per: actor, limit: 1000000, window: 1s}\n")
			} else {
				fmt.Fprintf(&b, "    match: {media_types: [\"video/x-%d\"], visibility: direct}\n    action: quarantine\n", i)
			}
		}
	}
	return []byte(b.String())
}

func benchSnapshot(b testing.TB, domains, rules int) *Snapshot {
	s, err := Compile(Source{Domains: benchDomains(domains), RuleFiles: []RuleFile{{Name: "bench.yaml", Data: benchRules(rules)}}})
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkEvaluateCreateNote is the headline number: a typical
// Create(Note) through 1,000 domain entries and 200 content rules, parse
// included. Target: under 20 µs.
func BenchmarkEvaluateCreateNote(b *testing.B) {
	for _, validated := range []bool{false, true} {
		name := "raw"
		if validated {
			// As the ingress calls it: its envelope parser has validated
			// the whole document already.
			name = "ingress-validated"
		}
		b.Run(name, func(b *testing.B) { benchEvaluateCreateNote(b, validated) })
	}
}

func benchEvaluateCreateNote(b *testing.B, validated bool) {
	e := NewEngine(benchSnapshot(b, 1000, 200))
	raw := []byte(typicalNote)
	facts := benchFacts{seen: time.Now().Add(-30 * 24 * time.Hour)}
	b.ReportAllocs()
	for b.Loop() {
		in := Input{ID: "https://mastodon.example/users/alice/statuses/113456789012345678/activity", Type: "Create",
			Actor: "https://mastodon.example/users/alice", Raw: raw, Facts: facts, Validated: validated}
		d := e.Evaluate(&in)
		if d.Action != Accept {
			b.Fatalf("decision %v %v", d.String(), d.Fired)
		}
	}
}

// BenchmarkEvaluateDomainOnly is a policy of domain rules only: the content
// is never parsed.
func BenchmarkEvaluateDomainOnly(b *testing.B) {
	rules := []byte("rules:\n  - id: relay-spam\n    match: {type: Announce, domain: relay.example}\n    action: reject\n")
	s, err := Compile(Source{Domains: benchDomains(1000), RuleFiles: []RuleFile{{Name: "r.yaml", Data: rules}}})
	if err != nil {
		b.Fatal(err)
	}
	e := NewEngine(s)
	raw := []byte(typicalNote)
	b.ReportAllocs()
	for b.Loop() {
		in := Input{Type: "Create", Actor: "https://mastodon.example/users/alice", Raw: raw}
		e.Evaluate(&in)
		if in.state&stParsed != 0 {
			b.Fatal("domain-only policy parsed the content")
		}
	}
}

// BenchmarkInputFromActivity is the parse alone.
func BenchmarkInputFromActivity(b *testing.B) {
	raw := []byte(typicalNote)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := InputFromActivity(raw, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGate100k is the domain gate on a 100,000-entry table, for a
// mix of hosts: blocked, subdomains of blocked, unknown. Target: under 1 µs.
func BenchmarkGate100k(b *testing.B) {
	s, err := Compile(Source{Domains: benchDomains(100_000)})
	if err != nil {
		b.Fatal(err)
	}
	hosts := []string{"host777.blocked1.example", "a.b.host5000.blocked53.example", "mastodon.social", "Host99999.Blocked91.Example", "files.cdn.unknown.example"}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		s.Gate(hosts[i%len(hosts)])
		i++
	}
}

// BenchmarkCompile100k is a hot reload of 100,000 domains. Target: under 1 s.
func BenchmarkCompile100k(b *testing.B) {
	src := Source{Domains: benchDomains(100_000), RuleFiles: []RuleFile{{Name: "bench.yaml", Data: benchRules(200)}}}
	e := NewEngine(nil)
	b.ReportAllocs()
	for b.Loop() {
		if err := e.Reload(src); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEvaluateDuringReload evaluates in parallel while another
// goroutine reloads 100,000 domains in a loop: Evaluate never waits on a
// reload, so its time stays near BenchmarkEvaluateCreateNote's.
func BenchmarkEvaluateDuringReload(b *testing.B) {
	e := NewEngine(benchSnapshot(b, 1000, 200))
	src := Source{Domains: benchDomains(100_000), RuleFiles: []RuleFile{{Name: "bench.yaml", Data: benchRules(200)}}}
	stop := make(chan struct{})
	var reloads atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := e.Reload(src); err != nil {
				panic(err)
			}
			reloads.Add(1)
		}
	}()
	raw := []byte(typicalNote)
	facts := benchFacts{seen: time.Now().Add(-30 * 24 * time.Hour)}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			in := Input{Type: "Create", Actor: "https://mastodon.example/users/alice", Raw: raw, Facts: facts}
			e.Evaluate(&in)
		}
	})
	b.StopTimer()
	close(stop)
	wg.Wait()
	b.ReportMetric(float64(reloads.Load()), "reloads")
}
