package federation

import (
	"encoding/json"
	"html"
	"slices"
	"strings"
	"time"

	"github.com/palisade-fedi/palisade/instance/content"
	"github.com/palisade-fedi/palisade/instance/data"
	"github.com/palisade-fedi/palisade/policy"
	"github.com/palisade-fedi/palisade/relay/activity"
)

// Bounds on what one remote status may bring in (the decoder already caps
// lists at activity.MaxList; these are what the instance keeps).
const (
	maxMentions = 50
	maxTags     = 50
	maxMedia    = 16
)

// NoteToStatus converts a remote note (Note, Question, Article, Page) by
// author into a status row, applying the policy decision rec: strip_media,
// sensitive, cw, followers_only, delist and silence (delisted). Mentions
// are kept for the accounts in known (by actor id); others are dropped
// (they are not fetched). received stands in for a missing published.
func NoteToStatus(o *activity.Object, author *data.Account, known map[string]*data.Account, rec policy.Record, received time.Time) *data.Status {
	mods := rec.Modifiers | actionModifier(rec.Action)
	st := &data.Status{
		URI: o.ID, URL: o.URL, AccountID: author.ID, InReplyToURI: o.InReplyTo, Language: o.Language,
		CreatedAt: o.Published, Sensitive: o.Sensitive, DecisionRuleIDs: rec.Fired,
	}
	if st.CreatedAt.IsZero() || st.CreatedAt.After(received.Add(time.Hour)) {
		// No date, or one from the future (a clock or a lie): the time we
		// got it keeps timelines honest.
		st.CreatedAt = received
	}
	st.Content = content.Sanitize(noteHTML(o))
	st.SpoilerText = strings.TrimSpace(content.PlainText(o.Summary))
	switch o.Visibility(author.FollowersURL) {
	case activity.VisibilityPublic:
		st.Visibility = data.Public
	case activity.VisibilityUnlisted:
		st.Visibility = data.Unlisted
	case activity.VisibilityPrivate:
		st.Visibility = data.Private
	default:
		st.Visibility = data.Direct
	}
	if tags := o.Hashtags(); len(tags) > 0 {
		st.Tags = tags[:min(len(tags), maxTags)]
	}
	for i, href := range o.Mentions() {
		if i == maxMentions {
			break
		}
		if a := known[href]; a != nil {
			st.Mentions = append(st.Mentions, data.Mention{AccountID: a.ID})
		}
	}
	for i, att := range o.Attachments {
		if i == maxMedia {
			break
		}
		st.Media = append(st.Media, attachmentToMedia(att))
	}
	if o.Type == "Question" {
		st.Poll = pollJSON(o)
	}

	if mods&policy.ModStripMedia != 0 {
		st.Media = nil
	}
	if mods&policy.ModSensitive != 0 {
		st.Sensitive = true
	}
	if mods&policy.ModCW != 0 && st.SpoilerText == "" {
		st.SpoilerText = cwText(rec)
		st.Sensitive = true
	}
	if mods&policy.ModFollowersOnly != 0 && (st.Visibility == data.Public || st.Visibility == data.Unlisted) {
		st.Visibility = data.Private
	}
	if mods&(policy.ModDelist|policy.ModSilence) != 0 || author.SilencedAt != nil {
		st.Delisted = true
	}
	return st
}

// noteHTML is the note's HTML before sanitising. Article and Page carry a
// title and a link to the full text: Mastodon shows them as the title, the
// link, then the summary or content, and so do we.
func noteHTML(o *activity.Object) string {
	body := o.Content
	if body == "" {
		body = pickMap(o.ContentMap, o.Language)
	}
	if (o.Type == "Article" || o.Type == "Page") && o.Name != "" {
		head := "<p><strong>" + html.EscapeString(o.Name) + "</strong></p>"
		if o.URL != "" {
			head += `<p><a href="` + html.EscapeString(o.URL) + `">` + html.EscapeString(o.URL) + "</a></p>"
		}
		body = head + body
	}
	return body
}

// pickMap chooses from a contentMap: the note's language, else the
// alphabetically first language (maps have no order; stay deterministic).
func pickMap(m map[string]string, lang string) string {
	if v, ok := m[lang]; ok {
		return v
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return ""
	}
	slices.Sort(keys)
	return m[keys[0]]
}

// cwText is the content warning the cw action adds, citing the reasons of
// the rules that fired (or their ids when they gave none).
func cwText(rec policy.Record) string {
	var why []string
	for i, id := range rec.Fired {
		r := id
		if i < len(rec.Reasons) && rec.Reasons[i] != "" {
			r = rec.Reasons[i]
		}
		if !slices.Contains(why, r) {
			why = append(why, r)
		}
	}
	if len(why) == 0 {
		return "Content warning"
	}
	return "Content warning: " + strings.Join(why, ", ")
}

func attachmentToMedia(a activity.Attachment) data.MediaAttachment {
	m := data.MediaAttachment{RemoteURL: a.URL, ContentType: a.MediaType, Description: a.Name, Blurhash: a.Blurhash}
	major, _, _ := strings.Cut(a.MediaType, "/")
	switch {
	case major == "image" && a.MediaType == "image/gif":
		m.Type = "gifv"
	case major == "image", a.Type == "Image":
		m.Type = "image"
	case major == "video", a.Type == "Video":
		m.Type = "video"
	case major == "audio", a.Type == "Audio":
		m.Type = "audio"
	default:
		m.Type = "unknown"
	}
	if a.FocalPoint != nil {
		m.FocusX, m.FocusY = float32(a.FocalPoint[0]), float32(a.FocalPoint[1])
	}
	if a.Width > 0 && a.Height > 0 {
		m.Meta, _ = json.Marshal(map[string]any{"original": map[string]int{"width": a.Width, "height": a.Height}})
	}
	return m
}

// pollJSON is the poll column of a Question: its options with their vote
// counts, whether several may be chosen, when it ends, whether it closed.
func pollJSON(o *activity.Object) json.RawMessage {
	p := &data.Poll{Options: []data.PollOption{}, VotersCount: o.VotersCount, Closed: o.IsClosed}
	opts := o.OneOf
	if len(o.AnyOf) > 0 {
		opts, p.Multiple = o.AnyOf, true
	}
	for _, op := range opts {
		p.Options = append(p.Options, data.PollOption{Title: op.Name, VotesCount: op.VotesCount})
	}
	if !o.EndTime.IsZero() {
		t := o.EndTime
		p.ExpiresAt = &t
	}
	return p.JSON()
}
