package patchwork

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/trawl-ci/trawl/forges/patchwork/pwfake"
	"github.com/trawl-ci/trawl/pkg/change"
)

// testBase is the instance URL the tests use. Every connection goes to the
// test's loopback server, so keys and URLs are stable across runs.
const testBase = "http://patchwork.test"

// server is a loopback HTTP server and a client that reaches it as
// testBase.
type server struct {
	fake   *pwfake.Fake
	client *http.Client
}

// newServer serves fake on loopback, through wrap when it is not nil.
func newServer(t *testing.T, phase pwfake.Phase, wrap func(http.Handler) http.Handler) *server {
	t.Helper()
	fake, err := pwfake.New(pwfake.Options{Phase: phase})
	if err != nil {
		t.Fatal(err)
	}
	var h http.Handler = fake
	if wrap != nil {
		h = wrap(fake)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	addr := srv.Listener.Addr().String()
	tr := &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}}
	t.Cleanup(tr.CloseIdleConnections)
	return &server{fake: fake, client: &http.Client{Transport: tr}}
}

func (s *server) newClient(t *testing.T) *Client {
	t.Helper()
	c, err := NewClient(testBase, s.client)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// testNow is just after the last recorded mail (series 16, 05:10:02).
var testNow = time.Date(2026, 11, 21, 5, 20, 0, 0, time.UTC)

// opts are source options that see every recorded patch.
func (s *server) opts(project string) Opts {
	return Opts{
		Name:     "pw-" + project,
		URL:      testBase,
		Project:  project,
		Lookback: 20 * 365 * 24 * time.Hour,
		Base:     change.Base{Tree: "net-next", URL: "https://git.kernel.org/netdev/net-next.git", Branch: "main", Policy: change.PolicyTag},
		Targets:  []string{"kernelci"},
		HTTP:     s.client,
		Now:      func() time.Time { return testNow },
	}
}

func (s *server) newSource(t *testing.T, o Opts) *Source {
	t.Helper()
	src, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return src
}

func keys(changes []change.Change) []change.Key {
	out := []change.Key{}
	for _, c := range changes {
		out = append(out, c.Key)
	}
	return out
}

// seriesKeys are the change keys of series ids of project.
func seriesKeys(project string, ids ...int64) []change.Key {
	out := []change.Key{}
	for _, id := range ids {
		out = append(out, change.Key("pw:patchwork.test/"+project+"/series/"+strconv.FormatInt(id, 10)))
	}
	return out
}

// writeRecorded writes rec's status and headers with body instead of rec's
// own body, as an edited answer of the same server.
func writeRecorded(w http.ResponseWriter, rec *httptest.ResponseRecorder, body []byte) {
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(rec.Code)
	_, _ = w.Write(body)
}
