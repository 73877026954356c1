package federation

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/palisade-fedi/palisade/instance/data"
	"github.com/palisade-fedi/palisade/policy"
	"github.com/palisade-fedi/palisade/relay/activity"
)

// TestRunAndClose runs the consumer as the node does: it drains what is
// queued, wakes for new appends, and returns when closed.
func TestRunAndClose(t *testing.T) {
	e := newEnv(t)
	e.c.o.BatchSize = 3
	for i := range 7 {
		e.push(e.remote.URI, create(fmt.Sprint(i), ""), policy.Record{})
	}
	done := make(chan error, 1)
	go func() { done <- e.c.Run(e.ctx) }()
	wait := func(n int) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for e.count("Create", resultStored, reasonOK) < n {
			if time.Now().After(deadline) {
				t.Fatalf("only %d of %d stored", e.count("Create", resultStored, reasonOK), n)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	wait(7)
	e.push(e.remote.URI, create("late", ""), policy.Record{})
	wait(8)
	e.c.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after Close")
	}
	if n := e.int(`SELECT count(*) FROM statuses`); n != 8 {
		t.Errorf("%d statuses, want 8", n)
	}
	if h := e.count("Create", resultStored, reasonOK); h != 8 {
		t.Errorf("counted %d", h)
	}
}

// FuzzNoteToStatus: whatever a peer sends as a note, the stored content is
// sanitised and the row is one the schema accepts.
func FuzzNoteToStatus(f *testing.F) {
	f.Add([]byte(`{"id":"https://a.example/n/1","type":"Note","attributedTo":"https://a.example/u/a","content":"<p>hi <script>x</script></p>",
		"summary":"<b>cw</b>","to":["https://www.w3.org/ns/activitystreams#Public"],"tag":[{"type":"Hashtag","name":"#Go"}]}`))
	f.Add([]byte(`{"id":"https://a.example/a/1","type":"Article","name":"<img src=x onerror=alert(1)>","url":"javascript:alert(1)","content":"body"}`))
	f.Add([]byte(`{"id":"https://a.example/q/1","type":"Question","anyOf":[{"name":"a","replies":{"totalItems":3}}],"endTime":"2026-01-01T00:00:00Z"}`))
	author := &dataAccountForFuzz
	f.Fuzz(func(t *testing.T, body []byte) {
		o, err := activity.DecodeObject(body)
		if err != nil {
			return
		}
		rec := policy.Record{Action: policy.CW, Modifiers: policy.ModStripMedia, Fired: []string{"r"}}
		st := NoteToStatus(o, author, nil, rec, time.Now())
		for _, bad := range []string{"<script", "<img", "<iframe", "<style", `href="javascript:`} {
			if containsFold(st.Content, bad) {
				t.Fatalf("content keeps %q: %q", bad, st.Content)
			}
		}
		if st.URI != o.ID || st.CreatedAt.IsZero() || st.SpoilerText == "" || len(st.Media) != 0 {
			t.Fatalf("status %+v", st)
		}
	})
}

var dataAccountForFuzz = data.Account{ID: 1, URI: "https://a.example/u/a", Username: "a", Domain: "a.example"}

func containsFold(s, sub string) bool { return strings.Contains(strings.ToLower(s), sub) }
