package api

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"image"
	_ "image/gif" // decoders for uploads
	_ "image/jpeg"
	_ "image/png"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/buckket/go-blurhash"

	"github.com/palisade-fedi/palisade/instance/data"
)

// maxPixels bounds an uploaded image's width × height (checked from its
// header before decoding, so a small file cannot expand into gigabytes).
const maxPixels = 4096 * 4096

func (a *API) registerMedia(mux *http.ServeMux) {
	a.handle(mux, "POST /api/v2/media", user("write:media"), a.uploadMedia)
	a.handle(mux, "POST /api/v1/media", user("write:media"), a.uploadMedia)
	a.handle(mux, "GET /api/v1/media/{id}", user("write:media"), a.getMedia)
	a.handle(mux, "PUT /api/v1/media/{id}", user("write:media"), a.updateMedia)
	if a.o.MediaDir != "" {
		fs := http.StripPrefix("/media/", http.FileServer(noDirs{http.Dir(a.o.MediaDir)}))
		mux.Handle("GET /media/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
			w.Header().Set("X-Content-Type-Options", "nosniff")
			w.Header().Set("Content-Security-Policy", "default-src 'none'; sandbox")
			fs.ServeHTTP(w, r)
		}))
	}
}

// noDirs serves files only (no directory listings).
type noDirs struct{ fs http.FileSystem }

func (n noDirs) Open(name string) (http.File, error) {
	f, err := n.fs.Open(name)
	if err != nil {
		return nil, err
	}
	if st, err := f.Stat(); err != nil || st.IsDir() {
		f.Close()
		return nil, os.ErrNotExist
	}
	return f, nil
}

func (a *API) uploadMedia(w http.ResponseWriter, r *http.Request, c *call) error {
	if a.o.MediaDir == "" {
		return errStatus(http.StatusServiceUnavailable, "uploads are not configured on this server")
	}
	if r.ContentLength > a.o.MaxUploadBytes+64<<10 {
		return errStatus(http.StatusRequestEntityTooLarge, "File is too large: the upload is over the limit of %d bytes", a.o.MaxUploadBytes)
	}
	p, err := parseParams(r, a.o.MaxUploadBytes)
	if err != nil {
		return err
	}
	fh := p.files["file"]
	if len(fh) == 0 {
		return invalidParam("file", "is missing: send the file as multipart form-data field \"file\"")
	}
	m, err := a.newUpload(r.Context(), c.viewer.ID, fh[0], "file", p)
	if err != nil {
		return err
	}
	return ok(w, a.MediaToAPI(m))
}

// storeUpload stores an image (avatar, header) as an attachment row of
// the account, unattached.
func (a *API) storeUpload(ctx context.Context, accountID int64, fh *multipart.FileHeader, field string) (*data.MediaAttachment, error) {
	if a.o.MediaDir == "" {
		return nil, errStatus(http.StatusServiceUnavailable, "uploads are not configured on this server")
	}
	return a.newUpload(ctx, accountID, fh, field, &params{})
}

func (a *API) newUpload(ctx context.Context, accountID int64, fh *multipart.FileHeader, field string, p *params) (*data.MediaAttachment, error) {
	if fh.Size > a.o.MaxUploadBytes {
		return nil, errStatus(http.StatusRequestEntityTooLarge, "File is too large: %d bytes, the limit is %d", fh.Size, a.o.MaxUploadBytes)
	}
	f, err := fh.Open()
	if err != nil {
		return nil, err
	}
	defer f.Close()
	body, err := io.ReadAll(io.LimitReader(f, a.o.MaxUploadBytes+1))
	if err != nil {
		return nil, err
	}
	if int64(len(body)) > a.o.MaxUploadBytes {
		return nil, errStatus(http.StatusRequestEntityTooLarge, "File is too large: the limit is %d bytes", a.o.MaxUploadBytes)
	}
	m := &data.MediaAttachment{AccountID: accountID, Type: "image"}
	var ext string
	m.ContentType = http.DetectContentType(body)
	switch m.ContentType {
	case "image/png":
		ext = ".png"
	case "image/jpeg":
		ext = ".jpg"
	case "image/gif":
		ext = ".gif"
	default:
		return nil, invalidParam(field, "has type %s: this server accepts PNG, JPEG and GIF images", m.ContentType)
	}
	meta, hash, err := imageMeta(body)
	if err != nil {
		return nil, invalidParam(field, "is not a readable image: %v", err)
	}
	m.Meta, m.Blurhash = meta, hash
	if d := p.str("description"); d != "" {
		if len([]rune(d)) > 1500 {
			return nil, invalidParam("description", "is longer than 1500 characters")
		}
		m.Description = d
	}
	if fx, fy, err := focusParam(p); err != nil {
		return nil, err
	} else {
		m.FocusX, m.FocusY = fx, fy
	}
	var rnd [16]byte
	rand.Read(rnd[:])
	name := hex.EncodeToString(rnd[:])
	m.FilePath = "attachments/" + name[:2] + "/" + name + ext
	full := filepath.Join(a.o.MediaDir, filepath.FromSlash(m.FilePath))
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		return nil, err
	}
	tmp := full + ".tmp"
	if err := os.WriteFile(tmp, body, 0o644); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, full); err != nil {
		os.Remove(tmp)
		return nil, err
	}
	if err := a.st.InsertMedia(ctx, m); err != nil {
		os.Remove(full)
		return nil, err
	}
	return m, nil
}

// focusParam reads focus "x,y" (each in [-1, 1]).
func focusParam(p *params) (x, y float32, err error) {
	s := p.str("focus")
	if s == "" {
		return 0, 0, nil
	}
	xs, ys, found := strings.Cut(s, ",")
	q := &params{v: map[string][]string{"x": {strings.TrimSpace(xs)}, "y": {strings.TrimSpace(ys)}}}
	fx, err1 := q.float("x")
	fy, err2 := q.float("y")
	if !found || err1 != nil || err2 != nil || fx == nil || fy == nil || *fx < -1 || *fx > 1 || *fy < -1 || *fy > 1 {
		return 0, 0, invalidParam("focus", "must be two numbers between -1 and 1, \"x,y\", got %q", s)
	}
	return *fx, *fy, nil
}

// imageMeta reads an image's dimensions (refusing oversize ones before
// decoding) and computes its blurhash on a small copy.
func imageMeta(body []byte) (json.RawMessage, string, error) {
	cfg, _, err := image.DecodeConfig(bytes.NewReader(body))
	if err != nil {
		return nil, "", err
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || cfg.Width*cfg.Height > maxPixels {
		return nil, "", errorString("the image is " + itoa(cfg.Width) + "×" + itoa(cfg.Height) + " pixels: at most " + itoa(maxPixels) + " pixels in all")
	}
	img, _, err := image.Decode(bytes.NewReader(body))
	if err != nil {
		return nil, "", err
	}
	hash, err := blurhash.Encode(4, 3, shrink(img, 64))
	if err != nil {
		return nil, "", err
	}
	w, h := cfg.Width, cfg.Height
	size := map[string]any{"width": w, "height": h, "size": itoa(w) + "x" + itoa(h), "aspect": float64(w) / float64(h)}
	meta, _ := json.Marshal(map[string]any{"original": size, "small": size})
	return meta, hash, nil
}

// shrink samples img down to at most max pixels on its longer side
// (nearest neighbour: a blurhash keeps only the lowest frequencies).
func shrink(img image.Image, max int) image.Image {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if w <= max && h <= max {
		return img
	}
	nw, nh := max, h*max/w
	if h > w {
		nw, nh = w*max/h, max
	}
	if nw < 1 {
		nw = 1
	}
	if nh < 1 {
		nh = 1
	}
	dst := image.NewRGBA(image.Rect(0, 0, nw, nh))
	for y := 0; y < nh; y++ {
		for x := 0; x < nw; x++ {
			dst.Set(x, y, img.At(b.Min.X+x*w/nw, b.Min.Y+y*h/nh))
		}
	}
	return dst
}

type errorString string

func (e errorString) Error() string { return string(e) }

func itoa(n int) string { return strconv.Itoa(n) }

func (a *API) ownMedia(r *http.Request, c *call) (*data.MediaAttachment, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	m, err := a.st.GetMedia(r.Context(), id)
	if err != nil {
		return nil, err
	}
	if m.AccountID != c.viewer.ID {
		return nil, notFound()
	}
	return m, nil
}

func (a *API) getMedia(w http.ResponseWriter, r *http.Request, c *call) error {
	m, err := a.ownMedia(r, c)
	if err != nil {
		return err
	}
	return ok(w, a.MediaToAPI(m))
}

func (a *API) updateMedia(w http.ResponseWriter, r *http.Request, c *call) error {
	m, err := a.ownMedia(r, c)
	if err != nil {
		return err
	}
	p, err := parseParams(r, maxBody)
	if err != nil {
		return err
	}
	desc := p.strPtr("description")
	if desc != nil && len([]rune(*desc)) > 1500 {
		return invalidParam("description", "is longer than 1500 characters")
	}
	var fx, fy *float32
	if p.has("focus") {
		x, y, err := focusParam(p)
		if err != nil {
			return err
		}
		fx, fy = &x, &y
	}
	m, err = a.st.UpdateMedia(r.Context(), c.viewer.ID, m.ID, desc, fx, fy)
	if err != nil {
		return err
	}
	return ok(w, a.MediaToAPI(m))
}
