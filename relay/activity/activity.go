package activity

import (
	"errors"
	"strconv"
	"strings"
)

// PublicCollection is the ActivityStreams public addressing IRI.
const PublicCollection = "https://www.w3.org/ns/activitystreams#Public"

// Envelope is what the ingress needs from an activity before verifying it.
//
// Its strings are fresh copies: an Envelope never aliases the body, so the
// caller may reuse or release the body buffer (fasthttp recycles it) once
// Parse returns.
type Envelope struct {
	ID   string // the activity id; required
	Type string // "Create", "Follow", ...; the first one when "type" is an array
	// Actor is the actor's id: the string itself, or the "id" of an
	// embedded actor object, or of the first element of an array.
	Actor string
	// Object is the object's id: the string itself, or the "id" of an
	// embedded object. When "object" is an array (Mastodon's Flag lists the
	// account and the statuses), Object is the first element's id.
	// Empty when the activity has no object.
	Object string
	// ObjectEmbedded is true when the object is given inline. Its fields
	// are claims of the sender, not facts: the ingress must not trust an
	// embedded object from another origin without fetching it.
	ObjectEmbedded     bool
	ObjectType         string // type of an embedded object, "" otherwise
	ObjectAttributedTo string // attributedTo of an embedded object, "" otherwise
	// To, Cc and Audience hold the string entries of the addressing fields
	// (a lone string counts as a one-entry list; objects contribute their
	// "id"), in document order.
	To, Cc, Audience []string
	Published        string // as sent; not parsed
}

// Public reports whether the activity is addressed to the public
// collection in to, cc or audience, by its full IRI or the compacted
// "as:Public" / "Public" forms some LitePub peers send.
func (e *Envelope) Public() bool {
	for _, l := range [3][]string{e.To, e.Cc, e.Audience} {
		for _, a := range l {
			if isPublic(a) {
				return true
			}
		}
	}
	return false
}

func isPublic(a string) bool {
	return a == PublicCollection || a == "as:Public" || a == "Public"
}

// Top-level keys the envelope extracts, indexed by field constants below.
var topKeys = [...]string{"id", "type", "actor", "object", "to", "cc", "audience", "published"}

const (
	fID = iota
	fType
	fActor
	fObject
	fTo
	fCc
	fAudience
	fPublished
)

// Keys read from an embedded object, and from actor/attributedTo objects.
var (
	objectKeys = [...]string{"id", "type", "attributedTo"}
	idKey      = [...]string{"id"}
)

// Parse scans body once, validating that it is one syntactically valid JSON
// object (nothing but whitespace may follow it), and extracts the envelope.
// It returns a *SyntaxError for malformed JSON and a plain error naming the
// field for a valid document that is not a usable activity (missing or
// mistyped id, type or actor; repeated or case-ambiguous keys).
func Parse(body []byte) (Envelope, error) {
	var e Envelope
	s := scanner{b: body}
	if !s.at('{') {
		if s.i >= len(s.b) {
			return e, errors.New("activity: empty body (want a JSON object)")
		}
		if err := s.skip(); err != nil {
			return e, err
		}
		return e, errors.New("activity: body is not a JSON object")
	}
	var seen uint32
	var addr []string
	var tos, ccs, auds [2]int // spans of addr
	err := s.object(func(ks, ke int, kesc bool) (bool, error) {
		f, err := s.field(ks, ke, kesc, topKeys[:])
		if f < 0 || err != nil {
			return false, err
		}
		if seen&(1<<f) != 0 {
			return false, errors.New("activity: key " + strconv.Quote(topKeys[f]) + " appears twice")
		}
		seen |= 1 << f
		switch f {
		case fID:
			e.ID, err = s.stringValue("id")
		case fType:
			e.Type, err = s.typeValue("type")
		case fActor:
			e.Actor, err = s.ref("actor")
		case fObject:
			err = s.objectValue(&e)
		case fTo, fCc, fAudience:
			from := len(addr)
			addr, err = s.addressing(topKeys[f], addr)
			span := [2]int{from, len(addr)}
			switch f {
			case fTo:
				tos = span
			case fCc:
				ccs = span
			default:
				auds = span
			}
		case fPublished:
			e.Published, err = s.stringValue("published")
		}
		return true, err
	})
	if err != nil {
		return Envelope{}, err
	}
	s.ws()
	if s.i != len(s.b) {
		return Envelope{}, s.errAt("data after the top-level object")
	}
	switch {
	case e.ID == "":
		return Envelope{}, errors.New(`activity: missing "id"`)
	case e.Type == "":
		return Envelope{}, errors.New(`activity: missing "type"`)
	case e.Actor == "":
		return Envelope{}, errors.New(`activity: missing "actor"`)
	}
	// Three-index slices so that a caller appending to one list cannot
	// overwrite the next.
	e.To = addr[tos[0]:tos[1]:tos[1]]
	e.Cc = addr[ccs[0]:ccs[1]:ccs[1]]
	e.Audience = addr[auds[0]:auds[1]:auds[1]]
	return e, nil
}

// field returns the index in keys of the key spanning b[ks:ke], or -1. A
// key equal to one of keys except for letter case is an error: see the
// package comment.
func (s *scanner) field(ks, ke int, esc bool, keys []string) (int, error) {
	raw := s.b[ks:ke]
	var name string
	if esc {
		name = unescape(raw)
	}
	for i, k := range keys {
		n := len(raw)
		if esc {
			n = len(name)
		}
		if n != len(k) {
			continue
		}
		if esc {
			if name == k {
				return i, nil
			}
			if strings.EqualFold(name, k) {
				return -1, errors.New("activity: key " + strconv.Quote(name) + " differs from " + strconv.Quote(k) + " only in case; refusing an ambiguous document")
			}
			continue
		}
		if string(raw) == k {
			return i, nil
		}
		if strings.EqualFold(string(raw), k) {
			return -1, errors.New("activity: key " + strconv.Quote(string(raw)) + " differs from " + strconv.Quote(k) + " only in case; refusing an ambiguous document")
		}
	}
	return -1, nil
}

func (s *scanner) stringValue(what string) (string, error) {
	if !s.at('"') {
		if err := s.skip(); err != nil {
			return "", err
		}
		return "", errors.New("activity: " + strconv.Quote(what) + " must be a string")
	}
	st, en, esc, err := s.str()
	if err != nil {
		return "", err
	}
	if en == st {
		return "", errors.New("activity: " + strconv.Quote(what) + " is empty")
	}
	return s.text(st, en, esc), nil
}

// typeValue reads "type": a string, or an array whose first string is used
// (JSON-LD allows several types).
func (s *scanner) typeValue(what string) (string, error) {
	if !s.at('[') {
		return s.stringValue(what)
	}
	var out string
	err := s.array(func(n int) (bool, error) {
		if out != "" || !s.at('"') {
			return false, nil
		}
		v, err := s.stringValue(what)
		out = v
		return true, err
	})
	if err == nil && out == "" {
		err = errors.New("activity: " + strconv.Quote(what) + " array has no string")
	}
	return out, err
}

// ref reads a reference: a string id, an object with an "id", or an array
// whose first element is one of those.
func (s *scanner) ref(what string) (string, error) {
	s.ws()
	if s.i >= len(s.b) {
		return "", s.errAt("unexpected end of input, expected a value")
	}
	switch s.b[s.i] {
	case '"':
		return s.stringValue(what)
	case '{':
		var id string
		err := s.object(func(ks, ke int, kesc bool) (bool, error) {
			f, err := s.field(ks, ke, kesc, idKey[:])
			if f < 0 || err != nil {
				return false, err
			}
			if id != "" {
				return false, errors.New("activity: " + strconv.Quote(what) + " object has two ids")
			}
			id, err = s.stringValue(what + ".id")
			return true, err
		})
		if err == nil && id == "" {
			err = errors.New("activity: " + strconv.Quote(what) + " object has no \"id\"")
		}
		return id, err
	case '[':
		var out string
		err := s.array(func(n int) (bool, error) {
			if n > 0 {
				return false, nil
			}
			v, err := s.ref(what)
			out = v
			return true, err
		})
		if err == nil && out == "" {
			err = errors.New("activity: " + strconv.Quote(what) + " is an empty array")
		}
		return out, err
	default:
		if err := s.skip(); err != nil {
			return "", err
		}
		return "", errors.New("activity: " + strconv.Quote(what) + " must be a string or an object with an \"id\"")
	}
}

// objectValue reads "object" into e.
func (s *scanner) objectValue(e *Envelope) error {
	s.ws()
	if s.i >= len(s.b) {
		return s.errAt("unexpected end of input, expected a value")
	}
	switch s.b[s.i] {
	case '"':
		v, err := s.stringValue("object")
		e.Object = v
		return err
	case '{':
		e.ObjectEmbedded = true
		var seen uint32
		err := s.object(func(ks, ke int, kesc bool) (bool, error) {
			f, err := s.field(ks, ke, kesc, objectKeys[:])
			if f < 0 || err != nil {
				return false, err
			}
			if seen&(1<<f) != 0 {
				return false, errors.New("activity: key \"object." + objectKeys[f] + "\" appears twice")
			}
			seen |= 1 << f
			switch f {
			case 0:
				e.Object, err = s.stringValue("object.id")
			case 1:
				e.ObjectType, err = s.typeValue("object.type")
			case 2:
				e.ObjectAttributedTo, err = s.ref("object.attributedTo")
			}
			return true, err
		})
		if err == nil && e.Object == "" {
			err = errors.New(`activity: embedded "object" has no "id"`)
		}
		return err
	case '[':
		err := s.array(func(n int) (bool, error) {
			if n > 0 {
				return false, nil
			}
			return true, s.objectValue(e)
		})
		if err == nil && e.Object == "" {
			err = errors.New(`activity: "object" is an empty array`)
		}
		return err
	default:
		if err := s.skip(); err != nil {
			return err
		}
		return errors.New(`activity: "object" must be a string id, an object or an array`)
	}
}

// addressing appends the entries of an addressing field to addr.
func (s *scanner) addressing(what string, addr []string) ([]string, error) {
	s.ws()
	if s.i >= len(s.b) {
		return addr, s.errAt("unexpected end of input, expected a value")
	}
	one := func() error {
		switch {
		case s.at('"'):
			st, en, esc, err := s.str()
			if err != nil {
				return err
			}
			if st == en {
				return nil
			}
			if !esc && string(s.b[st:en]) == PublicCollection {
				// The most common entry by far: no allocation.
				addr = append(addr, PublicCollection)
				return nil
			}
			addr = append(addr, s.text(st, en, esc))
			return nil
		case s.at('{'):
			v, err := s.ref(what)
			if err == nil {
				addr = append(addr, v)
			}
			return err
		default:
			return s.skip()
		}
	}
	switch s.b[s.i] {
	case '[':
		if addr == nil {
			addr = make([]string, 0, 8)
		}
		err := s.array(func(int) (bool, error) { return true, one() })
		return addr, err
	case 'n':
		return addr, s.literal("null")
	default:
		err := one()
		return addr, err
	}
}

// Host returns the lowercased host[:port] of an absolute http(s) URI, with
// a trailing dot and the scheme's default port removed, so that equal
// origins compare equal ("HTTPS://M.Example.:443/x" → "m.example").
// It refuses userinfo ("https://good.example@evil.example/" names
// evil.example, a classic spoof), non-ASCII and other odd characters.
func Host(uri string) (string, error) {
	var rest, defPort string
	switch {
	case len(uri) >= 8 && strings.EqualFold(uri[:8], "https://"):
		rest, defPort = uri[8:], "443"
	case len(uri) >= 7 && strings.EqualFold(uri[:7], "http://"):
		rest, defPort = uri[7:], "80"
	default:
		return "", errors.New("activity: " + quoteShort(uri) + " is not an absolute http(s) URI")
	}
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		rest = rest[:i]
	}
	if strings.IndexByte(rest, '@') >= 0 {
		return "", errors.New("activity: " + quoteShort(uri) + " carries userinfo before the host; refusing it")
	}
	host, port := rest, ""
	if strings.HasPrefix(rest, "[") {
		end := strings.IndexByte(rest, ']')
		if end < 0 {
			return "", errors.New("activity: " + quoteShort(uri) + " has an unterminated IPv6 literal")
		}
		host, port = rest[:end+1], rest[end+1:]
		for _, c := range host[1:end] {
			if !(c == ':' || c == '.' || '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return "", errors.New("activity: " + quoteShort(uri) + " has an invalid IPv6 literal")
			}
		}
	} else if i := strings.LastIndexByte(rest, ':'); i >= 0 {
		host, port = rest[:i], rest[i:]
	}
	if port != "" {
		if port[0] != ':' || len(port) == 1 || len(port) > 6 {
			return "", errors.New("activity: " + quoteShort(uri) + " has an invalid port")
		}
		for _, c := range port[1:] {
			if c < '0' || c > '9' {
				return "", errors.New("activity: " + quoteShort(uri) + " has an invalid port")
			}
		}
		if port[1:] == defPort {
			port = ""
		}
	}
	if !strings.HasPrefix(host, "[") {
		host = strings.TrimSuffix(host, ".")
		if host == "" {
			return "", errors.New("activity: " + quoteShort(uri) + " has no host")
		}
		for i := 0; i < len(host); i++ {
			c := host[i]
			if !(c == '.' || c == '-' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
				return "", errors.New("activity: " + quoteShort(uri) + " has an invalid character in its host")
			}
		}
	}
	return strings.ToLower(host) + port, nil
}

// Hostname is Host without the port: the domain the domain gate matches.
func Hostname(uri string) (string, error) {
	h, err := Host(uri)
	if err != nil {
		return "", err
	}
	if strings.HasPrefix(h, "[") {
		return h[:strings.IndexByte(h, ']')+1], nil
	}
	if i := strings.IndexByte(h, ':'); i >= 0 {
		h = h[:i]
	}
	return h, nil
}

func quoteShort(s string) string {
	if len(s) > 60 {
		s = s[:60] + "..."
	}
	return strconv.Quote(s)
}
