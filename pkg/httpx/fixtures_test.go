package httpx

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

// fixture is a response recorded from Patchwork v3.1.3 (copied from
// ../shared/fixtures/patchwork; see its INDEX.md).
type fixture struct {
	status int
	header http.Header
	body   []byte
}

// loadFixture reads testdata/patchwork/NAME.headers.txt and the body file
// beside it, if any.
func loadFixture(t testing.TB, name string) fixture {
	t.Helper()
	dir := filepath.Join("testdata", "patchwork")
	f, err := os.Open(filepath.Join(dir, name+".headers.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fx := fixture{header: http.Header{}}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "< ")
		if !ok {
			continue
		}
		if rest, ok := strings.CutPrefix(line, "HTTP/1.1 "); ok {
			code, _, _ := strings.Cut(rest, " ")
			if fx.status, err = strconv.Atoi(code); err != nil {
				t.Fatalf("%s: status line %q", name, line)
			}
			continue
		}
		k, v, ok := strings.Cut(line, ": ")
		if !ok {
			t.Fatalf("%s: header line %q", name, line)
		}
		fx.header.Add(k, v)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	bodies, err := filepath.Glob(filepath.Join(dir, name+".*"))
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bodies {
		if !strings.HasSuffix(b, ".headers.txt") {
			if fx.body, err = os.ReadFile(b); err != nil {
				t.Fatal(err)
			}
		}
	}
	return fx
}

// serve replays the fixture. Date and Content-Length are the test server's
// own, so freshness is measured from now.
func (fx fixture) serve(w http.ResponseWriter) {
	for k, vs := range fx.header {
		if k == "Date" || k == "Content-Length" {
			continue
		}
		w.Header()[k] = vs
	}
	w.WriteHeader(fx.status)
	w.Write(fx.body)
}

// receivedAll is the predicate a Patchwork client gives CacheIfComplete for
// a series detail.
func receivedAll(body []byte) bool {
	var s struct {
		ReceivedAll bool `json:"received_all"`
	}
	return json.Unmarshal(body, &s) == nil && s.ReceivedAll
}

func TestPatchworkSeriesCachedOnceComplete(t *testing.T) {
	// Series 15 as it arrived mail by mail, then stays complete.
	replies := []fixture{
		loadFixture(t, "p2-01-series-v3-detail-cover-only"),
		loadFixture(t, "p2-02-series-v3-detail-1-of-2"),
		loadFixture(t, "p2-03-series-v3-detail-complete"),
	}
	list := loadFixture(t, "cond-series-list-plain")
	var seriesHits, listHits atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("/api/series/15/", func(w http.ResponseWriter, r *http.Request) {
		n := int(seriesHits.Add(1))
		replies[min(n, len(replies))-1].serve(w)
	})
	mux.HandleFunc("/api/series/", func(w http.ResponseWriter, r *http.Request) {
		listHits.Add(1)
		list.serve(w)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	c, m := newTestClient(t, Options{CacheDir: t.TempDir()})
	ctx := CacheIfComplete(t.Context(), receivedAll)

	for tick := range 5 {
		_, body := do(ctx, t, c, "GET", srv.URL+"/api/series/15/", "")
		want := replies[min(tick, len(replies)-1)].body
		if body != string(want) {
			t.Fatalf("tick %d: series body differs from the recorded one", tick)
		}
		if _, body := do(t.Context(), t, c, "GET", srv.URL+"/api/series/?project=netdev&per_page=1", ""); body != string(list.body) {
			t.Fatalf("tick %d: list body differs from the recorded one", tick)
		}
	}
	if n := seriesHits.Load(); n != 3 {
		t.Errorf("series detail fetched %d times, want 3 (until received_all)", n)
	}
	if n := listHits.Load(); n != 5 {
		t.Errorf("list fetched %d times, want 5 (Patchwork lists have no validators)", n)
	}
	if got := m.Snapshot(); got.Network != 8 || got.Cache != 2 || got.Revalidated != 0 {
		t.Errorf("counts = %+v, want 8 network and 2 cache", got)
	}
}

func TestCheckResponsePatchworkFixtures(t *testing.T) {
	tests := []struct {
		name    string
		method  string
		wantMsg string
		wantIs  error
	}{
		{"patches-detail-404", "GET", "Not found.", ErrNotFound},
		{"api-index-v1.4-404", "GET", "", ErrNotFound},
		{"err-403-check-post-bad-token", "POST", "Invalid token.", ErrForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := loadFixture(t, tt.name)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fx.serve(w) }))
			defer srv.Close()
			c, _ := newTestClient(t, Options{CacheDir: t.TempDir()})
			req, _ := http.NewRequestWithContext(t.Context(), tt.method, srv.URL+"/api/x/", nil)
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			err = CheckResponse(resp)
			var se *StatusError
			if !errors.As(err, &se) {
				t.Fatalf("CheckResponse = %v, want a *StatusError", err)
			}
			if se.Message != tt.wantMsg || !errors.Is(err, tt.wantIs) {
				t.Errorf("got message %q (is %v: %v), want %q", se.Message, tt.wantIs, errors.Is(err, tt.wantIs), tt.wantMsg)
			}
			if want := tt.method + " " + srv.URL + "/api/x/"; !strings.HasPrefix(err.Error(), want) {
				t.Errorf("error %q does not name %q", err, want)
			}
			io.Copy(io.Discard, resp.Body)
		})
	}
}
