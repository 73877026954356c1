package blocklist

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// listServer serves blocklists from memory the way list hosts do: with a
// strong ETag (or only Last-Modified), answering conditional requests with
// 304. Tests change a path's content between syncs.
type listServer struct {
	*httptest.Server
	mu       sync.Mutex
	files    map[string]served
	requests map[string]int // path → requests
	notMod   map[string]int // path → 304s sent
	condHdrs map[string]string
}

type served struct {
	body    []byte
	version int
	noETag  bool // only Last-Modified, like a plain static host
	status  int  // non-zero: answer with this status
}

func newListServer(t *testing.T) *listServer {
	s := &listServer{files: map[string]served{}, requests: map[string]int{}, notMod: map[string]int{}, condHdrs: map[string]string{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *listServer) set(path string, body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.files[path]
	f.body, f.version = body, f.version+1
	s.files[path] = f
}

func (s *listServer) setLastModifiedOnly(path string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.files[path]
	f.noETag = true
	s.files[path] = f
}

func (s *listServer) setStatus(path string, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.files[path]
	f.status = status
	s.files[path] = f
}

func (s *listServer) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	f, ok := s.files[r.URL.Path]
	s.requests[r.URL.Path]++
	s.condHdrs[r.URL.Path] = r.Header.Get("If-None-Match") + "|" + r.Header.Get("If-Modified-Since")
	s.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	if f.status != 0 {
		w.WriteHeader(f.status)
		return
	}
	etag := fmt.Sprintf("\"v%d\"", f.version)
	lastMod := time.Date(2024, 3, 1, 0, f.version, 0, 0, time.UTC).Format(http.TimeFormat)
	w.Header().Set("Last-Modified", lastMod)
	if !f.noETag {
		w.Header().Set("ETag", etag)
	}
	notModified := (!f.noETag && r.Header.Get("If-None-Match") == etag) ||
		(f.noETag && r.Header.Get("If-Modified-Since") == lastMod)
	if notModified {
		s.mu.Lock()
		s.notMod[r.URL.Path]++
		s.mu.Unlock()
		w.WriteHeader(http.StatusNotModified)
		return
	}
	_, _ = w.Write(f.body)
}

func (s *listServer) counts(path string) (requests, notModified int, cond string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests[path], s.notMod[path], s.condHdrs[path]
}

func newSyncer(s *listServer) *Syncer {
	return &Syncer{Fetcher: &HTTPFetcher{Client: s.Client()}}
}

// persist round-trips states through JSON, as the appliance stores them.
func persist(t *testing.T, states []SubscriptionState) []SubscriptionState {
	t.Helper()
	data, err := json.Marshal(states)
	if err != nil {
		t.Fatal(err)
	}
	var out []SubscriptionState
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestSubscriptionEveryFormat serves each sample list over HTTP and syncs
// a subscription to it with the format left to detection.
func TestSubscriptionEveryFormat(t *testing.T) {
	srv := newListServer(t)
	var subs []Subscription
	for _, name := range sampleNames() {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		srv.set("/lists/"+name, data)
		subs = append(subs, Subscription{ID: name, URL: srv.URL + "/lists/" + name, AutoApply: true})
	}
	res := newSyncer(srv).Sync(context.Background(), subs, nil)
	for i, d := range res.Drafts {
		name := subs[i].ID
		data, _ := os.ReadFile(filepath.Join("testdata", name))
		want, wantErrs, _ := Parse(samples[name], data)
		if d.Err != "" || d.Format != samples[name] {
			t.Errorf("%s: format %q, err %q; want %q", name, d.Format, d.Err, samples[name])
			continue
		}
		if !reflect.DeepEqual(d.List, want) || !reflect.DeepEqual(d.RowErrors, wantErrs) {
			t.Errorf("%s: synced list differs from parsing the file", name)
		}
		if !d.Applied || len(d.Changes.Added) != len(want.Entries) {
			t.Errorf("%s: auto-apply first sync: applied=%v added=%d, want all %d", name, d.Applied, len(d.Changes.Added), len(want.Entries))
		}
	}
}

func TestSubscriptionConditionalFetch(t *testing.T) {
	srv := newListServer(t)
	srv.set("/etag.csv", []byte("#domain,#severity\na.example,suspend\n"))
	srv.set("/lastmod.txt", []byte("b.example\n"))
	srv.setLastModifiedOnly("/lastmod.txt")
	subs := []Subscription{
		{ID: "etag", URL: srv.URL + "/etag.csv", AutoApply: true},
		{ID: "lastmod", URL: srv.URL + "/lastmod.txt", Format: FormatText, AutoApply: true},
	}
	sy := newSyncer(srv)
	first := sy.Sync(context.Background(), subs, nil)
	if first.States[0].ETag != `"v1"` || first.States[1].LastModified == "" {
		t.Fatalf("validators not kept: %+v", first.States)
	}
	second := sy.Sync(context.Background(), subs, persist(t, first.States))
	for i, path := range []string{"/etag.csv", "/lastmod.txt"} {
		req, nm, cond := srv.counts(path)
		if req != 2 || nm != 1 || !second.Drafts[i].NotModified {
			t.Errorf("%s: %d requests, %d not-modified, draft %+v; want the second answered 304", path, req, nm, second.Drafts[i])
		}
		if !strings.Contains(cond, `"v1"`) && !strings.Contains(cond, "GMT") {
			t.Errorf("%s: conditional headers sent = %q", path, cond)
		}
		if !reflect.DeepEqual(second.States[i].Applied, first.States[i].Applied) || second.Drafts[i].List.Len() != 1 {
			t.Errorf("%s: a 304 lost the list", path)
		}
	}
	if !second.AppliedChanges.Empty() || second.Applied.List.Len() != 2 {
		t.Errorf("nothing changed, yet applied changes = %v, applied = %v", second.AppliedChanges, domains(second.Applied.List))
	}
	// Moving the subscription to another URL does not send the old URL's
	// validators there.
	srv.set("/moved.csv", []byte("#domain,#severity\na.example,suspend\n"))
	moved := []Subscription{{ID: "etag", URL: srv.URL + "/moved.csv", AutoApply: true}}
	if r := sy.Sync(context.Background(), moved, persist(t, second.States[:1])); r.Drafts[0].NotModified {
		t.Error("the old URL's ETag was sent to the new URL and answered 304")
	}
	if _, _, cond := srv.counts("/moved.csv"); cond != "|" {
		t.Errorf("conditional headers sent to the new URL: %q", cond)
	}
	// A new version is fetched in full and its ETag replaces the old one.
	srv.set("/etag.csv", []byte("#domain,#severity\na.example,silence\n"))
	third := sy.Sync(context.Background(), subs, persist(t, second.States))
	if third.Drafts[0].NotModified || third.States[0].ETag != `"v2"` || len(third.AppliedChanges.Changed) != 1 {
		t.Errorf("new version: draft %+v, etag %q, changes %v", third.Drafts[0], third.States[0].ETag, third.AppliedChanges)
	}
}

// TestSubscriptionRetraction: a list that drops a domain retracts it, at
// once for an auto-apply subscription and as a draft otherwise.
func TestSubscriptionRetraction(t *testing.T) {
	srv := newListServer(t)
	v1 := []byte(`[{"domain":"a.example","obfuscate":false},{"domain":"b.example","obfuscate":false},{"domain":"c.example","obfuscate":false}]`)
	v2 := []byte(`[{"domain":"a.example","obfuscate":false},{"domain":"c.example","obfuscate":false}]`)
	srv.set("/auto.json", v1)
	srv.set("/manual.json", v1)
	sy := newSyncer(srv)

	auto := []Subscription{{ID: "auto", URL: srv.URL + "/auto.json", AutoApply: true}}
	st := sy.Sync(context.Background(), auto, nil).States
	srv.set("/auto.json", v2)
	res := sy.Sync(context.Background(), auto, persist(t, st))
	if r := res.Drafts[0].Changes.Removed; len(r) != 1 || r[0].Domain != "b.example" || !res.Drafts[0].Applied {
		t.Errorf("auto draft: %+v, want b.example retracted and applied", res.Drafts[0])
	}
	if r := res.AppliedChanges.Removed; len(r) != 1 || r[0].Domain != "b.example" {
		t.Errorf("applied changes = %v, want b.example removed", res.AppliedChanges)
	}

	manual := []Subscription{{ID: "manual", URL: srv.URL + "/manual.json"}}
	first := sy.Sync(context.Background(), manual, nil)
	if first.Applied.List.Len() != 0 || first.Preview.List.Len() != 3 || !first.Drafts[0].Pending() {
		t.Fatalf("manual first sync applied %d, preview %d: nothing must apply before approval", first.Applied.List.Len(), first.Preview.List.Len())
	}
	approved := []SubscriptionState{ApplyDraft(first.States[0])}
	if got := MergeApplied(manual, approved, MergeOptions{}).List.Len(); got != 3 {
		t.Fatalf("after approval %d applied, want 3", got)
	}
	srv.set("/manual.json", v2)
	res = sy.Sync(context.Background(), manual, persist(t, approved))
	d := res.Drafts[0]
	if d.Applied || len(d.Changes.Removed) != 1 || d.Changes.Removed[0].Domain != "b.example" {
		t.Errorf("manual draft = %+v, want a pending retraction of b.example", d)
	}
	if res.Applied.List.Len() != 3 || len(res.PreviewChanges.Removed) != 1 {
		t.Errorf("applied %v / preview changes %v: the retraction must wait for approval", domains(res.Applied.List), res.PreviewChanges)
	}
	// Unsubscribing retracts everything the subscription contributed.
	gone := sy.Sync(context.Background(), nil, persist(t, []SubscriptionState{ApplyDraft(res.States[0])}))
	if len(gone.AppliedChanges.Removed) != 2 {
		t.Errorf("unsubscribing removed %v, want a and c", gone.AppliedChanges.Removed)
	}
}

func TestSubscriptionConsensusAcrossLists(t *testing.T) {
	srv := newListServer(t)
	srv.set("/one.csv", []byte("#domain,#severity,#reject_media,#reject_reports,#public_comment,#obfuscate\nx.example,suspend,false,false,,false\ny.example,silence,true,false,,false\n"))
	srv.set("/two.json", []byte(`{"blocks":{"y.example":{"isBlocked":true,"reason":"spam"},"z.example":{"isBlocked":true}}}`))
	subs := []Subscription{
		{ID: "one", URL: srv.URL + "/one.csv", AutoApply: true},
		{ID: "two", URL: srv.URL + "/two.json", AutoApply: true},
	}
	sy := newSyncer(srv)
	sy.Merge = MergeOptions{MinSources: 2}
	res := sy.Sync(context.Background(), subs, nil)
	if got := domains(res.Applied.List); !reflect.DeepEqual(got, []string{"y.example:suspend"}) {
		t.Errorf("consensus of two lists = %v, want only y.example at the max severity", got)
	}
	if e := res.Applied.List.Entries[0]; !e.RejectMedia || e.PublicComment != "spam" {
		t.Errorf("merged flags/comments = %+v", e)
	}
	// Priority: the curated list outranks the shared one on severity.
	subs[0].Priority = 5
	res = sy.Sync(context.Background(), subs, persist(t, res.States))
	if got := domains(res.Applied.List); !reflect.DeepEqual(got, []string{"y.example:silence"}) {
		t.Errorf("with priority = %v, want the priority list's silence", got)
	}
	// A second list now agrees on x: it joins the merged list.
	srv.set("/two.json", []byte(`{"blocks":{"y.example":{"isBlocked":true},"x.example":{"isBlocked":true}}}`))
	res = sy.Sync(context.Background(), subs, persist(t, res.States))
	if a := res.AppliedChanges.Added; len(a) != 1 || a[0].Domain != "x.example" {
		t.Errorf("added = %v, want x.example once both lists list it", res.AppliedChanges)
	}
}

func TestSubscriptionExcludes(t *testing.T) {
	srv := newListServer(t)
	srv.set("/l.txt", []byte("keep.example\nfriends.example\nsub.friends.example\n"))
	subs := []Subscription{{ID: "l", URL: srv.URL + "/l.txt", AutoApply: true, Excludes: []string{"Friends.Example"}}}
	if err := subs[0].Validate(); err != nil {
		t.Fatal(err)
	}
	res := newSyncer(srv).Sync(context.Background(), subs, nil)
	if got := domains(res.Applied.List); !reflect.DeepEqual(got, []string{"keep.example:suspend"}) {
		t.Errorf("applied = %v, want the excluded domain and its subdomain left out", got)
	}
	// An exclude added later also removes what was applied before.
	subs[0].Excludes = []string{"friends.example", "keep.example"}
	res = newSyncer(srv).Sync(context.Background(), subs, persist(t, res.States))
	if res.Applied.List.Len() != 0 || len(res.AppliedChanges.Removed) != 1 {
		t.Errorf("after a new exclude: applied %v, changes %v", domains(res.Applied.List), res.AppliedChanges)
	}
	bad := Subscription{ID: "x", URL: srv.URL, Excludes: []string{"https://nope.example/"}}
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "exclude") {
		t.Errorf("Validate of a URL exclude: %v", err)
	}
}

// A list host returning an empty or truncated file must not unblock
// everything behind the moderators' backs.
func TestSubscriptionMassRetractionIsHeld(t *testing.T) {
	srv := newListServer(t)
	srv.set("/l.txt", []byte("a.example\nb.example\nc.example\nd.example\n"))
	subs := []Subscription{{ID: "l", URL: srv.URL + "/l.txt", AutoApply: true}}
	sy := newSyncer(srv)
	res := sy.Sync(context.Background(), subs, nil)
	srv.set("/l.txt", []byte("# maintenance\n"))
	res = sy.Sync(context.Background(), subs, persist(t, res.States))
	d := res.Drafts[0]
	if d.Applied || d.Held == "" || res.Applied.List.Len() != 4 || !res.AppliedChanges.Empty() {
		t.Errorf("draft %+v, applied %d: an update retracting 4 of 4 must be held", d, res.Applied.List.Len())
	}
	sy.MaxAutoRetract = -1
	srv.set("/l.txt", []byte("# still maintenance\n"))
	res = sy.Sync(context.Background(), subs, persist(t, res.States))
	if !res.Drafts[0].Applied || res.Applied.List.Len() != 0 {
		t.Errorf("with the guard off the retraction should apply: %+v", res.Drafts[0])
	}
}

func TestSubscriptionFailuresKeepThePreviousVersion(t *testing.T) {
	srv := newListServer(t)
	srv.set("/l.json", []byte(`[{"domain":"a.example"}]`))
	subs := []Subscription{{ID: "l", URL: srv.URL + "/l.json", AutoApply: true}}
	sy := newSyncer(srv)
	res := sy.Sync(context.Background(), subs, nil)

	srv.setStatus("/l.json", http.StatusInternalServerError)
	res = sy.Sync(context.Background(), subs, persist(t, res.States))
	if d := res.Drafts[0]; !strings.Contains(d.Err, "500") || res.Applied.List.Len() != 1 || !res.AppliedChanges.Empty() {
		t.Errorf("on a 500: draft %+v, applied %d", d, res.Applied.List.Len())
	}
	if res.States[0].LastError == "" {
		t.Error("the failure is not in the state")
	}

	srv.setStatus("/l.json", 0)
	srv.set("/l.json", []byte(`[{"domain":"a.example"}, broken`))
	res = sy.Sync(context.Background(), subs, persist(t, res.States))
	if d := res.Drafts[0]; !strings.Contains(d.Err, "broken JSON") || res.Applied.List.Len() != 1 {
		t.Errorf("on a broken file: draft %+v", d)
	}
	if res.States[0].ETag == `"v2"` {
		t.Error("the ETag of a broken version was stored: the next sync would get a 304 and never read the fix")
	}
	srv.set("/l.json", []byte(`[{"domain":"a.example"},{"domain":"b.example"}]`))
	res = sy.Sync(context.Background(), subs, persist(t, res.States))
	if res.Drafts[0].Err != "" || res.Applied.List.Len() != 2 || res.States[0].LastError != "" {
		t.Errorf("after the fix: %+v", res.Drafts[0])
	}
}

func TestHTTPFetcherLimits(t *testing.T) {
	big := strings.Repeat("a.example\n", 200)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/big":
			_, _ = w.Write([]byte(big))
		case "/chunked-big":
			w.(http.Flusher).Flush() // no Content-Length: the cap must hold while reading
			_, _ = w.Write([]byte(big))
		case "/slow":
			select {
			case <-r.Context().Done():
			case <-release:
			}
		}
	}))
	defer srv.Close()
	defer close(release)
	f := &HTTPFetcher{Client: srv.Client(), MaxBytes: 1000}
	for _, p := range []string{"/big", "/chunked-big"} {
		if _, _, _, _, err := f.Fetch(context.Background(), srv.URL+p, "", ""); err == nil || !strings.Contains(err.Error(), "limit") {
			t.Errorf("%s: err = %v, want the size limit named", p, err)
		}
	}
	f = &HTTPFetcher{Client: srv.Client(), Timeout: 50 * time.Millisecond}
	if _, _, _, _, err := f.Fetch(context.Background(), srv.URL+"/slow", "", ""); err == nil {
		t.Error("a server that never answers did not fail the fetch")
	}
}
