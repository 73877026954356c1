package main

import "net/http"

// mastodonRoutes serves Mastodon's admin API under /api/v1/admin/.
func (a *adminAPI) mastodonRoutes(mux *http.ServeMux) {
	a.domainRoutes(mux)
	a.accountRoutes(mux)
}
