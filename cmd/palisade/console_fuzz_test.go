package main

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/palisade-fedi/palisade/instance/data"
)

// tagWithHandlerRe finds, in rendered HTML, a real tag carrying an event
// handler or a javascript: link (escaped text shows them as &lt;…).
var tagWithHandlerRe = regexp.MustCompile(`(?i)<[a-z][^<>]*\s(on[a-z]+\s*=|href\s*=\s*["']?\s*javascript:)`)

// FuzzHeldActivity renders arbitrary received bytes as a held post on the
// quarantine page: whatever a peer sends, the page must render (no panic,
// no template error) and carry no script, style or event handler of its.
func FuzzHeldActivity(f *testing.F) {
	f.Add([]byte(`{"type":"Create","object":{"type":"Note","content":"<p>hi <script>alert(1)</script></p>","summary":"<b>cw</b>"}}`))
	f.Add([]byte(`{"type":"Create","object":{"type":"Note","contentMap":{"en":"<img src=x onerror=alert(1)>"},"attachment":{"type":"Document"}}}`))
	f.Add([]byte(`{"type":"Create","object":"https://example.com/notes/1"}`))
	f.Add([]byte(`{"object":{"name":"<svg onload=alert(1)>","url":"javascript:alert(1)"}}`))
	f.Add([]byte(`not json`))
	pages, err := parseConsoleTemplates()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		h := heldFromRow(&data.Quarantined{ID: 1, ActivityURI: "https://e.example/a", ActorURI: "https://e.example/u", Raw: raw,
			Reasons: []string{"held_for_review"}, CreatedAt: time.Unix(0, 0)})
		if strings.HasPrefix(strings.ToLower(h.URL), "javascript:") {
			t.Fatalf("a javascript: URL passed: %q", h.URL)
		}
		var buf bytes.Buffer
		pd := pageData{Title: "Quarantine", User: &consoleSession{Username: "m", Role: "moderator", CSRF: "t"}, Body: quarantinePage{Held: []heldActivity{h}}}
		if err := pages["quarantine"].ExecuteTemplate(&buf, "layout.html", pd); err != nil {
			t.Fatalf("rendering: %v", err)
		}
		out := strings.ToLower(buf.String())
		for _, bad := range []string{"<script", "<style", "<iframe", "<object", "<embed", "<img", "<svg"} {
			if strings.Contains(out, bad) {
				t.Fatalf("the page carries %s from %q", bad, raw)
			}
		}
		if m := tagWithHandlerRe.FindString(out); m != "" {
			t.Fatalf("the page carries %q from %q", m, raw)
		}
	})
}
