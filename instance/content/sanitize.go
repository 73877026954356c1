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

var remotePolicy = newRemotePolicy()

func newRemotePolicy() *bluemonday.Policy {
	p := bluemonday.NewPolicy()
	p.AllowElements("p", "br", "span", "a", "del", "s", "pre", "code", "em", "strong",
		"b", "i", "u", "ul", "ol", "li", "blockquote", "sub", "sup")
	p.AllowAttrs("href").OnElements("a")
	p.AllowAttrs("class").Matching(remoteClasses).OnElements("a", "span")
	p.AllowAttrs("start").Matching(regexp.MustCompile(`^-?[0-9]{1,9}$`)).OnElements("ol")
	p.AllowAttrs("reversed").Matching(regexp.MustCompile(`^(?:|reversed)$`)).OnElements("ol")
	p.AllowAttrs("lang").Matching(regexp.MustCompile(`^[A-Za-z]{2,8}(?:-[A-Za-z0-9]{1,8})*$`)).OnElements("span", "p")
	// Schemes Mastodon keeps that a browser will not run code from.
	// Everything else, javascript: and data: among them, loses its href.
	p.AllowURLSchemes("http", "https", "dat", "dweb", "ipfs", "ipns", "ssb", "gopher",
		"xmpp", "magnet", "gemini")
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
func Sanitize(html string) string {
	if html == "" {
		return ""
	}
	html = headingOpen.ReplaceAllString(html, "<p><strong>")
	html = headingClose.ReplaceAllString(html, "</strong></p>")
	return strings.TrimSpace(remotePolicy.Sanitize(html))
}
