// Package dashboards holds the shipped Grafana dashboards, Prometheus alert
// rules and an example scrape configuration. It is content, not code.
package dashboards
