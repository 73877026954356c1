package activity

import (
	"encoding/json"
	"errors"
	"time"
)

// Context is the JSON-LD @context of every document Palisade sends: the
// ActivityStreams and security-v1 contexts, then the extension terms we use
// spelled as Mastodon spells them, since Mastodon and its forks match several
// of them (manuallyApprovesFollowers, sensitive, Hashtag, featured,
// focalPoint, blurhash) by compacted name rather than by JSON-LD expansion.
// The slice is shared: do not modify it.
var Context = []any{
	"https://www.w3.org/ns/activitystreams",
	"https://w3id.org/security/v1",
	map[string]any{
		"manuallyApprovesFollowers": "as:manuallyApprovesFollowers",
		"sensitive":                 "as:sensitive",
		"Hashtag":                   "as:Hashtag",
		"movedTo":                   map[string]string{"@id": "as:movedTo", "@type": "@id"},
		"alsoKnownAs":               map[string]string{"@id": "as:alsoKnownAs", "@type": "@id"},
		"toot":                      "http://joinmastodon.org/ns#",
		"featured":                  map[string]string{"@id": "toot:featured", "@type": "@id"},
		"featuredTags":              map[string]string{"@id": "toot:featuredTags", "@type": "@id"},
		"discoverable":              "toot:discoverable",
		"indexable":                 "toot:indexable",
		"blurhash":                  "toot:blurhash",
		"focalPoint":                map[string]string{"@container": "@list", "@id": "toot:focalPoint"},
		"Emoji":                     "toot:Emoji",
		"votersCount":               "toot:votersCount",
		"schema":                    "http://schema.org#",
		"PropertyValue":             "schema:PropertyValue",
		"value":                     "schema:value",
		"ostatus":                   "http://ostatus.org#",
		"conversation":              "ostatus:conversation",
	},
}

// wire types: the JSON we send. Field order is the order on the wire.

type wireLink struct {
	Type      string `json:"type"`
	MediaType string `json:"mediaType,omitempty"`
	URL       string `json:"url"`
}

type wireTag struct {
	ID        string    `json:"id,omitempty"`
	Type      string    `json:"type"`
	MediaType string    `json:"mediaType,omitempty"`
	Href      string    `json:"href,omitempty"`
	Name      string    `json:"name"`
	Updated   string    `json:"updated,omitempty"`
	Icon      *wireLink `json:"icon,omitempty"`
}

type wireAttachment struct {
	Type       string      `json:"type"`
	MediaType  string      `json:"mediaType,omitempty"`
	URL        string      `json:"url"`
	Name       string      `json:"name,omitempty"`
	Blurhash   string      `json:"blurhash,omitempty"`
	FocalPoint *[2]float64 `json:"focalPoint,omitempty"`
	Width      int         `json:"width,omitempty"`
	Height     int         `json:"height,omitempty"`
}

type wireCount struct {
	Type       string `json:"type"`
	TotalItems int    `json:"totalItems"`
}

type wireOption struct {
	Type    string    `json:"type"`
	Name    string    `json:"name"`
	Replies wireCount `json:"replies"`
}

type wireSource struct {
	Content   string `json:"content"`
	MediaType string `json:"mediaType"`
}

type wireObject struct {
	Context      any               `json:"@context,omitempty"`
	ID           string            `json:"id"`
	Type         string            `json:"type"`
	Summary      string            `json:"summary,omitempty"`
	SummaryMap   map[string]string `json:"summaryMap,omitempty"`
	InReplyTo    string            `json:"inReplyTo,omitempty"`
	Published    string            `json:"published,omitempty"`
	Updated      string            `json:"updated,omitempty"`
	URL          string            `json:"url,omitempty"`
	AttributedTo string            `json:"attributedTo,omitempty"`
	To           []string          `json:"to,omitempty"`
	Cc           []string          `json:"cc,omitempty"`
	Audience     []string          `json:"audience,omitempty"`
	Sensitive    *bool             `json:"sensitive,omitempty"`
	Conversation string            `json:"conversation,omitempty"`
	Name         string            `json:"name,omitempty"`
	Content      string            `json:"content,omitempty"`
	ContentMap   map[string]string `json:"contentMap,omitempty"`
	MediaType    string            `json:"mediaType,omitempty"`
	Source       *wireSource       `json:"source,omitempty"`
	Attachment   []wireAttachment  `json:"attachment,omitempty"`
	Tag          []wireTag         `json:"tag,omitempty"`
	OneOf        []wireOption      `json:"oneOf,omitempty"`
	AnyOf        []wireOption      `json:"anyOf,omitempty"`
	EndTime      string            `json:"endTime,omitempty"`
	Closed       string            `json:"closed,omitempty"`
	VotersCount  *int              `json:"votersCount,omitempty"`
	FormerType   string            `json:"formerType,omitempty"`
	Deleted      string            `json:"deleted,omitempty"`
}

type wireKey struct {
	ID           string `json:"id"`
	Owner        string `json:"owner"`
	PublicKeyPem string `json:"publicKeyPem"`
}

type wireProperty struct {
	Type  string `json:"type"`
	Name  string `json:"name"`
	Value string `json:"value"`
}

type wireEndpoints struct {
	SharedInbox string `json:"sharedInbox,omitempty"`
}

type wireActor struct {
	Context                   any             `json:"@context,omitempty"`
	ID                        string          `json:"id"`
	Type                      string          `json:"type"`
	Following                 string          `json:"following,omitempty"`
	Followers                 string          `json:"followers,omitempty"`
	Inbox                     string          `json:"inbox"`
	Outbox                    string          `json:"outbox,omitempty"`
	Featured                  string          `json:"featured,omitempty"`
	FeaturedTags              string          `json:"featuredTags,omitempty"`
	PreferredUsername         string          `json:"preferredUsername,omitempty"`
	Name                      string          `json:"name,omitempty"`
	Summary                   string          `json:"summary,omitempty"`
	URL                       string          `json:"url,omitempty"`
	ManuallyApprovesFollowers bool            `json:"manuallyApprovesFollowers"`
	Discoverable              bool            `json:"discoverable"`
	Indexable                 bool            `json:"indexable"`
	Published                 string          `json:"published,omitempty"`
	MovedTo                   string          `json:"movedTo,omitempty"`
	AlsoKnownAs               []string        `json:"alsoKnownAs,omitempty"`
	PublicKey                 any             `json:"publicKey,omitempty"`
	Tag                       []wireTag       `json:"tag,omitempty"`
	Attachment                []wireProperty  `json:"attachment,omitempty"`
	Endpoints                 *wireEndpoints  `json:"endpoints,omitempty"`
	Icon                      *wireAttachment `json:"icon,omitempty"`
	Image                     *wireAttachment `json:"image,omitempty"`
}

type wireActivity struct {
	Context   any       `json:"@context,omitempty"`
	ID        string    `json:"id"`
	Type      string    `json:"type"`
	Actor     string    `json:"actor"`
	Published string    `json:"published,omitempty"`
	To        []string  `json:"to,omitempty"`
	Cc        []string  `json:"cc,omitempty"`
	Audience  []string  `json:"audience,omitempty"`
	Summary   string    `json:"summary,omitempty"`
	Content   string    `json:"content,omitempty"`
	Tag       []wireTag `json:"tag,omitempty"`
	Object    any       `json:"object,omitempty"`
	Target    string    `json:"target,omitempty"`
}

type wireCollection struct {
	Context      any    `json:"@context,omitempty"`
	ID           string `json:"id"`
	Type         string `json:"type"`
	TotalItems   *int   `json:"totalItems,omitempty"`
	First        string `json:"first,omitempty"`
	Last         string `json:"last,omitempty"`
	Next         string `json:"next,omitempty"`
	Prev         string `json:"prev,omitempty"`
	PartOf       string `json:"partOf,omitempty"`
	OrderedItems any    `json:"orderedItems,omitempty"`
}

// Collection is an OrderedCollection (an outbox, followers, featured) or
// an OrderedCollectionPage of one.
type Collection struct {
	ID   string
	Type string // "OrderedCollection" or "OrderedCollectionPage"
	// TotalItems is sent when non-nil (followers counts may be hidden).
	TotalItems              *int
	First, Last, Next, Prev string
	PartOf                  string
	// Items are the orderedItems: each a string (an IRI), an *Object, an
	// *Actor or an *Activity (embedded without @context) when encoding;
	// a string or a json.RawMessage when decoded (see DecodeCollection).
	Items []any
	// FirstPage is set by DecodeCollection when "first" is embedded;
	// EncodeCollection ignores it.
	FirstPage *Collection
}

func timeString(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func tagsWire(tags []Tag) []wireTag {
	var out []wireTag
	for _, t := range tags {
		w := wireTag{ID: t.ID, Type: t.Type, MediaType: t.MediaType, Href: t.Href, Name: t.Name, Updated: timeString(t.Updated)}
		if t.Type == "Hashtag" && t.Name != "" && t.Name[0] != '#' {
			w.Name = "#" + t.Name
		}
		if t.IconURL != "" {
			w.Icon = &wireLink{Type: "Image", MediaType: t.IconMediaType, URL: t.IconURL}
		}
		out = append(out, w)
	}
	return out
}

func attachmentWire(a Attachment) wireAttachment {
	return wireAttachment{
		Type: a.Type, MediaType: a.MediaType, URL: a.URL, Name: a.Name,
		Blurhash: a.Blurhash, FocalPoint: a.FocalPoint, Width: a.Width, Height: a.Height,
	}
}

func optionsWire(l []PollOption) []wireOption {
	var out []wireOption
	for _, o := range l {
		out = append(out, wireOption{Type: "Note", Name: o.Name, Replies: wireCount{Type: "Collection", TotalItems: o.VotesCount}})
	}
	return out
}

func (o *Object) wire() *wireObject {
	w := &wireObject{
		ID: o.ID, Type: o.Type, Summary: o.Summary, InReplyTo: o.InReplyTo,
		Published: timeString(o.Published), Updated: timeString(o.Updated), URL: o.URL,
		AttributedTo: o.AttributedTo, To: o.To, Cc: o.Cc, Audience: o.Audience,
		Conversation: o.Conversation, Name: o.Name, Content: o.Content, MediaType: o.MediaType,
		Tag: tagsWire(o.Tags), OneOf: optionsWire(o.OneOf), AnyOf: optionsWire(o.AnyOf),
		EndTime: timeString(o.EndTime), Closed: timeString(o.Closed),
		FormerType: o.FormerType, Deleted: timeString(o.Deleted),
	}
	if o.Type != "Tombstone" {
		// Mastodon always sends "sensitive" on statuses; so do we.
		s := o.Sensitive
		w.Sensitive = &s
	}
	if o.Language != "" {
		if o.Content != "" {
			w.ContentMap = map[string]string{o.Language: o.Content}
		}
		if o.Summary != "" {
			w.SummaryMap = map[string]string{o.Language: o.Summary}
		}
	}
	if o.Source != "" {
		w.Source = &wireSource{Content: o.Source, MediaType: o.SourceMediaType}
	}
	for _, a := range o.Attachments {
		w.Attachment = append(w.Attachment, attachmentWire(a))
	}
	if o.Type == "Question" {
		n := o.VotersCount
		w.VotersCount = &n
	}
	return w
}

func (a *Actor) wire() *wireActor {
	w := &wireActor{
		ID: a.ID, Type: a.Type, Following: a.Following, Followers: a.Followers,
		Inbox: a.Inbox, Outbox: a.Outbox, Featured: a.Featured, FeaturedTags: a.FeaturedTags,
		PreferredUsername: a.PreferredUsername, Name: a.Name, Summary: a.Summary, URL: a.URL,
		ManuallyApprovesFollowers: a.ManuallyApprovesFollowers, Discoverable: a.Discoverable,
		Indexable: a.Indexable, Published: timeString(a.Published), MovedTo: a.MovedTo,
		AlsoKnownAs: a.AlsoKnownAs, Tag: tagsWire(a.Tags),
	}
	switch len(a.PublicKeys) {
	case 0:
	case 1:
		// One object, not a list: Mastodon and most peers read only that.
		k := a.PublicKeys[0]
		w.PublicKey = wireKey(k)
	default:
		ks := make([]wireKey, len(a.PublicKeys))
		for i, k := range a.PublicKeys {
			ks[i] = wireKey(k)
		}
		w.PublicKey = ks
	}
	for _, f := range a.Fields {
		w.Attachment = append(w.Attachment, wireProperty{Type: "PropertyValue", Name: f.Name, Value: f.Value})
	}
	if a.SharedInbox != "" {
		w.Endpoints = &wireEndpoints{SharedInbox: a.SharedInbox}
	}
	if a.Icon.URL != "" {
		i := attachmentWire(a.Icon)
		if i.Type == "" {
			i.Type = "Image"
		}
		w.Icon = &i
	}
	if a.Image.URL != "" {
		i := attachmentWire(a.Image)
		if i.Type == "" {
			i.Type = "Image"
		}
		w.Image = &i
	}
	return w
}

func (a *Activity) wire() (*wireActivity, error) {
	w := &wireActivity{
		ID: a.ID, Type: a.Type, Actor: a.Actor, Published: timeString(a.Published),
		To: a.To, Cc: a.Cc, Audience: a.Audience, Summary: a.Summary, Content: a.Content,
		Tag: tagsWire(a.Tags), Target: a.Target,
	}
	switch {
	case a.ObjectActivity != nil:
		inner, err := a.ObjectActivity.wire()
		if err != nil {
			return nil, err
		}
		w.Object = inner
	case a.ObjectObject != nil:
		w.Object = a.ObjectObject.wire()
	case a.ObjectActor != nil:
		w.Object = a.ObjectActor.wire()
	case len(a.Objects) > 1:
		w.Object = a.Objects
	case a.Object != "":
		w.Object = a.Object
	case len(a.Objects) == 1:
		w.Object = a.Objects[0]
	}
	return w, nil
}

// EncodeObject returns the JSON document (with @context) for a local
// object: a Note, Question, or Tombstone. ContentMap, SummaryMap, NameMap
// and Links are not sent: Language, when set, sends one-entry contentMap
// and summaryMap beside content and summary, as Mastodon does; URL is
// sent as a string.
func EncodeObject(o *Object) ([]byte, error) {
	if o.ID == "" || o.Type == "" {
		return nil, errors.New("activity: encoding an object without id or type")
	}
	w := o.wire()
	w.Context = Context
	return json.Marshal(w)
}

// EncodeActor returns the JSON document (with @context) for a local actor
// or the instance actor.
func EncodeActor(a *Actor) ([]byte, error) {
	if a.ID == "" || a.Type == "" || a.Inbox == "" {
		return nil, errors.New("activity: encoding an actor without id, type or inbox")
	}
	w := a.wire()
	w.Context = Context
	return json.Marshal(w)
}

// EncodeActivity returns the JSON document (with @context) for a local
// activity, embedding its ObjectObject/ObjectActor/ObjectActivity when set
// and otherwise sending the object by id (Objects as a list when it has
// more than one entry, as for a Flag).
func EncodeActivity(a *Activity) ([]byte, error) {
	if a.ID == "" || a.Type == "" || a.Actor == "" {
		return nil, errors.New("activity: encoding an activity without id, type or actor")
	}
	w, err := a.wire()
	if err != nil {
		return nil, err
	}
	w.Context = Context
	return json.Marshal(w)
}

// EncodeCollection returns the JSON document (with @context) for an
// OrderedCollection or OrderedCollectionPage.
func EncodeCollection(c *Collection) ([]byte, error) {
	if c.ID == "" || c.Type == "" {
		return nil, errors.New("activity: encoding a collection without id or type")
	}
	w := &wireCollection{
		Context: Context, ID: c.ID, Type: c.Type, TotalItems: c.TotalItems,
		First: c.First, Last: c.Last, Next: c.Next, Prev: c.Prev, PartOf: c.PartOf,
	}
	var items []any
	for _, it := range c.Items {
		switch v := it.(type) {
		case string:
			items = append(items, v)
		case *Object:
			items = append(items, v.wire())
		case *Actor:
			items = append(items, v.wire())
		case *Activity:
			aw, err := v.wire()
			if err != nil {
				return nil, err
			}
			items = append(items, aw)
		default:
			return nil, errors.New("activity: collection item must be a string, *Object, *Actor or *Activity")
		}
	}
	// A collection paged through First sends no items itself; otherwise
	// (a page, or a small unpaged collection such as featured) the list
	// is sent even when empty, as Mastodon does.
	if items != nil || c.First == "" {
		if items == nil {
			items = []any{}
		}
		w.OrderedItems = items
	}
	return json.Marshal(w)
}
