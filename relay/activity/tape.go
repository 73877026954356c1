package activity

import (
	"strings"
	"sync"
	"unicode/utf16"
	"unicode/utf8"
)

// This file is the front end of the full model decoder (decode.go): one
// validating pass over a document that records every value as a token on
// a flat tape, so that decoding reads members by index instead of
// re-parsing each nested object into a map (what encoding/json's
// map[string]json.RawMessage costs: every level re-validated, every member
// copied).
//
// What the tape accepts, and how strings decode, is exactly what
// encoding/json (v1) accepts and decodes, because the decoder used to be
// built on it and its callers see the difference: invalid UTF-8 inside
// strings is accepted (and decodes to U+FFFD per bad byte), nesting is
// bounded at 10000 levels, lone surrogate escapes decode to U+FFFD.
// decode_ref_test.go keeps the encoding/json decoder as the reference and
// the differential fuzzers hold the two equal.

// jsonMaxNesting is encoding/json's nesting bound: a document nested deeper
// is invalid JSON to it.
const jsonMaxNesting = 10000

// tok is one JSON value on the tape. Containers are followed by their
// members (elements) in order; next is the index just past the value's
// subtree, so siblings are walked by following next.
type tok struct {
	start, end int32 // the value's bytes, without surrounding whitespace
	next       int32
	// kstart, kend are the key's bytes between the quotes when the value
	// is an object member (kend == 0 otherwise).
	kstart, kend int32
	kind         byte // '{', '[', '"', 't', 'f', 'n', or '0' for a number
	flags        byte
}

const (
	fEsc   = 1 << iota // string or key contains a backslash escape
	fHigh              // string contains a byte >= 0x80 (UTF-8 to check)
	fKEsc              // key contains an escape
	fKHigh             // key contains a byte >= 0x80
)

// doc is a parsed document: the body, its tape, and the arena every string
// extracted from it is copied into.
type doc struct {
	b     []byte
	toks  []tok
	stack []int32
	// arena backs the decoded strings: one growing buffer instead of an
	// allocation per string. A strings.Builder only appends, and when it
	// grows the strings handed out keep the old array alive, so they stay
	// valid; a doc never reuses its arena (see release).
	arena strings.Builder
}

var docPool = sync.Pool{New: func() any { return new(doc) }}

// parseDoc validates body as one JSON value and builds its tape. It reports
// false for anything encoding/json would refuse.
func parseDoc(body []byte) (*doc, bool) {
	d := docPool.Get().(*doc)
	d.b = body
	d.toks = d.toks[:0]
	d.stack = d.stack[:0]
	d.arena = strings.Builder{}
	if len(body) > 1<<31-1 || !d.parse() {
		d.release()
		return nil, false
	}
	return d, true
}

// release returns the tape to the pool. Strings already extracted live in
// the arena, which is dropped here, not reused.
func (d *doc) release() {
	if d == nil {
		return
	}
	d.b = nil
	d.arena = strings.Builder{}
	if cap(d.toks) > 1<<14 {
		d.toks = nil // do not keep a huge document's tape around
	}
	docPool.Put(d)
}

func isWS(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func (d *doc) ws(i int) int {
	for i < len(d.b) && isWS(d.b[i]) {
		i++
	}
	return i
}

// parse states: what the next token must be.
const (
	stValue = iota // a value
	stKey          // an object key (after '{' or ',')
	stAfter        // ',' or the closer of the innermost container, or the end
)

func (d *doc) parse() bool {
	b := d.b
	i := 0
	state := stValue
	var kstart, kend int32
	var kflags byte
	for {
		i = d.ws(i)
		switch state {
		case stValue:
			if i >= len(b) {
				return false
			}
			t := int32(len(d.toks))
			d.toks = append(d.toks, tok{start: int32(i), kstart: kstart, kend: kend, flags: kflags})
			kstart, kend, kflags = 0, 0, 0
			tk := &d.toks[t]
			switch c := b[i]; {
			case c == '{' || c == '[':
				if len(d.stack) >= jsonMaxNesting {
					return false
				}
				d.stack = append(d.stack, t)
				tk.kind = c
				i = d.ws(i + 1)
				closer := byte('}')
				if c == '[' {
					closer = ']'
				}
				if i < len(b) && b[i] == closer {
					tk.end, tk.next = int32(i+1), t+1
					d.stack = d.stack[:len(d.stack)-1]
					i++
					state = stAfter
				} else if c == '{' {
					state = stKey
				}
				continue
			case c == '"':
				end, fl, ok := scanString(b, i+1)
				if !ok {
					return false
				}
				tk.kind, tk.flags = '"', tk.flags|fl
				i = end
			case c == 't':
				if !hasLit(b, i, "true") {
					return false
				}
				tk.kind = 't'
				i += 4
			case c == 'f':
				if !hasLit(b, i, "false") {
					return false
				}
				tk.kind = 'f'
				i += 5
			case c == 'n':
				if !hasLit(b, i, "null") {
					return false
				}
				tk.kind = 'n'
				i += 4
			case c == '-' || '0' <= c && c <= '9':
				end, ok := scanNumber(b, i)
				if !ok {
					return false
				}
				tk.kind = '0'
				i = end
			default:
				return false
			}
			tk.end, tk.next = int32(i), t+1
			state = stAfter
		case stKey:
			if i >= len(b) || b[i] != '"' {
				return false
			}
			end, fl, ok := scanString(b, i+1)
			if !ok {
				return false
			}
			kstart, kend = int32(i+1), int32(end-1)
			kflags = fl << 2 // fEsc→fKEsc, fHigh→fKHigh
			i = d.ws(end)
			if i >= len(b) || b[i] != ':' {
				return false
			}
			i++
			state = stValue
		case stAfter:
			if len(d.stack) == 0 {
				return i == len(b)
			}
			if i >= len(b) {
				return false
			}
			top := d.stack[len(d.stack)-1]
			tk := &d.toks[top]
			switch c := b[i]; {
			case c == ',':
				i++
				if tk.kind == '{' {
					state = stKey
				} else {
					state = stValue
				}
			case c == '}' && tk.kind == '{', c == ']' && tk.kind == '[':
				tk.end, tk.next = int32(i+1), int32(len(d.toks))
				d.stack = d.stack[:len(d.stack)-1]
				i++
			default:
				return false
			}
		}
	}
}

func hasLit(b []byte, i int, lit string) bool {
	return len(b)-i >= len(lit) && string(b[i:i+len(lit)]) == lit
}

// scanString scans a string body starting just after its opening quote and
// returns the index just past the closing quote and fEsc/fHigh flags. As
// encoding/json, it refuses control characters and bad escapes and
// accepts any byte >= 0x80.
func scanString(b []byte, i int) (end int, flags byte, ok bool) {
	for {
		// Eight bytes at a time over plain ASCII runs (content, URLs).
		i = skipPlain8(b, i)
		if i >= len(b) {
			return 0, 0, false
		}
		switch c := b[i]; {
		case c == '"':
			return i + 1, flags, true
		case c == '\\':
			flags |= fEsc
			if i+1 >= len(b) {
				return 0, 0, false
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) || !isHex4(b[i+2:i+6]) {
					return 0, 0, false
				}
				i += 6
			default:
				return 0, 0, false
			}
		case c < 0x20:
			return 0, 0, false
		case c >= 0x80:
			flags |= fHigh
			i++
		default:
			i++
		}
	}
}

// scanNumber scans the JSON number grammar from b[i] ('-' or a digit).
func scanNumber(b []byte, i int) (int, bool) {
	if b[i] == '-' {
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
		return 0, false
	}
	if i < len(b) && b[i] == '.' {
		i++
		d := i
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
		if i == d {
			return 0, false
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
			return 0, false
		}
	}
	return i, true
}

// raw returns a value's bytes (aliasing the body).
func (d *doc) raw(t int32) []byte { return d.b[d.toks[t].start:d.toks[t].end] }

func (d *doc) kind(t int32) byte { return d.toks[t].kind }

// str decodes a string token as encoding/json decodes a string: escapes
// resolved, invalid UTF-8 replaced by U+FFFD. ok is false for a token
// that is not a string.
func (d *doc) str(t int32) (string, bool) {
	tk := &d.toks[t]
	if tk.kind != '"' {
		return "", false
	}
	return d.text(d.b[tk.start+1:tk.end-1], tk.flags&fEsc != 0, tk.flags&fHigh != 0), true
}

// key decodes the member key of token t.
func (d *doc) key(t int32) string {
	tk := &d.toks[t]
	return d.text(d.b[tk.kstart:tk.kend], tk.flags&fKEsc != 0, tk.flags&fKHigh != 0)
}

// text copies a string's contents into the arena, decoded.
func (d *doc) text(in []byte, esc, high bool) string {
	if len(in) == 0 {
		return ""
	}
	if d.arena.Cap() == 0 {
		d.arena.Grow(len(d.b))
	}
	n := d.arena.Len()
	if !esc && (!high || utf8.Valid(in)) {
		d.arena.Write(in)
	} else {
		appendUnquoted(&d.arena, in)
	}
	return d.arena.String()[n:]
}

// appendUnquoted writes the decoded form of a validated string body: the
// same bytes encoding/json's Unmarshal into a string produces.
func appendUnquoted(w *strings.Builder, in []byte) {
	for i := 0; i < len(in); {
		c := in[i]
		switch {
		case c == '\\':
			switch in[i+1] {
			case 'b':
				w.WriteByte('\b')
			case 'f':
				w.WriteByte('\f')
			case 'n':
				w.WriteByte('\n')
			case 'r':
				w.WriteByte('\r')
			case 't':
				w.WriteByte('\t')
			case 'u':
				r := hex4(in[i+2 : i+6])
				i += 6
				if utf16.IsSurrogate(r) {
					// A valid pair is one rune; anything else leaves
					// U+FFFD and the second escape (if any) on its own.
					r2 := rune(-1)
					if i+6 <= len(in) && in[i] == '\\' && in[i+1] == 'u' && isHex4(in[i+2:i+6]) {
						r2 = hex4(in[i+2 : i+6])
					}
					if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
						r = dec
						i += 6
					} else {
						r = utf8.RuneError
					}
				}
				w.WriteRune(r)
				continue
			default: // '"', '\\', '/'
				w.WriteByte(in[i+1])
			}
			i += 2
		case c < utf8.RuneSelf:
			w.WriteByte(c)
			i++
		default:
			r, size := utf8.DecodeRune(in[i:])
			if r == utf8.RuneError && size == 1 {
				w.WriteString("\uFFFD")
			} else {
				w.Write(in[i : i+size])
			}
			i += size
		}
	}
}
