// Package palisade is the root of the Palisade module: a federation relay and
// moderation gateway appliance for the fediverse.
//
// The code is layered, and imports point one way only:
//
//	cmd → instance → relay → policy → store
//
// rules/ and dashboards/ hold shipped content (rule packs, Grafana
// dashboards, alert rules) and import nothing of ours. The tests in this
// package enforce the direction and that every package says what it is for.
package palisade
