package patchwork

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/trawl-ci/trawl/forges/patchwork/pwfake"
	"github.com/trawl-ci/trawl/pkg/change"
)

// newResolver reads the series a Fetch of the netdev project would read in
// phase p, as Fetch does.
func newResolver(t *testing.T, srv *server, actionable ...int64) *resolver {
	t.Helper()
	s := srv.newSource(t, srv.opts("netdev"))
	var fetched, complete []*Series
	for _, id := range actionable {
		sr, err := s.client.GetSeries(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		fetched = append(fetched, sr)
		if sr.ReceivedAll {
			complete = append(complete, sr)
		}
	}
	_, newest := supersede(complete)
	return &resolver{s: s, fetched: fetched, newest: newest, msgids: map[string]int64{}, targets: map[int64]target{}}
}

func TestResolve(t *testing.T) {
	const (
		cover3  = "<1473632795-9971-1-git-send-email-stephenfinucane@gmail.com>"
		patch7  = "<1473632795-9971-2-git-send-email-stephenfinucane@gmail.com>"
		patch1  = "20170613191725.26625-2-f.fainelli@gmail.com"
		unknown = "<nosuch@example.org>"
	)
	k := func(id int64) change.Key { return seriesKeys("netdev", id)[0] }
	tests := []struct {
		name  string
		phase pwfake.Phase
		self  int64
		raw   string
		want  []change.Ref // Source is filled in
	}{
		{"cover msgid", pwfake.Phase1, 1, cover3, []change.Ref{{Raw: cover3, Key: k(3)}}},
		{"cover msgid of a superseded series", pwfake.P2V3Complete, 1, cover3, []change.Ref{{Raw: cover3, Key: k(15)}}},
		{"patch msgid of a superseded series", pwfake.P2V3Complete, 1, patch7, []change.Ref{{Raw: patch7, Key: k(15)}}},
		{"v1, not actionable, superseded by v2", pwfake.Phase1, 1, testBase + "/series/2/mbox/", []change.Ref{{Raw: testBase + "/series/2/mbox/", Key: k(3)}}},
		{"v1, superseded by v3", pwfake.P2V3Complete, 1, testBase + "/api/1.3/series/2/", []change.Ref{{Raw: testBase + "/api/1.3/series/2/", Key: k(15)}}},
		{"patch page URL", pwfake.Phase1, 3, testBase + "/project/netdev/patch/" + patch1 + "/", []change.Ref{{Raw: testBase + "/project/netdev/patch/" + patch1 + "/", Key: k(1)}}},
		{"list URL", pwfake.Phase1, 3, testBase + "/project/netdev/list/?series=4", []change.Ref{{Raw: testBase + "/project/netdev/list/?series=4", Key: k(4)}}},
		{"API URL", pwfake.Phase1, 3, testBase + "/api/series/8/", []change.Ref{{Raw: testBase + "/api/series/8/", Key: k(8)}}},
		{"incomplete series", pwfake.P2OnePatch, 3, testBase + "/api/1.3/series/15/", []change.Ref{{Raw: testBase + "/api/1.3/series/15/", Key: k(15)}}},
		{"unknown msgid", pwfake.Phase1, 1, unknown, []change.Ref{{Raw: unknown}}},
		{"unknown series", pwfake.Phase1, 1, testBase + "/series/9999/", []change.Ref{{Raw: testBase + "/series/9999/"}}},
		{"series of another project", pwfake.Phase1, 1, testBase + "/series/9/", []change.Ref{{Raw: testBase + "/series/9/"}}},
		{"list URL of another project", pwfake.Phase1, 1, testBase + "/project/bpf/list/?series=9", []change.Ref{{Raw: testBase + "/project/bpf/list/?series=9"}}},
		{"unknown URL", pwfake.Phase1, 1, testBase + "/about/", []change.Ref{{Raw: testBase + "/about/"}}},
		{"another host", pwfake.Phase1, 1, "https://lore.kernel.org/r/x@y/", nil},
		{"self", pwfake.Phase1, 3, cover3, nil},
		{"self after superseding", pwfake.P2V3Complete, 15, cover3, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, tt.phase, nil)
			actionable := []int64{1, 3, 4, 5, 6, 7, 8}
			if tt.phase >= pwfake.P2OnePatch {
				actionable = append(actionable, 15)
			}
			refs, err := newResolver(t, srv, actionable...).refs(t.Context(), tt.self, []string{tt.raw})
			if err != nil {
				t.Fatal(err)
			}
			for i := range tt.want {
				tt.want[i].Source = "pw-netdev"
			}
			if !slices.Equal(refs, tt.want) {
				t.Errorf("refs %+v, want %+v", refs, tt.want)
			}
		})
	}
}

func TestResolveDedupAndCache(t *testing.T) {
	srv := newServer(t, pwfake.P2DependsOn, nil)
	r := newResolver(t, srv, 1, 3, 4, 15)
	raws := []string{
		"<20261121050000.4242-0-stephenfinucane@example.org>",
		testBase + "/project/netdev/list/?series=15",
		"<nosuch@x>", "<nosuch@x>",
		"<20261121050000.4242-0-stephenfinucane@example.org>",
	}
	refs, err := r.refs(t.Context(), 16, raws)
	if err != nil {
		t.Fatal(err)
	}
	want := []change.Ref{
		{Raw: raws[0], Key: seriesKeys("netdev", 15)[0], Source: "pw-netdev"},
		{Raw: "<nosuch@x>", Source: "pw-netdev"},
	}
	if !slices.Equal(refs, want) {
		t.Errorf("refs %+v, want %+v", refs, want)
	}
	// Each message id was looked up once: patches, then covers.
	got := srv.fake.Requests()
	if got["/api/1.3/patches/"] != 2 || got["/api/1.3/covers/"] != 2 {
		t.Errorf("requests %v", got)
	}
}

func TestResolveFailure(t *testing.T) {
	srv := newServer(t, pwfake.Phase1, nil)
	r := newResolver(t, srv, 1, 3)
	srv.fake.FailPath("/api/1.3/series/2/", http.StatusInternalServerError)
	if _, err := r.refs(t.Context(), 1, []string{testBase + "/series/2/"}); err == nil {
		t.Error("a failed lookup resolved")
	}
}

func TestSeriesState(t *testing.T) {
	tests := []struct {
		states         []string
		merged, closed bool
	}{
		{nil, false, false},
		{[]string{"accepted"}, true, false},
		{[]string{"accepted", "accepted"}, true, false},
		{[]string{"accepted", "new"}, false, false},
		{[]string{"changes-requested"}, false, false},
		{[]string{"superseded", "superseded"}, false, true},
		{[]string{"accepted", "rejected"}, false, true},
		{[]string{"not-applicable", "deferred"}, false, false},
	}
	for _, tt := range tests {
		var ps []Patch
		for _, s := range tt.states {
			ps = append(ps, Patch{State: s})
		}
		if merged, closed := seriesState(ps); merged != tt.merged || closed != tt.closed {
			t.Errorf("seriesState(%v) = %v, %v", tt.states, merged, closed)
		}
	}
}

func TestResolveMergedAndClosed(t *testing.T) {
	// Series 4 (patch 9 accepted, 10-12 new) after the maintainer decided
	// on the other patches.
	decided := func(state string) func(http.Handler) http.Handler {
		return func(h http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Query().Get("series") != "4" {
					h.ServeHTTP(w, r)
					return
				}
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, r)
				_, _ = w.Write(bytes.ReplaceAll(rec.Body.Bytes(), []byte(`"state":"new"`), []byte(`"state":"`+state+`"`)))
			})
		}
	}
	tests := []struct {
		name           string
		wrap           func(http.Handler) http.Handler
		merged, closed bool
	}{
		{"partly accepted", nil, false, false},
		{"all accepted", decided("accepted"), true, false},
		{"rest rejected", decided("rejected"), false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, pwfake.Phase1, tt.wrap)
			raw := testBase + "/project/netdev/list/?series=4"
			refs, err := newResolver(t, srv, 1).refs(t.Context(), 1, []string{raw})
			if err != nil {
				t.Fatal(err)
			}
			want := []change.Ref{{Raw: raw, Key: seriesKeys("netdev", 4)[0], Source: "pw-netdev", Merged: tt.merged, Closed: tt.closed}}
			if !slices.Equal(refs, want) {
				t.Errorf("refs %+v, want %+v", refs, want)
			}
		})
	}
}
