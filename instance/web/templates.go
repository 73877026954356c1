package web

import (
	"bytes"
	"embed"
	"html/template"
	"net/http"
	"time"

	"github.com/palisade-fedi/palisade/instance/content"
	"github.com/palisade-fedi/palisade/instance/data"
)

// The HTML views are deliberately minimal: a readable page for people who
// follow a link to a profile or a post. html/template escapes everything
// interpolated; the only HTML passed through is status content, bios and
// field values, and those go through content.Sanitize (Mastodon's allowed
// set) first, whatever their origin.

//go:embed templates/*.html
var templateFS embed.FS

var (
	profileTmpl = template.Must(template.ParseFS(templateFS, "templates/layout.html", "templates/profile.html", "templates/status.html"))
	statusTmpl  = template.Must(template.Must(template.ParseFS(templateFS, "templates/layout.html", "templates/status.html")).
			New("body").Parse(`{{template "status" .Status}}`))
	noticeTmpl = template.Must(template.ParseFS(templateFS, "templates/layout.html", "templates/notice.html"))
)

type pageBase struct {
	Title     string
	Host      string
	Alternate string // the ActivityStreams document of the page
}

type statusView struct {
	Content     template.HTML // sanitised
	SpoilerText string
	URL         string
	Published   string
	Edited      bool
	InReplyTo   string
	Media       []mediaView
	Poll        *pollView
}

type mediaView struct{ URL, Description string }

// pollView is a poll as a page shows it: the options, with their counts
// unless the author hides them until the end.
type pollView struct {
	Options []pollOptionView
	Ends    string // RFC 3339; "" without an end
	Ended   bool
	Hidden  bool // counts hidden until the end
	Voters  int
}

type pollOptionView struct {
	Title string
	Votes int
}

type fieldView struct {
	Name  string
	Value template.HTML // sanitised
}

func (h *Handler) statusView(st *data.Status, a *data.Account) statusView {
	v := statusView{
		Content: template.HTML(content.Sanitize(st.Content)), SpoilerText: st.SpoilerText,
		URL: st.URL, Published: st.CreatedAt.UTC().Format(time.RFC3339), Edited: st.EditedAt != nil,
		InReplyTo: st.InReplyToURI,
	}
	if v.URL == "" {
		v.URL = h.svc.StatusURL(a.Username, st.ID)
	}
	for i := range st.Media {
		v.Media = append(v.Media, mediaView{URL: h.svc.MediaURL(&st.Media[i]), Description: st.Media[i].Description})
	}
	if p, err := data.ParsePoll(st.Poll); err == nil && p != nil {
		pv := &pollView{Ended: p.Ended(time.Now()), Voters: p.VotersCount}
		pv.Hidden = p.HideTotals && !pv.Ended
		if p.ExpiresAt != nil {
			pv.Ends = p.ExpiresAt.UTC().Format(time.RFC3339)
		}
		for _, o := range p.Options {
			pv.Options = append(pv.Options, pollOptionView{Title: o.Title, Votes: o.VotesCount})
		}
		v.Poll = pv
	}
	return v
}

func render(w http.ResponseWriter, code int, t *template.Template, v any) error {
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", v); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Vary", "Accept, Signature")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src https: http:")
	w.WriteHeader(code)
	_, err := w.Write(buf.Bytes())
	return err
}

// profilePage renders a local account's profile with its latest public
// posts.
func (h *Handler) profilePage(w http.ResponseWriter, r *http.Request, a *data.Account) error {
	ctx := r.Context()
	sts, err := h.st.PublicAccountStatuses(ctx, a.ID, data.Page{Limit: pageSize})
	if err != nil {
		return err
	}
	if err := h.st.LoadStatusExtras(ctx, sts); err != nil {
		return err
	}
	v := struct {
		pageBase
		Account  *data.Account
		Note     template.HTML
		Fields   []fieldView
		Statuses []statusView
	}{
		pageBase: pageBase{Title: a.DisplayName + " (@" + a.Username + "@" + hostOnly(h.host) + ")", Host: hostOnly(h.host), Alternate: a.URI},
		Account:  a, Note: template.HTML(content.Sanitize(a.Note)),
	}
	for _, f := range a.Fields {
		v.Fields = append(v.Fields, fieldView{Name: f.Name, Value: template.HTML(content.Sanitize(f.Value))})
	}
	for _, st := range sts {
		if st.ReblogOfID == 0 && st.Visibility == data.Public {
			v.Statuses = append(v.Statuses, h.statusView(st, a))
		}
	}
	return render(w, http.StatusOK, profileTmpl, v)
}

// statusPage renders one status.
func (h *Handler) statusPage(w http.ResponseWriter, r *http.Request, a *data.Account, st *data.Status) error {
	name := a.DisplayName
	if name == "" {
		name = a.Username
	}
	v := struct {
		pageBase
		Status statusView
	}{
		pageBase: pageBase{Title: name + ": " + truncate(content.PlainText(st.Content), 60), Host: hostOnly(h.host), Alternate: st.URI},
		Status:   h.statusView(st, a),
	}
	return render(w, http.StatusOK, statusTmpl, v)
}

// notice renders an error or a suspension notice for browsers.
func (h *Handler) notice(w http.ResponseWriter, code int, msg string) {
	heading := http.StatusText(code)
	if code == http.StatusGone {
		heading = "Gone"
	}
	v := struct {
		pageBase
		Heading, Message string
	}{pageBase{Title: heading, Host: hostOnly(h.host)}, heading, msg}
	if err := render(w, code, noticeTmpl, v); err != nil {
		h.log.Error("web: rendering a notice failed", "err", err)
	}
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}
