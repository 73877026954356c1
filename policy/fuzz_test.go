package policy

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// FuzzInputFromActivity: any bytes either parse or fail with an error, never
// panic; invalid JSON is always refused; what parses is self-consistent.
func FuzzInputFromActivity(f *testing.F) {
	f.Add([]byte(typicalNote))
	f.Add([]byte(`{"type":["Create","Other"],"actor":{"id":"https://a.example/u","preferredUsername":"u","name":"u"},"object":[{"type":"Note","tag":{"type":"Mention","href":"x"},"attachment":{"type":"Image"}}]}`))
	f.Add([]byte(`{"type":"Flag","actor":"https://a.example/actor","object":["https://b.example/u/1","https://b.example/n/2"],"content":"spam"}`))
	f.Add([]byte(`{"type":"Create","object":{"type":"Note","content":"<p>a<a href='https://x.example/\"q'>b</a>&amp;\u00e9\ud83d\ude00</p>","contentMap":{"en":"x","de":"y"}}}`))
	f.Add([]byte(`[1,2,3]`))
	f.Add([]byte(`{"type":"Create","object":{"type":"Note","to":"as:Public","cc":[{"id":"https://a/followers"}],"bto":[[]],"content":"<a href=http://Y.example:80/x class=x>y"}}`))
	s, err := Compile(Source{RuleFiles: []RuleFile{{Name: "f.yaml", Data: benchRules(20)}}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		in, err := InputFromActivity(raw, nil)
		valid := json.Valid(raw)
		if err != nil {
			if valid && !errors.Is(err, errNotActivity) && !strings.Contains(err.Error(), "nested too deeply") && len(raw) <= maxRawActivity {
				t.Fatalf("valid JSON refused: %v", err)
			}
			return
		}
		if !valid {
			t.Fatalf("invalid JSON accepted: %q", raw)
		}
		c, _ := in.Content()
		if in.Type == "" {
			t.Fatal("parsed activity without a type")
		}
		// The ingress's shortcut (Raw already validated) reads the same.
		fast := &Input{Raw: raw, Validated: true}
		fc, err := fast.Content()
		if err != nil || !reflect.DeepEqual(fc, c) || fast.ID != in.ID || fast.Type != in.Type || fast.Actor != in.Actor || fast.ObjectID != in.ObjectID {
			t.Fatalf("validated parse differs: %v\n%+v\n%+v", err, fc, c)
		}
		if c.Attachments < len(c.MediaTypes) {
			t.Fatalf("%d media types for %d attachments", len(c.MediaTypes), c.Attachments)
		}
		for _, d := range c.LinkDomains {
			if checkDomain(d) != nil {
				t.Fatalf("link domain %q is not a host name", d)
			}
		}
		// The whole chain runs on whatever parsed.
		s.Explain(in)
	})
}

// FuzzRuleFile: any rule file either compiles or is refused with an error
// naming the file; nothing panics.
func FuzzRuleFile(f *testing.F) {
	f.Add(benchRules(10))
	f.Add([]byte("rules:\n  - id: a\n    match: {mentions: \">= 3\", first_seen: \"< 1d\", fields: [content], keywords: [x, \"a b\"]}\n    unless: {followed_by_local: true}\n    expr: 'size(mentions) > 2'\n    action: cw\n    cw: hi\n    also: [report]\n    rate: {per: domain, limit: 3, window: 1m, burst: 5}\n    shadow: yes\n"))
	f.Add([]byte("rules: [{id: x, match: {regex: '(?i)a{2,5}'}, action: reject}]\n"))
	f.Add([]byte("version: 2\n"))
	f.Add([]byte("rules:\n  - &a {id: x, match: {}, action: reject}\n  - *a\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Compile(Source{RuleFiles: []RuleFile{{Name: "fuzz.yaml", Data: data}}})
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.yaml") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		in := &Input{Raw: []byte(typicalNote)}
		s.Explain(in)
		NewEngine(s).Evaluate(&Input{Raw: []byte(typicalNote)})
	})
}

// FuzzRecord: corrupt decision-log entries are refused, never panic, and
// whatever decodes re-encodes to the same record.
func FuzzRecord(f *testing.F) {
	r := Record{ActivityID: "https://a.example/a/1", Actor: "https://a.example/u", Domain: "a.example", Action: Reject,
		Fired: []string{"domain:a.example"}, Reasons: []string{"domain_suspended"}, Shadow: []string{"x"}}
	b, _ := r.MarshalBinary()
	f.Add(b)
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		var r Record
		if err := r.UnmarshalBinary(b); err != nil {
			return
		}
		b2, err := r.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var r2 Record
		if err := r2.UnmarshalBinary(b2); err != nil {
			t.Fatalf("re-encoded record refused: %v", err)
		}
		b3, _ := r2.MarshalBinary()
		if string(b2) != string(b3) {
			t.Fatal("encoding is not stable")
		}
	})
}

// special8 must flag every word containing a byte that skipString has to
// look at; a miss would let an invalid string through validation.
func TestSpecial8(t *testing.T) {
	var w [8]byte
	for c := 0; c < 256; c++ {
		for pos := 0; pos < 8; pos++ {
			for i := range w {
				w[i] = 'a'
			}
			w[pos] = byte(c)
			x := uint64(0)
			for i := 7; i >= 0; i-- {
				x = x<<8 | uint64(w[i])
			}
			if got := special8(x); got != strSpecial[c] && strSpecial[c] {
				t.Fatalf("special8 misses byte %#x at %d", c, pos)
			}
			if special8(x) && !strSpecial[c] {
				t.Fatalf("special8 flags plain byte %#x at %d", c, pos)
			}
		}
	}
}

// Long address lists outgrow the parser's inline buffers.
func TestManyRecipients(t *testing.T) {
	var to []string
	for i := 0; i < 100; i++ {
		to = append(to, `"https://b.example/users/`+strings.Repeat("u", i)+`"`)
	}
	raw := `{"type":"Create","actor":"https://a.example/u","to":[` + strings.Join(to, ",") + `],"cc":[` + strings.Join(to[:50], ",") + `,"https://www.w3.org/ns/activitystreams#Public"],"object":"https://a.example/n/1"}`
	in, err := InputFromActivity([]byte(raw), nil)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := in.Content()
	if c.Recipients != 100 || c.Visibility != VisibilityUnlisted {
		t.Fatalf("recipients %d visibility %s, want 100 unlisted", c.Recipients, c.Visibility)
	}
}
