package api

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/palisade-fedi/palisade/instance/data"
	"github.com/palisade-fedi/palisade/instance/social"
)

// Register mounts the API's routes on mux (the node's public mux): /api/v1
// and /api/v2 (but not /api/v1/apps, which is the OAuth server's), the
// streaming endpoint, the media files and the default avatar and header.
func (a *API) Register(mux *http.ServeMux) {
	a.registerAccounts(mux)
	a.registerStatuses(mux)
	a.registerPolls(mux)
	a.registerTimelines(mux)
	a.registerMedia(mux)
	a.registerStreaming(mux)

	a.handle(mux, "GET /api/v1/instance", public(), a.instanceV1)
	a.handle(mux, "GET /api/v2/instance", public(), a.instanceV2)
	a.handle(mux, "GET /api/v1/instance/peers", public(), a.instancePeers)
	a.handle(mux, "GET /api/v1/instance/activity", public(), a.emptyList)
	a.handle(mux, "GET /api/v1/instance/rules", public(), a.emptyList)
	a.handle(mux, "GET /api/v1/instance/extended_description", public(), a.extendedDescription)
	a.handle(mux, "GET /api/v2/search", appOrUser("read:search"), a.search)
	a.handle(mux, "GET /api/v1/preferences", user("read:accounts"), a.preferences)

	// Features not implemented yet answer empty lists, not 404: apps
	// fetch them at launch and treat a 404 as a broken server.
	for _, path := range []string{
		"/api/v1/custom_emojis", "/api/v1/announcements", "/api/v1/trends", "/api/v1/trends/tags",
		"/api/v1/trends/statuses", "/api/v1/trends/links",
	} {
		a.handle(mux, "GET "+path, public(), a.emptyList)
	}
	for path, scope := range map[string]string{
		"/api/v1/filters": "read:filters", "/api/v2/filters": "read:filters", "/api/v1/lists": "read:lists",
		"/api/v2/suggestions": "read", "/api/v1/suggestions": "read", "/api/v1/conversations": "read:statuses",
		"/api/v1/scheduled_statuses": "read:statuses", "/api/v1/followed_tags": "read:follows",
		"/api/v1/endorsements": "read:accounts", "/api/v1/featured_tags": "read:accounts",
		"/api/v1/domain_blocks": "read:blocks",
	} {
		a.handle(mux, "GET "+path, user(scope), a.emptyList)
	}

	avatar, header := placeholderPNG(color.RGBA{0x9b, 0xa3, 0xaf, 0xff}), placeholderPNG(color.RGBA{0xd1, 0xd5, 0xdb, 0xff})
	mux.HandleFunc("GET /avatars/original/missing.png", servePNG(avatar))
	mux.HandleFunc("GET /headers/original/missing.png", servePNG(header))
}

func placeholderPNG(c color.Color) []byte {
	img := image.NewUniform(c)
	var b bytes.Buffer
	png.Encode(&b, &boundedImage{img, image.Rect(0, 0, 120, 120)})
	return b.Bytes()
}

type boundedImage struct {
	*image.Uniform
	r image.Rectangle
}

func (b *boundedImage) Bounds() image.Rectangle { return b.r }

func servePNG(b []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		w.Header().Set("Cache-Control", "public, max-age=86400")
		w.Write(b)
	}
}

// mastodonVersion is the version string reported: apps gate features on
// a Mastodon version, so it names the API level implemented.
func (a *API) mastodonVersion() string {
	v := "4.3.0 (compatible; Palisade"
	if a.o.Instance.Version != "" {
		v += " " + a.o.Instance.Version
	}
	return v + ")"
}

func (a *API) instanceV1(w http.ResponseWriter, r *http.Request, c *call) error {
	u, err := a.st.LocalUsage(r.Context(), a.now())
	if err != nil {
		return err
	}
	peers, err := a.st.KnownDomains(r.Context(), 1<<20)
	if err != nil {
		return err
	}
	in := a.o.Instance
	return ok(w, map[string]any{
		"uri": a.svc.Host(), "title": in.Title, "short_description": in.Description, "description": in.Description,
		"email": in.ContactEmail, "version": a.mastodonVersion(),
		"urls":      map[string]string{"streaming_api": wsBase(a.base)},
		"stats":     map[string]any{"user_count": u.Users, "status_count": u.LocalPosts, "domain_count": len(peers)},
		"thumbnail": nil, "languages": []string{"en"}, "registrations": in.Registrations, "approval_required": false,
		"invites_enabled": false,
		"configuration": map[string]any{
			"accounts": map[string]any{"max_featured_tags": 0},
			"statuses": map[string]any{"max_characters": social.MaxChars, "max_media_attachments": social.MaxMedia,
				"characters_reserved_per_url": 23},
			"media_attachments": a.mediaConfiguration(),
			"polls":             a.pollConfiguration(),
		},
		"contact_account": nil, "rules": []any{},
	})
}

// pollConfiguration is configuration.polls: the limits POST
// /api/v1/statuses applies to poll[...].
func (a *API) pollConfiguration() map[string]any {
	return map[string]any{
		"max_options": social.MaxPollOptions, "max_characters_per_option": social.MaxPollOptionChars,
		"min_expiration": int64(a.svc.MinPollExpiryOf() / time.Second), "max_expiration": int64(social.MaxPollExpiry / time.Second),
	}
}

func (a *API) mediaConfiguration() map[string]any {
	return map[string]any{
		"supported_mime_types": []string{"image/jpeg", "image/png", "image/gif"},
		"image_size_limit":     a.o.MaxUploadBytes, "image_matrix_limit": maxPixels,
		"video_size_limit": 0, "video_frame_rate_limit": 0, "video_matrix_limit": 0,
	}
}

func wsBase(base string) string {
	if strings.HasPrefix(base, "https://") {
		return "wss://" + strings.TrimPrefix(base, "https://")
	}
	return "ws://" + strings.TrimPrefix(base, "http://")
}

func (a *API) instanceV2(w http.ResponseWriter, r *http.Request, c *call) error {
	u, err := a.st.LocalUsage(r.Context(), a.now())
	if err != nil {
		return err
	}
	in := a.o.Instance
	return ok(w, map[string]any{
		"domain": a.svc.Host(), "title": in.Title, "version": a.mastodonVersion(), "source_url": in.SourceURL,
		"description": in.Description,
		"usage":       map[string]any{"users": map[string]int{"active_month": u.ActiveMonth}},
		"thumbnail":   map[string]any{"url": a.defaultHeader()},
		"icon":        []any{},
		"languages":   []string{"en"},
		"configuration": map[string]any{
			"urls":     map[string]any{"streaming": wsBase(a.base), "status": nil},
			"vapid":    map[string]any{"public_key": ""},
			"accounts": map[string]any{"max_featured_tags": 0, "max_pinned_statuses": 0},
			"statuses": map[string]any{"max_characters": social.MaxChars, "max_media_attachments": social.MaxMedia,
				"characters_reserved_per_url": 23},
			"media_attachments": a.mediaConfiguration(),
			"polls":             a.pollConfiguration(),
			"translation":       map[string]any{"enabled": false},
		},
		"registrations": map[string]any{"enabled": in.Registrations, "approval_required": false, "message": nil, "url": nil},
		"api_versions":  map[string]int{"mastodon": 2},
		"contact":       map[string]any{"email": in.ContactEmail, "account": nil},
		"rules":         []any{},
	})
}

func (a *API) instancePeers(w http.ResponseWriter, r *http.Request, c *call) error {
	peers, err := a.st.KnownDomains(r.Context(), 100000)
	if err != nil {
		return err
	}
	if peers == nil {
		peers = []string{}
	}
	return ok(w, peers)
}

func (a *API) extendedDescription(w http.ResponseWriter, r *http.Request, c *call) error {
	return ok(w, map[string]any{"updated_at": Time(a.now()), "content": a.o.Instance.Description})
}

func (a *API) preferences(w http.ResponseWriter, r *http.Request, c *call) error {
	return ok(w, map[string]any{
		"posting:default:visibility": "public", "posting:default:sensitive": false, "posting:default:language": nil,
		"reading:expand:media": "default", "reading:expand:spoilers": false,
	})
}

// findAccounts searches accounts: "user", "@user" or "user@host" (the
// latter looked up through WebFinger when resolve is set, the reader
// signed in and Options.Resolve given), or a profile URL.
func (a *API) findAccounts(r *http.Request, q string, resolve bool, limit, offset int) ([]*data.Account, error) {
	ctx := r.Context()
	if u, err := url.Parse(q); err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" {
		acct, err := a.st.AccountByURL(ctx, q)
		if err == nil {
			return []*data.Account{acct}, nil
		}
		if data.KindOf(err) != data.NotFound {
			return nil, err
		}
		if resolve && a.o.ResolveURL != nil {
			if acct, _, err := a.o.ResolveURL(ctx, q); err == nil && acct != nil {
				return []*data.Account{acct}, nil
			}
		}
		return nil, nil
	}
	user, domain := a.splitAcct(q)
	if strings.Contains(strings.TrimPrefix(q, "@"), "@") {
		if domain == "" {
			domain = "-"
		}
		found, err := a.st.SearchAccounts(ctx, user, domain, limit, offset)
		if err != nil {
			return nil, err
		}
		exact := false
		for _, f := range found {
			exact = exact || strings.EqualFold(f.Username, user)
		}
		if !exact && resolve && domain != "-" && a.o.Resolve != nil && offset == 0 {
			acct, err := a.o.Resolve(ctx, user+"@"+domain)
			if err == nil && acct != nil {
				found = append([]*data.Account{acct}, found...)
			} else if err != nil {
				a.log.Info("api: resolving an account for search failed", "acct", user+"@"+domain, "err", err)
			}
		}
		return found, nil
	}
	return a.st.SearchAccounts(ctx, user, "", limit, offset)
}

func (a *API) search(w http.ResponseWriter, r *http.Request, c *call) error {
	ctx := r.Context()
	p, err := parseParams(r, maxBody)
	if err != nil {
		return err
	}
	q := strings.TrimSpace(p.str("q"))
	if q == "" {
		return invalidParam("q", "is missing")
	}
	if len(q) > 512 {
		return invalidParam("q", "is longer than 512 bytes")
	}
	limit, err := p.integer("limit", 20, 1, MaxLimit)
	if err != nil {
		return err
	}
	offset, err := p.integer("offset", 0, 0, 10000)
	if err != nil {
		return err
	}
	resolve, _, err := p.boolean("resolve")
	if err != nil {
		return err
	}
	if c.viewer == nil {
		resolve = false // Mastodon resolves only for signed-in members
	}
	typ := p.str("type")
	switch typ {
	case "", "accounts", "statuses", "hashtags":
	default:
		return invalidParam("type", "is %q: want accounts, statuses or hashtags", typ)
	}
	out := SearchResults{Accounts: []Account{}, Statuses: []Status{}, Hashtags: []Tag{}}
	isURL := strings.HasPrefix(q, "https://") || strings.HasPrefix(q, "http://")
	if typ == "" || typ == "accounts" {
		found, err := a.findAccounts(r, q, resolve, limit, offset)
		if err != nil {
			return err
		}
		out.Accounts = a.accountsToAPI(found)
	}
	if (typ == "" || typ == "statuses") && isURL {
		st, err := a.st.StatusByURL(ctx, q)
		if data.KindOf(err) == data.NotFound && resolve && a.o.ResolveURL != nil {
			var rerr error
			if _, st, rerr = a.o.ResolveURL(ctx, q); rerr == nil && st != nil {
				err = nil
			}
		}
		if err == nil && st != nil {
			if vis, verr := a.visible(ctx, c.viewer, st.ID); verr == nil {
				if rendered, rerr := a.statusesToAPI(ctx, c.viewer, []*data.Status{vis}); rerr == nil {
					out.Statuses = rendered
				}
			}
		} else if err != nil && data.KindOf(err) != data.NotFound {
			return err
		}
	}
	if (typ == "" || typ == "hashtags") && !isURL {
		tags, err := a.st.SearchTags(ctx, q, limit, offset)
		if err != nil {
			return err
		}
		for _, t := range tags {
			out.Hashtags = append(out.Hashtags, Tag{Name: t.Name, URL: a.svc.TagURL(t.Name), History: []any{}})
		}
	}
	return ok(w, out)
}
