package api

import (
	"encoding/json"
	"time"
)

// The JSON entities of Mastodon's API, as its documentation and real
// clients (go-mastodon, masto.js) read them. Arrays are never nil when
// encoded: converters initialise them.

// Time encodes as RFC 3339 in UTC with milliseconds, as Mastodon does
// (some clients parse exactly that).
type Time time.Time

// MarshalJSON implements json.Marshaler.
func (t Time) MarshalJSON() ([]byte, error) {
	return []byte(`"` + time.Time(t).UTC().Format("2006-01-02T15:04:05.000Z") + `"`), nil
}

func timePtr(t *time.Time) *Time {
	if t == nil {
		return nil
	}
	x := Time(*t)
	return &x
}

// Date encodes as a date ("2024-01-02"): Account.last_status_at.
type Date time.Time

// MarshalJSON implements json.Marshaler.
func (d Date) MarshalJSON() ([]byte, error) {
	return []byte(`"` + time.Time(d).UTC().Format("2006-01-02") + `"`), nil
}

// Emoji is a custom emoji (none are stored yet: lists are empty).
type Emoji struct {
	Shortcode       string `json:"shortcode"`
	URL             string `json:"url"`
	StaticURL       string `json:"static_url"`
	VisibleInPicker bool   `json:"visible_in_picker"`
}

// Field is a profile metadata pair.
type Field struct {
	Name       string `json:"name"`
	Value      string `json:"value"`
	VerifiedAt *Time  `json:"verified_at"`
}

// Account is Mastodon's Account.
type Account struct {
	ID             string    `json:"id"`
	Username       string    `json:"username"`
	Acct           string    `json:"acct"`
	DisplayName    string    `json:"display_name"`
	Locked         bool      `json:"locked"`
	Bot            bool      `json:"bot"`
	Discoverable   bool      `json:"discoverable"`
	Indexable      bool      `json:"indexable"`
	Group          bool      `json:"group"`
	CreatedAt      Time      `json:"created_at"`
	Note           string    `json:"note"`
	URL            string    `json:"url"`
	URI            string    `json:"uri"`
	Avatar         string    `json:"avatar"`
	AvatarStatic   string    `json:"avatar_static"`
	Header         string    `json:"header"`
	HeaderStatic   string    `json:"header_static"`
	FollowersCount int64     `json:"followers_count"`
	FollowingCount int64     `json:"following_count"`
	StatusesCount  int64     `json:"statuses_count"`
	LastStatusAt   *Date     `json:"last_status_at"`
	HideCollection bool      `json:"hide_collections"`
	Noindex        bool      `json:"noindex"`
	Emojis         []Emoji   `json:"emojis"`
	Roles          []any     `json:"roles"`
	Fields         []Field   `json:"fields"`
	Moved          *Account  `json:"moved,omitempty"`
	Suspended      bool      `json:"suspended,omitempty"`
	Limited        bool      `json:"limited,omitempty"`
	Source         *Source   `json:"source,omitempty"`
	Role           *UserRole `json:"role,omitempty"`
}

// Source is the CredentialAccount's source (what the member typed).
type Source struct {
	Privacy             string  `json:"privacy"`
	Sensitive           bool    `json:"sensitive"`
	Language            string  `json:"language"`
	Note                string  `json:"note"`
	Fields              []Field `json:"fields"`
	FollowRequestsCount int     `json:"follow_requests_count"`
}

// UserRole is the CredentialAccount's role.
type UserRole struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Color       string `json:"color"`
	Permissions string `json:"permissions"`
	Highlighted bool   `json:"highlighted"`
}

// MediaAttachment is Mastodon's MediaAttachment.
type MediaAttachment struct {
	ID               string          `json:"id"`
	Type             string          `json:"type"`
	URL              *string         `json:"url"`
	PreviewURL       *string         `json:"preview_url"`
	RemoteURL        *string         `json:"remote_url"`
	PreviewRemoteURL *string         `json:"preview_remote_url"`
	TextURL          *string         `json:"text_url"`
	Meta             json.RawMessage `json:"meta"`
	Description      *string         `json:"description"`
	Blurhash         *string         `json:"blurhash"`
}

// StatusMention is a status's mention.
type StatusMention struct {
	ID       string `json:"id"`
	Username string `json:"username"`
	URL      string `json:"url"`
	Acct     string `json:"acct"`
}

// Tag is a hashtag (in a status, and in search results with history).
type Tag struct {
	Name      string `json:"name"`
	URL       string `json:"url"`
	History   []any  `json:"history,omitempty"`
	Following *bool  `json:"following,omitempty"`
}

// Application is the app a status was posted with.
type Application struct {
	Name    string  `json:"name"`
	Website *string `json:"website"`
}

// PollOption is one choice of a poll.
type PollOption struct {
	Title      string `json:"title"`
	VotesCount *int   `json:"votes_count"`
}

// Poll is Mastodon's Poll.
type Poll struct {
	ID          string       `json:"id"`
	ExpiresAt   *Time        `json:"expires_at"`
	Expired     bool         `json:"expired"`
	Multiple    bool         `json:"multiple"`
	VotesCount  int          `json:"votes_count"`
	VotersCount *int         `json:"voters_count"`
	Options     []PollOption `json:"options"`
	Emojis      []Emoji      `json:"emojis"`
	Voted       bool         `json:"voted"`
	OwnVotes    []int        `json:"own_votes"`
}

// Status is Mastodon's Status.
type Status struct {
	ID                 string            `json:"id"`
	URI                string            `json:"uri"`
	URL                *string           `json:"url"`
	Account            *Account          `json:"account"`
	InReplyToID        *string           `json:"in_reply_to_id"`
	InReplyToAccountID *string           `json:"in_reply_to_account_id"`
	Reblog             *Status           `json:"reblog"`
	Content            string            `json:"content"`
	CreatedAt          Time              `json:"created_at"`
	EditedAt           *Time             `json:"edited_at"`
	Emojis             []Emoji           `json:"emojis"`
	RepliesCount       int64             `json:"replies_count"`
	ReblogsCount       int64             `json:"reblogs_count"`
	FavouritesCount    int64             `json:"favourites_count"`
	Reblogged          *bool             `json:"reblogged,omitempty"`
	Favourited         *bool             `json:"favourited,omitempty"`
	Muted              *bool             `json:"muted,omitempty"`
	Bookmarked         *bool             `json:"bookmarked,omitempty"`
	Pinned             *bool             `json:"pinned,omitempty"`
	Sensitive          bool              `json:"sensitive"`
	SpoilerText        string            `json:"spoiler_text"`
	Visibility         string            `json:"visibility"`
	Language           *string           `json:"language"`
	MediaAttachments   []MediaAttachment `json:"media_attachments"`
	Mentions           []StatusMention   `json:"mentions"`
	Tags               []Tag             `json:"tags"`
	Card               any               `json:"card"`
	Poll               *Poll             `json:"poll"`
	Application        *Application      `json:"application,omitempty"`
	Filtered           []any             `json:"filtered,omitempty"`
	Text               *string           `json:"text,omitempty"` // delete's answer (redraft)
}

// Notification is Mastodon's Notification.
type Notification struct {
	ID        string   `json:"id"`
	Type      string   `json:"type"`
	GroupKey  string   `json:"group_key"`
	CreatedAt Time     `json:"created_at"`
	Account   *Account `json:"account"`
	Status    *Status  `json:"status,omitempty"`
	Report    any      `json:"report,omitempty"`
}

// Relationship is Mastodon's Relationship.
type Relationship struct {
	ID                  string   `json:"id"`
	Following           bool     `json:"following"`
	ShowingReblogs      bool     `json:"showing_reblogs"`
	Notifying           bool     `json:"notifying"`
	Languages           []string `json:"languages"`
	FollowedBy          bool     `json:"followed_by"`
	Blocking            bool     `json:"blocking"`
	BlockedBy           bool     `json:"blocked_by"`
	Muting              bool     `json:"muting"`
	MutingNotifications bool     `json:"muting_notifications"`
	Requested           bool     `json:"requested"`
	RequestedBy         bool     `json:"requested_by"`
	DomainBlocking      bool     `json:"domain_blocking"`
	Endorsed            bool     `json:"endorsed"`
	Note                string   `json:"note"`
}

// Context is a status's thread.
type Context struct {
	Ancestors   []Status `json:"ancestors"`
	Descendants []Status `json:"descendants"`
}

// StatusEdit is one version in a status's history.
type StatusEdit struct {
	Content          string            `json:"content"`
	SpoilerText      string            `json:"spoiler_text"`
	Sensitive        bool              `json:"sensitive"`
	CreatedAt        Time              `json:"created_at"`
	Account          *Account          `json:"account"`
	Poll             any               `json:"poll"`
	MediaAttachments []MediaAttachment `json:"media_attachments"`
	Emojis           []Emoji           `json:"emojis"`
}

// StatusSource is what GET /api/v1/statuses/:id/source returns.
type StatusSource struct {
	ID          string `json:"id"`
	Text        string `json:"text"`
	SpoilerText string `json:"spoiler_text"`
}

// Marker is one timeline's read position.
type Marker struct {
	LastReadID string `json:"last_read_id"`
	Version    int    `json:"version"`
	UpdatedAt  Time   `json:"updated_at"`
}

// SearchResults is search v2's answer.
type SearchResults struct {
	Accounts []Account `json:"accounts"`
	Statuses []Status  `json:"statuses"`
	Hashtags []Tag     `json:"hashtags"`
}
