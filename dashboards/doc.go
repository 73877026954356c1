// Package dashboards holds the shipped Grafana dashboards, Prometheus alert
// rules and an example scrape configuration. It is content, not code: FS
// lets tests (and, later, the binary) read the files as shipped.
//
// Layout:
//
//	alerts.yml                         Prometheus alert rules (job="palisade")
//	alerts_test.yml                    promtool unit tests for every alert
//	prometheus.yml                     example scrape configuration
//	grafana/*.json                     dashboards, with a "datasource" variable
//	provisioning/datasources/*.yaml    Grafana data source provisioning
//	provisioning/dashboards/*.yaml     Grafana dashboard provider
//
// See docs/observability.md for how to install them.
package dashboards

import "embed"

// FS holds the files above, at the same paths.
//
//go:embed alerts.yml alerts_test.yml prometheus.yml grafana/*.json provisioning
var FS embed.FS
