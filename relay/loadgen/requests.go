package loadgen

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"runtime"
	"sync"
	"time"

	"github.com/palisade-fedi/palisade/relay/signature"
)

// Kind is what a pre-signed request is meant to exercise.
type Kind uint8

const (
	KindAccept    Kind = iota // fresh, validly signed: verified and queued
	KindDuplicate             // a replay of an earlier accepted request: ends at dedup
	KindBlocked               // signed by a key on a suspended domain: ends at the gate
	KindBadSig                // valid shape, wrong signature: ends at verify
	numKinds
)

func (k Kind) String() string {
	return [...]string{"accept", "duplicate", "blocked", "badsig"}[k]
}

// Request is one pre-signed inbox POST.
type Request struct {
	Kind    Kind
	Path    string
	Headers [][2]string
	Body    []byte
}

// BlockedDomain is the host the bench's blocked senders claim; the node
// under test must suspend it (Config does).
const BlockedDomain = "blocked.bench.invalid"

// noteBody returns a realistic Mastodon Create(Note), about 1.8 KiB.
func noteBody(a *Actor, seq int, host string) []byte {
	status := fmt.Sprintf("%s/statuses/%d", a.ID, seq)
	return []byte(fmt.Sprintf(`{"@context":["https://www.w3.org/ns/activitystreams",{"ostatus":"http://ostatus.org#","atomUri":"ostatus:atomUri","inReplyToAtomUri":"ostatus:inReplyToAtomUri","conversation":"ostatus:conversation","sensitive":"as:sensitive","toot":"http://joinmastodon.org/ns#","votersCount":"toot:votersCount","Hashtag":"as:Hashtag"}],`+
		`"id":"%[1]s/activity","type":"Create","actor":"%[2]s","published":"2026-11-22T03:00:00Z",`+
		`"to":["https://www.w3.org/ns/activitystreams#Public"],"cc":["%[2]s/followers","https://%[3]s/users/alice"],`+
		`"object":{"id":"%[1]s","type":"Note","summary":null,"inReplyTo":null,"published":"2026-11-22T03:00:00Z","url":"%[1]s","attributedTo":"%[2]s",`+
		`"to":["https://www.w3.org/ns/activitystreams#Public"],"cc":["%[2]s/followers","https://%[3]s/users/alice"],"sensitive":false,"atomUri":"%[1]s","inReplyToAtomUri":null,"conversation":"tag:bench,2026-11-22:objectId=%[4]d:objectType=Conversation",`+
		`"content":"\u003cp\u003e\u003cspan class=\"h-card\"\u003e\u003ca href=\"https://%[3]s/@alice\" class=\"u-url mention\"\u003e@\u003cspan\u003ealice\u003c/span\u003e\u003c/a\u003e\u003c/span\u003e Benchmark post number %[4]d about \u003ca href=\"%[2]s/tags/fediverse\" class=\"mention hashtag\" rel=\"tag\"\u003e#\u003cspan\u003efediverse\u003c/span\u003e\u003c/a\u003e and \u003ca href=\"%[2]s/tags/moderation\" class=\"mention hashtag\" rel=\"tag\"\u003e#\u003cspan\u003emoderation\u003c/span\u003e\u003c/a\u003e, long enough to look like a real toot with a sentence or two of text in it.\u003c/p\u003e",`+
		`"contentMap":{"en":"Benchmark post number %[4]d"},"attachment":[],`+
		`"tag":[{"type":"Mention","href":"https://%[3]s/users/alice","name":"@alice@%[3]s"},{"type":"Hashtag","href":"%[2]s/tags/fediverse","name":"#fediverse"},{"type":"Hashtag","href":"%[2]s/tags/moderation","name":"#moderation"}],`+
		`"replies":{"id":"%[1]s/replies","type":"Collection","first":{"type":"CollectionPage","next":"%[1]s/replies?only_other_accounts=true\u0026page=true","partOf":"%[1]s/replies","items":[]}}}}`,
		status, a.ID, host, seq))
}

// sign builds a signed POST to path on host the way Mastodon does.
func sign(a *Actor, host, path string, body []byte, now time.Time) (Request, error) {
	hdr := http.Header{}
	hdr.Set("Content-Type", "application/activity+json")
	hdr.Set("Digest", signature.DigestHeader(body))
	hdr.Set("Host", host)
	if err := signature.Sign("POST", path, host, hdr, a.KeyID, a.Key,
		[]string{"(request-target)", "host", "date", "digest", "content-type"}, now); err != nil {
		return Request{}, err
	}
	r := Request{Path: path, Body: body}
	for _, name := range []string{"Content-Type", "Digest", "Date", "Signature"} {
		r.Headers = append(r.Headers, [2]string{name, hdr.Get(name)})
	}
	return r, nil
}

// Mix says which requests Presign builds.
type Mix struct {
	Host string // the node's public host name (signed Host header)
	Path string // inbox path, "/inbox" when empty
	// First is the sequence number of the first request: requests with
	// distinct sequence numbers carry distinct activity ids, so batches
	// built with disjoint ranges never collide.
	First int
	N     int
	// Fractions of N that are duplicates, from the suspended domain, and
	// with a bad signature; the rest are fresh accepts.
	Dup, Blocked, BadSig float64
	Now                  time.Time
	Progress             func(done int) // called every 1000 requests (may be nil)
}

// Presign builds the requests of m using every core. Duplicates replay
// accepted requests that come earlier in the returned order.
func Presign(f *Fleet, m Mix) ([]Request, error) {
	if m.Path == "" {
		m.Path = "/inbox"
	}
	if m.Now.IsZero() {
		m.Now = time.Now()
	}
	host, path, n, now, progress := m.Host, m.Path, m.N, m.Now, m.Progress
	dupFrac, blockedFrac, badFrac := m.Dup, m.Blocked, m.BadSig
	kinds := make([]Kind, n)
	// Spread the kinds deterministically and evenly through the run.
	acc := [numKinds]float64{}
	fr := [numKinds]float64{KindDuplicate: dupFrac, KindBlocked: blockedFrac, KindBadSig: badFrac}
	for i := range kinds {
		kinds[i] = KindAccept
		best := KindAccept
		for k := KindDuplicate; k < numKinds; k++ {
			acc[k] += fr[k]
			if acc[k] >= 1 && (best == KindAccept || acc[k] > acc[best]) {
				best = k
			}
		}
		if best != KindAccept && i > 0 {
			acc[best]--
			kinds[i] = best
		}
	}
	out := make([]Request, n)
	var next, done int
	var mu sync.Mutex
	var firstErr error
	var wg sync.WaitGroup
	for w := 0; w < runtime.GOMAXPROCS(0); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= n {
					return
				}
				seq := m.First + i
				a := f.Actors[seq%len(f.Actors)]
				var r Request
				var err error
				switch kinds[i] {
				case KindAccept, KindBadSig:
					r, err = sign(a, host, path, noteBody(a, seq, host), now)
					if kinds[i] == KindBadSig {
						r.Headers[3][1] = corrupt(r.Headers[3][1])
					}
				case KindBlocked:
					r = blockedRequest(a, host, path, seq, now)
				case KindDuplicate:
					// filled in below, from an earlier accepted request
				}
				r.Kind = kinds[i]
				out[i] = r
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				done++
				if progress != nil && done%1000 == 0 {
					progress(done)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	// A duplicate replays an accepted request sent well before it (at
	// least replayGap requests earlier, more than any run keeps in flight),
	// so it measures the dedup path a retry takes, not a race between two
	// copies in flight at once (those both get verified, by design).
	const replayGap = 2048
	var accepts []int
	old := 0 // accepts[:old] are at least replayGap before i
	for i := range out {
		switch out[i].Kind {
		case KindAccept:
			accepts = append(accepts, i)
		case KindDuplicate:
			for old < len(accepts) && accepts[old] <= i-replayGap {
				old++
			}
			var j int
			switch {
			case old > 0:
				// Cycle through the old enough accepts.
				j = accepts[(i*7919)%old]
			case len(accepts) > 0:
				j = accepts[0] // a short run: the oldest there is
			default:
				out[i] = blockedRequest(f.Actors[0], host, path, m.First+i, now)
				continue
			}
			out[i] = out[j]
			out[i].Kind = KindDuplicate
		}
	}
	return out, nil
}

// blockedRequest is a well-formed request whose key lives on the blocked
// domain. Its signature is never checked (the gate ends it first), so it is
// not computed: a random-looking value of the right shape stands in.
func blockedRequest(a *Actor, host, path string, i int, now time.Time) Request {
	actor := fmt.Sprintf("https://%s/users/spammer%d", BlockedDomain, i%50)
	body := []byte(fmt.Sprintf(`{"@context":"https://www.w3.org/ns/activitystreams","id":"%s/statuses/%d/activity","type":"Create","actor":"%s","object":{"id":"%s/statuses/%d","type":"Note","content":"spam"}}`, actor, i, actor, actor, i))
	sig := base64.StdEncoding.EncodeToString(make([]byte, 256))
	return Request{Kind: KindBlocked, Path: path, Body: body, Headers: [][2]string{
		{"Content-Type", "application/activity+json"},
		{"Digest", signature.DigestHeader(body)},
		{"Date", now.UTC().Format(http.TimeFormat)},
		{"Signature", fmt.Sprintf(`keyId="%s#main-key",algorithm="rsa-sha256",headers="(request-target) host date digest content-type",signature="%s"`, actor, sig)},
	}}
}

// corrupt flips one bit of the base64 signature value.
func corrupt(sigHeader string) string {
	b := []byte(sigHeader)
	i := len(b) - 10
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}
