// Package delivery is Palisade's outbound delivery engine, shared by the
// instance and the relay: it POSTs signed activities to remote inboxes from a
// durable per-host queue (store/local.Jobs), retries with exponential
// back-off and jitter for days, ends jobs that the peer refused for good,
// and holds the jobs of a host that keeps failing, probing it with one
// delivery per back-off step until it answers.
//
// # Life of a delivery
//
// Enqueue writes one job per distinct inbox in one synced batch and returns;
// from then on the delivery survives a crash. A dispatcher goroutine leases
// due jobs host by host (at most PerHost in flight per host, twice that
// leased), and Workers goroutines send them. Each request carries the
// activity's exact bytes (never re-serialised: a peer verifies the Digest
// over what we signed), and is signed rsa-sha256 over
// "(request-target) host date digest content-type", which is what Mastodon
// signs and what every implementation we know verifies.
//
// Outcomes, as counted in palisade_delivery_attempts_total{outcome}:
//
//	success            2xx: done
//	gone               410: the inbox is gone for good; done
//	rejected_4xx       other 4xx except 408 and 429 (and 3xx: redirects
//	                   are not followed, a POST must not turn into a GET); done
//	retry_5xx          5xx: retried with back-off
//	retry_timeout      timeouts and 408: retried
//	retry_network      connection errors: retried
//	retry_429          429: retried no earlier than its Retry-After
//	refused_by_policy  the destination domain is suspended; done, never contacted
//	expired            still failing after MaxAge; done
//
// Delivery is at least once: a crash between a peer's 2xx and our commit of
// the job's end sends it again after restart, which peers absorb by
// deduplicating activity ids. Workers do not wait for that commit: a
// completer goroutine removes finished jobs many per synced batch, so one
// fsync serves dozens of deliveries.
//
// # Cost
//
// RSA-2048 signing (about 1.3–1.5 ms of CPU here) is the floor of a
// delivery's cost. BenchmarkDeliver reports the CPU per delivery next to the
// CPU per bare signature measured in the same run; everything else (HTTP
// both ways on loopback, Pebble, scheduling) adds about a third.
//
// # Unavailable hosts
//
// After UnavailableAfter consecutive failures (5xx, timeouts, connection
// errors; any other answer proves the host alive and resets the count), a
// host is marked unavailable: its jobs stay queued and, once per back-off
// step (BackoffBase doubling up to BackoffMax), one of them is sent as a
// probe. When a probe gets any answer that is not a failure the host is
// available again and its backlog flows at full rate. Host health is kept
// in memory: after a restart a host starts available again.
package delivery
