package content

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// sanitizeRef is Sanitize as it was before the fast path: bluemonday on
// every input. The fast path must produce exactly its output.
func sanitizeRef(html string) string {
	if html == "" {
		return ""
	}
	html = headingOpen.ReplaceAllString(html, "<p><strong>")
	html = headingClose.ReplaceAllString(html, "</strong></p>")
	return strings.TrimSpace(remotePolicy.Sanitize(html))
}

// fastSeeds are the fast path's own cases: what it must handle itself and
// the edges of what it may not, each compared with bluemonday.
var fastSeeds = []string{
	benchHTML,
	`<p><span class="h-card" translate="no"><a href="https://m.example/@bob" class="u-url mention">@<span>bob</span></a></span> hi</p>`,
	`<p>a &amp; b &lt; c &gt; d &quot;e&quot; &#39;f&#39; &nbsp; &copy; &#x1F600; &bogus; & x</p>`,
	"<p>line\r\nbreak\rcr\x00nul</p>",
	`<p>a<br>b<br/>c<br />d</p><p/>`,
	`<a href="http://x.example/a b">sp</a><a href=" https://x.example/trim ">t</a><a href="https://x.example/%zz">bad</a>`,
	`<a href="HTTPS://X.Example/Path?q=1&amp;r=<2>#frag">case</a><a href="xmpp:u@h.example">xmpp</a><a href="magnet:?xt=urn:x">m</a>`,
	`<a href="//x.example/rel">rel</a><a href="/path">abs</a><a href="mailto:a@b">mail</a><a href="javascript:alert(1)" class="mention">js</a>`,
	`<a href="https://a.example/" href="https://b.example/">two</a><a class="mention" class="evil">c</a>`,
	`<a href="https://x.example/" rel="me" target="_self" title="t">r</a><a href="https://x.example/">x</a>`,
	`<span class="">e</span><span class=" invisible ">i</span><span class="ellipsisinvisible">j</span><span class="a invisible">k</span>`,
	`<span lang="en-US">l</span><p lang="x">p</p><p lang="de" class="x">q</p>`,
	`<ol start="-3" reversed="reversed"><li>a</li></ol><ol start="1x" reversed="no"><li>b</li></ol><ol start=5 reversed><li>c</li></ol>`,
	`<pre><code>if a < b && c > d { "x" }</code></pre><blockquote cite="https://x.example/">q</blockquote>`,
	`<del>d</del><s>s</s><em>e</em><strong>s</strong><b>b</b><i>i</i><u>u</u><ul><li>l</li></ul><sub>1</sub><sup>2</sup>`,
	`<P CLASS="x"><SPAN Class="mention">up</SPAN></P><A HREF="https://x.example/">A</A>`,
	`<!-- comment --><!DOCTYPE html><p>after</p><![CDATA[x]]>`,
	`<p>unclosed <span>spans`, `</p></span>stray ends`, `<p>a</p >`, `<p attr=unquoted attr2='single'>q</p>`,
	`<h1>Title</h1><h2 class="x">Sub</h2><H3>c</H3><p>body</p>`, `<h1/>`, `<h7>no</h7>`,
	`<a href="https://x.example/">no end`, `<a>bare</a>`, `<a href="javascript:x">gone</a> after`,
	`<p>x</p onclick="y">`, `<script>alert(1)</script>`, `<img src=x onerror=alert(1)>`, `<div>d</div>`,
	`<a href="https://ünï.example/päth">idn</a><a href="https://x.example/?q=ü&amp;a=b c">q</a>`,
	"   ", " <p> padded </p> ", "plain text only", "<", "<<>>", "a < b", "<p", "<p class=", `<p class="x`,
	`<a href="https://x.example/"/><br/><span/>`,
	"<p>\u00a0nbsp\u2028sep</p>", "<p>\xff\xfe invalid utf8</p>",
}

func TestSanitizeMatchesBluemonday(t *testing.T) {
	var seeds []string
	seeds = append(seeds, fastSeeds...)
	// The seeds of FuzzSanitize and the hand-written cases above.
	ents, err := os.ReadDir(filepath.Join("testdata", "fuzz", "FuzzSanitize"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join("testdata", "fuzz", "FuzzSanitize", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		seeds = append(seeds, corpusString(t, string(b)))
	}
	for _, in := range seeds {
		if got, want := Sanitize(in), sanitizeRef(in); got != want {
			t.Errorf("Sanitize(%q)\n got %q\nwant %q (bluemonday)", in, got, want)
		}
	}
}

// corpusString reads a one-string go-fuzz corpus file.
func corpusString(t *testing.T, file string) string {
	t.Helper()
	lines := strings.SplitN(strings.TrimSpace(file), "\n", 2)
	if len(lines) != 2 || !strings.HasPrefix(lines[1], "string(") {
		t.Fatalf("not a one-string corpus file: %q", file)
	}
	s, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[1], "string("), ")"))
	if err != nil {
		t.Fatalf("corpus file %q: %v", file, err)
	}
	return s
}

// TestSanitizeFastPathTaken: the point of the fast path is that what
// Mastodon and the others send takes it; a change that made it give up on
// them would pass every equality test and lose the speed silently.
func TestSanitizeFastPathTaken(t *testing.T) {
	for _, in := range []string{
		benchHTML,
		`<p><span class="h-card" translate="no"><a href="https://here.example/@alice" class="u-url mention">@<span>alice</span></a></span> Number 1 of the benchmark, with a link <a href="https://example.com/page" target="_blank" rel="nofollow noopener" translate="no"><span class="invisible">https://</span><span class="">example.com/page</span><span class="invisible"></span></a> <a href="https://peer.example/tags/golang" class="mention hashtag" rel="tag">#<span>golang</span></a></p>`,
		`<p>Misskey <a href="https://m.example/@a">@a@m.example</a><br>second line</p>`,
		`<p><strong>Heading</strong></p><p>Akkoma <b>bold</b> <i>it</i> <code>c</code></p><ul><li>x</li></ul>`,
	} {
		if _, ok := fastSanitize(in); !ok {
			t.Errorf("fast path gave up on %q", in)
		}
	}
	for _, in := range []string{`<script>x</script>`, `<img src=x>`, `<a>bare</a>`, `<div>d</div>`, `<a href="javascript:x">j</a>`} {
		if _, ok := fastSanitize(in); ok {
			t.Errorf("fast path took %q, which it must leave to bluemonday", in)
		}
	}
}

func FuzzSanitizeDifferential(f *testing.F) {
	for _, s := range fastSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		if got, want := Sanitize(in), sanitizeRef(in); got != want {
			t.Fatalf("Sanitize(%q)\n got %q\nwant %q (bluemonday)", in, got, want)
		}
	})
}

// BenchmarkSanitizeBluemonday is BenchmarkSanitize's input through the
// reference (bluemonday on every input), for the ratio.
func BenchmarkSanitizeBluemonday(b *testing.B) {
	b.SetBytes(int64(len(benchHTML)))
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		sanitizeRef(benchHTML)
	}
}

// reportCPU adds a cpu-ns/op metric: process CPU time per operation. On
// the shared build machines wall-clock ns/op mostly measures the
// neighbours; CPU time is what this code costs.
func reportCPU(b *testing.B) func() {
	cpu := func() time.Duration {
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
			b.Fatal(err)
		}
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	start := cpu()
	return func() {
		b.ReportMetric(float64(cpu()-start)/float64(b.N), "cpu-ns/op")
	}
}

// sameStrict fails t when strictTokens reads in something that the
// tokenizer path renders differently (or refuses).
func sameStrict(t *testing.T, in string) bool {
	t.Helper()
	var e emitter
	if !strictTokens(in, &e) {
		return false
	}
	want, ok := tokenizerSanitize(in)
	if !ok || e.b.String() != want {
		t.Fatalf("strictTokens(%q) = %q, the tokenizer path %q (took it: %v)", in, e.b.String(), want, ok)
	}
	return true
}

func TestStrictTokens(t *testing.T) {
	strict := 0
	for _, in := range fastSeeds {
		if sameStrict(t, in) {
			strict++
		}
	}
	for _, in := range []string{
		benchHTML, `<p>x</p>`, `<br/>`, `<br />`, `<p   >a</p>`, `<a href="https://x.example/" />`, `<p lang="en"/>`,
		`<a class="evil" class="mention" href="https://x.example/">first of repeats</a>`,
		`<span class="invisible" class="invisible">x</span>`, `<a href="https://x.example/" data-x="1" translate="no">t</a>`,
		`<a href="https://x.example/a>b">gt in value</a>`, `<a href="https://x.example/'q'">quote</a>`, `<p>"quoted" 'text' a > b</p>`,
	} {
		if !sameStrict(t, in) {
			t.Errorf("strictTokens refused %q", in)
		}
		strict++
	}
	for _, in := range []string{
		`<p>a &amp; b</p>`, "<p>a\r\nb</p>", "<p>\x00</p>", `<P>x</P>`, `<p class=x>`, `<p class='x'>`, `<ol reversed>`,
		`<p class="x"class="y">`, "<p\tclass=\"x\">", `<p>a <3</p>`, `<!-- c -->`, `</ p>`, `<p/ >`, `<p`, `<a href="x`,
	} {
		if sameStrict(t, in) {
			t.Errorf("strictTokens read %q, outside its form", in)
		}
	}
	if strict < 10 {
		t.Errorf("strictTokens read only %d of the cases", strict)
	}
}

func FuzzStrictTokens(f *testing.F) {
	for _, s := range fastSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		sameStrict(t, in)
		if got, want := Sanitize(in), sanitizeRef(in); got != want {
			t.Fatalf("Sanitize(%q)\n got %q\nwant %q (bluemonday)", in, got, want)
		}
	})
}

// TestMatchClasses holds the hand-written matcher equal to the class
// pattern it replaces on the fast path.
func TestMatchClasses(t *testing.T) {
	for _, v := range []string{
		"", " ", "mention", " mention ", "u-url mention", "mentionhashtag", "h-card", "h-cardx", "xh-card",
		"invisible\tellipsis\n", "quote-inline status-link", "mention evil", "Mention", "\vmention", "\fmention\r",
		"hashtag ", "hash tag", "u-url  u-url", "status-linkstatus-link", "h-", "ellipsis\u00a0",
	} {
		if got, want := matchClasses(v), remoteClasses.MatchString(v); got != want {
			t.Errorf("matchClasses(%q) = %v, the pattern says %v", v, got, want)
		}
	}
}

func FuzzMatchClasses(f *testing.F) {
	for _, w := range classWords {
		f.Add(w + " " + w)
	}
	f.Fuzz(func(t *testing.T, v string) {
		if got, want := matchClasses(v), remoteClasses.MatchString(v); got != want {
			t.Fatalf("matchClasses(%q) = %v, the pattern says %v", v, got, want)
		}
	})
}
