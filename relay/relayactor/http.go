package relayactor

import (
	"encoding/json"
	"html/template"
	"net/http"
	"time"

	"github.com/palisade-fedi/palisade/store/pg"
)

const activityJSON = "application/activity+json; charset=utf-8"

// Routes registers the relay's public documents on mux:
//
//	GET /actor             the relay (and instance) actor
//	GET /actor/followers   OrderedCollection: active subscribers (count only)
//	GET /actor/following   OrderedCollection: accepted LitePub follow-backs (count only)
//	GET /actor/outbox      an empty OrderedCollection
//	GET /relay             the status page (Options.StatusPage)
//	GET /relay/subscribers.json  the same as JSON (Options.StatusPage)
//
// Collections give counts, not members: which instances follow the relay
// is shown only on the status page, which the admin may turn off.
func (r *Relay) Routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /actor", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", activityJSON)
		w.Header().Set("Cache-Control", "max-age=300")
		w.Write(r.ActorDocument())
	})
	mux.HandleFunc("GET /actor/followers", func(w http.ResponseWriter, _ *http.Request) {
		r.collection(w, r.follower, func(s *pg.RelaySubscriber) bool { return s.State == pg.RelayActive })
	})
	mux.HandleFunc("GET /actor/following", func(w http.ResponseWriter, _ *http.Request) {
		r.collection(w, r.actorID+"/following", func(s *pg.RelaySubscriber) bool {
			return s.State == pg.RelayActive && s.FollowBackAccepted
		})
	})
	mux.HandleFunc("GET /actor/outbox", func(w http.ResponseWriter, _ *http.Request) {
		r.collection(w, r.actorID+"/outbox", func(*pg.RelaySubscriber) bool { return false })
	})
	if !r.o.StatusPage {
		return
	}
	mux.HandleFunc("GET /relay", r.statusPage)
	mux.HandleFunc("GET /relay/subscribers.json", r.statusJSON)
}

func (r *Relay) collection(w http.ResponseWriter, id string, count func(*pg.RelaySubscriber) bool) {
	n := 0
	for i, rows := 0, r.subs.Load().rows; i < len(rows); i++ {
		if count(&rows[i]) {
			n++
		}
	}
	w.Header().Set("Content-Type", activityJSON)
	json.NewEncoder(w).Encode(map[string]any{
		"@context": asContext, "id": id, "type": "OrderedCollection", "totalItems": n,
	})
}

// PublicSubscriber is one subscribed instance as the status page shows it.
type PublicSubscriber struct {
	Domain          string    `json:"domain"`
	Software        string    `json:"software"`
	Version         string    `json:"version"`
	SubscribedSince time.Time `json:"subscribed_since,omitzero"`
}

func (r *Relay) public() []PublicSubscriber {
	out := []PublicSubscriber{}
	for _, s := range r.subs.Load().rows {
		if s.State == pg.RelayActive {
			out = append(out, PublicSubscriber{Domain: s.Domain, Software: s.Software, Version: s.SoftwareVersion, SubscribedSince: s.SubscribedAt})
		}
	}
	return out
}

func (r *Relay) statusJSON(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	subs := r.public()
	json.NewEncoder(w).Encode(map[string]any{"relay": r.actorID, "inbox": r.inbox, "mode": r.o.Mode,
		"count": len(subs), "subscribers": subs})
}

var statusTmpl = template.Must(template.New("status").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>Relay {{.Base}}</title>
<style>body{font-family:system-ui,sans-serif;max-width:50rem;margin:2rem auto;padding:0 1rem}
table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:.3rem .5rem;border-bottom:1px solid #ddd}
code{background:#f4f4f4;padding:.1rem .3rem}</style></head><body>
<h1>ActivityPub relay</h1>
<p>Mastodon: add <code>{{.Inbox}}</code> as a relay. Pleroma / Akkoma: follow <code>{{.Actor}}</code>.
Subscriptions: {{.Mode}}.</p>
<h2>{{len .Subs}} subscribed instance{{if ne (len .Subs) 1}}s{{end}}</h2>
<table><thead><tr><th>Instance</th><th>Software</th><th>Subscribed since</th></tr></thead><tbody>
{{range .Subs}}<tr><td>{{.Domain}}</td><td>{{.Software}} {{.Version}}</td><td>{{if not .SubscribedSince.IsZero}}{{.SubscribedSince.Format "2006-01-02"}}{{end}}</td></tr>
{{end}}</tbody></table>
<p><a href="/relay/subscribers.json">JSON</a></p>
</body></html>
`))

func (r *Relay) statusPage(w http.ResponseWriter, _ *http.Request) {
	mode := map[string]string{ModeOpen: "open to every instance", ModeApproval: "approved by the admin", ModeAllowlist: "by invitation (allowlist)"}[r.o.Mode]
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	statusTmpl.Execute(w, map[string]any{"Base": r.o.BaseURL, "Inbox": r.inbox, "Actor": r.actorID, "Mode": mode, "Subs": r.public()})
}
