package activity

import (
	"encoding/binary"
	"math/bits"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// maxDepth bounds nesting. Real activities nest about six deep (Create →
// Note → attachment → focalPoint); the bound keeps a hostile body from
// costing stack.
const maxDepth = 64

// SyntaxError reports malformed JSON at a byte offset of the body.
type SyntaxError struct {
	Offset int
	Msg    string
}

func (e *SyntaxError) Error() string {
	return "activity: invalid JSON at offset " + strconv.Itoa(e.Offset) + ": " + e.Msg
}

// scanner walks a JSON document. Every method leaves s.i just past what it
// consumed; on error the document is rejected as a whole.
type scanner struct {
	b     []byte
	i     int
	depth int
	// arena backs every extracted string: one allocation for all of them
	// instead of one each. Bytes once written never change (a Builder only
	// appends; when it grows, earlier strings keep the old array alive), so
	// the strings it hands out stay valid.
	arena strings.Builder
}

func (s *scanner) errAt(msg string) error { return &SyntaxError{Offset: s.i, Msg: msg} }

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// expect consumes c after optional whitespace.
func (s *scanner) expect(c byte, what string) error {
	s.ws()
	if s.i >= len(s.b) {
		return s.errAt("unexpected end of input, expected " + what)
	}
	if s.b[s.i] != c {
		return s.errAt("expected " + what + ", found " + strconv.QuoteRune(rune(s.b[s.i])))
	}
	s.i++
	return nil
}

const (
	lo = 0x0101010101010101
	hi = 0x8080808080808080
)

// skipPlain8 advances i over b eight bytes at a time while none of them is
// a quote, a backslash, a control character or a byte >= 0x80, and returns
// the index of the first such byte (or of the last, shorter-than-eight
// tail). The lowest flagged byte of a word is a true hit: borrows only
// create false flags above a real one.
func skipPlain8(b []byte, i int) int {
	for i+8 <= len(b) {
		w := binary.LittleEndian.Uint64(b[i:])
		q := w ^ (lo * '"')
		e := w ^ (lo * '\\')
		m := ((q - lo) &^ q) | ((e - lo) &^ e) | ((w - lo*0x20) &^ w) | w
		if m &= hi; m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
		i += 8
	}
	return i
}

// plain marks bytes that need no attention inside a string.
var plain = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// str scans a string starting at s.b[s.i] == '"' and returns the span of
// its raw contents and whether it contains escapes.
func (s *scanner) str() (start, end int, esc bool, err error) {
	s.i++
	start = s.i
	b := s.b
	for {
		i := s.i
		// Eight bytes at a time: most of an activity is long runs of plain
		// ASCII inside strings (content, URLs, signatures).
		i = skipPlain8(b, i)
		for i < len(b) && plain[b[i]] {
			i++
		}
		s.i = i
		if i >= len(b) {
			return 0, 0, false, s.errAt("unterminated string")
		}
		switch c := b[i]; {
		case c == '"':
			s.i++
			return start, i, esc, nil
		case c == '\\':
			esc = true
			if i+1 >= len(b) {
				return 0, 0, false, s.errAt("unterminated escape")
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.i = i + 2
			case 'u':
				if i+6 > len(b) || !isHex4(b[i+2:i+6]) {
					return 0, 0, false, s.errAt(`invalid \u escape`)
				}
				s.i = i + 6
			default:
				return 0, 0, false, s.errAt("invalid escape character " + strconv.QuoteRune(rune(b[i+1])))
			}
		case c < 0x20:
			return 0, 0, false, s.errAt("control character in string")
		default:
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size == 1 {
				return 0, 0, false, s.errAt("invalid UTF-8 in string")
			}
			s.i = i + size
		}
	}
}

func isHex4(b []byte) bool {
	for _, c := range b {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// text returns the decoded value of a string span found by str, copied
// into the arena (the result never aliases the body).
func (s *scanner) text(start, end int, esc bool) string {
	if s.arena.Cap() == 0 {
		s.arena.Grow(arenaSize)
	}
	n := s.arena.Len()
	if !esc {
		s.arena.Write(s.b[start:end])
	} else {
		s.arena.WriteString(unescape(s.b[start:end]))
	}
	return s.arena.String()[n:]
}

// arenaSize fits the strings extracted from a typical Create (about 400
// bytes for Mastodon's); larger envelopes grow the arena.
const arenaSize = 512

// unescape decodes JSON escapes; the input has been validated by str.
// Lone surrogates become U+FFFD, as encoding/json does.
func unescape(raw []byte) string {
	out := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); {
		c := raw[i]
		if c != '\\' {
			out = append(out, c)
			i++
			continue
		}
		switch raw[i+1] {
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r := hex4(raw[i+2 : i+6])
			i += 6
			if utf16.IsSurrogate(r) {
				if i+6 <= len(raw) && raw[i] == '\\' && raw[i+1] == 'u' {
					if r2 := utf16.DecodeRune(r, hex4(raw[i+2:i+6])); r2 != utf8.RuneError {
						r = r2
						i += 6
					} else {
						r = utf8.RuneError
					}
				} else {
					r = utf8.RuneError
				}
			}
			out = utf8.AppendRune(out, r)
			continue
		default: // '"', '\\', '/'
			out = append(out, raw[i+1])
		}
		i += 2
	}
	return string(out)
}

func hex4(b []byte) rune {
	var r rune
	for _, c := range b {
		r <<= 4
		switch {
		case c <= '9':
			r |= rune(c - '0')
		case c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			r |= rune(c - 'a' + 10)
		}
	}
	return r
}

// skip validates and skips one value of any kind.
func (s *scanner) skip() error {
	s.ws()
	if s.i >= len(s.b) {
		return s.errAt("unexpected end of input, expected a value")
	}
	switch c := s.b[s.i]; {
	case c == '"':
		_, _, _, err := s.str()
		return err
	case c == '{':
		return s.object(func(int, int, bool) (bool, error) { return false, nil })
	case c == '[':
		return s.array(func(int) (bool, error) { return false, nil })
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	case c == '-' || ('0' <= c && c <= '9'):
		return s.number()
	default:
		return s.errAt("unexpected character " + strconv.QuoteRune(rune(c)))
	}
}

func (s *scanner) literal(lit string) error {
	if len(s.b)-s.i < len(lit) || string(s.b[s.i:s.i+len(lit)]) != lit {
		return s.errAt("invalid literal (want true, false or null)")
	}
	s.i += len(lit)
	return nil
}

func (s *scanner) number() error {
	b, i := s.b, s.i
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
	default:
		s.i = i
		return s.errAt("invalid number")
	}
	if i < len(b) && b[i] == '.' {
		i++
		d := i
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
		if i == d {
			s.i = i
			return s.errAt("invalid number: no digits after '.'")
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		d := i
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
		if i == d {
			s.i = i
			return s.errAt("invalid number: no digits in exponent")
		}
	}
	s.i = i
	return nil
}

// object scans an object at s.b[s.i] == '{'. For each member, member is
// called with the key span; it either consumes the value itself (returning
// true) or leaves it to be skipped (false).
func (s *scanner) object(member func(start, end int, esc bool) (bool, error)) error {
	if s.depth++; s.depth > maxDepth {
		return s.errAt("nesting deeper than " + strconv.Itoa(maxDepth))
	}
	s.i++ // '{'
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == '}' {
		s.i++
		s.depth--
		return nil
	}
	for {
		s.ws()
		if s.i >= len(s.b) || s.b[s.i] != '"' {
			if s.i >= len(s.b) {
				return s.errAt("unexpected end of input, expected an object key")
			}
			return s.errAt("expected an object key string")
		}
		ks, ke, kesc, err := s.str()
		if err != nil {
			return err
		}
		if err := s.expect(':', "':' after object key"); err != nil {
			return err
		}
		s.ws()
		done, err := member(ks, ke, kesc)
		if err != nil {
			return err
		}
		if !done {
			if err := s.skip(); err != nil {
				return err
			}
		}
		if end, err := s.afterValue('}', "object member"); end || err != nil {
			return err
		}
	}
}

// array scans an array at s.b[s.i] == '['; elem is called for each element
// with its index and consumes it (true) or leaves it to be skipped.
func (s *scanner) array(elem func(n int) (bool, error)) error {
	if s.depth++; s.depth > maxDepth {
		return s.errAt("nesting deeper than " + strconv.Itoa(maxDepth))
	}
	s.i++ // '['
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == ']' {
		s.i++
		s.depth--
		return nil
	}
	for n := 0; ; n++ {
		s.ws()
		done, err := elem(n)
		if err != nil {
			return err
		}
		if !done {
			if err := s.skip(); err != nil {
				return err
			}
		}
		if end, err := s.afterValue(']', "array element"); end || err != nil {
			return err
		}
	}
}

// afterValue consumes what follows a member or element: a ',' (more to
// come) or the container's closer (end is true, and the depth drops).
func (s *scanner) afterValue(closer byte, what string) (end bool, err error) {
	s.ws()
	if s.i >= len(s.b) {
		return false, s.errAt("unexpected end of input, expected ',' or '" + string(closer) + "'")
	}
	switch s.b[s.i] {
	case ',':
		s.i++
		return false, nil
	case closer:
		s.i++
		s.depth--
		return true, nil
	}
	return false, s.errAt("expected ',' or '" + string(closer) + "' after " + what)
}

// at reports whether the next value starts with c (whitespace skipped).
func (s *scanner) at(c byte) bool {
	s.ws()
	return s.i < len(s.b) && s.b[s.i] == c
}
