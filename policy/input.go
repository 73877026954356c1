package policy

import (
	"errors"
	"fmt"
	"html"
	"slices"
	"strings"
	"time"
	"unsafe"
)

// Facts is what the policy cannot know by itself about an actor. The caller
// (the ingress) implements it over its caches; policy calls each method at
// most once per Input and only when a rule needs the answer, so an
// implementation may do a local store read, but MUST NOT fetch anything over
// the network: the decision would then wait on a remote server.
//
// Implementations must be safe for concurrent use by many Inputs.
type Facts interface {
	// FirstSeen returns when this instance first saw the actor; false when
	// it never did.
	FirstSeen(actor string) (time.Time, bool)
	// ActorPublished returns the actor's own `published` time (account
	// creation on its server); false when unknown.
	ActorPublished(actor string) (time.Time, bool)
	// LocalFollowers returns how many local accounts follow the actor.
	LocalFollowers(actor string) int
}

// ProfileFacts is optionally implemented by a Facts to give the actor's
// preferredUsername and display name, for the username_is_display_name
// condition (a February 2024 spam-wave trait). When Facts does not implement
// it, the names are taken from an actor object embedded in the activity
// (Update of a Person), and the condition is false otherwise.
type ProfileFacts interface {
	ActorProfile(actor string) (username, displayName string, ok bool)
}

// Visibility of a post, derived from its addressing the way Mastodon does.
type Visibility uint8

// The visibilities.
const (
	VisibilityDirect    Visibility = iota // only the addressed accounts
	VisibilityFollowers                   // a followers collection is addressed, Public is not
	VisibilityUnlisted                    // Public in cc
	VisibilityPublic                      // Public in to
)

var visibilityNames = [...]string{"direct", "followers", "unlisted", "public"}

// String returns "public", "unlisted", "followers" or "direct".
func (v Visibility) String() string {
	if int(v) < len(visibilityNames) {
		return visibilityNames[v]
	}
	return "unknown"
}

func parseVisibility(s string) (Visibility, error) {
	for i, n := range visibilityNames {
		if strings.EqualFold(s, n) {
			return Visibility(i), nil
		}
	}
	if strings.EqualFold(s, "private") { // Mastodon's API name for followers-only
		return VisibilityFollowers, nil
	}
	return 0, fmt.Errorf("unknown visibility %q (want one of public, unlisted, followers, direct)", s)
}

// Content is everything content rules match on, extracted from the
// activity JSON by one parse. Text fields are HTML-stripped with entities
// decoded. Lists are deduplicated, in document order.
type Content struct {
	ObjectType  string
	Visibility  Visibility
	Mentions    []string // hrefs of tag entries of type Mention
	Recipients  int      // distinct to/cc/bto/bcc addresses of activity and object, Public excluded
	Hashtags    []string // lowercased, without '#'
	LinkDomains []string // hosts of links in the content, mentions and hashtags excluded
	Attachments int
	MediaTypes  []string // mediaType of each attachment ("image/png"); "image/*" when only the type is known
	Languages   []string // contentMap keys, sorted
	Content     string
	Summary     string
	Name        string
	Sensitive   bool
	// Names of an actor object embedded in the activity (Update(Person)),
	// or from ProfileFacts.
	ActorUsername    string
	ActorDisplayName string
}

// Input is one activity as the policy sees it. The ingress fills the
// envelope fields it already parsed and sets Raw; Evaluate parses Raw only
// when a rule needs content (cheap rules on domain, actor and type never pay
// for the parse), and asks Facts only when a rule needs an actor fact.
//
// An Input caches what it parsed and learned, so it is not safe for
// concurrent use; it may be evaluated and explained several times.
type Input struct {
	ID         string // activity id
	Type       string // activity type ("Create")
	Actor      string // actor id
	ObjectID   string
	ObjectType string // type of an embedded object ("Note"); "" when the object is a reference
	// Domain is the actor's host. When empty it is derived from Actor.
	Domain string
	// Raw is the activity JSON. The Input does not copy it: the caller MUST
	// NOT modify it while the Input is in use.
	Raw []byte
	// Facts answers actor questions; nil means nothing is known.
	Facts Facts
	// Now is the decision time; zero means time.Now() at first use.
	Now time.Time
	// Validated says Raw is known to be syntactically valid JSON (the
	// ingress's envelope parser checked the whole document), so the content
	// parse may skip values without validating them again. Set it only when
	// that is true: on invalid JSON the parse may then misread the activity.
	Validated bool

	state    uint8 // st* bits: what was parsed and asked
	state2   uint8
	parseErr error
	content  Content
	lowered  [3]string  // lowercased content, summary, name
	wl       *wordLists // built for explanations and phrases only
	act      celActivation
	idx      indexState
	pf       pfState
	iterVal  string // the element of a native exists/all (exprnative.go)
	// earlyRates is the snapshot whose envelope rate rules RateLimit
	// already charged for this Input.
	earlyRates *Snapshot
	fsAt       time.Time
	pubAt      time.Time
	followed   int
}

// wordLists are the words of the text fields, kept out of Input (which
// every activity allocates) since decisions seldom need them.
type wordLists struct {
	tok    [3][]string // the lowercased words in order, for explanations
	joined [3]string   // the same space-joined, for phrase keywords
}

const (
	stParsed uint8 = 1 << iota
	stFirstSeen
	stFirstSeenKnown
	stPublished
	stPublishedKnown
	stFollowed
	stLowered
	stProfile
)

const (
	stTokens uint8 = 1 << iota
	stJoined
	stSmallEnv // small(false) computed, result in stSmallEnvYes
	stSmallEnvYes
	stSmallAll // small(true) computed, result in stSmallAllYes
	stSmallAllYes
)

// activityType returns the activity type, parsing Raw when the caller did
// not set it.
func (in *Input) activityType() string {
	if in.Type == "" && in.state&stParsed == 0 && len(in.Raw) > 0 {
		in.parse()
	}
	return in.Type
}

// objectType returns the embedded object's type, parsing Raw when the
// caller did not set it.
func (in *Input) objectType() string {
	if in.ObjectType == "" && in.state&stParsed == 0 && len(in.Raw) > 0 {
		in.parse()
	}
	return in.ObjectType
}

// InputFromActivity parses an activity eagerly: envelope and content. It is
// for tools and tests (palisade explain); the ingress builds an Input from
// its own envelope parse and lets Evaluate parse lazily.
func InputFromActivity(raw []byte, f Facts) (*Input, error) {
	in := &Input{Raw: raw, Facts: f}
	if err := in.parse(); err != nil {
		return nil, err
	}
	return in, nil
}

// Content returns the parsed content, parsing Raw on first use. The error
// is the parse error, if Raw is not a usable activity; the content is then
// empty and content conditions do not match.
func (in *Input) Content() (*Content, error) {
	if in.state&stParsed == 0 {
		in.parse()
	}
	return &in.content, in.parseErr
}

func (in *Input) now() time.Time {
	if in.Now.IsZero() {
		in.Now = time.Now()
	}
	return in.Now
}

// host returns the actor domain, deriving it from Actor when unset.
func (in *Input) host() string {
	if in.Domain == "" && in.Actor == "" && in.state&stParsed == 0 && len(in.Raw) > 0 {
		in.parse()
	}
	if in.Domain == "" && in.Actor != "" {
		in.Domain = hostOf(in.Actor)
	}
	return in.Domain
}

func (in *Input) firstSeen() (time.Time, bool) {
	if in.state&stFirstSeen == 0 {
		in.state |= stFirstSeen
		if in.Facts != nil && in.Actor != "" {
			if t, ok := in.Facts.FirstSeen(in.Actor); ok {
				in.fsAt = t
				in.state |= stFirstSeenKnown
			}
		}
	}
	return in.fsAt, in.state&stFirstSeenKnown != 0
}

// firstSeenAge is how long the actor has been known; an actor never seen
// before is brand new: age 0.
func (in *Input) firstSeenAge() time.Duration {
	t, ok := in.firstSeen()
	if !ok {
		return 0
	}
	return max(in.now().Sub(t), 0)
}

func (in *Input) published() (time.Time, bool) {
	if in.state&stPublished == 0 {
		in.state |= stPublished
		if in.Facts != nil && in.Actor != "" {
			if t, ok := in.Facts.ActorPublished(in.Actor); ok {
				in.pubAt = t
				in.state |= stPublishedKnown
			}
		}
	}
	return in.pubAt, in.state&stPublishedKnown != 0
}

func (in *Input) localFollowers() int {
	if in.state&stFollowed == 0 {
		in.state |= stFollowed
		if in.Facts != nil && in.Actor != "" {
			in.followed = in.Facts.LocalFollowers(in.Actor)
		}
	}
	return in.followed
}

func (in *Input) profile() (string, string) {
	c, _ := in.Content()
	if in.state&stProfile == 0 {
		in.state |= stProfile
		if pf, ok := in.Facts.(ProfileFacts); ok && in.Actor != "" && c.ActorUsername == "" {
			if u, d, ok := pf.ActorProfile(in.Actor); ok {
				c.ActorUsername, c.ActorDisplayName = u, d
			}
		}
	}
	return c.ActorUsername, c.ActorDisplayName
}

// text returns a text field lowercased, for keyword matching.
func (in *Input) loweredText(f textField) string {
	if in.state&stLowered == 0 {
		in.state |= stLowered
		c, _ := in.Content()
		in.lowered[fieldContent] = strings.ToLower(c.Content)
		in.lowered[fieldSummary] = strings.ToLower(c.Summary)
		in.lowered[fieldName] = strings.ToLower(c.Name)
	}
	return in.lowered[f]
}

func (in *Input) rawText(f textField) string {
	c, _ := in.Content()
	switch f {
	case fieldContent:
		return c.Content
	case fieldSummary:
		return c.Summary
	}
	return c.Name
}

// knownActor reports whether the instance has seen the actor before; Undo
// and Delete from a known actor bypass content rules.
func (in *Input) knownActor() bool {
	_, ok := in.firstSeen()
	return ok
}

type textField uint8

const (
	fieldContent textField = iota
	fieldSummary
	fieldName
)

// maxRawActivity bounds what InputFromActivity parses; the ingress caps
// bodies at 1 MiB before this.
const maxRawActivity = 4 << 20

// errNotActivity is returned for JSON that is not an object with a type.
var errNotActivity = errors.New("not an ActivityStreams activity: want a JSON object with a \"type\"")

func (in *Input) parse() error {
	in.state |= stParsed
	err := in.parseRaw()
	if err != nil {
		in.parseErr = err
		in.content = Content{}
	}
	return err
}

// activityFields and objectFields are the spans of the members rules read.
// Peers disagree on shapes, so each is read leniently: `type` may be an
// array, `tag` and `attachment` a single object (older Pleroma), `actor` an
// embedded object, and a member of an unexpected type is ignored rather
// than voiding the rest.
type activityFields struct {
	id, typ, actor, object, to, cc, bto, bcc jspan
}

type objectFields struct {
	id, typ, content, contentMap, summary, name, tag, attachment jspan
	to, cc, bto, bcc, sensitive, preferredUsername               jspan
}

func (d *jdoc) objectFields(sp jspan) (o objectFields) {
	d.members(sp, o.set)
	return o
}

// set records one member of an object.
func (o *objectFields) set(k []byte, v jspan) {
	switch string(k) {
	case "id":
		o.id = v
	case "type":
		o.typ = v
	case "content":
		o.content = v
	case "contentMap":
		o.contentMap = v
	case "summary":
		o.summary = v
	case "name":
		o.name = v
	case "tag":
		o.tag = v
	case "attachment":
		o.attachment = v
	case "to":
		o.to = v
	case "cc":
		o.cc = v
	case "bto":
		o.bto = v
	case "bcc":
		o.bcc = v
	case "sensitive":
		o.sensitive = v
	case "preferredUsername":
		o.preferredUsername = v
	}
}

func (in *Input) parseRaw() error {
	if len(in.Raw) == 0 {
		return errNotActivity
	}
	if len(in.Raw) > maxRawActivity {
		return fmt.Errorf("activity is %d bytes, more than the %d this parser reads", len(in.Raw), maxRawActivity)
	}
	d := &jdoc{b: in.Raw, valid: in.Validated}
	start := d.ws(0)
	if start < len(in.Raw) && in.Raw[start] != '{' {
		if err := d.validate(); err != nil {
			return fmt.Errorf("activity JSON: %w", err)
		}
		return errNotActivity
	}
	var a activityFields
	// An embedded object is walked while it is validated, its members
	// recorded on the way, so its bytes are read once.
	var o objectFields
	objWalked := false
	skip := func(vs, depth int) (int, error) {
		if in.Validated {
			return d.skipFast(vs), nil
		}
		return d.skip(vs, depth)
	}
	end, err := d.membersV(start, func(k []byte, vs int) (int, error) {
		if string(k) == "object" && in.Raw[vs] == '{' {
			var fresh objectFields
			ve, err := d.membersV(vs, func(key []byte, v int) (int, error) {
				ve, err := skip(v, 2)
				if err == nil {
					fresh.set(key, jspan{v, ve})
				}
				return ve, err
			})
			if err != nil {
				return 0, err
			}
			a.object, o, objWalked = jspan{vs, ve}, fresh, true
			return ve, nil
		}
		ve, err := skip(vs, 1)
		if err != nil {
			return 0, err
		}
		v := jspan{vs, ve}
		switch string(k) {
		case "id":
			a.id = v
		case "type":
			a.typ = v
		case "actor":
			a.actor = v
		case "object":
			a.object, objWalked = v, false
		case "to":
			a.to = v
		case "cc":
			a.cc = v
		case "bto":
			a.bto = v
		case "bcc":
			a.bcc = v
		}
		return ve, nil
	})
	if err == nil && d.ws(end) != len(in.Raw) {
		err = errors.New("invalid JSON: data after the top-level value")
	}
	if err != nil {
		return fmt.Errorf("activity JSON: %w", err)
	}
	typ := d.firstView(a.typ) // a view: copied below only when kept
	if typ == "" {
		return errNotActivity
	}
	// Envelope fields the caller did not set.
	if in.ID == "" {
		in.ID = d.str(a.id)
	}
	if in.Type == "" {
		in.Type = strings.Clone(typ)
	}
	if in.Actor == "" {
		in.Actor = d.ref(a.actor)
	}
	c := &in.content

	// Flag carries an array of objects; rules look at the first.
	obj := d.firstElem(a.object)
	embedded := obj.ok() && in.Raw[obj.s] == '{'
	if embedded {
		if !objWalked || obj != a.object {
			o = d.objectFields(obj) // Flag's array of objects
		}
		if in.ObjectID == "" {
			in.ObjectID = d.str(o.id)
		}
	} else if in.ObjectID == "" {
		in.ObjectID = d.ref(obj)
	}
	if embedded {
		c.ObjectType = internType(d.firstView(o.typ))
		if in.ObjectType == "" {
			in.ObjectType = c.ObjectType
		}
	} else {
		c.ObjectType = in.ObjectType
	}

	// Addressing: the object's when it has any (Mastodon copies it to the
	// Create anyway), else the activity's. The addresses are views into
	// Raw, only compared and counted here, never kept.
	toSp, ccSp := a.to, a.cc
	if embedded && (o.to.ok() || o.cc.ok()) {
		toSp, ccSp = o.to, o.cc
	}
	var addr [16]string
	to := addr[:0]
	d.elems(toSp, func(v jspan) { to = append(to, d.refView(v)) })
	cc := to[len(to):len(to)]
	d.elems(ccSp, func(v jspan) { cc = append(cc, d.refView(v)) })
	c.Visibility = visibilityOf(to, cc)
	var rbuf [32]string
	recips := rbuf[:0]
	for _, sp := range []jspan{a.to, a.cc, a.bto, a.bcc, o.to, o.cc, o.bto, o.bcc} {
		d.elems(sp, func(v jspan) {
			if r := d.refView(v); r != "" && !isPublic(r) {
				recips = appendUnique(recips, r)
			}
		})
	}
	c.Recipients = len(recips)

	if !embedded {
		return nil
	}

	// Tags: mentions and hashtags.
	var skipHref []string
	d.elems(o.tag, func(t jspan) {
		var typ, href, name jspan
		d.members(t, func(k []byte, v jspan) {
			switch string(k) {
			case "type":
				typ = v
			case "href":
				href = v
			case "name":
				name = v
			}
		})
		switch d.firstView(typ) {
		case "Mention", "mention":
			h := d.str(href)
			m := h
			if m == "" {
				m = d.str(name)
			}
			if m != "" {
				c.Mentions = appendUnique(c.Mentions, m)
			}
			skipHref = append(skipHref, h)
		case "Hashtag", "hashtag":
			n := strings.ToLower(strings.TrimPrefix(strings.TrimSpace(d.str(name)), "#"))
			if n != "" {
				c.Hashtags = appendUnique(c.Hashtags, n)
			}
			skipHref = append(skipHref, d.view(href)) // used during the parse only
		}
	})

	// Attachments.
	d.elems(o.attachment, func(at jspan) {
		if in.Raw[at.s] != '{' {
			return
		}
		c.Attachments++
		var typ, mediaType jspan
		d.members(at, func(k []byte, v jspan) {
			switch string(k) {
			case "type":
				typ = v
			case "mediaType":
				mediaType = v
			}
		})
		mt := d.view(mediaType) // a view until copied or interned
		if hasUpper(mt) {
			mt = strings.ToLower(mt)
		} else if mt != "" {
			mt = internType(mt)
		}
		if mt == "" {
			switch d.firstView(typ) {
			case "Image":
				mt = "image/*"
			case "Video":
				mt = "video/*"
			case "Audio":
				mt = "audio/*"
			default:
				mt = "application/octet-stream"
			}
		}
		c.MediaTypes = appendUnique(c.MediaTypes, mt)
	})

	// Text.
	// The content is decoded into a buffer of its own and stripped in
	// place: one copy of the text instead of two.
	content := d.owned(o.content)
	var firstLangText jspan
	d.members(o.contentMap, func(k []byte, v jspan) {
		lang := strings.ToLower(string(k))
		c.Languages = appendUnique(c.Languages, lang)
		if !firstLangText.ok() {
			firstLangText = v
		}
	})
	slices.Sort(c.Languages)
	if len(content) == 0 {
		content = d.owned(firstLangText)
	}
	c.Content = stripHTMLInPlace(content, func(href, class string) {
		if strings.Contains(class, "mention") || strings.Contains(class, "hashtag") || slices.Contains(skipHref, href) {
			return
		}
		// href aliases the buffer being stripped: keep a copy.
		if h := hostOf(href); h != "" && (len(c.LinkDomains) >= 4096 || !slices.Contains(c.LinkDomains, h)) {
			c.LinkDomains = append(c.LinkDomains, strings.Clone(h))
		}
	})
	c.Summary = stripHTML(d.str(o.summary), nil)
	c.Name = stripHTML(d.str(o.name), nil)
	c.Sensitive = o.sensitive.ok() && string(in.Raw[o.sensitive.s:o.sensitive.e]) == "true"

	switch c.ObjectType {
	case "Person", "Service", "Application", "Group", "Organization":
		c.ActorUsername = d.str(o.preferredUsername)
		c.ActorDisplayName = c.Name
	}
	if c.ActorUsername == "" && a.actor.ok() && in.Raw[a.actor.s] == '{' {
		ao := d.objectFields(a.actor)
		c.ActorUsername = d.str(ao.preferredUsername)
		c.ActorDisplayName = stripHTML(d.str(ao.name), nil)
	}
	return nil
}

func appendUnique(l []string, s string) []string {
	if len(l) < 4096 && slices.Contains(l, s) {
		return l
	}
	return append(l, s)
}

const asPublic = "https://www.w3.org/ns/activitystreams#Public"

// isPublic recognises the Public pseudo-collection in its three spellings:
// the full IRI, and the compacted "as:Public" and "Public" that JSON-LD
// compaction produces (Pleroma and some relays send those).
func isPublic(s string) bool {
	return s == asPublic || s == "as:Public" || s == "Public"
}

func visibilityOf(to, cc []string) Visibility {
	if slices.ContainsFunc(to, isPublic) {
		return VisibilityPublic
	}
	if slices.ContainsFunc(cc, isPublic) {
		return VisibilityUnlisted
	}
	// The actor's followers collection is conventionally .../followers
	// (Mastodon, GoToSocial, Pleroma, Misskey all use that path).
	isFollowers := func(s string) bool { return strings.HasSuffix(s, "/followers") }
	if slices.ContainsFunc(to, isFollowers) || slices.ContainsFunc(cc, isFollowers) {
		return VisibilityFollowers
	}
	return VisibilityDirect
}

// hostOf returns the normalised host of an http(s) URL, or "".
func hostOf(u string) string {
	rest, ok := strings.CutPrefix(u, "https://")
	if !ok {
		rest, ok = strings.CutPrefix(u, "http://")
		if !ok {
			// Case-insensitive scheme, rare enough for the slow path.
			if len(u) > 8 && strings.EqualFold(u[:8], "https://") {
				rest = u[8:]
			} else if len(u) > 7 && strings.EqualFold(u[:7], "http://") {
				rest = u[7:]
			} else {
				return ""
			}
		}
	}
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		rest = rest[:i]
	}
	if i := strings.LastIndexByte(rest, '@'); i >= 0 {
		rest = rest[i+1:]
	}
	h := NormalizeHost(rest)
	if checkDomain(h) != nil {
		return ""
	}
	return h
}

// stripHTML returns the text of an HTML fragment with tags removed, block
// boundaries turned into newlines and entities decoded. For every <a> tag it
// calls onLink (when non-nil) with the href and class attributes. It is a
// deliberately small scanner: rules only need the words and the links, and
// remote HTML was already sanitised by its sender or will be by the instance.
func stripHTML(s string, onLink func(href, class string)) string {
	return stripHTMLTo(s, nil, onLink)
}

// stripHTMLInPlace is stripHTML writing the text over buf, which it owns
// from then on: the text is never longer than the HTML, and each byte is
// written only after it was read. The strings passed to onLink alias buf
// and are overwritten later: onLink must copy what it keeps.
func stripHTMLInPlace(buf []byte, onLink func(href, class string)) string {
	return stripHTMLTo(unsafe.String(unsafe.SliceData(buf), len(buf)), buf[:0], onLink)
}

// stripHTMLTo is stripHTML appending the text to dst (a new buffer when
// nil); dst may share s's memory from its start (stripHTMLInPlace).
func stripHTMLTo(s string, dst []byte, onLink func(href, class string)) string {
	if strings.IndexByte(s, '<') < 0 {
		if strings.IndexByte(s, '&') < 0 {
			return s
		}
		return html.UnescapeString(s)
	}
	out := dst
	if out == nil {
		out = make([]byte, 0, len(s))
	}
	for i := 0; i < len(s); {
		if s[i] != '<' {
			// Copy the run of text up to the next tag in one go.
			j := strings.IndexByte(s[i:], '<')
			if j < 0 {
				j = len(s) - i
			}
			out = append(out, s[i:i+j]...) // memmove: overlap is fine
			i += j
			continue
		}
		// Find the end of the tag, skipping quoted attribute values.
		j, quote := i+1, byte(0)
		for ; j < len(s); j++ {
			if quote != 0 {
				if s[j] == quote {
					quote = 0
				}
				continue
			}
			if s[j] == '"' || s[j] == '\'' {
				quote = s[j]
			} else if s[j] == '>' {
				break
			}
		}
		tag := s[i+1 : min(j, len(s))]
		i = j + 1
		name := tag
		if k := indexNameEnd(name, true); k >= 0 {
			if k == 0 && strings.HasPrefix(name, "/") {
				name = name[1:]
				if k2 := indexNameEnd(name, false); k2 >= 0 {
					name = name[:k2]
				}
			} else {
				name = name[:k]
			}
		}
		switch strings.ToLower(name) {
		case "br", "p", "div", "li", "blockquote", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "tr":
			if len(out) > 0 {
				out = append(out, '\n')
			}
		case "a":
			if onLink != nil && !strings.HasPrefix(tag, "/") {
				onLink(html.UnescapeString(attr(tag, "href")), strings.ToLower(attr(tag, "class")))
			}
		}
	}
	return strings.TrimSpace(html.UnescapeString(unsafe.String(unsafe.SliceData(out), len(out))))
}

// indexNameEnd is strings.IndexAny(s, " \t\n\r/") (without the slash
// unless slash), without building a set per call: it runs for every tag.
func indexNameEnd(s string, slash bool) int {
	for i := 0; i < len(s); i++ {
		if c := s[i]; isSpace(c) || slash && c == '/' {
			return i
		}
	}
	return -1
}

// attr returns the value of the named attribute in the inside of a tag.
func attr(tag, name string) string {
	// Attribute names are lowercase in what every major server sends; the
	// case-insensitive search is only the fallback.
	find := strings.Index
	if strings.Index(tag, name) < 0 {
		if !hasUpper(tag) {
			return ""
		}
		find = indexFold
	}
	for i := 0; i < len(tag); {
		k := find(tag[i:], name)
		if k < 0 {
			return ""
		}
		k += i
		i = k + len(name)
		// Must start an attribute name and be followed by '='.
		if k > 0 && !isSpace(tag[k-1]) {
			continue
		}
		j := i
		for j < len(tag) && isSpace(tag[j]) {
			j++
		}
		if j >= len(tag) || tag[j] != '=' {
			continue
		}
		j++
		for j < len(tag) && isSpace(tag[j]) {
			j++
		}
		if j >= len(tag) {
			return ""
		}
		if q := tag[j]; q == '"' || q == '\'' {
			end := strings.IndexByte(tag[j+1:], q)
			if end < 0 {
				return tag[j+1:]
			}
			return tag[j+1 : j+1+end]
		}
		end := j
		for end < len(tag) && !isSpace(tag[end]) && tag[end] != '>' {
			end++
		}
		return tag[j:end]
	}
	return ""
}

func hasUpper(s string) bool {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			return true
		}
	}
	return false
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func indexFold(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(sub)], sub) {
			return i
		}
	}
	return -1
}
