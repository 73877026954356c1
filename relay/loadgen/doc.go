// Package loadgen drives a Palisade node the way a busy fediverse does, for
// "palisade bench". It serves fake actors' keys on loopback, pre-signs
// realistic Create(Note) requests with RSA-2048 before the clock starts
// (signing costs ~1.5 ms each, far more than the node's work, so it must not
// be in the measured loop), then sends them open- or closed-loop with a mix
// of duplicates, blocked-domain senders and bad signatures, and reports
// throughput and latency percentiles.
package loadgen
