package httpmetrics

import (
	"bufio"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"
)

func testMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/statuses/{id}", func(w http.ResponseWriter, r *http.Request) {
		switch r.PathValue("id") {
		case "missing":
			http.Error(w, "not found", http.StatusNotFound)
		case "broken":
			w.WriteHeader(http.StatusServiceUnavailable)
		default:
			io.WriteString(w, `{"id":"`+r.PathValue("id")+`"}`)
		}
	})
	mux.HandleFunc("POST /api/v1/statuses", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK) // nothing else written
	})
	mux.HandleFunc("GET /empty", func(http.ResponseWriter, *http.Request) {})
	mux.HandleFunc("GET /dir/", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "dir") })
	mux.HandleFunc("GET /panic", func(http.ResponseWriter, *http.Request) { panic("handler bug") })
	mux.HandleFunc("GET /api/v1/streaming", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := range 3 {
			fmt.Fprintf(w, "data: %d\n\n", i)
			if err := http.NewResponseController(w).Flush(); err != nil {
				panic(err)
			}
			time.Sleep(200 * time.Millisecond) // a stream lasts; its timing must not
		}
	})
	mux.HandleFunc("GET /upgrade", func(w http.ResponseWriter, r *http.Request) {
		c, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		defer c.Close()
		rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: test\r\nConnection: Upgrade\r\n\r\nhello")
		rw.Flush()
	})
	return mux
}

func get(t *testing.T, method, url string) int {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	// No keep-alive: the transport would retry a GET whose reused
	// connection a panicking handler closed, counting it twice.
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		return 0 // a panicking handler closes the connection
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func count(t *testing.T, m *Metrics, handler, code string) int {
	t.Helper()
	return int(testutil.ToFloat64(m.requests.WithLabelValues(handler, code)))
}

// Every request through a real loopback server is counted once, under the
// pattern that matched and its status class, and timed.
func TestWrapCountsByPatternAndClass(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := New(Options{Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(m.Wrap(testMux()))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the panic's stack
	srv.Start()
	t.Cleanup(srv.Close)
	for _, c := range []struct {
		method, path string
		status       int
	}{
		{"GET", "/api/v1/statuses/1", 200},
		{"GET", "/api/v1/statuses/2", 200},
		{"GET", "/api/v1/statuses/missing", 404},
		{"GET", "/api/v1/statuses/broken", 503},
		{"POST", "/api/v1/statuses", 200},
		{"GET", "/empty", 200},
		{"GET", "/nowhere", 404},
		{"GET", "/dir", http.StatusTemporaryRedirect},
		{"DELETE", "/api/v1/statuses", 405},
		{"GET", "/panic", 0},
	} {
		if got := get(t, c.method, srv.URL+c.path); got != c.status {
			t.Errorf("%s %s answered %d, want %d", c.method, c.path, got, c.status)
		}
	}
	for _, c := range []struct {
		handler, code string
		want          int
	}{
		{"GET /api/v1/statuses/{id}", "2xx", 2},
		{"GET /api/v1/statuses/{id}", "4xx", 1},
		{"GET /api/v1/statuses/{id}", "5xx", 1},
		{"POST /api/v1/statuses", "2xx", 1},
		{"GET /empty", "2xx", 1},
		{"GET /panic", "5xx", 1},
		{Unmatched, "4xx", 2},   // the 404 and the 405
		{"GET /dir/", "3xx", 1}, // the mux's trailing-slash redirect counts under its target
	} {
		if got := count(t, m, c.handler, c.code); got != c.want {
			t.Errorf("%s %s: %d, want %d", c.handler, c.code, got, c.want)
		}
	}
	if n := testutil.CollectAndCount(m.duration); n != 6 {
		t.Errorf("%d duration series, want 6 (5 patterns + unmatched)", n)
	}
	// Label values never carry the request path.
	for _, f := range mustGather(t, reg) {
		for _, mm := range f.GetMetric() {
			for _, l := range mm.GetLabel() {
				if strings.Contains(l.GetValue(), "missing") || strings.Contains(l.GetValue(), "nowhere") {
					t.Errorf("%s has a label from a request path: %s", f.GetName(), l.GetValue())
				}
			}
		}
	}
}

func mustGather(t *testing.T, g prometheus.Gatherer) []*dto.MetricFamily {
	t.Helper()
	f, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// Behind the fasthttp adaptor, as on the node's public listener, streaming
// (Flush) and hijacking still work through the recorder and are counted.
func TestWrapBehindFasthttpAdaptor(t *testing.T) {
	m, err := New(Options{Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &fasthttp.Server{Handler: fasthttpadaptor.NewFastHTTPHandler(m.Wrap(testMux()))}
	go s.Serve(ln)
	t.Cleanup(func() { s.Shutdown() })
	base := "http://" + ln.Addr().String()

	resp, err := http.Get(base + "/api/v1/streaming")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || strings.Count(string(body), "data: ") != 3 {
		t.Fatalf("streaming: %d %q", resp.StatusCode, body)
	}

	c, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "GET /upgrade HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: test\r\n\r\n")
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || !strings.Contains(line, "101") {
		t.Fatalf("hijacked answer %q, %v", line, err)
	}
	if got := get(t, "GET", base+"/api/v1/statuses/7"); got != 200 {
		t.Fatalf("GET through the adaptor: %d", got)
	}
	deadline := time.Now().Add(10 * time.Second)
	for count(t, m, "GET /upgrade", "1xx") != 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond) // the handler ends after the client read
	}
	var h dto.Metric
	if err := m.duration.WithLabelValues("GET /api/v1/streaming").(prometheus.Histogram).Write(&h); err != nil {
		t.Fatal(err)
	}
	if got := h.GetHistogram().GetSampleSum(); h.GetHistogram().GetSampleCount() != 1 || got >= 0.5 {
		t.Errorf("the stream (600 ms long) was timed %v s over %d samples: want its start only", got, h.GetHistogram().GetSampleCount())
	}
	for _, c := range []struct {
		handler, code string
		want          int
	}{
		{"GET /api/v1/streaming", "2xx", 1},
		{"GET /upgrade", "1xx", 1},
		{"GET /api/v1/statuses/{id}", "2xx", 1},
	} {
		if got := count(t, m, c.handler, c.code); got != c.want {
			t.Errorf("%s %s: %d, want %d", c.handler, c.code, got, c.want)
		}
	}
}

// Patterns past MaxHandlers count as "other"; unmatched is always itself.
func TestMaxHandlers(t *testing.T) {
	m, err := New(Options{Registerer: prometheus.NewRegistry(), MaxHandlers: 2})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	for i := range 5 {
		mux.HandleFunc(fmt.Sprintf("GET /p%d", i), func(http.ResponseWriter, *http.Request) {})
	}
	h := m.Wrap(mux)
	for _, p := range []string{"/p0", "/p1", "/p2", "/p3", "/nowhere", "/p4", "/p0"} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", p, nil))
	}
	for handler, want := range map[string]int{"GET /p0": 2, "GET /p1": 1, Other: 3} {
		if got := count(t, m, handler, "2xx"); got != want {
			t.Errorf("%s: %d, want %d", handler, got, want)
		}
	}
	if got := count(t, m, Unmatched, "4xx"); got != 1 {
		t.Errorf("unmatched: %d, want 1", got)
	}
	if n := testutil.CollectAndCount(m.duration); n != 4 {
		t.Errorf("%d handler values, want 4 (2 patterns, other, unmatched)", n)
	}
}

// A second New on one registry fails with an error, and does not take the
// first one's families away.
func TestNewErrors(t *testing.T) {
	if _, err := New(Options{}); err == nil {
		t.Fatal("New without a Registerer succeeded")
	}
	reg := prometheus.NewRegistry()
	m, err := New(Options{Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(Options{Registerer: reg}); err == nil || !strings.Contains(err.Error(), "httpmetrics") {
		t.Fatalf("second New: %v", err)
	}
	m.Wrap(testMux()).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/empty", nil))
	if n, err := testutil.GatherAndCount(reg, "palisade_http_requests_total"); err != nil || n == 0 {
		t.Fatalf("the first Metrics' families are gone after a failed second New: %d, %v", n, err)
	}
}

// BenchmarkWrap is the middleware's cost per request over a mux route;
// BenchmarkBare is the same route without it, for the ratio.
func BenchmarkWrap(b *testing.B) {
	m, err := New(Options{Registerer: prometheus.NewRegistry()})
	if err != nil {
		b.Fatal(err)
	}
	benchHandler(b, m.Wrap(testMux()))
}

func BenchmarkBare(b *testing.B) { benchHandler(b, testMux()) }

func benchHandler(b *testing.B, h http.Handler) {
	req := httptest.NewRequest("GET", "/api/v1/statuses/1", nil)
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for range b.N {
		w.Body.Reset()
		h.ServeHTTP(w, req)
	}
}
