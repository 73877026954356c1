package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/palisade-fedi/palisade/instance/ids"
)

// params are a request's parameters from wherever the client put them:
// the query string, a form body (urlencoded or multipart) or a JSON body,
// as Mastodon accepts all of them. JSON is flattened to form names
// (`{"poll": {"options": ["a"]}}` is `poll[options][]=a`), so one set of
// getters reads every encoding. Arrays are read under both `name[]` and
// `name`.
type params struct {
	v     url.Values
	files map[string][]*multipart.FileHeader
}

// maxBody bounds a non-upload request body.
const maxBody = 1 << 20

// parseParams reads r's parameters. Upload endpoints pass the upload
// limit as max; others maxBody.
func parseParams(r *http.Request, max int64) (*params, error) {
	p := &params{v: url.Values{}}
	for k, vs := range r.URL.Query() {
		p.v[k] = append(p.v[k], vs...)
	}
	if r.Body == nil || r.Method == http.MethodGet || r.Method == http.MethodHead {
		return p, nil
	}
	ct, ctParams, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch ct {
	case "application/json":
		body, err := io.ReadAll(io.LimitReader(r.Body, max+1))
		if err != nil {
			return nil, errStatus(http.StatusBadRequest, "reading the request body: %v", err)
		}
		if int64(len(body)) > max {
			return nil, errStatus(http.StatusRequestEntityTooLarge, "the request body is over %d bytes", max)
		}
		if err := p.addJSON(body); err != nil {
			return nil, err
		}
	case "application/x-www-form-urlencoded", "":
		body, err := io.ReadAll(io.LimitReader(r.Body, max+1))
		if err != nil {
			return nil, errStatus(http.StatusBadRequest, "reading the request body: %v", err)
		}
		if int64(len(body)) > max {
			return nil, errStatus(http.StatusRequestEntityTooLarge, "the request body is over %d bytes", max)
		}
		if len(bytes.TrimSpace(body)) == 0 {
			return p, nil
		}
		if ct == "" && (body[0] == '{' || body[0] == '[') {
			if err := p.addJSON(body); err != nil {
				return nil, err
			}
			return p, nil
		}
		vs, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, errStatus(http.StatusBadRequest, "the form body is not valid: %v", err)
		}
		for k, x := range vs {
			p.v[k] = append(p.v[k], x...)
		}
	case "multipart/form-data":
		if ctParams["boundary"] == "" {
			return nil, errStatus(http.StatusBadRequest, "multipart body without a boundary")
		}
		r.Body = http.MaxBytesReader(nil, r.Body, max+64<<10)
		if err := r.ParseMultipartForm(8 << 20); err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return nil, errStatus(http.StatusRequestEntityTooLarge, "the upload is over the limit of %d bytes", max)
			}
			return nil, errStatus(http.StatusBadRequest, "the multipart body is not valid: %v", err)
		}
		for k, x := range r.MultipartForm.Value {
			p.v[k] = append(p.v[k], x...)
		}
		p.files = r.MultipartForm.File
	default:
		return nil, errStatus(http.StatusUnsupportedMediaType, "content type %q: send JSON, a form or multipart", ct)
	}
	return p, nil
}

// addJSON flattens a JSON object body into p.
func (p *params) addJSON(body []byte) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return errStatus(http.StatusBadRequest, "the JSON body is not valid: %v", err)
	}
	if dec.More() {
		return errStatus(http.StatusBadRequest, "the JSON body has data after its value")
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return errStatus(http.StatusBadRequest, "the JSON body must be an object")
	}
	return flatten(p.v, "", obj, 0)
}

func flatten(out url.Values, prefix string, v any, depth int) error {
	if depth > 8 {
		return errStatus(http.StatusBadRequest, "the JSON body is nested too deeply")
	}
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			name := k
			if prefix != "" {
				name = prefix + "[" + k + "]"
			}
			if err := flatten(out, name, x[k], depth+1); err != nil {
				return err
			}
		}
	case []any:
		for i, e := range x {
			if _, obj := e.(map[string]any); obj {
				// fields_attributes: [{name, value}] is the indexed form.
				if err := flatten(out, prefix+"["+strconv.Itoa(i)+"]", e, depth+1); err != nil {
					return err
				}
				continue
			}
			if err := flatten(out, prefix+"[]", e, depth+1); err != nil {
				return err
			}
		}
		if len(x) == 0 {
			out[prefix+"[]"] = append(out[prefix+"[]"], []string{}...)
		}
	case nil:
		out[prefix] = append(out[prefix], "")
	case string:
		out.Add(prefix, x)
	case bool:
		out.Add(prefix, strconv.FormatBool(x))
	case json.Number:
		out.Add(prefix, x.String())
	default:
		return errStatus(http.StatusBadRequest, "unexpected JSON value for %s", prefix)
	}
	return nil
}

// has reports whether name was given at all.
func (p *params) has(name string) bool {
	_, ok := p.v[name]
	return ok
}

// str is the first value of name ("" when absent).
func (p *params) str(name string) string { return p.v.Get(name) }

// strPtr is name's value, nil when absent.
func (p *params) strPtr(name string) *string {
	if !p.has(name) {
		return nil
	}
	s := p.v.Get(name)
	return &s
}

// list is every value of name[] and name.
func (p *params) list(name string) []string {
	var out []string
	for _, k := range []string{name + "[]", name} {
		out = append(out, p.v[k]...)
	}
	return out
}

// boolean reads a Mastodon boolean: true/1/on/yes and false/0/off/no (any
// case, "" is false); anything else is 422 naming the field.
func (p *params) boolean(name string) (value, given bool, err error) {
	if !p.has(name) {
		return false, false, nil
	}
	switch strings.ToLower(strings.TrimSpace(p.v.Get(name))) {
	case "true", "1", "on", "yes", "t":
		return true, true, nil
	case "false", "0", "off", "no", "f", "":
		return false, true, nil
	}
	return false, true, invalidParam(name, "must be a boolean (true or false), got %q", p.v.Get(name))
}

// boolPtr is boolean as a pointer (nil when absent).
func (p *params) boolPtr(name string) (*bool, error) {
	v, given, err := p.boolean(name)
	if err != nil || !given {
		return nil, err
	}
	return &v, nil
}

// id reads an id parameter (0 when absent).
func (p *params) id(name string) (int64, error) {
	s := p.v.Get(name)
	if s == "" {
		return 0, nil
	}
	n, err := ids.Parse(s)
	if err != nil || n < 0 {
		return 0, invalidParam(name, "is not an id: %q", s)
	}
	return n, nil
}

// idList reads name[] (and name) as ids.
func (p *params) idList(name string) ([]int64, error) {
	var out []int64
	for _, s := range p.list(name) {
		if s == "" {
			continue
		}
		n, err := ids.Parse(s)
		if err != nil || n < 0 {
			return nil, invalidParam(name, "has an entry that is not an id: %q", s)
		}
		out = append(out, n)
	}
	return out, nil
}

// integer reads an integer parameter within [lo, hi]; def when absent.
func (p *params) integer(name string, def, lo, hi int) (int, error) {
	s := p.v.Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, invalidParam(name, "is not an integer: %q", s)
	}
	if n < lo {
		n = lo
	}
	if n > hi {
		n = hi
	}
	return n, nil
}

// float reads a number (nil when absent).
func (p *params) float(name string) (*float32, error) {
	s := p.v.Get(name)
	if s == "" {
		return nil, nil
	}
	f, err := strconv.ParseFloat(s, 32)
	if err != nil {
		return nil, invalidParam(name, "is not a number: %q", s)
	}
	v := float32(f)
	return &v, nil
}

// pathID reads the {name} wildcard of the route as an id; one that is not
// an id names nothing, which is 404.
func pathID(r *http.Request, name string) (int64, error) {
	n, err := ids.Parse(r.PathValue(name))
	if err != nil || n <= 0 {
		return 0, notFound()
	}
	return n, nil
}
