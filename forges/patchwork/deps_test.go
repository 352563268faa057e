package patchwork

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/trawl-ci/trawl/forges/patchwork/pwfake"
	"github.com/trawl-ci/trawl/pkg/change"
	"github.com/trawl-ci/trawl/pkg/deps"
)

// testResolver reads the series a Fetch of the netdev project would read in
// phase p, as Fetch does.
func testResolver(t *testing.T, srv *server, actionable ...int64) *resolver {
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
	return newResolver(s, fetched, newest)
}

// depends parses raws as Depends-on tags.
func depends(raws ...string) []deps.Ref {
	var texts []string
	for _, r := range raws {
		texts = append(texts, "Depends-on: "+r)
	}
	return parseRefs(texts, nil)
}

func TestResolve(t *testing.T) {
	const (
		cover3  = "<1473632795-9971-1-git-send-email-stephenfinucane@gmail.com>"
		patch7  = "<1473632795-9971-2-git-send-email-stephenfinucane@gmail.com>"
		patch1  = "20170613191725.26625-2-f.fainelli@gmail.com"
		unknown = "<nosuch@example.org>"
	)
	const src = "pw-netdev"
	k := func(id int64) change.Key { return seriesKeys("netdev", id)[0] }
	open := func(raw string, id int64) []change.Ref {
		return []change.Ref{{Raw: raw, Key: k(id), Source: src, Checked: true}}
	}
	tests := []struct {
		name  string
		phase pwfake.Phase
		self  int64
		raw   string
		want  []change.Ref
	}{
		{"cover msgid", pwfake.Phase1, 1, cover3, open(cover3, 3)},
		{"cover msgid of a superseded series", pwfake.P2V3Complete, 1, cover3, open(cover3, 15)},
		{"patch msgid of a superseded series", pwfake.P2V3Complete, 1, patch7, open(patch7, 15)},
		{"v1, not actionable, superseded by v2", pwfake.Phase1, 1, testBase + "/series/2/mbox/", open(testBase+"/series/2/mbox/", 3)},
		{"v1, superseded by v3", pwfake.P2V3Complete, 1, testBase + "/api/1.3/series/2/", open(testBase+"/api/1.3/series/2/", 15)},
		{"patch page URL", pwfake.Phase1, 3, testBase + "/project/netdev/patch/" + patch1 + "/", open(testBase+"/project/netdev/patch/"+patch1+"/", 1)},
		{"list URL", pwfake.Phase1, 3, testBase + "/project/netdev/list/?series=4", open(testBase+"/project/netdev/list/?series=4", 4)},
		{"API URL", pwfake.Phase1, 3, testBase + "/api/series/8/", open(testBase+"/api/series/8/", 8)},
		{"incomplete series", pwfake.P2OnePatch, 3, testBase + "/api/1.3/series/15/", open(testBase+"/api/1.3/series/15/", 15)},
		// A message-id nobody here holds may be another source's: the
		// cycle offers it to the others.
		{"unknown msgid", pwfake.Phase1, 1, unknown, []change.Ref{{Raw: unknown}}},
		{"mail archive link", pwfake.Phase1, 3, "https://lore.kernel.org/r/" + patch1 + "/", open("https://lore.kernel.org/r/"+patch1+"/", 1)},
		{"unknown mail archive link", pwfake.Phase1, 1, "https://lore.kernel.org/r/x@y/", []change.Ref{{Raw: "https://lore.kernel.org/r/x@y/"}}},
		{"unknown series", pwfake.Phase1, 1, testBase + "/series/9999/", []change.Ref{{Raw: testBase + "/series/9999/", Source: src}}},
		{"series of another project", pwfake.Phase1, 1, testBase + "/series/9/", []change.Ref{{Raw: testBase + "/series/9/", Source: src}}},
		// The cycle gives it to the source of that project, if any.
		{"list URL of another project", pwfake.Phase1, 1, testBase + "/project/bpf/list/?series=9", []change.Ref{{Raw: testBase + "/project/bpf/list/?series=9", Key: seriesKeys("bpf", 9)[0]}}},
		{"list URL on another instance", pwfake.Phase1, 1, "https://pw.example.org/project/netdev/list/?series=9", []change.Ref{{Raw: "https://pw.example.org/project/netdev/list/?series=9", Key: "pw:pw.example.org/netdev/series/9"}}},
		{"not a reference", pwfake.Phase1, 1, testBase + "/about/", nil},
		{"self", pwfake.Phase1, 3, cover3, nil},
		{"self after superseding", pwfake.P2V3Complete, 15, cover3, nil},
		// One parser for every forge: pull and merge requests keep the key
		// their form names, for the cycle to route.
		{"GitHub pull request", pwfake.Phase1, 1, "https://github.com/rock-core/base-types/pull/42", []change.Ref{{Raw: "https://github.com/rock-core/base-types/pull/42", Key: "gh:rock-core/base-types#42"}}},
		{"GitHub short form", pwfake.Phase1, 1, "rock-core/base-types#42", []change.Ref{{Raw: "rock-core/base-types#42", Key: "gh:rock-core/base-types#42"}}},
		{"GitHub Enterprise pull request", pwfake.Phase1, 1, "https://ghe.test/o/r/pull/3", []change.Ref{{Raw: "https://ghe.test/o/r/pull/3", Key: "gh:ghe.test/o/r#3"}}},
		{"GitLab merge request", pwfake.Phase1, 1, "https://gitlab.com/redhat/kernel/-/merge_requests/7", []change.Ref{{Raw: "https://gitlab.com/redhat/kernel/-/merge_requests/7", Key: "gl:gitlab.com/redhat/kernel!7"}}},
		{"GitLab short form names no instance", pwfake.Phase1, 1, "redhat/kernel!7", nil},
		{"#N names no repository", pwfake.Phase1, 1, "#42", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, tt.phase, nil)
			actionable := []int64{1, 3, 4, 5, 6, 7, 8}
			if tt.phase >= pwfake.P2OnePatch {
				actionable = append(actionable, 15)
			}
			refs, why, err := testResolver(t, srv, actionable...).refs(t.Context(), tt.self, depends(tt.raw))
			if err != nil || why != "" {
				t.Fatal(err, why)
			}
			if !slices.EqualFunc(refs, tt.want, refEqual) {
				t.Errorf("refs %+v, want %+v", refs, tt.want)
			}
		})
	}
}

func TestResolveDedupAndCache(t *testing.T) {
	srv := newServer(t, pwfake.P2DependsOn, nil)
	r := testResolver(t, srv, 1, 3, 4, 15)
	raws := []string{
		"<20261121050000.4242-0-stephenfinucane@example.org>",
		testBase + "/project/netdev/list/?series=15",
		"<nosuch@x>", "<nosuch@x>",
		"<20261121050000.4242-0-stephenfinucane@example.org>",
	}
	refs, _, err := r.refs(t.Context(), 16, depends(raws...))
	if err != nil {
		t.Fatal(err)
	}
	want := []change.Ref{
		{Raw: raws[0], Key: seriesKeys("netdev", 15)[0], Source: "pw-netdev", Checked: true},
		{Raw: "<nosuch@x>"},
	}
	if !slices.EqualFunc(refs, want, refEqual) {
		t.Errorf("refs %+v, want %+v", refs, want)
	}
	// The cover letter's message id is series 15's, read already: no
	// request. The unknown one was looked up once: patches, then covers.
	got := srv.fake.Requests()
	if got["/api/1.3/patches/"] != 1 || got["/api/1.3/covers/"] != 1 {
		t.Errorf("requests %v", got)
	}
}

// TestResolveFailure: a dependency look-up that fails makes that reference
// Unknown (its change is unknown for the cycle), never merged, and leaves the
// rest of the Fetch alone.
func TestResolveFailure(t *testing.T) {
	for _, fail := range []string{"/api/1.3/series/2/", "/api/1.3/patches/?per_page=250&project=netdev&series=4", "/api/1.3/patches/?msgid=", "/api/1.3/series/?"} {
		t.Run(fail, func(t *testing.T) {
			srv := newServer(t, pwfake.Phase1, nil)
			r := testResolver(t, srv, 1)
			// Series 2 and 3 superseded: 3 is looked up, then its newer revisions.
			for _, p := range []int64{7, 8} {
				if err := srv.fake.Decide(p, "superseded", ""); err != nil {
					t.Fatal(err)
				}
			}
			srv.fake.FailPath(fail, http.StatusInternalServerError)
			raws := []string{testBase + "/series/2/", testBase + "/project/netdev/list/?series=4", "<nosuch@x>", testBase + "/series/3/"}
			refs, _, err := r.refs(t.Context(), 1, depends(raws...))
			if err != nil {
				t.Fatal(err)
			}
			unknown := 0
			for _, ref := range refs {
				if ref.Unknown != "" {
					unknown++
					if ref.Merged || ref.Closed || !strings.Contains(ref.Unknown, "500") {
						t.Errorf("failed look-up %+v", ref)
					}
				}
			}
			if unknown == 0 {
				t.Errorf("no reference unknown after %s failed: %+v", fail, refs)
			}
		})
	}
	srv := newServer(t, pwfake.Phase1, nil)
	r := testResolver(t, srv, 1)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, _, err := r.refs(ctx, 1, depends(testBase+"/series/2/")); err == nil {
		t.Error("a cancelled Fetch resolved its references")
	}
}

// refEqual compares references, Unknown by presence.
func refEqual(a, b change.Ref) bool {
	a.Unknown, b.Unknown = cmpPresent(a.Unknown), cmpPresent(b.Unknown)
	return a == b
}

func cmpPresent(s string) string {
	if s != "" {
		return "set"
	}
	return ""
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
				writeRecorded(w, rec, bytes.ReplaceAll(rec.Body.Bytes(), []byte(`"state":"new"`), []byte(`"state":"`+state+`"`)))
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
			refs, _, err := testResolver(t, srv, 1).refs(t.Context(), 1, depends(raw))
			if err != nil {
				t.Fatal(err)
			}
			want := []change.Ref{{Raw: raw, Key: seriesKeys("netdev", 4)[0], Source: "pw-netdev", Merged: tt.merged, Closed: tt.closed, Checked: true}}
			if !slices.EqualFunc(refs, want, refEqual) {
				t.Errorf("refs %+v, want %+v", refs, want)
			}
		})
	}
}

// TestMissesForgetUnnamed: a message-id no Fetch names any more is
// forgotten, so the memory of misses stays bounded by what open series name.
func TestMissesForgetUnnamed(t *testing.T) {
	w := newWheel()
	m := newMisses(w)
	m.tick()
	w.tick(false)
	m.missed("gone@x")
	m.missed("kept@x")
	for range 3 * maxMissEvery {
		m.tick()
		w.tick(false)
		if ok, _, _ := m.due("kept@x"); ok {
			m.missed("kept@x")
		}
	}
	if _, ok := m.ids["gone@x"]; ok || w.turns[missKey("gone@x")] != nil {
		t.Error("a message-id no Fetch names is still remembered")
	}
	if _, ok := m.ids["kept@x"]; !ok {
		t.Error("a message-id still named was forgotten")
	}
}

func TestOwnerMethods(t *testing.T) {
	pw, err := pwfake.New(pwfake.Options{Phase: pwfake.P2DependsOn})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(pw)
	defer srv.Close()
	s, err := New(Opts{Name: "netdev", URL: srv.URL, Project: "netdev", HTTP: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	host := srv.Listener.Addr().String()
	for key, want := range map[change.Key]change.Claim{
		change.PatchworkKey(host, "netdev", 15):               change.ClaimOwn,
		change.PatchworkKey(host, "bpf", 9):                   change.ClaimHost,
		change.PatchworkKey("patchwork.kernel.org", "bpf", 9): change.ClaimNone,
		"gh:rock-core/base-types#1":                           change.ClaimNone,
	} {
		if got := s.Claim(key); got != want {
			t.Errorf("Claim(%s) = %v, want %v", key, got, want)
		}
	}
	ctx := context.Background()
	// Series 15 is the v3 whose cover letter series 16 names.
	got, err := s.ResolveMsgID(ctx, "<20261121050000.4242-0-stephenfinucane@example.org>")
	if err != nil || got != change.PatchworkKey(host, "netdev", 15) {
		t.Fatalf("ResolveMsgID(cover of series 15) = %q, %v", got, err)
	}
	if got, err := s.ResolveMsgID(ctx, "nobody@example.org"); err != nil || got != "" {
		t.Fatalf("ResolveMsgID(unknown) = %q, %v; want none", got, err)
	}
	// Series 4 has an accepted patch and three new ones: still open.
	st, err := s.ChangeState(ctx, change.PatchworkKey(host, "netdev", 4))
	if err != nil || st != change.StateOpen {
		t.Fatalf("ChangeState(series 4) = %q, %v; want open", st, err)
	}
	if _, err := s.ChangeState(ctx, "pw:elsewhere.org/netdev/series/4"); err == nil {
		t.Fatal("ChangeState answered for another instance")
	}
}

// TestParseRefs: a series' references are read with the parser every
// source shares (pkg/deps), from the recorded cover letter and commit
// messages of series 16, plus forms other forges use.
func TestParseRefs(t *testing.T) {
	var cover struct {
		Content string `json:"content"`
	}
	if err := json.Unmarshal(recorded(t, "p2-04-cover-depends-on-detail.json"), &cover); err != nil {
		t.Fatal(err)
	}
	texts := []string{cover.Content}
	for _, msg := range SplitMbox(recorded(t, "p2-04-mbox-series-depends-on.mbox")) {
		texts = append(texts, CommitMessage(msg))
	}
	texts = append(texts, "Depends-on: https://github.com/o/r/pull/1, o/r#2 https://gitlab.com/g/p/-/merge_requests/3\n"+
		"> Depends-on: <quoted@x>\nDepends-on: <20261121050000.4242-0-stephenfinucane@example.org>\n")
	got := parseRefs(texts, []string{"http://127.0.0.1:8000/api/1.4/series/15/"})
	want := []struct {
		raw  string
		kind deps.Kind
	}{
		{"<20261121050000.4242-0-stephenfinucane@example.org>", deps.MessageID},
		{"http://127.0.0.1:8000/project/netdev/list/?series=1", deps.PatchworkSeries},
		{"https://github.com/o/r/pull/1", deps.GitHubPR},
		{"o/r#2", deps.ShortPR},
		{"https://gitlab.com/g/p/-/merge_requests/3", deps.GitLabMR},
		{"http://127.0.0.1:8000/api/1.4/series/15/", deps.PatchworkSeries},
	}
	if len(got) != len(want) {
		t.Fatalf("refs %+v, want %+v", got, want)
	}
	for i, w := range want {
		if got[i].Raw != w.raw || got[i].Kind != w.kind {
			t.Errorf("ref %d = %s %s, want %s %s", i, got[i].Kind, got[i].Raw, w.kind, w.raw)
		}
	}
}

func FuzzParseRefs(f *testing.F) {
	for _, s := range seedTexts(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		refs := parseRefs([]string{text, text}, nil)
		seen := map[string]bool{}
		for _, r := range refs {
			if r.Raw == "" || !strings.Contains(text, r.Raw) {
				t.Errorf("reference %q is not in the text", r.Raw)
			}
			if seen[r.Raw] {
				t.Errorf("duplicate %q", r.Raw)
			}
			seen[r.Raw] = true
		}
	})
}

// TestDependencyLookedUpOncePerFetch: a series outside the snapshot that
// several series name is looked up once per Fetch (one resolver), and
// every one of them carries its state.
func TestDependencyLookedUpOncePerFetch(t *testing.T) {
	var mu sync.Mutex
	asked := 0
	srv := newServer(t, pwfake.Phase1, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/api/1.3/patches/" && r.URL.Query().Get("series") == "4" {
				mu.Lock()
				asked++
				mu.Unlock()
			}
			h.ServeHTTP(w, r)
		})
	})
	raw := testBase + "/project/netdev/list/?series=4"
	r := testResolver(t, srv, 1)
	for _, self := range []int64{1, 2, 3} {
		refs, _, err := r.refs(t.Context(), self, depends(raw))
		if err != nil {
			t.Fatal(err)
		}
		want := []change.Ref{{Raw: raw, Key: seriesKeys("netdev", 4)[0], Source: "pw-netdev", Checked: true}}
		if !slices.EqualFunc(refs, want, refEqual) {
			t.Errorf("series %d: refs %+v, want %+v", self, refs, want)
		}
	}
	if asked != 1 {
		t.Errorf("the patches of series 4 were listed %d times, want once", asked)
	}
}
