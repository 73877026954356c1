// Package content turns status text into safe HTML and back: Sanitize
// cleans HTML received from remote servers before it is stored or served,
// PlainText extracts readable text from it (for keyword rules, search and
// notifications), and Format renders a local user's plain-text post as
// HTML, collecting its mentions, hashtags and links.
package content

import (
	"regexp"
	"strings"

	"github.com/microcosm-cc/bluemonday"
)

// remoteClasses are the class names kept on span and a elements: the
// microformats and display hints Mastodon itself emits and keeps
// (h-card/u-url/mention/hashtag for mentions and tags, invisible/ellipsis
// for shortened links). Any attribute value with another class is dropped
// whole, so a peer cannot style content with our own CSS classes.
var remoteClasses = regexp.MustCompile(`^(?:\s*(?:h-card|u-url|mention|hashtag|ellipsis|invisible|quote-inline|status-link)\s*)+$`)

// headings are rewritten to a bold paragraph before sanitising: Mastodon
// flattens h1–h6 the same way, since a remote post must not outshout the
// interface around it. Anything odd this produces is removed by the
// policy afterwards, so the rewrite does not need to be a parser.
var (
	headingOpen  = regexp.MustCompile(`(?i)<h[1-6](?:\s[^>]*)?>`)
	headingClose = regexp.MustCompile(`(?i)</h[1-6]\s*>`)
)

// The attribute values kept besides href and class.
var (
	olStart    = regexp.MustCompile(`^-?[0-9]{1,9}$`)
	olReversed = regexp.MustCompile(`^(?:|reversed)$`)
	langTag    = regexp.MustCompile(`^[A-Za-z]{2,8}(?:-[A-Za-z0-9]{1,8})*$`)
)

// remoteElements is the allowed set; remoteSchemes are the href schemes
// Mastodon keeps that a browser will not run code from. Everything else,
// javascript: and data: among them, loses its href. fastpath.go reads
// both, so that the policy and the fast path cannot drift apart.
var (
	remoteElements = []string{"p", "br", "span", "a", "del", "s", "pre", "code", "em", "strong",
		"b", "i", "u", "ul", "ol", "li", "blockquote", "sub", "sup"}
	remoteSchemes = []string{"http", "https", "dat", "dweb", "ipfs", "ipns", "ssb", "gopher",
		"xmpp", "magnet", "gemini"}
)

var remotePolicy = newRemotePolicy()

func newRemotePolicy() *bluemonday.Policy {
	p := bluemonday.NewPolicy()
	p.AllowElements(remoteElements...)
	p.AllowAttrs("href").OnElements("a")
	p.AllowAttrs("class").Matching(remoteClasses).OnElements("a", "span")
	p.AllowAttrs("start").Matching(olStart).OnElements("ol")
	p.AllowAttrs("reversed").Matching(olReversed).OnElements("ol")
	p.AllowAttrs("lang").Matching(langTag).OnElements("span", "p")
	p.AllowURLSchemes(remoteSchemes...)
	p.RequireParseableURLs(true)
	p.AllowRelativeURLs(false)
	p.RequireNoFollowOnLinks(true)
	p.RequireNoReferrerOnLinks(true)
	p.AddTargetBlankToFullyQualifiedLinks(true) // adds rel="noopener" too
	p.AddSpaceWhenStrippingTag(true)
	return p
}

// Sanitize returns html with everything but Mastodon's allowed set of
// elements removed: p, br, span, a, del, s, pre, code, em, strong, b, i,
// u, ul, ol (start, reversed), li, blockquote, sub, sup; h1–h6 become
// <p><strong>. Links keep only href with a safe scheme (http, https, dat,
// dweb, ipfs, ipns, ssb, gopher, xmpp, magnet, gemini) and get
// rel="nofollow noreferrer noopener" and target="_blank"; span and a keep
// only the mention/hashtag/link-shortening classes. Scripts, styles,
// iframes, images, event-handler attributes and javascript: URLs are
// removed. The result is safe to embed in a page as is.
//
// Sanitize is safe for concurrent use.
//
// Most remote HTML (Mastodon's, and what the others send) uses only the
// allowed elements; fastSanitize produces bluemonday's output for it
// without bluemonday's per-token allocations, and hands anything else to
// bluemonday (see fastpath.go).
func Sanitize(html string) string {
	if html == "" {
		return ""
	}
	if mayHaveHeading(html) {
		html = headingOpen.ReplaceAllString(html, "<p><strong>")
		html = headingClose.ReplaceAllString(html, "</strong></p>")
	}
	out, ok := fastSanitize(html)
	if !ok {
		out = remotePolicy.Sanitize(html)
	}
	return strings.TrimSpace(out)
}

// mayHaveHeading reports whether html has a "<h" or "</h" (either case),
// without which neither heading pattern can match.
func mayHaveHeading(html string) bool {
	for i := strings.IndexByte(html, '<'); i >= 0; {
		rest := html[i+1:]
		if strings.HasPrefix(rest, "/") {
			rest = rest[1:]
		}
		if rest != "" && (rest[0] == 'h' || rest[0] == 'H') {
			return true
		}
		j := strings.IndexByte(html[i+1:], '<')
		if j < 0 {
			return false
		}
		i += 1 + j
	}
	return false
}
