package content

import (
	"strings"

	"golang.org/x/net/html"
)

// strictTokens tokenizes s by itself, feeding e, when s keeps to a strict
// form of HTML on which the HTML5 tokenizer (golang.org/x/net/html, which
// bluemonday uses) evidently reads the same tokens; it reports false,
// having written nothing the caller keeps, for anything else. The form:
//
//   - no '&', '\r' or NUL anywhere, so that nothing is decoded (character
//     references, newline normalisation and NUL replacement are where the
//     tokenizer rewrites text and attribute values);
//   - text is any run of bytes up to a '<';
//   - '<' starts either an end tag, "</" then lowercase letters then '>',
//     or a start tag: lowercase letters, then attributes, each one or more
//     spaces then a lowercase key, '=' and a double-quoted value, then
//     optional spaces and '>' or "/>" (self-closing, as the tokenizer reads
//     a '/' just before the '>'); of a repeated attribute, the first is
//     kept, as the tokenizer keeps it.
//
// Mastodon's HTML (and most peers') is in this form; TestStrictTokens
// and FuzzStrictTokens compare these tokens with the tokenizer's.
func strictTokens(s string, e *emitter) bool {
	if strings.ContainsAny(s, "&\r\x00") {
		return false
	}
	var keyBuf [8]string
	for i := 0; i < len(s); {
		j := strings.IndexByte(s[i:], '<')
		if j < 0 {
			j = len(s) - i
		}
		if j > 0 {
			text := s[i : i+j]
			if strings.ContainsAny(text, `'>"`) {
				text = html.EscapeString(text)
			}
			e.b.WriteString(text)
			i += j
			if i == len(s) {
				break
			}
		}
		// s[i] == '<'
		k := i + 1
		if k < len(s) && s[k] == '/' {
			k++
			n := lowerRun(s, k)
			if n == 0 || k+n >= len(s) || s[k+n] != '>' || !endAs(e, s[k:k+n]) {
				return false
			}
			i = k + n + 1
			continue
		}
		n := lowerRun(s, k)
		if n == 0 || k+n >= len(s) {
			return false
		}
		if c := s[k+n]; c != ' ' && c != '>' && c != '/' {
			return false
		}
		if !startAs(e, s[k:k+n]) {
			return false
		}
		k += n
		selfClosing := false
		keys := keyBuf[:0]
	attrs:
		for {
			sp := k
			for k < len(s) && s[k] == ' ' {
				k++
			}
			if k >= len(s) {
				return false
			}
			switch s[k] {
			case '>':
				k++
				break attrs
			case '/':
				if k+1 < len(s) && s[k+1] == '>' {
					k += 2
					selfClosing = true
					break attrs
				}
				return false
			}
			if k == sp {
				// An attribute must follow a space.
				return false
			}
			ks := k
			if n := lowerRun(s, k); n == 0 {
				return false
			} else {
				k += n
			}
			for k < len(s) && (s[k] >= 'a' && s[k] <= 'z' || s[k] >= '0' && s[k] <= '9' || s[k] == '-') {
				k++
			}
			if k+1 >= len(s) || s[k] != '=' || s[k+1] != '"' {
				return false
			}
			vs := k + 2
			ve := strings.IndexByte(s[vs:], '"')
			if ve < 0 {
				return false
			}
			// The tokenizer keeps the first of repeated attributes.
			if key := s[ks:k]; !seen(keys, key) {
				keys = append(keys, key)
				attrAs(e, key, s[vs:vs+ve])
			}
			k = vs + ve + 1
		}
		if !e.close(selfClosing) {
			return false
		}
		i = k
	}
	return true
}

func lowerRun(s string, i int) int {
	n := 0
	for i+n < len(s) && 'a' <= s[i+n] && s[i+n] <= 'z' {
		n++
	}
	return n
}

func seen(keys []string, k string) bool {
	for _, x := range keys {
		if x == k {
			return true
		}
	}
	return false
}
