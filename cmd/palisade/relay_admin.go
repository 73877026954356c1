package main

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/palisade-fedi/palisade/relay/relayactor"
	"github.com/palisade-fedi/palisade/store/pg"
)

// relaySubscriberView is one instance known to the relay, as the admin API
// shows it (snake_case; times omitted while zero).
type relaySubscriberView struct {
	Domain              string    `json:"domain"`
	State               string    `json:"state"`
	Style               string    `json:"style"`
	Direction           string    `json:"direction"`
	Actor               string    `json:"actor"`
	Inbox               string    `json:"inbox"`
	FollowBackAccepted  bool      `json:"follow_back_accepted"`
	Software            string    `json:"software"`
	SoftwareVersion     string    `json:"software_version"`
	SubscribedAt        time.Time `json:"subscribed_at,omitzero"`
	LastSuccess         time.Time `json:"last_success,omitzero"`
	LastFailure         time.Time `json:"last_failure,omitzero"`
	FailingSince        time.Time `json:"failing_since,omitzero"`
	ConsecutiveFailures int       `json:"consecutive_failures"`
	DeliveriesSent      int64     `json:"deliveries_sent"`
	Note                string    `json:"note,omitempty"`
}

func relayView(s pg.RelaySubscriber) relaySubscriberView {
	return relaySubscriberView{Domain: s.Domain, State: s.State, Style: s.Style, Direction: s.Direction, Actor: s.Actor,
		Inbox: s.Inbox, FollowBackAccepted: s.FollowBackAccepted, Software: s.Software, SoftwareVersion: s.SoftwareVersion,
		SubscribedAt: s.SubscribedAt, LastSuccess: s.LastSuccess, LastFailure: s.LastFailure, FailingSince: s.FailingSince,
		ConsecutiveFailures: s.ConsecutiveFailures, DeliveriesSent: s.DeliveriesSent, Note: s.Note}
}

// relayErr maps the relay's errors to the admin API's kinds.
func relayErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, relayactor.ErrNotFound), errors.Is(err, pg.ErrNotFound):
		return &adminError{Kind: kindNotExist, Msg: err.Error(), Err: err}
	case errors.Is(err, relayactor.ErrState):
		return &adminError{Kind: kindExist, Msg: err.Error(), Err: err}
	}
	return err
}

// relayRoutes serves the relay's admin API behind the admin bearer token:
//
//	GET    /admin/v1/relay/subscribers                    {"subscribers": [...]}
//	POST   /admin/v1/relay/subscribers/{domain}/approve   accept a pending request, or allow a domain
//	POST   /admin/v1/relay/subscribers/{domain}/reject    refuse a pending request
//	POST   /admin/v1/relay/subscribers/{domain}/block     {"note": "..."}: end and refuse
//	POST   /admin/v1/relay/subscribers/{domain}/direction {"direction": "both|receive_only|push_only"}
//	DELETE /admin/v1/relay/subscribers/{domain}           remove (it may subscribe again)
//
// Each change answers {"subscriber": {...}} (null once the row is gone).
func (n *node) relayRoutes(mux *http.ServeMux, r *relayactor.Relay) {
	mux.Handle("GET /admin/v1/relay/subscribers", n.policy.handle(func(w http.ResponseWriter, req *http.Request) error {
		subs, err := r.Subscribers(req.Context())
		if err != nil {
			return err
		}
		out := []relaySubscriberView{}
		for _, s := range subs {
			out = append(out, relayView(s))
		}
		writeJSON(w, http.StatusOK, map[string]any{"subscribers": out})
		return nil
	}))
	change := func(method, suffix string, do func(req *http.Request, domain string) error) {
		mux.Handle(method+" /admin/v1/relay/subscribers/{domain}"+suffix, n.policy.handle(func(w http.ResponseWriter, req *http.Request) error {
			domain := strings.ToLower(strings.TrimSpace(req.PathValue("domain")))
			if domain == "" {
				return errf(kindInvalid, "want a domain: /admin/v1/relay/subscribers/DOMAIN%s", suffix)
			}
			if err := relayErr(do(req, domain)); err != nil {
				return err
			}
			var view *relaySubscriberView
			if s, err := n.db.RelaySubscriber(req.Context(), domain); err == nil {
				v := relayView(s)
				view = &v
			}
			writeJSON(w, http.StatusOK, map[string]any{"subscriber": view})
			return nil
		}))
	}
	change("POST", "/approve", func(req *http.Request, d string) error { return r.Approve(req.Context(), d) })
	change("POST", "/reject", func(req *http.Request, d string) error { return r.Reject(req.Context(), d) })
	change("DELETE", "", func(req *http.Request, d string) error { return r.Remove(req.Context(), d) })
	change("POST", "/block", func(req *http.Request, d string) error {
		var body struct {
			Note string `json:"note"`
		}
		if err := decodeOptionalJSON(req, &body); err != nil {
			return err
		}
		return r.Block(req.Context(), d, body.Note)
	})
	change("POST", "/direction", func(req *http.Request, d string) error {
		var body struct {
			Direction string `json:"direction"`
		}
		if err := decodeOptionalJSON(req, &body); err != nil {
			return err
		}
		if err := r.SetDirection(req.Context(), d, body.Direction); err != nil && !errors.Is(err, relayactor.ErrNotFound) {
			return errf(kindInvalid, "%v", err)
		} else if err != nil {
			return err
		}
		return nil
	})
}

// decodeOptionalJSON reads a small JSON body into v; an empty body leaves
// v as it is.
func decodeOptionalJSON(req *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, req.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		return errf(kindInvalid, "request body: %v", err)
	}
	return nil
}
