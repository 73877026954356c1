package api

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/palisade-fedi/palisade/instance/data"
	"github.com/palisade-fedi/palisade/instance/ids"
	"github.com/palisade-fedi/palisade/instance/social"
)

// The streaming API: GET /api/v1/streaming upgrades to a WebSocket that
// carries Mastodon's event frames,
//
//	{"stream": ["user"], "event": "update", "payload": "<the Status as a JSON string>"}
//
// for the streams user, user:notification, public, public:local,
// public:remote, hashtag and hashtag:local. The client names the first
// stream in the query (?stream=user&tag=...) and may subscribe and
// unsubscribe more with {"type": "subscribe", "stream": ..., "tag": ...}.
// The token comes as access_token, the Authorization header, or the
// Sec-WebSocket-Protocol header (echoed back, as browsers can set no
// other header).
//
// Events come from Postgres, whoever wrote the rows (this node's API, the
// inbound consumer, another node): migration 0008's statement triggers
// NOTIFY the ids of new statuses and notifications and of deleted and
// edited statuses, and one connection per node LISTENs (hub.run) and
// fans out to the sockets whose streams match. NOTIFY comes at commit, so
// a status is never streamed before it can be read.

const (
	chanStatuses      = "palisade_statuses"
	chanNotifications = "palisade_notifications"
	chanChanges       = "palisade_status_changes"
)

// hub is the node's streaming fan-out.
type hub struct {
	a *API

	mu    sync.Mutex
	socks map[*socket]struct{}
	ready chan struct{} // closed once LISTEN is in place (tests wait on it)
	once  sync.Once
}

func newHub(a *API) *hub {
	return &hub{a: a, socks: map[*socket]struct{}{}, ready: make(chan struct{})}
}

// socket is one streaming client.
type socket struct {
	viewer *data.Account // nil: anonymous (public streams only)
	out    chan []byte   // frames to write; full: the client is too slow and is dropped

	mu      sync.Mutex
	streams map[string]bool // "user", "public:local", "hashtag:<tag>", "hashtag:local:<tag>", ...
}

func (s *socket) has(stream string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.streams[stream]
}

func (s *socket) send(b []byte) bool {
	select {
	case s.out <- b:
		return true
	default:
		return false
	}
}

// Run LISTENs for the triggers' notifications and streams them until ctx
// ends, reconnecting after a database failure. Without Options.Pool it
// returns at once.
func (a *API) Run(ctx context.Context) {
	if a.o.Pool == nil {
		return
	}
	backoff := time.Second
	for ctx.Err() == nil {
		err := a.stream.listen(ctx, a.o.Pool)
		if ctx.Err() != nil {
			return
		}
		a.log.Warn("api: the streaming listener lost its database connection; reconnecting", "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 30*time.Second)
	}
}

// StreamingConnections is how many streaming clients are connected.
func (a *API) StreamingConnections() int {
	a.stream.mu.Lock()
	defer a.stream.mu.Unlock()
	return len(a.stream.socks)
}

// StreamingReady is closed once the streaming listener is in place.
func (a *API) StreamingReady() <-chan struct{} { return a.stream.ready }

func (h *hub) listen(ctx context.Context, pool *pgxpool.Pool) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return err
	}
	// The connection stays in LISTEN state: never return it to the pool.
	pc := conn.Hijack()
	defer pc.Close(context.WithoutCancel(ctx))
	for _, ch := range []string{chanStatuses, chanNotifications, chanChanges} {
		if _, err := pc.Exec(ctx, "LISTEN "+ch); err != nil {
			return err
		}
	}
	h.once.Do(func() { close(h.ready) })
	for {
		n, err := pc.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		if !h.anyone() {
			continue
		}
		dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		switch n.Channel {
		case chanStatuses:
			h.newStatuses(dctx, parseIDs(n.Payload, ""), "update")
		case chanNotifications:
			h.newNotifications(dctx, parseIDs(n.Payload, ""))
		case chanChanges:
			h.deleted(parseIDs(n.Payload, "d"))
			h.newStatuses(dctx, parseIDs(n.Payload, "u"), "status.update")
		}
		cancel()
	}
}

// parseIDs reads a payload's comma-separated ids carrying prefix.
func parseIDs(payload, prefix string) []int64 {
	var out []int64
	for _, f := range strings.Split(payload, ",") {
		if prefix != "" {
			if !strings.HasPrefix(f, prefix) {
				continue
			}
			f = f[len(prefix):]
		} else if f != "" && (f[0] < '0' || f[0] > '9') {
			continue
		}
		if id, err := strconv.ParseInt(f, 10, 64); err == nil {
			out = append(out, id)
		}
	}
	return out
}

func (h *hub) anyone() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.socks) > 0
}

func (h *hub) sockets() []*socket {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]*socket, 0, len(h.socks))
	for s := range h.socks {
		out = append(out, s)
	}
	return out
}

// frame encodes an event.
func frame(streams []string, event string, payload string) []byte {
	b, _ := json.Marshal(struct {
		Stream  []string `json:"stream"`
		Event   string   `json:"event"`
		Payload string   `json:"payload"`
	}{streams, event, payload})
	return b
}

func (h *hub) deleted(idList []int64) {
	if len(idList) == 0 {
		return
	}
	for _, s := range h.sockets() {
		for _, id := range idList {
			s.send(frame(s.allStreams(), "delete", ids.String(id)))
		}
	}
}

func (s *socket) allStreams() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.streams))
	for k := range s.streams {
		out = append(out, k)
	}
	return out
}

// newStatuses routes new (or edited) statuses to the streams that show
// them: public ones (public, public:local|remote, hashtag[:local]) and the
// home streams (user) of local members who follow the author, are the
// author, or are mentioned in a direct one.
func (h *hub) newStatuses(ctx context.Context, idList []int64, event string) {
	if len(idList) == 0 {
		return
	}
	a := h.a
	sm, err := a.st.GetStatuses(ctx, idList)
	if err != nil {
		a.log.Warn("api: streaming: loading new statuses failed", "err", err)
		return
	}
	socks := h.sockets()
	var viewers []int64
	for _, s := range socks {
		if s.viewer != nil && (s.has("user")) {
			viewers = append(viewers, s.viewer.ID)
		}
	}
	for _, id := range idList {
		st := sm[id]
		if st == nil || st.DeletedAt != nil || st.Quarantined {
			continue
		}
		if err := a.st.LoadStatusExtras(ctx, []*data.Status{st}); err != nil {
			continue
		}
		author, err := a.st.GetAccount(ctx, st.AccountID)
		if err != nil || author.SuspendedAt != nil {
			continue
		}
		public := st.Visibility == data.Public && !st.Delisted && st.ReblogOfID == 0 && author.SilencedAt == nil
		var home map[int64]bool
		if len(viewers) > 0 {
			home, err = a.st.FollowersAmong(ctx, st.AccountID, viewers, st.ReblogOfID != 0)
			if err != nil {
				continue
			}
		}
		for _, s := range socks {
			var streams []string
			if public {
				if s.has("public") {
					streams = append(streams, "public")
				}
				if st.Local && s.has("public:local") {
					streams = append(streams, "public:local")
				}
				if !st.Local && s.has("public:remote") {
					streams = append(streams, "public:remote")
				}
				for _, t := range st.Tags {
					if s.has("hashtag:" + t) {
						streams = append(streams, "hashtag")
					}
					if st.Local && s.has("hashtag:local:"+t) {
						streams = append(streams, "hashtag:local")
					}
				}
			}
			if s.viewer != nil && s.has("user") && (home[s.viewer.ID] || s.viewer.ID == st.AccountID) {
				if ok, _ := social.CanSee(ctx, a.st, st, author, s.viewer); ok {
					streams = append(streams, "user")
				}
			}
			if len(streams) == 0 {
				continue
			}
			out, err := a.statusesToAPI(ctx, s.viewer, []*data.Status{st})
			if err != nil || len(out) == 0 {
				continue
			}
			payload, _ := json.Marshal(out[0])
			for _, stream := range dedupe(streams) {
				s.send(frame([]string{stream}, event, string(payload)))
			}
		}
	}
}

func dedupe(xs []string) []string {
	seen := map[string]bool{}
	out := xs[:0]
	for _, x := range xs {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

// newNotifications sends notifications to their recipients' user and
// user:notification streams.
func (h *hub) newNotifications(ctx context.Context, idList []int64) {
	if len(idList) == 0 {
		return
	}
	a := h.a
	nm, err := a.st.GetNotifications(ctx, idList)
	if err != nil {
		a.log.Warn("api: streaming: loading new notifications failed", "err", err)
		return
	}
	for _, s := range h.sockets() {
		if s.viewer == nil {
			continue
		}
		for _, n := range nm {
			if n.AccountID != s.viewer.ID {
				continue
			}
			hidden, err := a.st.HiddenAccounts(ctx, s.viewer.ID, []int64{n.FromAccountID})
			if err != nil || hidden[n.FromAccountID] {
				continue
			}
			out, err := a.notificationsToAPI(ctx, s.viewer, []data.Notification{n})
			if err != nil || len(out) == 0 {
				continue
			}
			payload, _ := json.Marshal(out[0])
			for _, stream := range []string{"user", "user:notification"} {
				if s.has(stream) {
					s.send(frame([]string{stream}, "notification", string(payload)))
				}
			}
		}
	}
}

func (a *API) registerStreaming(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/v1/streaming", a.streaming)
	mux.HandleFunc("GET /api/v1/streaming/", a.streaming)
	mux.HandleFunc("GET /api/v1/streaming/health", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write([]byte("OK"))
	})
}

// streamName checks a requested stream and returns its subscription key.
func streamName(stream, tag string, signedIn bool) (string, error) {
	switch stream {
	case "user", "user:notification":
		if !signedIn {
			return "", &apiError{status: http.StatusUnauthorized, msg: "Stream " + stream + " requires an access token"}
		}
		return stream, nil
	case "public", "public:local", "public:remote", "public:media", "public:local:media", "public:remote:media":
		// Media-only variants get every public status of their scope.
		return strings.TrimSuffix(stream, ":media"), nil
	case "hashtag", "hashtag:local":
		tag = strings.ToLower(strings.TrimPrefix(tag, "#"))
		if tag == "" {
			return "", invalidParam("tag", "is required for stream %s", stream)
		}
		if stream == "hashtag" {
			return "hashtag:" + tag, nil
		}
		return "hashtag:local:" + tag, nil
	}
	return "", errStatus(http.StatusBadRequest, "Unknown stream type %q: want user, user:notification, public, public:local, public:remote, hashtag or hashtag:local", stream)
}

func (a *API) streaming(w http.ResponseWriter, r *http.Request) {
	if a.o.Pool == nil {
		a.renderError(w, r, errStatus(http.StatusServiceUnavailable, "streaming is not available on this server"))
		return
	}
	// The token may come three ways; hand it to the authenticator as the
	// Authorization header.
	ar := r.Clone(r.Context())
	proto := r.Header.Get("Sec-WebSocket-Protocol")
	if ar.Header.Get("Authorization") == "" {
		if t := r.URL.Query().Get("access_token"); t != "" {
			ar.Header.Set("Authorization", "Bearer "+t)
		} else if proto != "" {
			ar.Header.Set("Authorization", "Bearer "+strings.TrimSpace(proto))
		}
	}
	c, err := a.authorize(ar, public())
	if err == nil && c.id != nil && !c.id.Allows("read:statuses") && !c.id.Allows("read:notifications") {
		err = &apiError{status: http.StatusForbidden, msg: "This action is outside the authorized scopes"}
	}
	if err == nil {
		err = a.limit.allow(w, r, c.id)
	}
	var first string
	if err == nil {
		if stream := r.URL.Query().Get("stream"); stream != "" {
			first, err = streamName(stream, r.URL.Query().Get("tag"), c.viewer != nil)
		} else if p := strings.TrimPrefix(r.URL.Path, "/api/v1/streaming/"); p != r.URL.Path && p != "" {
			first, err = streamName(strings.ReplaceAll(p, "/", ":"), r.URL.Query().Get("tag"), c.viewer != nil)
		}
	}
	if err != nil {
		a.renderError(w, r, err)
		return
	}
	opts := &websocket.AcceptOptions{InsecureSkipVerify: true} // tokens, not cookies: no cross-site risk
	if proto != "" {
		opts.Subprotocols = []string{proto}
	}
	ws, err := websocket.Accept(&upgradeWriter{ResponseWriter: w}, r, opts)
	if err != nil {
		return // Accept has answered
	}
	s := &socket{viewer: c.viewer, out: make(chan []byte, 256), streams: map[string]bool{}}
	if first != "" {
		s.streams[first] = true
	}
	a.stream.mu.Lock()
	a.stream.socks[s] = struct{}{}
	a.stream.mu.Unlock()
	defer func() {
		a.stream.mu.Lock()
		delete(a.stream.socks, s)
		a.stream.mu.Unlock()
	}()
	ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
	defer cancel()
	go a.readSubscriptions(ctx, cancel, ws, s)
	ping := time.NewTicker(30 * time.Second)
	defer ping.Stop()
	for {
		select {
		case <-ctx.Done():
			ws.Close(websocket.StatusNormalClosure, "")
			return
		case b := <-s.out:
			wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
			err := ws.Write(wctx, websocket.MessageText, b)
			wcancel()
			if err != nil {
				return
			}
		case <-ping.C:
			pctx, pcancel := context.WithTimeout(ctx, 10*time.Second)
			err := ws.Ping(pctx)
			pcancel()
			if err != nil {
				return
			}
		}
	}
}

// readSubscriptions applies the client's subscribe/unsubscribe messages
// until the socket closes.
func (a *API) readSubscriptions(ctx context.Context, cancel func(), ws *websocket.Conn, s *socket) {
	defer cancel()
	ws.SetReadLimit(4096)
	for {
		_, b, err := ws.Read(ctx)
		if err != nil {
			return
		}
		var msg struct {
			Type   string `json:"type"`
			Stream string `json:"stream"`
			Tag    string `json:"tag"`
		}
		if json.Unmarshal(b, &msg) != nil {
			s.send(errorFrame("messages must be JSON objects {\"type\": \"subscribe\", \"stream\": ...}"))
			continue
		}
		name, err := streamName(msg.Stream, msg.Tag, s.viewer != nil)
		if err != nil {
			var ae *apiError
			if errors.As(err, &ae) {
				s.send(errorFrame(ae.msg))
			}
			continue
		}
		s.mu.Lock()
		switch msg.Type {
		case "subscribe":
			s.streams[name] = true
		case "unsubscribe":
			delete(s.streams, name)
		}
		s.mu.Unlock()
	}
}

func errorFrame(msg string) []byte {
	b, _ := json.Marshal(map[string]string{"error": msg})
	return b
}

// upgradeWriter makes the WebSocket handshake work behind servers whose
// ResponseWriter does not send a 101 on WriteHeader: net/http writes 1xx
// responses at once, which coder/websocket relies on, but the node's
// public listener is fasthttp behind fasthttpadaptor, which only records
// the status and, once hijacked, sends nothing. So the 101 is held back
// and written on the hijacked connection by Hijack, the same way under
// both. Hijack also clears the connection's deadlines: the listener's
// read and write timeouts are for requests, not for a socket that lives
// for hours (liveness is the pings' business).
type upgradeWriter struct {
	http.ResponseWriter
	switching bool
}

func (u *upgradeWriter) WriteHeader(code int) {
	if code == http.StatusSwitchingProtocols {
		u.switching = true
		return
	}
	u.ResponseWriter.WriteHeader(code)
}

func (u *upgradeWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hdr := u.Header().Clone()
	c, brw, err := http.NewResponseController(u.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	c.SetDeadline(time.Time{})
	if u.switching {
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\n")
		hdr.Write(brw)
		brw.WriteString("\r\n")
		if err := brw.Flush(); err != nil {
			c.Close()
			return nil, nil, err
		}
	}
	return c, brw, nil
}
