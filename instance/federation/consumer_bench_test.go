package federation

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/palisade-fedi/palisade/instance/data"
	"github.com/palisade-fedi/palisade/relay/inbound"
)

// benchNote is a typical Mastodon Create(Note): two hashtags, one mention
// of a local account, public, about 1.5 KiB.
const benchNote = `{"@context":["https://www.w3.org/ns/activitystreams",{"ostatus":"http://ostatus.org#","atomUri":"ostatus:atomUri",
"inReplyToAtomUri":"ostatus:inReplyToAtomUri","conversation":"ostatus:conversation","sensitive":"as:sensitive","toot":"http://joinmastodon.org/ns#",
"votersCount":"toot:votersCount","Hashtag":"as:Hashtag"}],
"id":"ACTOR/statuses/ID/activity","type":"Create","actor":"ACTOR","published":"PUBLISHED",
"to":["https://www.w3.org/ns/activitystreams#Public"],"cc":["ACTOR/followers","https://here.example/users/alice"],
"object":{"id":"ACTOR/statuses/ID","type":"Note","summary":null,"inReplyTo":null,"published":"PUBLISHED",
"url":"ACTOR/statuses/ID","attributedTo":"ACTOR","to":["https://www.w3.org/ns/activitystreams#Public"],
"cc":["ACTOR/followers","https://here.example/users/alice"],"sensitive":false,"atomUri":"ACTOR/statuses/ID",
"inReplyToAtomUri":null,"conversation":"tag:peer.example,2026-11-01:objectId=ID:objectType=Conversation",
"content":"<p><span class=\"h-card\" translate=\"no\"><a href=\"https://here.example/@alice\" class=\"u-url mention\">@<span>alice</span></a></span> Number ID of the benchmark, with a link <a href=\"https://example.com/page\" target=\"_blank\" rel=\"nofollow noopener\" translate=\"no\"><span class=\"invisible\">https://</span><span class=\"\">example.com/page</span><span class=\"invisible\"></span></a> <a href=\"https://peer.example/tags/golang\" class=\"mention hashtag\" rel=\"tag\">#<span>golang</span></a> <a href=\"https://peer.example/tags/fediverse\" class=\"mention hashtag\" rel=\"tag\">#<span>fediverse</span></a></p>",
"contentMap":{"en":"<p>same</p>"},"attachment":[],
"tag":[{"type":"Mention","href":"https://here.example/users/alice","name":"@alice@here.example"},
{"type":"Hashtag","href":"https://peer.example/tags/golang","name":"#golang"},
{"type":"Hashtag","href":"https://peer.example/tags/fediverse","name":"#fediverse"}],
"replies":{"id":"ACTOR/statuses/ID/replies","type":"Collection","first":{"type":"CollectionPage","next":"ACTOR/statuses/ID/replies?only_other_accounts=true&page=true","partOf":"ACTOR/statuses/ID/replies","items":[]}}}}`

// BenchmarkConsume measures statuses persisted per second from a
// pre-filled inbound queue into a real Postgres (pgtest): b.N Create(Note)
// entries from 100 known remote actors, drained by Step in batches of 500.
//
// Sub-benchmarks: "run" is Run as the node runs it (the next batch claimed
// and prepared while the last one commits); "step" calls Step in a loop
// (no overlap), the baseline for the pipelining; "cpu" only decodes the
// entries and converts their notes (no Postgres, one goroutine): the Go
// side's cost per status, to read the others against on a busy machine.
//
// Each also reports go-cpu-ns/status: this process's CPU time (user and
// system, every thread) per status. Postgres runs in its own processes,
// so for run and step it is the Go side's share; on a shared machine it
// is steadier than the wall-clock rate.
func BenchmarkConsume(b *testing.B) {
	for _, mode := range []string{"run", "step"} {
		b.Run(mode, func(b *testing.B) { benchConsume(b, mode) })
	}
	b.Run("cpu", func(b *testing.B) {
		c := &Consumer{}
		alice := &data.Account{ID: 1, URI: "https://here.example/users/alice"}
		author := &data.Account{ID: 2, URI: "https://peer.example/users/u1", Domain: "peer.example"}
		ent := inbound.Entry{Received: time.Now(), ActivityID: "x", Type: "Create", Actor: author.URI,
			Body: []byte(strings.NewReplacer("ACTOR", author.URI, "ID", "1", "PUBLISHED", "2026-11-01T10:00:00Z").Replace(benchNote))}
		raw := ent.Marshal(nil)
		b.ReportAllocs()
		b.ResetTimer()
		cpu0 := processCPU(b)
		for i := 0; i < b.N; i++ {
			it := c.decode(uint64(i), raw)
			st := NoteToStatus(it.act.ObjectObject, author, map[string]*data.Account{alice.URI: alice}, it.rec, it.e.Received)
			if len(st.Mentions) != 1 || len(st.Tags) != 2 {
				b.Fatalf("status %+v", st)
			}
		}
		b.ReportMetric(float64(processCPU(b)-cpu0)/float64(b.N), "go-cpu-ns/status")
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "statuses/s")
	})
}

// processCPU is this process's CPU time so far.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func benchConsume(b *testing.B, mode string) {
	e := newEnv(b)
	e.c.o.BatchSize = 500
	const actors = 100
	actorURIs := make([]string, actors)
	for i := range actorURIs {
		a := &data.Account{URI: fmt.Sprintf("https://peer%d.example/users/u%d", i%10, i), Username: fmt.Sprintf("u%d", i),
			Domain: fmt.Sprintf("peer%d.example", i%10), InboxURL: "https://x.example/inbox"}
		if _, err := e.store.UpsertRemoteAccount(e.ctx, a); err != nil {
			b.Fatal(err)
		}
		actorURIs[i] = a.URI
	}
	entries := make([][]byte, b.N)
	for i := range entries {
		actor := actorURIs[i%actors]
		id := fmt.Sprint(1000000 + i)
		// Second precision, as Mastodon sends it: 50 statuses share each
		// second, so ids take the random-low-bits path and some collide.
		published := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC).Add(time.Duration(i/50) * time.Second).Format(time.RFC3339)
		body := strings.ReplaceAll(strings.ReplaceAll(strings.ReplaceAll(benchNote, "ACTOR", actor), "ID", id), "PUBLISHED", published)
		ent := inbound.Entry{Received: time.Now(), Inbox: "/inbox", ActivityID: actor + "/statuses/" + id + "/activity",
			Type: "Create", Actor: actor, ObjectID: actor + "/statuses/" + id, ObjectType: "Note", KeyID: actor + "#main-key",
			Body: []byte(body)}
		entries[i] = ent.Marshal(nil)
	}
	for i := 0; i < len(entries); i += 1000 {
		if _, err := e.queue.Append(entries[i:min(i+1000, len(entries))]...); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	start, cpu0 := time.Now(), processCPU(b)
	// Run, as the node runs it (claiming the next batch while the last
	// one commits); done when every entry has been counted.
	if mode == "run" {
		go e.c.Run(e.ctx)
		for e.count("Create", resultStored, reasonOK) < b.N {
			time.Sleep(2 * time.Millisecond)
		}
	} else {
		for total := 0; total < b.N; {
			n, err := e.c.Step(e.ctx)
			if err != nil || n == 0 {
				b.Fatalf("step after %d of %d: %d, %v", total, b.N, n, err)
			}
			total += n
		}
	}
	elapsed, cpu := time.Since(start), processCPU(b)-cpu0
	b.StopTimer()
	e.c.Close()
	if got := e.count("Create", resultStored, reasonOK); got != b.N {
		b.Fatalf("%d statuses stored, want %d", got, b.N)
	}
	b.ReportMetric(float64(cpu)/float64(b.N), "go-cpu-ns/status")
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "statuses/s")
}
