package web

import (
	"html"
	"net/http"
)

// hostMeta serves /.well-known/host-meta (RFC 6415 XRD) pointing at the
// WebFinger endpoint; older Mastodon and Friendica versions look it up
// before WebFinger.
func (h *Handler) hostMeta(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "application/xrd+xml; charset=utf-8")
	w.Header().Set("Access-Control-Allow-Origin", "*")
	_, err := w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?>
<XRD xmlns="http://docs.oasis-open.org/ns/xri/xrd-1.0">
  <Link rel="lrdd" template="` + html.EscapeString(h.base) + `/.well-known/webfinger?resource={uri}"/>
</XRD>
`))
	return err
}
