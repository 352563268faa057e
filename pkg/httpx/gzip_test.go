package httpx

import (
	"compress/gzip"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// GitHub compresses its answers; the stored entry must still revalidate and
// serve the whole decoded body.
func TestRevalidateGzip(t *testing.T) {
	body := strings.Repeat(`{"number":1}`, 500)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"g"`)
		if r.Header.Get("If-None-Match") == `"g"` {
			w.WriteHeader(304)
			return
		}
		if !strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
			t.Error("request without Accept-Encoding: gzip")
		}
		w.Header().Set("Content-Encoding", "gzip")
		gz := gzip.NewWriter(w)
		gz.Write([]byte(body))
		gz.Close()
	}))
	defer srv.Close()
	c, m := newTestClient(t, Options{CacheDir: t.TempDir()})
	for i := range 3 {
		if _, got := do(t.Context(), t, c, "GET", srv.URL, ""); got != body {
			t.Fatalf("request %d: got %d bytes, want the %d-byte decoded body", i, len(got), len(body))
		}
	}
	if got := m.Snapshot(); got.Network != 1 || got.Revalidated != 2 {
		t.Errorf("counts = %+v, want 1 network and 2 revalidated", got)
	}
}
