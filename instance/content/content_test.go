package content

import (
	"regexp"
	"strings"
	"testing"
)

func TestSanitize(t *testing.T) {
	for _, c := range []struct{ name, in, want string }{
		{"mastodon mention and tag kept",
			`<p><span class="h-card" translate="no"><a href="https://m.example/@bob" class="u-url mention">@<span>bob</span></a></span> hi <a href="https://m.example/tags/go" class="mention hashtag" rel="tag">#<span>go</span></a></p>`,
			`<p><span class="h-card"><a href="https://m.example/@bob" class="u-url mention" rel="nofollow noreferrer noopener" target="_blank">@<span>bob</span></a></span> hi <a href="https://m.example/tags/go" class="mention hashtag" rel="nofollow noreferrer noopener" target="_blank">#<span>go</span></a></p>`},
		{"script removed with its content",
			`<p>hi<script>alert(1)</script></p>`, `<p>hi</p>`},
		{"style and iframe removed",
			`<style>p{color:red}</style><iframe src="https://evil.example/"></iframe><p>x</p>`, `<p>x</p>`},
		{"event handler dropped",
			`<p onclick="alert(1)">x</p><img src=x onerror=alert(1)>`, `<p>x</p>`},
		{"javascript url loses href",
			`<a href="javascript:alert(1)">x</a>`, `x`},
		{"foreign class dropped",
			`<span class="status__content evil">x</span>`, `<span>x</span>`},
		{"heading flattened",
			`<h1 id="t">Title</h1><p>body</p>`, `<p><strong>Title</strong></p><p>body</p>`},
		{"lists and quotes kept",
			`<ol start="3" reversed><li>a</li></ol><blockquote><p>q</p></blockquote><pre><code>c</code></pre>`,
			`<ol start="3" reversed=""><li>a</li></ol><blockquote><p>q</p></blockquote><pre><code>c</code></pre>`},
		{"gemini link kept", `<a href="gemini://g.example/">g</a>`,
			`<a href="gemini://g.example/" rel="nofollow noreferrer noopener" target="_blank">g</a>`},
		{"data url dropped", `<a href="data:text/html,<script>x</script>">d</a>`, `d`},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := Sanitize(c.in); got != c.want {
				t.Errorf("Sanitize(%q)\n got %q\nwant %q", c.in, got, c.want)
			}
		})
	}
}

func TestPlainText(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`<p>Hello <b>world</b> &amp; friends</p><p>second</p>`, "Hello world & friends\n\nsecond"},
		{`<p>a<br>b<br/>c</p>`, "a\nb\nc"},
		{`<p>see <a href="https://example.com/long/path"><span class="invisible">https://</span><span class="ellipsis">example.com/lo</span><span class="invisible">ng/path</span></a></p>`,
			"see https://example.com/long/path"},
		{`<p>x<script>alert("no")</script>y</p>`, "xy"},
		{`plain   text
 here`, "plain text here"},
		{``, ``},
	} {
		if got := PlainText(c.in); got != c.want {
			t.Errorf("PlainText(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestFormat(t *testing.T) {
	known := map[string]string{
		"bob":               "https://local.example/@bob",
		"carol@far.example": "https://far.example/@carol",
	}
	var asked []string
	resolve := func(m string) (string, bool) {
		asked = append(asked, m)
		h, ok := known[m]
		return h, ok
	}
	f := Format("Hi @bob and @carol@far.example and @ghost!\n#GoLang #golang <b>&\n\nread https://www.example.com/a/very/long/path/that/goes/on/and/on. mail me@x.example #123", resolve, "local.example")

	wantHTML := `<p>Hi <span class="h-card" translate="no"><a href="https://local.example/@bob" class="u-url mention">@<span>bob</span></a></span>` +
		` and <span class="h-card" translate="no"><a href="https://far.example/@carol" class="u-url mention">@<span>carol</span></a></span>` +
		` and @ghost!<br>` +
		`<a href="https://local.example/tags/golang" class="mention hashtag" rel="tag">#<span>GoLang</span></a> ` +
		`<a href="https://local.example/tags/golang" class="mention hashtag" rel="tag">#<span>golang</span></a> &lt;b&gt;&amp;</p>` +
		`<p>read <a href="https://www.example.com/a/very/long/path/that/goes/on/and/on" target="_blank" rel="nofollow noopener noreferrer" translate="no">` +
		`<span class="invisible">https://www.</span><span class="ellipsis">example.com/a/very/long/path/t</span><span class="invisible">hat/goes/on/and/on</span></a>. mail me@x.example #123</p>`
	if f.HTML != wantHTML {
		t.Errorf("HTML\n got %s\nwant %s", f.HTML, wantHTML)
	}
	if strings.Join(asked, ",") != "bob,carol@far.example,ghost" {
		t.Errorf("resolve called with %q", asked)
	}
	if len(f.Mentions) != 3 || f.Mentions[1] != (Mention{Acct: "carol@far.example", Username: "carol", Domain: "far.example", Href: "https://far.example/@carol"}) || f.Mentions[2].Href != "" {
		t.Errorf("Mentions = %+v", f.Mentions)
	}
	if strings.Join(f.Hashtags, ",") != "golang" {
		t.Errorf("Hashtags = %q", f.Hashtags)
	}
	if len(f.Links) != 1 || f.Links[0] != "https://www.example.com/a/very/long/path/that/goes/on/and/on" {
		t.Errorf("Links = %q", f.Links)
	}
	// What we render for local posts must survive our own sanitiser
	// unchanged in meaning: the mention and hashtag classes are kept.
	s := Sanitize(f.HTML)
	for _, want := range []string{`class="u-url mention"`, `class="mention hashtag"`, `class="ellipsis"`, `class="invisible"`} {
		if !strings.Contains(s, want) {
			t.Errorf("Sanitize(Format(...)) lost %s: %s", want, s)
		}
	}
}

func TestFormatShortLinkAndParens(t *testing.T) {
	f := Format("(see https://w.example/Go_(lang)) ok", nil, "h.example")
	want := `<p>(see <a href="https://w.example/Go_(lang)" target="_blank" rel="nofollow noopener noreferrer" translate="no"><span class="invisible">https://</span><span class="">w.example/Go_(lang)</span><span class="invisible"></span></a>) ok</p>`
	if f.HTML != want {
		t.Errorf("got  %s\nwant %s", f.HTML, want)
	}
	if f := Format("  \n ", nil, "h"); f.HTML != "" {
		t.Errorf("blank post rendered as %q", f.HTML)
	}
}

var jsURL = regexp.MustCompile(`(?i)<[^>]*=\s*["']?\s*javascript:`)

var onAttr = regexp.MustCompile(`(?i)<[^>]*\son[a-z]+\s*=`)

func FuzzSanitize(f *testing.F) {
	for _, s := range []string{
		`<p>hi</p>`, `<script>alert(1)</script>`, `<a href="javascript:alert(1)">x</a>`,
		`<img src=x onerror=alert(1)>`, `<h1 onclick=x>t</h1>`, `<a href="JaVaScRiPt:x">`,
		`<<script>script>alert(1)<</script>/script>`, `<svg><script>x</script></svg>`,
		`<a href="java&#x09;script:alert(1)">x</a>`, `<p style="x" class="mention">y</p>`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out := Sanitize(in)
		low := strings.ToLower(out)
		if strings.Contains(low, "<script") {
			t.Fatalf("output contains <script: %q → %q", in, out)
		}
		if jsURL.MatchString(out) {
			t.Fatalf("output has a javascript: URL in an attribute: %q → %q", in, out)
		}
		if onAttr.MatchString(out) {
			t.Fatalf("output has an event handler attribute: %q → %q", in, out)
		}
		_ = PlainText(in)
	})
}

const benchHTML = `<p><span class="h-card" translate="no"><a href="https://m.example/@bob" class="u-url mention">@<span>bob</span></a></span> look at <a href="https://example.com/a/long/path" target="_blank" rel="nofollow noopener noreferrer"><span class="invisible">https://</span><span class="ellipsis">example.com/a/lo</span><span class="invisible">ng/path</span></a> <a href="https://m.example/tags/cats" class="mention hashtag" rel="tag">#<span>cats</span></a></p><p>second paragraph<br>with a break</p>`

func BenchmarkSanitize(b *testing.B) {
	b.SetBytes(int64(len(benchHTML)))
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		Sanitize(benchHTML)
	}
}

func BenchmarkFormat(b *testing.B) {
	in := "Hi @bob and @carol@far.example, see https://example.com/a/very/long/path/that/goes/on #golang #fediverse\n\nbye"
	resolve := func(string) (string, bool) { return "https://x.example/@u", true }
	b.ReportAllocs()
	for b.Loop() {
		Format(in, resolve, "local.example")
	}
}

func TestFormatEdges(t *testing.T) {
	resolve := func(m string) (string, bool) { return `https://x.example/@` + m + `"><script>`, true }
	for _, c := range []struct{ in, want string }{
		{"https://m.example/@bob/1", `<p><a href="https://m.example/@bob/1" target="_blank" rel="nofollow noopener noreferrer" translate="no"><span class="invisible">https://</span><span class="">m.example/@bob/1</span><span class="invisible"></span></a></p>`},
		{"@bob.", `<p><span class="h-card" translate="no"><a href="https://x.example/@bob&#34;&gt;&lt;script&gt;" class="u-url mention">@<span>bob</span></a></span>.</p>`},
		{"a#b c/#d &#e", `<p>a#b c/#d &amp;#e</p>`},
		{"line1\r\nline2\n\n\n\npara2", `<p>line1<br>line2</p><p>para2</p>`},
		{"<script>alert(1)</script>", `<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>`},
	} {
		if got := Format(c.in, resolve, "h.example").HTML; got != c.want {
			t.Errorf("Format(%q)\n got %s\nwant %s", c.in, got, c.want)
		}
	}
}

func FuzzFormat(f *testing.F) {
	for _, s := range []string{"hi @bob and @c@d.example #tag https://e.example/x", "<b>&amp;</b>\n\npara", "(https://w.example/a_(b))."} {
		f.Add(s)
	}
	resolve := func(m string) (string, bool) { return "https://x.example/@" + m, len(m)%2 == 0 }
	f.Fuzz(func(t *testing.T, in string) {
		h := Format(in, resolve, "h.example").HTML
		if strings.Contains(strings.ToLower(h), "<script") {
			t.Fatalf("Format(%q) = %q", in, h)
		}
		// What we render, our own sanitiser must keep: the text a reader
		// sees is the same before and after.
		if a, b := PlainText(h), PlainText(Sanitize(h)); a != b {
			t.Fatalf("Sanitize changed the text of Format(%q):\n%q\n%q", in, a, b)
		}
	})
}
