package content

import (
	"html"
	"net/url"
	"regexp"
	"strings"

	"github.com/palisade-fedi/palisade/relay/activity"
)

// Mention is one @user or @user@domain written in a local post.
type Mention struct {
	// Acct is what was written after the '@': "alice" or
	// "alice@example.com"; resolve is called with it.
	Acct     string
	Username string
	Domain   string // "" when written without a domain
	// Href is what resolve returned: the link target in the HTML (the
	// caller's choice: the actor's profile URL or id). "" when resolve
	// did not know the account; the mention is then left as plain text.
	Href string
}

// Formatted is a local post rendered as HTML.
type Formatted struct {
	// HTML is the post as Mastodon-style HTML: <p> per paragraph, <br>
	// per line break, linked URLs, mentions and hashtags, everything else
	// escaped.
	HTML string
	// Mentions lists every distinct mention in order of first appearance
	// (compared case-insensitively), resolved or not: the caller
	// addresses the resolved ones and may warn about the rest.
	Mentions []Mention
	// Hashtags lists the distinct hashtag names, normalized by
	// activity.NormalizeHashtag (NFKC, lowercased, without '#').
	Hashtags []string
	// Links lists the distinct http(s) URLs linked, as written.
	Links []string
}

// token matches, leftmost first, an http(s) URL, a mention, or a hashtag.
// Mentions and hashtags must not follow a letter, digit, '_', '/', or
// (for mentions) '@' or '.', so e-mail addresses and URL fragments are not
// taken for them; Go's regexp has no look-behind, so the preceding
// character is part of the match and skipped by submatch index.
var token = regexp.MustCompile(
	`(https?://[^\s<>"]+)` +
		`|(?:^|[^\p{L}\p{N}_/@.])@([A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?(?:@[\p{L}\p{N}_-]+(?:\.[\p{L}\p{N}_-]+)+(?::[0-9]{1,5})?)?)` +
		`|(?:^|[^\p{L}\p{N}_/#&])#([\p{L}\p{N}_]*[\p{L}_][\p{L}\p{N}_]*)`)

var paragraphBreak = regexp.MustCompile(`\n[ \t]*\n\s*`)

// displayLimit is how many characters of a URL (after the scheme and
// "www.") are shown before the rest is hidden behind an ellipsis, as
// Mastodon's web UI shows them.
const displayLimit = 30

// Format renders a local user's plain-text post as HTML for host (the
// instance's domain, for hashtag links https://HOST/tags/NAME; or its base
// URL, "http://HOST:PORT" on test networks, for BASE/tags/NAME). resolve,
// if not nil, is called once per distinct mention with its Acct and
// returns the link for it; an unresolved mention stays plain text.
func Format(text string, resolve func(mention string) (href string, ok bool), host string) Formatted {
	var f Formatted
	text = strings.TrimSpace(strings.ReplaceAll(strings.ReplaceAll(text, "\r\n", "\n"), "\r", "\n"))
	if text == "" {
		return f
	}
	base := host
	if !strings.HasPrefix(base, "https://") && !strings.HasPrefix(base, "http://") {
		base = "https://" + host
	}
	st := formatState{f: &f, resolve: resolve, host: strings.TrimRight(base, "/"), mentions: map[string]int{}}
	var b strings.Builder
	for _, para := range paragraphBreak.Split(text, -1) {
		b.WriteString("<p>")
		for i, line := range strings.Split(para, "\n") {
			if i > 0 {
				b.WriteString("<br>")
			}
			st.line(&b, line)
		}
		b.WriteString("</p>")
	}
	f.HTML = b.String()
	return f
}

type formatState struct {
	f        *Formatted
	resolve  func(string) (string, bool)
	host     string
	mentions map[string]int // lowercased acct → index in f.Mentions
}

func (st *formatState) line(b *strings.Builder, s string) {
	last := 0
	for _, m := range token.FindAllStringSubmatchIndex(s, -1) {
		switch {
		case m[2] >= 0:
			u := trimURL(s[m[2]:m[3]])
			end := m[2] + len(u)
			if !st.link(b, s[last:m[2]], u) {
				continue
			}
			last = end
			// The trimmed punctuation is written as text by the next
			// round or the tail.
		case m[4] >= 0:
			st.mention(b, s[last:m[4]-1], s[m[4]:m[5]])
			last = m[5]
		case m[6] >= 0:
			b.WriteString(html.EscapeString(s[last : m[6]-1]))
			st.hashtag(b, s[m[6]:m[7]])
			last = m[7]
		}
	}
	b.WriteString(html.EscapeString(s[last:]))
}

// trimURL drops trailing punctuation that ends the sentence rather than
// the URL, keeping a closing parenthesis that balances one in the URL
// (Wikipedia links).
func trimURL(u string) string {
	for len(u) > 0 {
		c := u[len(u)-1]
		switch c {
		case '.', ',', ';', ':', '!', '?', '\'', '"', ']', '*':
			u = u[:len(u)-1]
			continue
		case ')':
			if strings.Count(u, "(") < strings.Count(u, ")") {
				u = u[:len(u)-1]
				continue
			}
		}
		break
	}
	return u
}

func (st *formatState) link(b *strings.Builder, before, u string) bool {
	p, err := url.Parse(u)
	if err != nil || p.Host == "" {
		return false
	}
	b.WriteString(html.EscapeString(before))
	seen := false
	for _, l := range st.f.Links {
		seen = seen || l == u
	}
	if !seen {
		st.f.Links = append(st.f.Links, u)
	}
	prefix := p.Scheme + "://"
	rest := u[len(prefix):]
	if strings.HasPrefix(rest, "www.") {
		prefix += "www."
		rest = rest[len("www."):]
	}
	shown, hidden, class := rest, "", ""
	if r := []rune(rest); len(r) > displayLimit {
		shown, hidden, class = string(r[:displayLimit]), string(r[displayLimit:]), "ellipsis"
	}
	b.WriteString(`<a href="` + html.EscapeString(u) + `" target="_blank" rel="nofollow noopener noreferrer" translate="no">`)
	b.WriteString(`<span class="invisible">` + html.EscapeString(prefix) + `</span>`)
	b.WriteString(`<span class="` + class + `">` + html.EscapeString(shown) + `</span>`)
	b.WriteString(`<span class="invisible">` + html.EscapeString(hidden) + `</span></a>`)
	return true
}

func (st *formatState) mention(b *strings.Builder, before, acct string) {
	user, domain, _ := strings.Cut(acct, "@")
	key := strings.ToLower(acct)
	i, ok := st.mentions[key]
	if !ok {
		m := Mention{Acct: acct, Username: user, Domain: domain}
		if st.resolve != nil {
			if href, ok := st.resolve(acct); ok {
				m.Href = href
			}
		}
		i = len(st.f.Mentions)
		st.mentions[key] = i
		st.f.Mentions = append(st.f.Mentions, m)
	}
	b.WriteString(html.EscapeString(before))
	href := st.f.Mentions[i].Href
	if href == "" {
		b.WriteString(html.EscapeString("@" + acct))
		return
	}
	b.WriteString(`<span class="h-card" translate="no"><a href="` + html.EscapeString(href) +
		`" class="u-url mention">@<span>` + html.EscapeString(user) + `</span></a></span>`)
}

func (st *formatState) hashtag(b *strings.Builder, name string) {
	norm := activity.NormalizeHashtag(name)
	seen := false
	for _, h := range st.f.Hashtags {
		seen = seen || h == norm
	}
	if !seen {
		st.f.Hashtags = append(st.f.Hashtags, norm)
	}
	b.WriteString(`<a href="` + html.EscapeString(st.host) + `/tags/` + html.EscapeString(url.PathEscape(norm)) +
		`" class="mention hashtag" rel="tag">#<span>` + html.EscapeString(name) + `</span></a>`)
}
