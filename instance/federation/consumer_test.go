package federation

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/palisade-fedi/palisade/instance/data"
	"github.com/palisade-fedi/palisade/policy"
	"github.com/palisade-fedi/palisade/relay/fetch"
	"github.com/palisade-fedi/palisade/relay/inbound"
	"github.com/palisade-fedi/palisade/relay/keys"
	"github.com/palisade-fedi/palisade/relay/netguard"
	"github.com/palisade-fedi/palisade/store/local"
	"github.com/palisade-fedi/palisade/store/pg/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const here = "https://here.example"

// peer is a remote server on loopback: it serves an actor document for
// every /users/NAME (overridable) and whatever objects a test puts in docs.
type peer struct {
	base string
	mu   sync.Mutex
	docs map[string]string // path → JSON; {{BASE}} is replaced
	hits map[string]int
}

func newPeer(t testing.TB) *peer {
	p := &peer{docs: map[string]string{}, hits: map[string]int{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.hits[r.URL.Path]++
		d, ok := p.docs[r.URL.Path]
		p.mu.Unlock()
		if !ok && strings.HasPrefix(r.URL.Path, "/users/") && !strings.Contains(r.URL.Path[7:], "/") {
			d, ok = actorDoc(r.URL.Path[7:], ""), true
		}
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/activity+json")
		fmt.Fprint(w, strings.ReplaceAll(d, "{{BASE}}", p.base))
	}))
	t.Cleanup(srv.Close)
	p.base = srv.URL
	return p
}

func actorDoc(name, extra string) string {
	return `{"id":"{{BASE}}/users/` + name + `","type":"Person","preferredUsername":"` + name + `","name":"` + strings.ToUpper(name) +
		`","inbox":"{{BASE}}/users/` + name + `/inbox","followers":"{{BASE}}/users/` + name + `/followers",` +
		`"endpoints":{"sharedInbox":"{{BASE}}/inbox"}` + extra + `}`
}

func (p *peer) set(path, doc string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.docs[path] = doc
}

func (p *peer) actor(name string) string { return p.base + "/users/" + name }

// sent records what the consumer delivers.
type sent struct {
	mu   sync.Mutex
	msgs []string
}

func (s *sent) Enqueue(activity []byte, actor string, inboxes []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgs = append(s.msgs, actor+" → "+strings.Join(inboxes, ",")+" "+string(activity))
	return nil
}

func (s *sent) all() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.msgs...)
}

type env struct {
	t      testing.TB
	ctx    context.Context
	store  *data.Store
	pool   *pgxpool.Pool
	dir    string
	ldb    *local.DB
	queue  *local.Queue
	c      *Consumer
	peer   *peer
	sent   *sent
	reg    *prometheus.Registry
	alice  *data.Account // local, open
	bob    *data.Account // local, locked
	remote *data.Account // a known remote actor on the peer
	// policy, when set, screens fetched objects (Options.Screen).
	policy *policy.Snapshot
}

func (e *env) screen(in *policy.Input) policy.Record {
	if e.policy == nil {
		return policy.Record{}
	}
	d := e.policy.Evaluate(in)
	return policy.NewRecord(time.Now(), in, &d)
}

func newEnv(t testing.TB) *env {
	t.Helper()
	pool := pgtest.New(t).Pool()
	e := &env{t: t, ctx: context.Background(), pool: pool, store: data.New(pool), dir: t.TempDir(), peer: newPeer(t), sent: &sent{}}
	e.open()
	e.alice = e.localAccount("alice", false)
	e.bob = e.localAccount("bob", true)
	e.remote = &data.Account{URI: e.peer.actor("rita"), Username: "rita", Domain: strings.TrimPrefix(e.peer.base, "http://"),
		InboxURL: e.peer.actor("rita") + "/inbox", FollowersURL: e.peer.actor("rita") + "/followers"}
	if _, err := e.store.UpsertRemoteAccount(e.ctx, e.remote); err != nil {
		t.Fatal(err)
	}
	return e
}

// open (re)opens the Pebble store and a fresh consumer, as a restart does.
func (e *env) open() {
	e.t.Helper()
	if e.c != nil {
		e.c.Close()
		e.ldb.Close()
	}
	ldb, err := local.Open(e.dir, local.Options{})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { ldb.Close() })
	q, err := ldb.Queue("inbound")
	if err != nil {
		e.t.Fatal(err)
	}
	guard := &netguard.Guard{AllowPrivate: true}
	f := fetch.New(keys.New(keys.Options{Client: guard.Client(5 * time.Second), AllowHTTP: true}))
	e.reg = prometheus.NewRegistry()
	c, err := New(Options{Store: e.store, Queue: q, BaseURL: here, Fetch: f, Deliver: e.sent, Registerer: e.reg, BatchSize: 100, Screen: e.screen})
	if err != nil {
		e.t.Fatal(err)
	}
	e.ldb, e.queue, e.c = ldb, q, c
}

func (e *env) localAccount(name string, locked bool) *data.Account {
	e.t.Helper()
	a := &data.Account{URI: here + "/users/" + name, Username: name, PrivateKeyPEM: "PRIVATE", Locked: locked,
		InboxURL: here + "/users/" + name + "/inbox", FollowersURL: here + "/users/" + name + "/followers"}
	if err := e.store.InsertLocalUser(e.ctx, a, &data.User{Email: name + "@mail.example", PasswordHash: "x"}); err != nil {
		e.t.Fatal(err)
	}
	return a
}

// push appends an activity from actor with decision rec; {{BASE}} in body
// is the peer's origin.
func (e *env) push(actor, body string, rec policy.Record) {
	e.t.Helper()
	body = strings.ReplaceAll(body, "{{BASE}}", e.peer.base)
	ent := inbound.Entry{Received: time.Now(), Inbox: "/inbox", Actor: actor, Body: []byte(body)}
	// The envelope fields the ingress fills from its parse.
	if i := strings.Index(body, `"id":"`); i >= 0 {
		ent.ActivityID = body[i+6 : i+6+strings.IndexByte(body[i+6:], '"')]
	}
	if i := strings.Index(body, `"type":"`); i >= 0 {
		ent.Type = body[i+8 : i+8+strings.IndexByte(body[i+8:], '"')]
	}
	if rec.Action != policy.Accept || rec.Modifiers != 0 || len(rec.Fired) > 0 {
		rec.At, rec.ActivityID, rec.Actor = time.Now(), ent.ActivityID, actor
		ent.Decision, _ = rec.AppendBinary(nil)
	}
	if _, err := e.queue.Append(ent.Marshal(nil)); err != nil {
		e.t.Fatal(err)
	}
}

// drain runs Step until the queue is empty.
func (e *env) drain() {
	e.t.Helper()
	for {
		n, err := e.c.Step(e.ctx)
		if err != nil {
			e.t.Fatal(err)
		}
		if n == 0 {
			return
		}
	}
}

func (e *env) count(typ, result, reason string) int {
	return int(testutil.ToFloat64(e.c.m.inbound.WithLabelValues(typ, result, reason)))
}

func (e *env) expectCount(typ, result, reason string, want int) {
	e.t.Helper()
	if got := e.count(typ, result, reason); got != want {
		e.t.Errorf("palisade_instance_inbound_total{type=%q,result=%q,reason=%q} = %d, want %d", typ, result, reason, got, want)
	}
}

func (e *env) int(sql string, args ...any) int {
	e.t.Helper()
	var n int
	if err := e.pool.QueryRow(e.ctx, sql, args...).Scan(&n); err != nil {
		e.t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// create is a Create(Note) from the known remote actor rita.
func create(id, extra string) string {
	return `{"@context":"https://www.w3.org/ns/activitystreams","id":"{{BASE}}/users/rita/statuses/` + id + `/activity","type":"Create",
	"actor":"{{BASE}}/users/rita","to":["https://www.w3.org/ns/activitystreams#Public"],
	"object":{"id":"{{BASE}}/users/rita/statuses/` + id + `","type":"Note","attributedTo":"{{BASE}}/users/rita",
	"published":"2026-11-01T10:00:00Z","to":["https://www.w3.org/ns/activitystreams#Public"],"cc":["{{BASE}}/users/rita/followers"],
	"content":"<p>Hello <script>alert(1)</script><a href=\"https://here.example/users/alice\">@alice</a> #Go #fediverse</p>",
	"tag":[{"type":"Mention","href":"https://here.example/users/alice","name":"@alice@here.example"},
	{"type":"Hashtag","name":"#Go","href":"{{BASE}}/tags/go"},{"type":"Hashtag","name":"#fediverse"}]` + extra + `}}`
}

func TestCreateNote(t *testing.T) {
	e := newEnv(t)
	e.push(e.remote.URI, create("1", `,"attachment":[{"type":"Document","mediaType":"image/png","url":"{{BASE}}/m/1.png","name":"alt"}]`), policy.Record{})
	e.drain()
	st, err := e.store.GetStatusByURI(e.ctx, e.peer.base+"/users/rita/statuses/1")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(st.Content, "script") || !strings.Contains(st.Content, "Hello") {
		t.Errorf("content not sanitised: %q", st.Content)
	}
	if st.Visibility != data.Public || st.AccountID != e.remote.ID || st.CreatedAt.Format(time.RFC3339) != "2026-11-01T10:00:00Z" {
		t.Errorf("status = %+v", st)
	}
	if len(st.Tags) != 2 || len(st.Mentions) != 1 || st.Mentions[0].AccountID != e.alice.ID || len(st.Media) != 1 || st.Media[0].Type != "image" {
		t.Errorf("tags %v, mentions %v, media %v", st.Tags, st.Mentions, st.Media)
	}
	if n := e.int(`SELECT count(*) FROM notifications WHERE account_id = $1 AND type = 'mention'`, e.alice.ID); n != 1 {
		t.Errorf("%d mention notifications, want 1", n)
	}
	e.expectCount("Create", resultStored, reasonOK, 1)

	// Redelivered: nothing changes.
	e.push(e.remote.URI, create("1", ""), policy.Record{})
	e.drain()
	e.expectCount("Create", resultNoop, reasonDuplicate, 1)
	if n := e.int(`SELECT statuses_count FROM accounts WHERE id = $1`, e.remote.ID); n != 1 {
		t.Errorf("statuses_count = %d after a redelivery, want 1", n)
	}
	if n := e.int(`SELECT count(*) FROM notifications`); n != 1 {
		t.Errorf("%d notifications after a redelivery, want 1", n)
	}
}
