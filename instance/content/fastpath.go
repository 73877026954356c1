package content

import (
	"bytes"
	"io"
	"net/url"
	"strings"

	"golang.org/x/net/html"
)

// fastSanitize is remotePolicy.Sanitize (bluemonday) for the HTML it can
// reproduce exactly, and reports false for anything else, which the
// caller hands to bluemonday. It reads the same tokens from the same
// tokenizer and applies the same policy to each, in bluemonday's order:
//
//   - text is written escaped (html.EscapeString of the decoded text);
//   - comments and doctypes are dropped;
//   - an allowed start or self-closing tag is written with its kept
//     attributes: those the policy allows on the element whose value
//     matches its pattern, an href only when it parses with an allowed
//     scheme (and then as url.URL.String writes it), and on a link with an
//     href, rel="nofollow noreferrer" appended, plus target="_blank" and
//     " noopener" on the rel when the href names a host;
//   - an allowed end tag is written as is.
//
// It gives up (false) on any tag outside the allowed set (whose content
// bluemonday may skip, and whose stripping adds spaces), an end tag with
// attributes, a link left with no attribute at all (bluemonday drops it
// and, by a stack, its end tag), and a tokenizer error other than the end
// of input. The differential fuzzer (FuzzSanitizeDifferential) holds the
// two byte-for-byte equal.
func fastSanitize(s string) (string, bool) {
	z := html.NewTokenizer(strings.NewReader(s))
	var b strings.Builder
	b.Grow(len(s) + len(s)/2)
	var attrs []attr // reused per tag
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			if z.Err() != io.EOF {
				return "", false
			}
			return b.String(), true
		case html.TextToken:
			if raw := z.Raw(); bytes.IndexAny(raw, "&'<>\"\r\x00") < 0 {
				// Nothing to decode and nothing to escape: the text is
				// its own escaped form.
				b.Write(raw)
			} else {
				b.WriteString(html.EscapeString(string(z.Text())))
			}
		case html.CommentToken, html.DoctypeToken:
			// Dropped, as bluemonday drops them.
		case html.EndTagToken:
			name, hasAttr := z.TagName()
			el, ok := allowedElement(name)
			if !ok || hasAttr {
				return "", false
			}
			b.WriteString("</")
			b.WriteString(el)
			b.WriteByte('>')
		case html.StartTagToken, html.SelfClosingTagToken:
			name, more := z.TagName()
			el, ok := allowedElement(name)
			if !ok {
				return "", false
			}
			attrs = attrs[:0]
			for more {
				var k, v []byte
				k, v, more = z.TagAttr()
				if a, keep := keepAttr(el, k, v); keep {
					attrs = append(attrs, a)
				}
			}
			if el == "a" {
				if attrs = linkAttrs(attrs); len(attrs) == 0 {
					return "", false
				}
			}
			b.WriteByte('<')
			b.WriteString(el)
			for _, a := range attrs {
				b.WriteByte(' ')
				b.WriteString(a.key)
				b.WriteString(`="`)
				b.WriteString(html.EscapeString(a.val))
				b.WriteByte('"')
			}
			if tt == html.SelfClosingTagToken {
				b.WriteString("/>")
			} else {
				b.WriteByte('>')
			}
		default:
			return "", false
		}
	}
}

type attr struct{ key, val string }

// allowedElement returns the element's name as a constant string when it
// is in the allowed set (remoteElements).
func allowedElement(name []byte) (string, bool) {
	switch string(name) {
	case "p":
		return "p", true
	case "br":
		return "br", true
	case "span":
		return "span", true
	case "a":
		return "a", true
	case "del":
		return "del", true
	case "s":
		return "s", true
	case "pre":
		return "pre", true
	case "code":
		return "code", true
	case "em":
		return "em", true
	case "strong":
		return "strong", true
	case "b":
		return "b", true
	case "i":
		return "i", true
	case "u":
		return "u", true
	case "ul":
		return "ul", true
	case "ol":
		return "ol", true
	case "li":
		return "li", true
	case "blockquote":
		return "blockquote", true
	case "sub":
		return "sub", true
	case "sup":
		return "sup", true
	}
	return "", false
}

// keepAttr applies the policy's attribute rules (newRemotePolicy) to one
// attribute of element el.
func keepAttr(el string, k, v []byte) (attr, bool) {
	switch string(k) {
	case "href":
		if el == "a" {
			return attr{"href", string(v)}, true
		}
	case "class":
		if (el == "a" || el == "span") && remoteClasses.Match(v) {
			return attr{"class", string(v)}, true
		}
	case "lang":
		if (el == "span" || el == "p") && langTag.Match(v) {
			return attr{"lang", string(v)}, true
		}
	case "start":
		if el == "ol" && olStart.Match(v) {
			return attr{"start", string(v)}, true
		}
	case "reversed":
		if el == "ol" && olReversed.Match(v) {
			return attr{"reversed", string(v)}, true
		}
	}
	return attr{}, false
}

// linkAttrs finishes an a element's kept attributes as bluemonday does
// with RequireParseableURLs, RequireNoFollowOnLinks,
// RequireNoReferrerOnLinks and AddTargetBlankToFullyQualifiedLinks: hrefs
// that do not parse with an allowed scheme are dropped and the others
// rewritten as parsed; then, with an href present, rel (and target) are
// added. rel and target are never among the kept attributes (the policy
// does not allow them), which is what makes the additions this simple.
func linkAttrs(attrs []attr) []attr {
	out := attrs[:0]
	for _, a := range attrs {
		if a.key == "href" {
			u, ok := validURL(a.val)
			if !ok {
				continue
			}
			a.val = u
		}
		out = append(out, a)
	}
	hrefFound, external := false, false
	for _, a := range out {
		if a.key == "href" {
			hrefFound = true
			if u, err := url.Parse(a.val); err == nil && u.Host != "" {
				external = true
			}
		}
	}
	if !hrefFound {
		return out
	}
	if !external {
		return append(out, attr{"rel", "nofollow noreferrer"})
	}
	return append(out, attr{"rel", "nofollow noreferrer noopener"}, attr{"target", "_blank"})
}

// validURL is bluemonday's check under RequireParseableURLs with
// AllowRelativeURLs(false) and no scheme policies: the trimmed value must
// carry no space, tab or newline (a data: URL may, but data is not an
// allowed scheme either way), must parse, and must have an allowed
// scheme; the kept value is the parsed URL written back.
func validURL(raw string) (string, bool) {
	raw = strings.TrimSpace(raw)
	if strings.ContainsAny(raw, " \t\n") {
		return "", false
	}
	u, err := url.Parse(raw)
	if err != nil || !allowedScheme(u.Scheme) {
		return "", false
	}
	return u.String(), true
}

func allowedScheme(s string) bool {
	for _, a := range remoteSchemes {
		if s == a {
			return true
		}
	}
	return false
}
