package oauth

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// maxBody bounds the request bodies the OAuth endpoints read.
const maxBody = 64 << 10

// decodeParams reads a request's parameters the way Mastodon (Rails)
// does: the body as application/x-www-form-urlencoded, multipart/form-data
// or JSON, with query parameters filling in names the body lacks. In JSON,
// an array of strings becomes its items joined by spaces (so
// "redirect_uris": ["a", "b"] and "scopes": ["read", "write"] work),
// numbers and booleans their text; anything else is an error naming the
// parameter.
func decodeParams(r *http.Request) (url.Values, error) {
	vals := url.Values{}
	if r.Body != nil && r.Method != http.MethodGet {
		body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
		if err != nil {
			return nil, fmt.Errorf("reading the request body: %v", err)
		}
		if len(body) > maxBody {
			return nil, fmt.Errorf("the request body is larger than %d bytes", maxBody)
		}
		if vals, err = decodeBody(r.Header.Get("Content-Type"), body); err != nil {
			return nil, err
		}
	}
	for k, v := range r.URL.Query() {
		if _, ok := vals[k]; !ok {
			vals[k] = v
		}
	}
	return vals, nil
}

// decodeBody decodes one body of the given Content-Type.
func decodeBody(contentType string, body []byte) (url.Values, error) {
	vals := url.Values{}
	if len(bytes.TrimSpace(body)) == 0 {
		return vals, nil
	}
	mt, params, err := mime.ParseMediaType(contentType)
	if contentType == "" {
		mt, err = "application/x-www-form-urlencoded", nil
	}
	if err != nil {
		return nil, fmt.Errorf("the Content-Type %q cannot be parsed: %v", contentType, err)
	}
	switch {
	case mt == "application/json" || strings.HasSuffix(mt, "+json"):
		var m map[string]any
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		if err := dec.Decode(&m); err != nil {
			return nil, fmt.Errorf("the JSON body is not an object: %v", err)
		}
		if dec.More() {
			return nil, errors.New("the JSON body has data after its object")
		}
		for k, v := range m {
			s, err := jsonParam(v)
			if err != nil {
				return nil, fmt.Errorf("parameter %s: %v", k, err)
			}
			vals.Set(k, s)
		}
		return vals, nil
	case mt == "application/x-www-form-urlencoded":
		v, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, fmt.Errorf("the form body cannot be parsed: %v", err)
		}
		return joinArrays(v), nil
	case mt == "multipart/form-data":
		boundary := params["boundary"]
		if boundary == "" {
			return nil, errors.New("the multipart body has no boundary")
		}
		req := &http.Request{Method: http.MethodPost, Header: http.Header{"Content-Type": {contentType}},
			Body: io.NopCloser(bytes.NewReader(body))}
		if err := req.ParseMultipartForm(maxBody); err != nil {
			return nil, fmt.Errorf("the multipart body cannot be parsed: %v", err)
		}
		if req.MultipartForm != nil {
			req.MultipartForm.RemoveAll()
			return joinArrays(url.Values(req.MultipartForm.Value)), nil
		}
		return vals, nil
	}
	return nil, fmt.Errorf("the Content-Type %s is not accepted (send application/x-www-form-urlencoded, multipart/form-data or application/json)", mt)
}

// joinArrays folds Rails-style array parameters ("redirect_uris[]=a&
// redirect_uris[]=b") and repeated names into one space-joined value.
func joinArrays(v url.Values) url.Values {
	out := url.Values{}
	for k, xs := range v {
		k = strings.TrimSuffix(k, "[]")
		out[k] = []string{strings.Join(append(out[k], xs...), " ")}
	}
	return out
}

func jsonParam(v any) (string, error) {
	switch x := v.(type) {
	case nil:
		return "", nil
	case string:
		return x, nil
	case json.Number:
		return x.String(), nil
	case bool:
		return strconv.FormatBool(x), nil
	case []any:
		parts := make([]string, 0, len(x))
		for _, e := range x {
			s, ok := e.(string)
			if !ok {
				return "", errors.New("an array may hold only strings")
			}
			parts = append(parts, s)
		}
		return strings.Join(parts, " "), nil
	}
	return "", errors.New("want a string, a number, a boolean or an array of strings")
}

// oauthError is an error response in RFC 6749's form:
// {"error": code, "error_description": desc}.
type oauthError struct {
	status int
	code   string
	desc   string
}

func (e *oauthError) Error() string { return e.code + ": " + e.desc }

func errf(status int, code, format string, args ...any) *oauthError {
	return &oauthError{status: status, code: code, desc: fmt.Sprintf(format, args...)}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"encoding the response failed"}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

func writeOAuthError(w http.ResponseWriter, e *oauthError) {
	if e.code == "invalid_client" {
		w.Header().Set("WWW-Authenticate", `Basic realm="oauth"`)
	}
	writeJSON(w, e.status, map[string]string{"error": e.code, "error_description": e.desc})
}

// writeAPIError is the Mastodon API's error form, {"error": msg}.
func writeAPIError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

// internal logs a server-side failure and answers 500 without details.
func (s *Server) internal(w http.ResponseWriter, what string, err error) {
	s.log.Error("oauth: "+what, "err", err)
	writeOAuthError(w, errf(http.StatusInternalServerError, "server_error", "the server failed while %s; try again", what))
}

// DecodeParams reads a request's parameters as the Mastodon API accepts
// them: a form, multipart or JSON body (at most 64 KiB), with query
// parameters filling in names the body lacks. JSON arrays of strings
// become their items joined by spaces, numbers and booleans their text,
// and Rails-style "name[]" form keys are folded into "name". The error
// names what could not be read.
func DecodeParams(r *http.Request) (url.Values, error) { return decodeParams(r) }
