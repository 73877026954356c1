package web

import (
	"net/http"
)

// NodeInfo schema URIs (https://nodeinfo.diaspora.software).
const (
	nodeinfo20 = "http://nodeinfo.diaspora.software/ns/schema/2.0"
	nodeinfo21 = "http://nodeinfo.diaspora.software/ns/schema/2.1"
)

// nodeinfoIndex serves /.well-known/nodeinfo, linking both versions.
func (h *Handler) nodeinfoIndex(w http.ResponseWriter, r *http.Request) error {
	type link struct {
		Rel  string `json:"rel"`
		Href string `json:"href"`
	}
	return writeJSON(w, "application/json; charset=utf-8", map[string][]link{"links": {
		{Rel: nodeinfo20, Href: h.base + "/nodeinfo/2.0"},
		{Rel: nodeinfo21, Href: h.base + "/nodeinfo/2.1"},
	}})
}

type nodeinfoSoftware struct {
	Name       string `json:"name"`
	Version    string `json:"version"`
	Repository string `json:"repository,omitempty"` // 2.1 only
	Homepage   string `json:"homepage,omitempty"`   // 2.1 only
}

type nodeinfoUsers struct {
	Total          int `json:"total"`
	ActiveMonth    int `json:"activeMonth"`
	ActiveHalfyear int `json:"activeHalfyear"`
}

type nodeinfoDoc struct {
	Version   string           `json:"version"`
	Software  nodeinfoSoftware `json:"software"`
	Protocols []string         `json:"protocols"`
	Services  struct {
		Inbound  []string `json:"inbound"`
		Outbound []string `json:"outbound"`
	} `json:"services"`
	Usage struct {
		Users      nodeinfoUsers `json:"users"`
		LocalPosts int64         `json:"localPosts"`
	} `json:"usage"`
	OpenRegistrations bool           `json:"openRegistrations"`
	Metadata          map[string]any `json:"metadata"`
}

// nodeinfo serves /nodeinfo/2.0 and /nodeinfo/2.1: software palisade,
// protocol activitypub, local usage, and in metadata the node's name and
// its relay actor (relay directories read it there).
func (h *Handler) nodeinfo(w http.ResponseWriter, r *http.Request) error {
	v := r.PathValue("version")
	if v != "2.0" && v != "2.1" {
		return errorf(http.StatusNotFound, "NodeInfo %q is not served: ask for 2.0 or 2.1", v)
	}
	u, err := h.st.LocalUsage(r.Context(), h.now())
	if err != nil {
		return err
	}
	d := nodeinfoDoc{Version: v, Software: nodeinfoSoftware{Name: "palisade", Version: h.o.Version},
		Protocols: []string{"activitypub"}, OpenRegistrations: h.o.OpenRegistrations}
	if d.Software.Version == "" {
		d.Software.Version = "dev"
	}
	if v == "2.1" {
		d.Software.Repository = "https://github.com/palisade-fedi/palisade"
	}
	d.Services.Inbound, d.Services.Outbound = []string{}, []string{}
	d.Usage.Users = nodeinfoUsers{Total: u.Users, ActiveMonth: u.ActiveMonth, ActiveHalfyear: u.ActiveHalfyear}
	d.Usage.LocalPosts = u.LocalPosts
	d.Metadata = map[string]any{
		"nodeName": h.o.NodeName,
		"relay": map[string]string{
			"actor":             h.svc.InstanceActor(),
			"preferredUsername": "relay",
			"inbox":             h.base + "/inbox", // Mastodon adds a relay by this URL
		},
		"authorizedFetch": h.o.AuthorizedFetch,
	}
	schema := nodeinfo20
	if v == "2.1" {
		schema = nodeinfo21
	}
	return writeJSON(w, `application/json; profile="`+schema+`#"`, d)
}
