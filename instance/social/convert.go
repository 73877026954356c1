package social

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/palisade-fedi/palisade/instance/data"
	"github.com/palisade-fedi/palisade/instance/ids"
	"github.com/palisade-fedi/palisade/relay/activity"
)

// Conversions from rows to the ActivityStreams documents the instance
// serves and sends, one place per direction (the inbound consumer has the
// other). instance/web serves exactly what these return, so a peer that
// fetches an object sees what it was sent.

// StatusURI is the ActivityPub id of local status id of username:
// BASE/users/NAME/statuses/ID.
func (s *Service) StatusURI(username string, id int64) string {
	return s.base + "/users/" + username + "/statuses/" + ids.String(id)
}

// StatusURL is the status's web page: BASE/@NAME/ID.
func (s *Service) StatusURL(username string, id int64) string {
	return s.base + "/@" + username + "/" + ids.String(id)
}

// TagURL is the page of hashtag name (without '#').
func (s *Service) TagURL(name string) string { return s.base + "/tags/" + name }

// MediaURL is where a local upload is served: BASE/media/<file_path>.
func (s *Service) MediaURL(m *data.MediaAttachment) string {
	if m.RemoteURL != "" {
		return m.RemoteURL
	}
	return s.base + "/media/" + strings.TrimLeft(m.FilePath, "/")
}

// AccountToPerson returns the actor document of local account a: Person
// (or its stored actor type) with its key, inbox and shared inbox,
// collections, profile fields as PropertyValue, and avatar and header when
// set.
func (s *Service) AccountToPerson(a *data.Account) *activity.Actor {
	u := s.URLs(a.Username)
	typ := a.ActorType
	if typ == "" {
		typ = "Person"
	}
	if a.Bot && typ == "Person" {
		typ = "Service" // Mastodon's bot flag is the Service type on the wire
	}
	p := &activity.Actor{
		ID: a.URI, Type: typ, PreferredUsername: a.Username, Name: a.DisplayName, Summary: a.Note,
		URL: firstNonEmpty(a.URL, u.Profile), Inbox: firstNonEmpty(a.InboxURL, u.Inbox),
		Outbox: firstNonEmpty(a.OutboxURL, u.Outbox), Followers: firstNonEmpty(a.FollowersURL, u.Followers),
		Following: firstNonEmpty(a.FollowingURL, u.Following), Featured: firstNonEmpty(a.FeaturedURL, u.Featured),
		FeaturedTags: u.FeaturedTags, SharedInbox: firstNonEmpty(a.SharedInboxURL, u.SharedInbox),
		ManuallyApprovesFollowers: a.Locked, Discoverable: a.Discoverable, Indexable: a.Discoverable,
		Published: a.CreatedAt, AlsoKnownAs: a.AlsoKnownAs,
		PublicKeys: []activity.PublicKey{{ID: firstNonEmpty(a.KeyID, u.KeyID), Owner: a.URI, PublicKeyPem: a.PublicKeyPEM}},
	}
	if a.PublishedAt != nil {
		p.Published = *a.PublishedAt
	}
	if a.AvatarRemoteURL != "" {
		p.Icon = activity.Attachment{Type: "Image", URL: a.AvatarRemoteURL}
	}
	if a.HeaderRemoteURL != "" {
		p.Image = activity.Attachment{Type: "Image", URL: a.HeaderRemoteURL}
	}
	for _, f := range a.Fields {
		p.Fields = append(p.Fields, activity.PropertyValue{Name: f.Name, Value: f.Value})
	}
	return p
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// audience is who a status is addressed to and who receives it.
type audience struct {
	to, cc    []string
	mentioned map[int64]*data.Account // by id, every mentioned account
	parent    *data.Account           // the replied-to author, when stored
}

// audienceOf addresses st (by author) as Mastodon does (activity.Addressing
// over its visibility, followers collection and mentions) and adds the
// replied-to author to cc unless the status is direct.
func (s *Service) audienceOf(ctx context.Context, st *data.Store, status *data.Status, author *data.Account) (*audience, error) {
	aud := &audience{mentioned: map[int64]*data.Account{}}
	idList := make([]int64, 0, len(status.Mentions)+1)
	for _, m := range status.Mentions {
		idList = append(idList, m.AccountID)
	}
	if status.InReplyToAccountID != 0 {
		idList = append(idList, status.InReplyToAccountID)
	}
	var accts map[int64]*data.Account
	if len(idList) > 0 {
		var err error
		if accts, err = st.GetAccounts(ctx, idList); err != nil {
			return nil, err
		}
	}
	var uris []string
	for _, m := range status.Mentions {
		if a := accts[m.AccountID]; a != nil {
			aud.mentioned[a.ID] = a
			uris = append(uris, a.URI)
		}
	}
	aud.parent = accts[status.InReplyToAccountID]
	followers := firstNonEmpty(author.FollowersURL, s.URLs(author.Username).Followers)
	aud.to, aud.cc = activity.Addressing(activity.Visibility(status.Visibility), followers, uris)
	if p := aud.parent; p != nil && status.Visibility != data.Direct && p.ID != author.ID && aud.mentioned[p.ID] == nil {
		aud.cc = append(aud.cc, p.URI)
	}
	return aud, nil
}

// inboxes are the deliveries of a status with audience aud: the author's
// followers' (shared) inboxes unless it is direct, every mentioned remote
// account, and the replied-to author.
func (s *Service) inboxes(ctx context.Context, st *data.Store, status *data.Status, author *data.Account, aud *audience) ([]string, error) {
	var followers []string
	if status.Visibility != data.Direct {
		var err error
		if followers, err = st.LocalFollowerInboxes(ctx, author.ID); err != nil {
			return nil, err
		}
	}
	var others []string
	for _, a := range aud.mentioned {
		others = append(others, inboxOf(a))
	}
	others = append(others, inboxOf(aud.parent))
	return inboxSet(followers, others), nil
}

// StatusToNote returns the Note of local status status by author, with its
// addressing, mentions, hashtags and attachments; a status with a poll is
// a Question (see questionOf) with the poll's current counts. It reads the mentioned
// accounts from st (pass the service's Store() outside a transaction).
func (s *Service) StatusToNote(ctx context.Context, st *data.Store, status *data.Status, author *data.Account) (*activity.Object, error) {
	aud, err := s.audienceOf(ctx, st, status, author)
	if err != nil {
		return nil, err
	}
	return s.note(status, author, aud), nil
}

func (s *Service) note(status *data.Status, author *data.Account, aud *audience) *activity.Object {
	n := &activity.Object{
		ID: status.URI, Type: "Note", AttributedTo: author.URI, InReplyTo: status.InReplyToURI,
		URL: firstNonEmpty(status.URL, s.StatusURL(author.Username, status.ID)), To: aud.to, Cc: aud.cc,
		Content: status.Content, Summary: status.SpoilerText, Language: status.Language,
		Sensitive: status.Sensitive || status.SpoilerText != "", Published: status.CreatedAt,
	}
	if status.EditedAt != nil {
		n.Updated = *status.EditedAt
	}
	for _, m := range status.Mentions {
		a := aud.mentioned[m.AccountID]
		if a == nil {
			continue
		}
		name := "@" + a.Username + "@" + a.Domain
		if a.Local() {
			name = "@" + a.Username + "@" + s.host
		}
		n.Tags = append(n.Tags, activity.Tag{Type: "Mention", Href: a.URI, Name: name})
	}
	for _, t := range status.Tags {
		n.Tags = append(n.Tags, activity.Tag{Type: "Hashtag", Href: s.TagURL(t), Name: "#" + t})
	}
	for i := range status.Media {
		m := &status.Media[i]
		att := activity.Attachment{Type: "Document", MediaType: m.ContentType, URL: s.MediaURL(m), Name: m.Description,
			Blurhash: m.Blurhash}
		if m.FocusX != 0 || m.FocusY != 0 {
			att.FocalPoint = &[2]float64{float64(m.FocusX), float64(m.FocusY)}
		}
		var meta struct {
			Original struct{ Width, Height int } `json:"original"`
		}
		if json.Unmarshal(m.Meta, &meta) == nil {
			att.Width, att.Height = meta.Original.Width, meta.Original.Height
		}
		n.Attachments = append(n.Attachments, att)
	}
	if len(status.Poll) > 0 {
		s.questionOf(n, status.Poll)
	}
	return n
}

// StatusToActivity returns the activity that published status: a Create
// of its Note (id: the status uri + "/activity", as Mastodon mints it), or
// for a boost the Announce of the boosted status (the boost row's uri is
// the Announce's id).
func (s *Service) StatusToActivity(ctx context.Context, st *data.Store, status *data.Status, author *data.Account) (*activity.Activity, error) {
	if status.ReblogOfID != 0 {
		a, _, err := s.announce(ctx, st, status, author)
		return a, err
	}
	n, err := s.StatusToNote(ctx, st, status, author)
	if err != nil {
		return nil, err
	}
	return activity.NewCreate(status.URI+"/activity", n), nil
}

// announce builds the Announce of boost row b by author and returns it
// with the boosted status's author.
func (s *Service) announce(ctx context.Context, st *data.Store, b *data.Status, author *data.Account) (*activity.Activity, *data.Account, error) {
	orig, err := st.GetStatus(ctx, b.ReblogOfID)
	if err != nil {
		return nil, nil, err
	}
	origAuthor, err := st.GetAccount(ctx, orig.AccountID)
	if err != nil {
		return nil, nil, err
	}
	followers := firstNonEmpty(author.FollowersURL, s.URLs(author.Username).Followers)
	to, cc := activity.Addressing(activity.Visibility(b.Visibility), followers, []string{origAuthor.URI})
	return activity.NewAnnounce(b.URI, author.URI, orig.URI, b.CreatedAt, to, cc), origAuthor, nil
}
