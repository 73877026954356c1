// Package store is the bottom layer: local Pebble storage (dedup records, the
// actor-key cache, durable queues, the decision log) in store/local, and the
// shared Postgres database (pool, embedded migrations, cluster helpers) in
// store/pg and store/pgcluster. Nothing here knows what an activity means.
package store
