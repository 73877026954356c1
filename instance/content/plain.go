package content

import (
	"strings"

	"golang.org/x/net/html"
)

// PlainText returns the text of an HTML fragment as a reader sees it:
// tags removed, entities decoded, paragraphs separated by a blank line and
// <br> by a newline, the invisible parts of shortened links (class
// "invisible") kept so that URLs read whole, and script/style contents
// dropped. Runs of spaces collapse; the result is trimmed. It is for
// keyword rules, search and notifications, never for rendering as HTML.
func PlainText(fragment string) string {
	if fragment == "" {
		return ""
	}
	z := html.NewTokenizer(strings.NewReader(fragment))
	var b strings.Builder
	skip := 0 // inside script/style
	space := false
	newline := func(n int) {
		s := b.String()
		trail := len(s) - len(strings.TrimRight(s, "\n"))
		if len(s) == 0 {
			return
		}
		for ; trail < n; trail++ {
			b.WriteByte('\n')
		}
		space = false
	}
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			return strings.TrimSpace(b.String())
		case html.StartTagToken, html.SelfClosingTagToken:
			name, _ := z.TagName()
			switch string(name) {
			case "script", "style", "template", "noscript":
				if tt == html.StartTagToken {
					skip++
				}
			case "br":
				newline(1)
			case "p", "blockquote", "pre", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "div":
				newline(2)
			case "li":
				newline(1)
			}
		case html.EndTagToken:
			name, _ := z.TagName()
			switch string(name) {
			case "script", "style", "template", "noscript":
				if skip > 0 {
					skip--
				}
			case "p", "blockquote", "pre", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "div":
				newline(2)
			}
		case html.TextToken:
			if skip > 0 {
				continue
			}
			for _, r := range string(z.Text()) {
				if r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '\f' {
					space = true
					continue
				}
				if space {
					s := b.String()
					if len(s) > 0 && s[len(s)-1] != '\n' {
						b.WriteByte(' ')
					}
					space = false
				}
				b.WriteRune(r)
			}
		}
	}
}
