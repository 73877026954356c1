package policy

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestNativeMatchesCEL: every expression the native compiler accepts gives
// CEL's answer on a spread of activities and facts.
func TestNativeMatchesCEL(t *testing.T) {
	exprs := []string{
		"size(mentions) > 5 && attachments > 0",
		"mentions.size() >= 1 || size(link_domains) == 0",
		"!(recipients < 3) && local_followers != 0",
		"first_seen_age < duration(\"24h\") && !known_actor",
		"published_known && published_age >= duration(\"168h\")",
		"type == \"Create\" && domain != \"a.example\"",
		"object_type == \"Note\" || visibility == \"direct\"",
		"sensitive == true || size(hashtags) > 2 && size(media_types) <= 1 || size(languages) == 1",
		"actor == \"https://a.example/u/x\"",
		"true && !false",
		"content.contains(\"x\")",
		"mentions.exists(m, m.startsWith(\"https://b\"))",
		"mentions.exists(content, content.endsWith(\"/3\")) && content.contains(\"\")",
		"hashtags.all(h, h != \"b\" && !h.startsWith(\"zz\"))",
		"summary.startsWith(\"a\") || name.endsWith(\"b\") || id.contains(\"x\") || object_id != \"\"",
		"link_domains.exists(d, d.endsWith(\".example\")) || media_types.all(t, t.startsWith(\"image/\"))",
		"languages.exists(l, l == \"de\")",
	}
	// Not in the subset: these must run on CEL.
	celOnly := []string{
		"mentions.exists_one(m, m.startsWith(\"https://b\"))",
		"mentions.exists(m, hashtags.exists(h, h == m))",
		"mentions.map(m, m + \"x\").size() > 0",
		"attachments + 1 > 2",
		"link_domains.exists(d, d.contains(domain))", // can pass the cost limit even when small
		"size(content) > 3",
	}
	env, err := newExprEnv()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	type factsCase struct {
		seen, pub       time.Duration
		hasSeen, hasPub bool
		followers       int
	}
	facts := []factsCase{{}, {seen: time.Hour, hasSeen: true}, {seen: 48 * time.Hour, hasSeen: true, pub: 200 * time.Hour, hasPub: true, followers: 2}}
	activities := []string{
		typicalNote,
		`{"type":"Create","actor":"https://a.example/u/x","object":{"type":"Note","sensitive":true,"to":["https://b.example/u/1"],"tag":[{"type":"Hashtag","name":"#a"},{"type":"Hashtag","name":"#b"},{"type":"Hashtag","name":"#c"}]}}`,
		`{"type":"Announce","actor":"https://c.example/u/y","object":"https://d.example/n/1","to":["https://c.example/u/y/followers"]}`,
		`{"type":"Create","actor":"https://e.example/u/z","object":{"type":"Question","contentMap":{"de":"x"},"attachment":[{"type":"Image"},{"type":"Video"}],"tag":[{"type":"Mention","href":"https://b/1"},{"type":"Mention","href":"https://b/2"},{"type":"Mention","href":"https://b/3"},{"type":"Mention","href":"https://b/4"},{"type":"Mention","href":"https://b/5"},{"type":"Mention","href":"https://b/6"}],"to":["https://b/1","https://b/2","https://b/3"]}}`,
		`not json`,
	}
	for _, src := range exprs {
		ce, err := env.compile(src)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		if ce.native == nil {
			t.Errorf("%s: not compiled natively", src)
			continue
		}
		for ai, raw := range activities {
			for fi, f := range facts {
				sf := &scriptFacts{firstSeen: map[string]time.Time{}, published: map[string]time.Time{}, followers: map[string]int{}, profile: map[string][2]string{}}
				for _, actor := range []string{"https://mastodon.example/users/alice", "https://a.example/u/x", "https://c.example/u/y", "https://e.example/u/z"} {
					if f.hasSeen {
						sf.firstSeen[actor] = now.Add(-f.seen)
					}
					if f.hasPub {
						sf.published[actor] = now.Add(-f.pub)
					}
					sf.followers[actor] = f.followers
				}
				in1 := &Input{Raw: []byte(raw), Facts: sf, Now: now}
				in2 := &Input{Raw: []byte(raw), Facts: sf, Now: now}
				want, err := ce.evalCEL(in1)
				if err != nil {
					t.Fatalf("%s on activity %d: CEL error %v", src, ai, err)
				}
				if got, _ := ce.eval(in2); got != want {
					t.Errorf("%s on activity %d facts %d: native %v, CEL %v", src, ai, fi, got, want)
				}
			}
		}
	}
	for _, src := range celOnly {
		ce, err := env.compile(src)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		if ce.native != nil {
			t.Errorf("%s: compiled natively, but it is outside the subset", src)
		}
	}
}

// TestGuardMatchesCEL: an expression outside the subset with a native
// guard (its && operands in the subset) answers as CEL does, a CEL error
// counting as no match, and skips the interpreter when the guard is false.
func TestGuardMatchesCEL(t *testing.T) {
	exprs := []string{
		"size(mentions) > 3 && mentions.exists_one(m, m.endsWith(\"/5\"))",
		"mentions.exists_one(m, m.startsWith(\"https://b\")) && attachments > 0",
		"attachments > 0 && (attachments + 1) / 0 > 1 && size(mentions) > 0",
		"!known_actor && mentions.exists_one(m, m.contains(\"x\")) && local_followers == 0",
	}
	env, err := newExprEnv()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	activities := []string{
		typicalNote,
		`{"type":"Create","actor":"https://a.example/u/x","object":{"type":"Note","content":"x","attachment":[{"type":"Image"}],"to":["https://b.example/u/1"]}}`,
		`{"type":"Create","actor":"https://e.example/u/z","object":{"type":"Question","attachment":[{"type":"Image"},{"type":"Video"}],"tag":[{"type":"Mention","href":"https://b/1"},{"type":"Mention","href":"https://b/2"},{"type":"Mention","href":"https://b/3"},{"type":"Mention","href":"https://b/4"},{"type":"Mention","href":"https://b/5"}]}}`,
		`not json`,
	}
	for _, src := range exprs {
		ce, err := env.compile(src)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		if ce.native != nil || ce.guard == nil {
			t.Fatalf("%s: want a CEL expression with a native guard", src)
		}
		for ai, raw := range activities {
			for _, seen := range []bool{false, true} {
				sf := &scriptFacts{firstSeen: map[string]time.Time{}, published: map[string]time.Time{}, followers: map[string]int{}, profile: map[string][2]string{}}
				if seen {
					for _, a := range []string{"https://a.example/u/x", "https://e.example/u/z", "https://mastodon.example/users/alice"} {
						sf.firstSeen[a] = now.Add(-time.Hour)
					}
				}
				want, err := ce.evalCEL(&Input{Raw: []byte(raw), Facts: sf, Now: now})
				if err != nil {
					want = false
				}
				if got, _ := ce.eval(&Input{Raw: []byte(raw), Facts: sf, Now: now}); got != want {
					t.Errorf("%s on activity %d (seen %v): guarded %v, CEL %v (err %v)", src, ai, seen, got, want, err)
				}
			}
		}
	}
}

// TestUntrackedOnlyWhenSmall: an expression whose worst case needs cost
// tracking only for large activities runs untracked on small ones, with
// the tracked program's answer, and tracked on large ones.
func TestUntrackedOnlyWhenSmall(t *testing.T) {
	env, err := newExprEnv()
	if err != nil {
		t.Fatal(err)
	}
	ce, err := env.compile(`mentions.exists(m, m.startsWith("https://b.example/u/9"))`)
	if err != nil {
		t.Fatal(err)
	}
	if ce.fast == nil || !ce.fastContent {
		t.Fatal("no untracked program for an expression cheap on small activities")
	}
	costly, err := env.compile(`mentions.all(a, mentions.all(b, a + b != ""))`)
	if err != nil {
		t.Fatal(err)
	}
	if costly.fast != nil {
		t.Fatal("untracked program for an expression that can exceed the limit on a small activity")
	}
	for _, n := range []int{1, 10, 4096, 4097} {
		var tags strings.Builder
		for i := range n {
			if i > 0 {
				tags.WriteByte(',')
			}
			fmt.Fprintf(&tags, `{"type":"Mention","href":"https://b.example/u/%d"}`, i)
		}
		raw := []byte(`{"type":"Create","actor":"https://a.example/u/x","object":{"type":"Note","tag":[` + tags.String() + `]}}`)
		in := &Input{Raw: raw}
		if small := in.small(true); small != (n <= 4096) {
			t.Fatalf("%d mentions: small %v", n, small)
		}
		tracked := &compiledExpr{prog: ce.prog}
		want, err1 := tracked.evalCEL(&Input{Raw: raw})
		got, err2 := ce.eval(in)
		if got != want || (err1 == nil) != (err2 == nil) {
			t.Fatalf("%d mentions: %v %v, tracked %v %v", n, got, err2, want, err1)
		}
	}
}
