package signature

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
)

// DigestHeader returns the Digest header value for body as Mastodon sends
// it: "SHA-256=<standard base64 of SHA-256(body)>". Callers signing a POST
// set it on the request before Sign and list "digest" in the signed headers.
func DigestHeader(body []byte) string {
	sum := sha256.Sum256(body)
	return "SHA-256=" + base64.StdEncoding.EncodeToString(sum[:])
}

// ParseDigest reads a `Digest:` header (RFC 3230), which may hold several
// comma-separated alg=value pairs ("SHA-256=..., SHA-512=..."), and returns
// the SHA-256 one. The algorithm name is matched case-insensitively (senders
// write "SHA-256" and "sha-256"); the value is standard base64.
//
// ok is false with a nil error when the header is well-formed but carries
// no sha-256 value, or is empty. err is non-nil when the header is malformed
// or the sha-256 value is not 32 bytes of base64.
func ParseDigest(h []byte) (sum [32]byte, ok bool, err error) {
	return parseDigest(string(h))
}

// parseDigest is ParseDigest of a header value already held as a string
// (the request view's), without copying it again.
func parseDigest(s string) (sum [32]byte, ok bool, err error) {
	s = trimOWS(s)
	for s != "" {
		var member string
		if i := strings.IndexByte(s, ','); i >= 0 {
			member, s = s[:i], s[i+1:]
		} else {
			member, s = s, ""
		}
		member = trimOWS(member)
		if member == "" {
			continue
		}
		eq := strings.IndexByte(member, '=')
		if eq <= 0 {
			return sum, false, errors.New("Digest member " + quoteShort(member) + " is not alg=value")
		}
		name := trimOWS(member[:eq])
		if !strings.EqualFold(name, "sha-256") {
			continue
		}
		b, derr := base64.StdEncoding.DecodeString(trimOWS(member[eq+1:]))
		if derr != nil || len(b) != sha256.Size {
			return sum, false, errors.New("Digest SHA-256 value is not the standard base64 of 32 bytes")
		}
		if ok && [32]byte(b) != sum {
			return sum, false, errors.New("Digest carries two different SHA-256 values")
		}
		sum, ok = [32]byte(b), true
	}
	return sum, ok, nil
}

// ParseContentDigest reads an RFC 9530 `Content-Digest:` header, a
// structured-field dictionary such as `sha-256=:<base64>:, sha-512=:...:`
// (RFC 8941), and returns the sha-256 member. ok and err mean as for
// ParseDigest. Members other than sha-256 are syntax-checked and skipped.
func ParseContentDigest(h []byte) (sum [32]byte, ok bool, err error) {
	p := sfParser{s: h}
	p.skipSP()
	if p.eof() {
		return sum, false, nil
	}
	for {
		key, err := p.key()
		if err != nil {
			return sum, false, err
		}
		var val []byte
		var kind byte
		if p.peek('=') {
			p.i++
			if p.peek('(') {
				err = p.innerList()
			} else {
				kind, val, err = p.bareItem()
			}
			if err != nil {
				return sum, false, err
			}
		}
		if err := p.params(); err != nil {
			return sum, false, err
		}
		if key == "sha-256" {
			// RFC 8941: a later duplicate key overrides an earlier one.
			if kind != ':' {
				return sum, false, errors.New("Content-Digest sha-256 is not a byte sequence (want sha-256=:<base64>:)")
			}
			b, derr := base64.StdEncoding.DecodeString(string(val))
			if derr != nil || len(b) != sha256.Size {
				return sum, false, errors.New("Content-Digest sha-256 is not the base64 of 32 bytes")
			}
			sum, ok = [32]byte(b), true
		}
		p.skipOWS()
		if p.eof() {
			return sum, ok, nil
		}
		if !p.peek(',') {
			return sum, false, p.errorf("expected ',' between members")
		}
		p.i++
		p.skipOWS()
		if p.eof() {
			return sum, false, p.errorf("trailing comma")
		}
	}
}

// sfParser is the part of an RFC 8941 parser that Content-Digest needs.
type sfParser struct {
	s []byte
	i int
}

func (p *sfParser) eof() bool        { return p.i >= len(p.s) }
func (p *sfParser) peek(c byte) bool { return p.i < len(p.s) && p.s[p.i] == c }
func (p *sfParser) errorf(msg string) error {
	return errors.New("Content-Digest: " + msg + " at offset " + itoa(p.i))
}

func (p *sfParser) skipSP() {
	for p.i < len(p.s) && p.s[p.i] == ' ' {
		p.i++
	}
}

func (p *sfParser) skipOWS() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
}

func isLCAlpha(c byte) bool { return 'a' <= c && c <= 'z' }
func isDigit(c byte) bool   { return '0' <= c && c <= '9' }

func (p *sfParser) key() (string, error) {
	if p.eof() || !(isLCAlpha(p.s[p.i]) || p.s[p.i] == '*') {
		return "", p.errorf("expected a lowercase key")
	}
	start := p.i
	for p.i < len(p.s) {
		c := p.s[p.i]
		if !(isLCAlpha(c) || isDigit(c) || c == '_' || c == '-' || c == '.' || c == '*') {
			break
		}
		p.i++
	}
	return string(p.s[start:p.i]), nil
}

// params skips ;key[=bare-item] parameters.
func (p *sfParser) params() error {
	for p.peek(';') {
		p.i++
		p.skipSP()
		if _, err := p.key(); err != nil {
			return err
		}
		if p.peek('=') {
			p.i++
			if _, _, err := p.bareItem(); err != nil {
				return err
			}
		}
	}
	return nil
}

func (p *sfParser) innerList() error {
	p.i++ // '('
	for {
		p.skipSP()
		if p.eof() {
			return p.errorf("unterminated inner list")
		}
		if p.peek(')') {
			p.i++
			return p.params()
		}
		if _, _, err := p.bareItem(); err != nil {
			return err
		}
		if err := p.params(); err != nil {
			return err
		}
		if !p.peek(' ') && !p.peek(')') {
			return p.errorf("expected ' ' or ')' in inner list")
		}
	}
}

// bareItem parses one bare item and returns its kind — ':' byte
// sequence, '"' string, '0' number, 't' token, '?' boolean — and its
// value: the base64 text of a byte sequence, the unescaped content of a
// string, the text of a number or token.
func (p *sfParser) bareItem() (kind byte, val []byte, err error) {
	if p.eof() {
		return 0, nil, p.errorf("expected a value")
	}
	switch c := p.s[p.i]; {
	case c == ':':
		p.i++
		start := p.i
		for p.i < len(p.s) && p.s[p.i] != ':' {
			c := p.s[p.i]
			if !(isLCAlpha(c) || ('A' <= c && c <= 'Z') || isDigit(c) || c == '+' || c == '/' || c == '=') {
				return 0, nil, p.errorf("invalid character in byte sequence")
			}
			p.i++
		}
		if p.eof() {
			return 0, nil, p.errorf("unterminated byte sequence")
		}
		val = p.s[start:p.i]
		p.i++
		return ':', val, nil
	case c == '"':
		p.i++
		start, esc := p.i, false
		for p.i < len(p.s) {
			c := p.s[p.i]
			switch {
			case c == '\\':
				if p.i+1 >= len(p.s) || (p.s[p.i+1] != '"' && p.s[p.i+1] != '\\') {
					return 0, nil, p.errorf("invalid escape in string")
				}
				esc = true
				p.i += 2
				continue
			case c == '"':
				val = p.s[start:p.i]
				p.i++
				if esc {
					out := make([]byte, 0, len(val))
					for i := 0; i < len(val); i++ {
						if val[i] == '\\' {
							i++
						}
						out = append(out, val[i])
					}
					val = out
				}
				return '"', val, nil
			case c < 0x20 || c > 0x7e:
				return 0, nil, p.errorf("invalid character in string")
			}
			p.i++
		}
		return 0, nil, p.errorf("unterminated string")
	case c == '?':
		if p.i+1 < len(p.s) && (p.s[p.i+1] == '0' || p.s[p.i+1] == '1') {
			p.i += 2
			return '?', p.s[p.i-1 : p.i], nil
		}
		return 0, nil, p.errorf("invalid boolean")
	case c == '-' || isDigit(c):
		start := p.i
		if c == '-' {
			p.i++
		}
		digits := p.i
		for p.i < len(p.s) && (isDigit(p.s[p.i]) || p.s[p.i] == '.') {
			p.i++
		}
		if p.i == digits || p.i-digits > 20 {
			return 0, nil, p.errorf("invalid number")
		}
		return '0', p.s[start:p.i], nil
	case c == '*' || ('A' <= c && c <= 'Z') || isLCAlpha(c):
		start := p.i
		p.i++
		for p.i < len(p.s) {
			c := p.s[p.i]
			if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),;<=>?@[\]{}`, c) >= 0 {
				break
			}
			p.i++
		}
		return 't', p.s[start:p.i], nil
	default:
		return 0, nil, p.errorf("unexpected character")
	}
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}
