package policy

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// A small single-pass JSON reader for activities. encoding/json costs
// several passes over the bytes (validation, then one decode per nested
// json.RawMessage) and reflection; a typical Create(Note) decision must stay
// under 20 µs including the parse, so we validate once and then walk spans
// of the validated bytes, decoding only the fields rules read.
//
// Keys are matched exactly (JSON-LD is case-sensitive), unlike
// encoding/json's case-insensitive struct matching.

// jspan is the byte range of one JSON value; the zero span is "absent".
type jspan struct{ s, e int }

func (sp jspan) ok() bool { return sp.e > 0 }

// valid says b is known to be valid JSON (Input.Validated): walkers may
// then skip keys without validating them.
type jdoc struct {
	b     []byte
	valid bool
}

// maxJSONDepth matches encoding/json's nesting limit.
const maxJSONDepth = 10000

var errJSONSyntax = errors.New("invalid JSON")

func (d *jdoc) ws(i int) int {
	for i < len(d.b) {
		switch d.b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// validate checks that the whole document is one JSON value.
func (d *jdoc) validate() error {
	end, err := d.skip(0, 0)
	if err != nil {
		return err
	}
	if d.ws(end) != len(d.b) {
		return errors.New("invalid JSON: data after the top-level value")
	}
	return nil
}

// skip returns the index after the value starting at or after i.
func (d *jdoc) skip(i, depth int) (int, error) {
	b := d.b
	i = d.ws(i)
	if i >= len(b) {
		return 0, errJSONSyntax
	}
	switch c := b[i]; c {
	case '"':
		end, _, err := d.skipString(i)
		return end, err
	case '{', '[':
		if depth >= maxJSONDepth {
			return 0, errors.New("invalid JSON: nested too deeply")
		}
		closer := byte('}')
		if c == '[' {
			closer = ']'
		}
		i = d.ws(i + 1)
		if i < len(b) && b[i] == closer {
			return i + 1, nil
		}
		for {
			var err error
			if c == '{' {
				i = d.ws(i)
				if i >= len(b) || b[i] != '"' {
					return 0, errJSONSyntax
				}
				if i, _, err = d.skipString(i); err != nil {
					return 0, err
				}
				i = d.ws(i)
				if i >= len(b) || b[i] != ':' {
					return 0, errJSONSyntax
				}
				i++
			}
			if i, err = d.skip(i, depth+1); err != nil {
				return 0, err
			}
			i = d.ws(i)
			if i >= len(b) {
				return 0, errJSONSyntax
			}
			if b[i] == ',' {
				i++
				continue
			}
			if b[i] == closer {
				return i + 1, nil
			}
			return 0, errJSONSyntax
		}
	case 't':
		return d.literal(i, "true")
	case 'f':
		return d.literal(i, "false")
	case 'n':
		return d.literal(i, "null")
	default:
		return d.number(i)
	}
}

func (d *jdoc) literal(i int, lit string) (int, error) {
	if len(d.b)-i >= len(lit) && string(d.b[i:i+len(lit)]) == lit {
		return i + len(lit), nil
	}
	return 0, errJSONSyntax
}

func (d *jdoc) number(i int) (int, error) {
	b := d.b
	digits := func(i int) (int, bool) {
		j := i
		for j < len(b) && '0' <= b[j] && b[j] <= '9' {
			j++
		}
		return j, j > i
	}
	if i < len(b) && b[i] == '-' {
		i++
	}
	if i < len(b) && b[i] == '0' {
		i++
	} else {
		var ok bool
		if i, ok = digits(i); !ok {
			return 0, errJSONSyntax
		}
	}
	if i < len(b) && b[i] == '.' {
		var ok bool
		if i, ok = digits(i + 1); !ok {
			return 0, errJSONSyntax
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		var ok bool
		if i, ok = digits(i); !ok {
			return 0, errJSONSyntax
		}
	}
	return i, nil
}

// skipString returns the index after the string starting at i and whether
// it needs decoding (escapes or invalid UTF-8).
func (d *jdoc) skipString(i int) (int, bool, error) {
	b := d.b
	slow := false
	for i++; i < len(b); {
		// Eight bytes at a time while none needs a look: long post
		// contents are mostly plain ASCII.
		for i+8 <= len(b) && !special8(binary.LittleEndian.Uint64(b[i:])) {
			i += 8
		}
		if i >= len(b) {
			break
		}
		c := b[i]
		if !strSpecial[c] {
			i++
			continue
		}
		switch {
		case c == '"':
			return i + 1, slow, nil
		case c == '\\':
			slow = true
			if i+1 >= len(b) {
				return 0, false, errJSONSyntax
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) {
					return 0, false, errJSONSyntax
				}
				for _, h := range b[i+2 : i+6] {
					if !isHex(h) {
						return 0, false, errJSONSyntax
					}
				}
				i += 6
			default:
				return 0, false, errJSONSyntax
			}
		case c < 0x20:
			return 0, false, errJSONSyntax
		case c >= utf8.RuneSelf:
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size == 1 {
				slow = true
			}
			i += size
		default:
			i++
		}
	}
	return 0, false, errJSONSyntax
}

// strSpecial marks the bytes skipString must look at: the quote, the
// backslash, control characters and non-ASCII bytes.
var strSpecial = func() (t [256]bool) {
	for c := 0; c < 256; c++ {
		t[c] = c == '"' || c == '\\' || c < 0x20 || c >= utf8.RuneSelf
	}
	return t
}()

// special8 reports whether any of the eight bytes in x is a quote, a
// backslash, a control character or non-ASCII (the classic SWAR "has zero
// byte" test, applied per condition).
func special8(x uint64) bool {
	const lo, hi = 0x0101010101010101, 0x8080808080808080
	q := x ^ ('"' * lo)
	bs := x ^ ('\\' * lo)
	return (x|((x-0x20*lo)&^x)|((q-lo)&^q)|((bs-lo)&^bs))&hi != 0
}

// hex4 decodes four validated hex digits.
func hex4(h []byte) rune {
	var r rune
	for _, c := range h[:4] {
		switch {
		case c <= '9':
			c -= '0'
		case c >= 'a':
			c -= 'a' - 10
		default:
			c -= 'A' - 10
		}
		r = r<<4 | rune(c)
	}
	return r
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// Below, spans come from a validated document, so the walkers trust the
// syntax.

// structural marks the bytes skipFast stops at inside containers.
var structural = [256]bool{'"': true, '{': true, '}': true, '[': true, ']': true}

// skipFast returns the end of the value at i of a validated document: it
// only tracks strings and nesting, which is several times cheaper than
// skip's full validation.
func (d *jdoc) skipFast(i int) int {
	b := d.b
	switch b[i] {
	case '"':
		return d.stringEnd(i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			c := b[i]
			if !structural[c] {
				i++
				continue
			}
			switch c {
			case '"':
				i = d.stringEnd(i)
				continue
			case '{', '[':
				depth++
			default:
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return len(b)
	}
	for i < len(b) {
		switch b[i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return i
		}
		i++
	}
	return i
}

// stringEnd returns the index after the validated string starting at i.
// It jumps from quote to quote with bytes.IndexByte (vectorised), so the
// many \u003c escapes of Mastodon's HTML do not interrupt it; a quote
// preceded by an odd run of backslashes is escaped (in valid JSON such a
// run is \\ pairs, then \" when odd).
func (d *jdoc) stringEnd(i int) int {
	b := d.b
	j := i + 1
	for {
		q := bytes.IndexByte(b[j:], '"')
		if q < 0 {
			return len(b)
		}
		q += j
		k := q - 1
		for b[k] == '\\' { // stops at the opening quote at the latest
			k--
		}
		if (q-1-k)%2 == 0 {
			return q + 1
		}
		j = q + 1
	}
}

// str returns the value at sp if it is a string, else "".
func (d *jdoc) str(sp jspan) string {
	if !sp.ok() || d.b[sp.s] != '"' {
		return ""
	}
	body := d.b[sp.s+1 : sp.e-1]
	if bytes.IndexByte(body, '\\') < 0 && utf8.Valid(body) {
		return string(body)
	}
	return decodeJSONString(body)
}

// owned returns the string at sp decoded into a new buffer the caller
// owns (nil if sp is not a string), as str would return it.
func (d *jdoc) owned(sp jspan) []byte {
	if !sp.ok() || d.b[sp.s] != '"' {
		return nil
	}
	body := d.b[sp.s+1 : sp.e-1]
	if bytes.IndexByte(body, '\\') < 0 && utf8.Valid(body) {
		return bytes.Clone(body)
	}
	return decodeJSONBytes(body)
}

// decodeJSONString decodes the inside of a validated JSON string; invalid
// UTF-8 and lone surrogates become U+FFFD, as encoding/json does.
func decodeJSONString(body []byte) string {
	out := decodeJSONBytes(body)
	return unsafe.String(unsafe.SliceData(out), len(out)) // out is not used again
}

// decodeJSONBytes is decodeJSONString into a new buffer.
func decodeJSONBytes(body []byte) []byte {
	valid := utf8.Valid(body) // escapes are ASCII: runs of a valid body are valid
	out := make([]byte, 0, len(body))
	for i := 0; i < len(body); {
		// Copy the run up to the next escape at once; Mastodon escapes
		// every < and > as \u003c/\u003e, so runs are short but many.
		j := bytes.IndexByte(body[i:], '\\')
		if j < 0 {
			j = len(body) - i
		}
		if run := body[i : i+j]; valid || utf8.Valid(run) {
			out = append(out, run...)
		} else {
			out = appendValidUTF8(out, run)
		}
		i += j
		if i >= len(body) {
			break
		}
		switch body[i+1] {
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
			r := hex4(body[i+2 : i+6])
			i += 6
			if utf16.IsSurrogate(r) {
				if i+6 <= len(body) && body[i] == '\\' && body[i+1] == 'u' {
					if dec := utf16.DecodeRune(r, hex4(body[i+2:i+6])); dec != utf8.RuneError {
						out = utf8.AppendRune(out, dec)
						i += 6
						continue
					}
				}
				r = utf8.RuneError
			}
			if r < utf8.RuneSelf {
				out = append(out, byte(r))
			} else {
				out = utf8.AppendRune(out, r)
			}
			continue
		default: // '"', '\\', '/'
			out = append(out, body[i+1])
		}
		i += 2
	}
	return out
}

// appendValidUTF8 appends b with each invalid byte replaced by U+FFFD, as
// encoding/json does.
func appendValidUTF8(out, b []byte) []byte {
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 {
			out = utf8.AppendRune(out, utf8.RuneError)
		} else {
			out = append(out, b[i:i+size]...)
		}
		i += size
	}
	return out
}

// membersV walks the object at i, validating its syntax; fn is given each
// key and the start of its value and must return the value's end, either
// by skipping it (validating) or by walking it itself.
func (d *jdoc) membersV(i int, fn func(key []byte, vs int) (int, error)) (int, error) {
	b := d.b
	i = d.ws(i)
	if i >= len(b) || b[i] != '{' {
		return 0, errJSONSyntax
	}
	i = d.ws(i + 1)
	if i < len(b) && b[i] == '}' {
		return i + 1, nil
	}
	for {
		i = d.ws(i)
		if i >= len(b) || b[i] != '"' {
			return 0, errJSONSyntax
		}
		var kend int
		if d.valid {
			kend = d.stringEnd(i)
		} else {
			var err error
			if kend, _, err = d.skipString(i); err != nil {
				return 0, err
			}
		}
		key := b[i+1 : kend-1]
		i = d.ws(kend)
		if i >= len(b) || b[i] != ':' {
			return 0, errJSONSyntax
		}
		vs := d.ws(i + 1)
		if vs >= len(b) {
			return 0, errJSONSyntax
		}
		ve, err := fn(key, vs)
		if err != nil {
			return 0, err
		}
		i = d.ws(ve)
		if i >= len(b) {
			return 0, errJSONSyntax
		}
		if b[i] == '}' {
			return i + 1, nil
		}
		if b[i] != ',' {
			return 0, errJSONSyntax
		}
		i++
	}
}

// members calls fn with each key (raw bytes, escapes undecoded: the keys we
// look for have none) and value span of the object at sp. Not an object:
// no calls.
func (d *jdoc) members(sp jspan, fn func(key []byte, v jspan)) {
	if !sp.ok() || d.b[sp.s] != '{' {
		return
	}
	i := d.ws(sp.s + 1)
	if d.b[i] == '}' {
		return
	}
	for {
		i = d.ws(i)
		kend := d.stringEnd(i)
		key := d.b[i+1 : kend-1]
		i = d.ws(kend) + 1 // ':'
		vs := d.ws(i)
		ve := d.skipFast(vs)
		fn(key, jspan{vs, ve})
		i = d.ws(ve)
		if d.b[i] == '}' {
			return
		}
		i++ // ','
	}
}

// elems calls fn with each element span of the array at sp, or once with
// sp itself when it is not an array (ActivityStreams allows a single value
// wherever a list is allowed).
func (d *jdoc) elems(sp jspan, fn func(v jspan)) {
	if !sp.ok() {
		return
	}
	if d.b[sp.s] != '[' {
		fn(sp)
		return
	}
	i := d.ws(sp.s + 1)
	if d.b[i] == ']' {
		return
	}
	for {
		vs := d.ws(i)
		ve := d.skipFast(vs)
		fn(jspan{vs, ve})
		i = d.ws(ve)
		if d.b[i] == ']' {
			return
		}
		i++
	}
}

// view returns the string at sp without copying when it has no escapes:
// the result aliases the document and MUST NOT be kept beyond the parse.
func (d *jdoc) view(sp jspan) string {
	if !sp.ok() || d.b[sp.s] != '"' {
		return ""
	}
	body := d.b[sp.s+1 : sp.e-1]
	if bytes.IndexByte(body, '\\') < 0 {
		return unsafe.String(unsafe.SliceData(body), len(body))
	}
	return decodeJSONString(body)
}

// refView is ref without copying (see view): a string, or an object's id.
func (d *jdoc) refView(sp jspan) string {
	if !sp.ok() {
		return ""
	}
	switch d.b[sp.s] {
	case '"':
		return d.view(sp)
	case '{':
		return d.view(d.field(sp, "id"))
	}
	return ""
}

// firstView is firstString without copying (see view).
func (d *jdoc) firstView(sp jspan) string {
	out := ""
	d.elems(sp, func(v jspan) {
		if out == "" {
			out = d.view(v)
		}
	})
	return out
}

// internType returns the ActivityStreams type and media type names rules
// see most as constants, so the parse does not copy them for every
// activity; others are copied.
func internType(s string) string {
	switch s {
	case "Note":
		return "Note"
	case "Question":
		return "Question"
	case "Article":
		return "Article"
	case "Page":
		return "Page"
	case "Person":
		return "Person"
	case "Document":
		return "Document"
	case "Image":
		return "Image"
	case "Video":
		return "Video"
	case "image/jpeg":
		return "image/jpeg"
	case "image/png":
		return "image/png"
	case "image/webp":
		return "image/webp"
	case "image/gif":
		return "image/gif"
	case "video/mp4":
		return "video/mp4"
	}
	return strings.Clone(s)
}

// firstString returns a string, or the first string of an array.
func (d *jdoc) firstString(sp jspan) string {
	out := ""
	d.elems(sp, func(v jspan) {
		if out == "" {
			out = d.str(v)
		}
	})
	return out
}

// field returns the span of one key of an object.
func (d *jdoc) field(sp jspan, key string) jspan {
	var out jspan
	d.members(sp, func(k []byte, v jspan) {
		if string(k) == key {
			out = v
		}
	})
	return out
}

// ref returns a reference: a string, an object's "id", or the first
// element's reference of an array.
func (d *jdoc) ref(sp jspan) string {
	if !sp.ok() {
		return ""
	}
	switch d.b[sp.s] {
	case '"':
		return d.str(sp)
	case '{':
		return d.str(d.field(sp, "id"))
	case '[':
		out := ""
		first := true
		d.elems(sp, func(v jspan) {
			if first {
				out, first = d.ref(v), false
			}
		})
		return out
	}
	return ""
}

// refs appends the references in a string, object or array to dst.
func (d *jdoc) refs(sp jspan, dst []string) []string {
	d.elems(sp, func(v jspan) {
		if d.b[v.s] == '[' {
			return
		}
		if r := d.ref(v); r != "" {
			dst = append(dst, r)
		}
	})
	return dst
}

// firstElem returns the first element of an array, or sp itself.
func (d *jdoc) firstElem(sp jspan) jspan {
	if !sp.ok() || d.b[sp.s] != '[' {
		return sp
	}
	var out jspan
	d.elems(sp, func(v jspan) {
		if !out.ok() {
			out = v
		}
	})
	return out
}
