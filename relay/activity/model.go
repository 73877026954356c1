package activity

import (
	"encoding/json"
	"strings"
	"time"

	"golang.org/x/text/unicode/norm"
)

// This file is the full ActivityStreams wire model: what the instance
// consumer reads out of an inbound activity (DecodeActivity, DecodeObject,
// DecodeActor in decode.go) and what the local side sends (encode.go). It is
// separate from Parse, the ingress's one-pass envelope scan, and slower:
// call it after the ingress has accepted a body, not on the hot path.

// Limits bounding what one decoded document may hold, so that a hostile
// body (already capped in bytes by the ingress) cannot make the decoder
// build huge slices or recurse without end.
const (
	// MaxList bounds every list field: tag, attachment, addressing
	// (to/cc/bto/bcc/audience, each), alsoKnownAs, poll options, profile
	// fields, a Flag's objects. A longer list is an error naming the field.
	MaxList = 1000
	// MaxDepth bounds embedding: an activity counts as depth 1, its
	// embedded object 2, that object's embedded object 3. Deeper embedded
	// objects are not decoded; only their id (and raw JSON) is kept.
	MaxDepth = 3
)

// Visibility is a status's audience, derived from its addressing the way
// Mastodon derives it.
type Visibility string

// The visibilities, in Mastodon's API spelling.
const (
	VisibilityPublic   Visibility = "public"   // as:Public in to
	VisibilityUnlisted Visibility = "unlisted" // as:Public in cc (not in to)
	VisibilityPrivate  Visibility = "private"  // the author's followers addressed, not public
	VisibilityDirect   Visibility = "direct"   // only the named recipients
)

// Link is a reference given as an ActivityStreams Link (or a bare IRI,
// which decodes to a Link with only Href).
type Link struct {
	Href      string
	MediaType string
	Name      string
	Rel       string
}

// Tag is one element of an object's "tag" list.
type Tag struct {
	// Type is "Mention", "Hashtag", "Emoji", or whatever the peer sent
	// (kept so the consumer can ignore what it does not know).
	Type string
	// Name as sent: "@alice@example.com" for a Mention, "#Tag" or "Tag"
	// for a Hashtag (Misskey and some Pleroma versions omit the '#'),
	// ":blob:" for an Emoji.
	Name string
	// Href is the mentioned actor's id (Mention) or the tag's page
	// (Hashtag). Empty for Emoji.
	Href string
	// ID is the tag's own id (Emoji carry one; Mastodon's is
	// https://host/emojis/N).
	ID string
	// IconURL and IconMediaType are the image of an Emoji.
	IconURL       string
	IconMediaType string
	Updated       time.Time
	// MediaType of a Link tag (FEP-e232 object links, used for quotes).
	MediaType string
}

// HashtagName returns the tag's name without a leading '#', lowercased,
// the form Palisade stores and matches hashtags in. It is "" for a tag
// that is not a Hashtag.
func (t *Tag) HashtagName() string {
	if t.Type != "Hashtag" {
		return ""
	}
	return NormalizeHashtag(t.Name)
}

// NormalizeHashtag strips one leading '#', applies Unicode NFKC and
// lowercases the rest, so that "#Café", "#CAFE\u0301" and the full-width
// "＃ｃａｆé"'s letters compare equal (Mastodon normalizes tag names with
// NFKC and downcasing too, and peers send either form).
func NormalizeHashtag(name string) string {
	name = norm.NFKC.String(strings.TrimSpace(name))
	return strings.ToLower(strings.TrimPrefix(name, "#"))
}

// Attachment is one media attachment (Document, Image, Video, Audio).
type Attachment struct {
	Type      string
	MediaType string
	URL       string
	// Name is the alt text.
	Name     string
	Blurhash string
	// FocalPoint is Mastodon's toot:focalPoint, [x, y] in [-1, 1]; nil
	// when absent.
	FocalPoint    *[2]float64
	Width, Height int
}

// PollOption is one choice of a Question.
type PollOption struct {
	Name       string
	VotesCount int // replies.totalItems
}

// Object is a decoded ActivityStreams object: a Note, Article, Page,
// Question, Tombstone, Image, Video, Event, ... (anything that is neither
// an actor nor an activity).
type Object struct {
	ID   string
	Type string
	// AttributedTo is the author's id. When a peer sends a list (PeerTube
	// and Lemmy list the Person and the Group), the first Person is
	// chosen, else the first entry.
	AttributedTo string
	InReplyTo    string
	// URL is the human-facing page: the first text/html Link when "url"
	// is a list (PeerTube lists the HTML page and the media files).
	URL string
	// Links are all the entries of "url", in order.
	Links []Link

	To, Cc, Bto, Bcc, Audience []string

	// Content, Summary (the content warning) and Name are the plain
	// "content"/"summary"/"name", or, when only the *Map form is given,
	// the value picked from it (see Language).
	Content, Summary, Name string
	// ContentMap, SummaryMap and NameMap are the language maps as sent
	// (nil when absent), for a consumer that wants another language.
	ContentMap, SummaryMap, NameMap map[string]string
	// Language is the contentMap key whose value is Content, or the only
	// or lexically first key when content is absent; "" without a
	// contentMap.
	Language string
	// MediaType of content, e.g. "text/html" or (Misskey's source)
	// "text/x.misskeymarkdown". Empty means HTML.
	MediaType string
	// Source is the author's source text (Misskey, Pleroma, Lemmy send
	// {"content", "mediaType"}).
	Source          string
	SourceMediaType string

	Tags        []Tag
	Attachments []Attachment
	Sensitive   bool
	Published   time.Time
	Updated     time.Time
	// Conversation is ostatus:conversation or "context" (Pleroma).
	Conversation string
	// QuoteURL is the quoted post (Misskey "_misskey_quote", Fedibird
	// "quoteUri", Akkoma "quoteUrl", FEP-e232 "quote").
	QuoteURL string

	// Question fields. OneOf is set for single-choice polls, AnyOf for
	// multiple-choice ones.
	OneOf, AnyOf []PollOption
	EndTime      time.Time
	// Closed is when the poll closed; Pleroma and Mastodon send a time,
	// some peers send true (then Closed is EndTime, or zero, and IsClosed
	// is true).
	Closed      time.Time
	IsClosed    bool
	VotersCount int

	// Tombstone fields.
	FormerType string
	Deleted    time.Time

	// Raw is the object's JSON exactly as received. For a top-level
	// document it is the body slice passed to DecodeObject itself (not a
	// copy); copy it before reusing that buffer.
	Raw json.RawMessage
}

// PropertyValue is one profile metadata field (schema:PropertyValue).
type PropertyValue struct {
	Name  string
	Value string // HTML
}

// PublicKey is an actor's security-v1 key.
type PublicKey struct {
	ID           string
	Owner        string
	PublicKeyPem string
}

// Actor is a decoded actor: Person, Service, Application, Group or
// Organization.
type Actor struct {
	ID                string
	Type              string
	PreferredUsername string
	Name              string
	Summary           string // HTML
	URL               string
	// Icon is the avatar, Image the header (the first with a url when a
	// list is sent; Misskey sends null for none).
	Icon, Image               Attachment
	Inbox, Outbox             string
	Followers, Following      string
	Featured, FeaturedTags    string
	SharedInbox               string // endpoints.sharedInbox
	PublicKeys                []PublicKey
	ManuallyApprovesFollowers bool
	Discoverable, Indexable   bool
	Published                 time.Time
	Fields                    []PropertyValue
	MovedTo                   string
	AlsoKnownAs               []string
	Tags                      []Tag // custom emoji in name/summary, featured hashtags
	// Raw is the actor's JSON as received (the body itself for DecodeActor).
	Raw json.RawMessage
}

// PublicKey returns the actor's key with the given id, or the first key
// when keyID is "" (nil when there is none).
func (a *Actor) PublicKey(keyID string) *PublicKey {
	for i := range a.PublicKeys {
		if keyID == "" || a.PublicKeys[i].ID == keyID {
			return &a.PublicKeys[i]
		}
	}
	return nil
}

// Activity is a decoded activity.
type Activity struct {
	ID    string
	Type  string
	Actor string
	// Object is the object's id: the string, the embedded object's "id",
	// or the first element of a list. Objects has every entry of a list
	// (Mastodon's Flag lists the reported account, then the statuses);
	// for a single object it has that one id.
	Object  string
	Objects []string
	// At most one of ObjectObject, ObjectActor and ObjectActivity is set,
	// when the object is embedded (and within MaxDepth), by its type.
	// ObjectRaw is the embedded object's JSON whenever it is embedded.
	// Embedded objects are the sender's claims: the ingress does not
	// trust one from another origin without fetching it.
	ObjectObject   *Object
	ObjectActor    *Actor
	ObjectActivity *Activity
	ObjectRaw      json.RawMessage
	ObjectType     string // the embedded object's type, "" for a bare id

	Target                     string
	To, Cc, Bto, Bcc, Audience []string
	Published                  time.Time
	// Content is a Flag's comment or an EmojiReact's emoji; Summary is
	// rarely used.
	Content, Summary string
	Tags             []Tag // EmojiReact carries the custom emoji here
	// Raw is the activity's JSON as received (the body itself for
	// DecodeActivity; copy it before reusing that buffer).
	Raw json.RawMessage
}

// actorTypes are the ActivityStreams actor types.
var actorTypes = map[string]bool{
	"Person": true, "Service": true, "Application": true, "Group": true, "Organization": true,
}

// activityTypes are the activity types an embedded object is decoded as an
// Activity for. Others (Note, Page, Question, ...) decode as Objects.
var activityTypes = map[string]bool{
	"Create": true, "Update": true, "Delete": true, "Follow": true, "Accept": true,
	"Reject": true, "Undo": true, "Like": true, "Dislike": true, "Announce": true,
	"Block": true, "Flag": true, "Move": true, "Add": true, "Remove": true,
	"EmojiReact": true, "Listen": true, "Read": true, "View": true, "Invite": true,
	"Join": true, "Leave": true, "TentativeAccept": true, "TentativeReject": true,
	"Question": false,
}

// IsActorType reports whether t is one of the actor types.
func IsActorType(t string) bool { return actorTypes[t] }

// IsActivityType reports whether t is an activity type this package
// decodes embedded activities of.
func IsActivityType(t string) bool { return activityTypes[t] }

// IsPublic reports whether the object is addressed to the public
// collection in to, cc or audience (full IRI or the "as:Public"/"Public"
// compact forms).
func (o *Object) IsPublic() bool {
	return anyPublic(o.To) || anyPublic(o.Cc) || anyPublic(o.Audience)
}

// IsPublic reports whether the activity is addressed to the public
// collection in to, cc or audience.
func (a *Activity) IsPublic() bool {
	return anyPublic(a.To) || anyPublic(a.Cc) || anyPublic(a.Audience)
}

func anyPublic(l []string) bool {
	for _, a := range l {
		if isPublic(a) {
			return true
		}
	}
	return false
}

// Visibility derives the object's visibility from its addressing as
// Mastodon does: public if the public collection is in to (or audience),
// unlisted if it is in cc, private if the author's followers collection is
// addressed, direct otherwise. followers is the author's followers
// collection; when the caller does not know it ("" ), any addressed IRI
// ending in "/followers" counts (Mastodon, Pleroma, GoToSocial, Misskey
// all name it so).
func (o *Object) Visibility(followers string) Visibility {
	return visibility(o.To, o.Cc, o.Audience, followers)
}

// Visibility is Object.Visibility over the activity's own addressing.
func (a *Activity) Visibility(followers string) Visibility {
	return visibility(a.To, a.Cc, a.Audience, followers)
}

func visibility(to, cc, aud []string, followers string) Visibility {
	switch {
	case anyPublic(to), anyPublic(aud):
		return VisibilityPublic
	case anyPublic(cc):
		return VisibilityUnlisted
	}
	for _, l := range [2][]string{to, cc} {
		for _, a := range l {
			if followers != "" && a == followers {
				return VisibilityPrivate
			}
			if followers == "" && strings.HasSuffix(a, "/followers") {
				return VisibilityPrivate
			}
		}
	}
	return VisibilityDirect
}

// Mentions returns the Href of every Mention tag, in order, without
// duplicates.
func (o *Object) Mentions() []string {
	var out []string
	seen := map[string]bool{}
	for _, t := range o.Tags {
		if t.Type == "Mention" && t.Href != "" && !seen[t.Href] {
			seen[t.Href] = true
			out = append(out, t.Href)
		}
	}
	return out
}

// Hashtags returns the normalized names (NormalizeHashtag) of every
// Hashtag tag, in order, without duplicates or empty names.
func (o *Object) Hashtags() []string {
	var out []string
	seen := map[string]bool{}
	for _, t := range o.Tags {
		n := t.HashtagName()
		if n != "" && !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}

// Emojis returns the Emoji tags.
func (o *Object) Emojis() []Tag {
	var out []Tag
	for _, t := range o.Tags {
		if t.Type == "Emoji" {
			out = append(out, t)
		}
	}
	return out
}
