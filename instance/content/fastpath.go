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
// strictTokens reads the common, simple form of HTML itself; the rest goes
// through golang.org/x/net/html's tokenizer (tokenizerSanitize). Either
// gives up (false) on any tag outside the allowed set (whose content
// bluemonday may skip, and whose stripping adds spaces), an end tag with
// attributes, a link left with no attribute at all (bluemonday drops it
// and, by a stack, its end tag), and a tokenizer error other than the end
// of input. The differential fuzzer (FuzzSanitizeDifferential) holds the
// two byte-for-byte equal.
func fastSanitize(s string) (string, bool) {
	var e emitter
	e.b.Grow(len(s) + len(s)/2)
	if strictTokens(s, &e) {
		return e.b.String(), true
	}
	return tokenizerSanitize(s)
}

// tokenizerSanitize is fastSanitize over golang.org/x/net/html's tokenizer,
// for what strictTokens does not read itself.
func tokenizerSanitize(s string) (string, bool) {
	var e emitter
	e.b.Grow(len(s) + len(s)/2)
	z := html.NewTokenizer(strings.NewReader(s))
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			if z.Err() != io.EOF {
				return "", false
			}
			return e.b.String(), true
		case html.TextToken:
			if raw := z.Raw(); bytes.IndexAny(raw, "&'<>\"\r\x00") < 0 {
				// Nothing to decode and nothing to escape: the text is
				// its own escaped form.
				e.b.Write(raw)
			} else {
				e.b.WriteString(html.EscapeString(string(z.Text())))
			}
		case html.CommentToken, html.DoctypeToken:
			// Dropped, as bluemonday drops them.
		case html.EndTagToken:
			name, hasAttr := z.TagName()
			if hasAttr || !e.end(name) {
				return "", false
			}
		case html.StartTagToken, html.SelfClosingTagToken:
			name, more := z.TagName()
			if !e.start(name) {
				return "", false
			}
			for more {
				var k, v []byte
				k, v, more = z.TagAttr()
				e.attr(k, v)
			}
			if !e.close(tt == html.SelfClosingTagToken) {
				return "", false
			}
		default:
			return "", false
		}
	}
}

// emitter writes bluemonday's output for one tag at a time: start (the
// element), attr for each attribute, close; or end for an end tag.
type emitter struct {
	b     strings.Builder
	el    string
	attrs []attr
}

// start begins an allowed element; false for any other.
func (e *emitter) start(name []byte) bool { return startAs(e, name) }

func startAs[T string | []byte](e *emitter, name T) bool {
	el, ok := allowedElement(name)
	e.el, e.attrs = el, e.attrs[:0]
	return ok
}

func (e *emitter) attr(k, v []byte) { attrAs(e, k, v) }

func attrAs[T string | []byte](e *emitter, k, v T) {
	if a, keep := keepAttr(e.el, k, v); keep {
		e.attrs = append(e.attrs, a)
	}
}

// close writes the started element, or reports false for a link left
// without attributes.
func (e *emitter) close(selfClosing bool) bool {
	if e.el == "a" {
		if e.attrs = linkAttrs(e.attrs); len(e.attrs) == 0 {
			return false
		}
	}
	b := &e.b
	b.WriteByte('<')
	b.WriteString(e.el)
	for _, a := range e.attrs {
		b.WriteByte(' ')
		b.WriteString(a.key)
		b.WriteString(`="`)
		b.WriteString(html.EscapeString(a.val))
		b.WriteByte('"')
	}
	if selfClosing {
		b.WriteString("/>")
	} else {
		b.WriteByte('>')
	}
	return true
}

// end writes an allowed end tag; false for any other.
func (e *emitter) end(name []byte) bool { return endAs(e, name) }

func endAs[T string | []byte](e *emitter, name T) bool {
	el, ok := allowedElement(name)
	if ok {
		e.b.WriteString("</")
		e.b.WriteString(el)
		e.b.WriteByte('>')
	}
	return ok
}

type attr struct{ key, val string }

// allowedElement returns the element's name as a constant string when it
// is in the allowed set (remoteElements).
func allowedElement[T string | []byte](name T) (string, bool) {
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
func keepAttr[T string | []byte](el string, k, v T) (attr, bool) {
	switch string(k) {
	case "href":
		if el == "a" {
			return attr{"href", string(v)}, true
		}
	case "class":
		if (el == "a" || el == "span") && matchClasses(v) {
			return attr{"class", string(v)}, true
		}
	case "lang":
		if (el == "span" || el == "p") && langTag.MatchString(string(v)) {
			return attr{"lang", string(v)}, true
		}
	case "start":
		if el == "ol" && olStart.MatchString(string(v)) {
			return attr{"start", string(v)}, true
		}
	case "reversed":
		if el == "ol" && olReversed.MatchString(string(v)) {
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
	hrefFound, external := false, false
	for _, a := range attrs {
		if a.key == "href" {
			raw := strings.TrimSpace(a.val)
			u, ok := validURL(raw)
			if !ok {
				continue
			}
			a.val = u.String()
			hrefFound = true
			// bluemonday parses the kept value again to see whether it
			// names a host. When it reads back as the very text just
			// parsed, that parse is this one.
			if a.val == raw {
				external = external || u.Host != ""
			} else if u2, err := url.Parse(a.val); err == nil && u2.Host != "" {
				external = true
			}
		}
		out = append(out, a)
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
// scheme; the kept value is the parsed URL written back (u.String()).
func validURL(raw string) (*url.URL, bool) {
	raw = strings.TrimSpace(raw)
	if strings.ContainsAny(raw, " \t\n") {
		return nil, false
	}
	u, err := url.Parse(raw)
	if err != nil || !allowedScheme(u.Scheme) {
		return nil, false
	}
	return u, true
}

func allowedScheme(s string) bool {
	for _, a := range remoteSchemes {
		if s == a {
			return true
		}
	}
	return false
}

// classWords are the alternatives of remoteClasses. No word is a prefix
// of another, so at any position at most one can match and matchClasses
// needs no backtracking.
var classWords = [...]string{"h-card", "u-url", "mention", "hashtag", "ellipsis", "invisible", "quote-inline", "status-link"}

// matchClasses is remoteClasses.Match(v) without the regexp machinery:
// one or more class words, each optionally surrounded by \s
// ([\t\n\f\r ]). TestMatchClasses holds the two equal.
func matchClasses[T string | []byte](v T) bool {
	words := 0
	for i := 0; ; {
		for i < len(v) && (v[i] == ' ' || v[i] == '\t' || v[i] == '\n' || v[i] == '\f' || v[i] == '\r') {
			i++
		}
		if i == len(v) {
			return words > 0
		}
		n := 0
		for _, w := range classWords {
			if len(v)-i >= len(w) && string(v[i:i+len(w)]) == w {
				n = len(w)
				break
			}
		}
		if n == 0 {
			return false
		}
		i += n
		words++
	}
}
