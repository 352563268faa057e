package cycle_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/trawl-ci/trawl/forges/patchwork"
	"github.com/trawl-ci/trawl/forges/patchwork/pwfake"
	"github.com/trawl-ci/trawl/pkg/change"
	"github.com/trawl-ci/trawl/pkg/cycle"
	"github.com/trawl-ci/trawl/pkg/httpx"
	"github.com/trawl-ci/trawl/pkg/secret"
	"github.com/trawl-ci/trawl/pkg/state"
	"github.com/trawl-ci/trawl/pkg/targets/kernelci"
	"github.com/trawl-ci/trawl/pkg/targets/kernelci/kcifake"
)

var torture = flag.Bool("torture", false, "run the fault suite for many more ticks (also TRAWL_TORTURE=1)")

// The kinds of fault the faulty transport injects.
const (
	fault5xx         = "5xx"
	fault429         = "429 with Retry-After"
	fault403         = "403 rate limit exhausted"
	faultHang        = "hang past the attempt timeout"
	faultReset       = "connection reset"
	faultResetAfter  = "connection reset after the server acted"
	fault5xxAfter    = "5xx after the server acted"
	faultTruncated   = "body cut short (Content-Length kept)"
	faultCut         = "body cut short (no Content-Length, close-delimited)"
	faultMalformed   = "malformed JSON"
	faultHTML200     = "HTML error page with status 200"
	faultNoLink      = "Link header dropped"
	faultInvalidPage = "404 Invalid page. in the middle of a listing"
	faultShift       = "listing shifted while paged (a patch left it)"
)

// pageSize is the largest page the faulty Patchwork serves, so that its
// listings have several pages (as a real project's do at 250 a page).
const pageSize = 12

// faulty is the transport beneath every HTTP client of the trawl under
// test: it forwards to the fakes and injects faults at random.
type faulty struct {
	next   http.RoundTripper
	pwHost string

	mu       sync.Mutex
	rng      *rand.Rand
	rate     float64 // probability that a request gets a fault
	on       bool
	requests int
	counts   map[string]int
	left     map[int64]bool // patches that left the actionable listing this tick
	// memo holds the Patchwork fake's answers to reads, which change only
	// with its phase or a posted check (then it is cleared): replaying
	// them keeps a thousand ticks fast under the race detector.
	memo map[string]memoized
}

// memoized is one recorded answer of the Patchwork fake.
type memoized struct {
	status int
	header http.Header
	body   []byte
}

// forget clears the recorded answers, when the Patchwork fake changes.
func (f *faulty) forget() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.memo = map[string]memoized{}
}

// upstream forwards req to the fakes, replaying the Patchwork fake's
// recorded answer to a read it gave already.
func (f *faulty) upstream(req *http.Request) (*http.Response, error) {
	if req.URL.Host != f.pwHost {
		return f.next.RoundTrip(req)
	}
	if req.Method != http.MethodGet {
		f.forget()
		return f.next.RoundTrip(req)
	}
	key := req.URL.String() + "\x00" + req.Header.Get("Authorization")
	f.mu.Lock()
	m, ok := f.memo[key]
	f.mu.Unlock()
	if !ok {
		resp, err := f.next.RoundTrip(req)
		if err != nil {
			return nil, err
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return nil, err
		}
		m = memoized{status: resp.StatusCode, header: resp.Header, body: body}
		f.mu.Lock()
		f.memo[key] = m
		f.mu.Unlock()
	}
	resp := &http.Response{Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Header: m.header.Clone(), Request: req}
	return replaced(resp, m.status, m.body), nil
}

func (f *faulty) setTick(on bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.on = on
	f.left = map[int64]bool{}
}

// isList reports a Patchwork API listing.
func (f *faulty) isList(req *http.Request) bool {
	if req.URL.Host != f.pwHost {
		return false
	}
	p := req.URL.Path
	return p == "/api/1.3/patches/" || p == "/api/1.3/covers/" || p == "/api/1.3/series/" || strings.HasSuffix(p, "/checks/")
}

// isActionable reports the listing of actionable patches, the one whose
// items may leave while it is paged.
func (f *faulty) isActionable(req *http.Request) bool {
	return req.URL.Host == f.pwHost && req.URL.Path == "/api/1.3/patches/" && req.URL.Query().Has("state")
}

// pick chooses the fault of one request, "" for none.
func (f *faulty) pick(req *http.Request) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests++
	if !f.on || f.rng.Float64() >= f.rate {
		return ""
	}
	var kinds []string
	if req.Method != http.MethodGet {
		kinds = []string{fault5xx, fault429, faultReset, faultResetAfter, fault5xxAfter}
	} else {
		kinds = []string{fault5xx, fault429, fault403, faultReset, faultTruncated, faultCut, faultMalformed, faultHTML200}
		if f.rng.IntN(4) == 0 {
			kinds = append(kinds, faultHang) // rarer: each one costs an attempt timeout
		}
		if f.isList(req) {
			kinds = append(kinds, faultNoLink)
			if page, _ := strconv.Atoi(req.URL.Query().Get("page")); page >= 2 {
				kinds = append(kinds, faultInvalidPage)
				if f.isActionable(req) {
					kinds = append(kinds, faultShift, faultShift)
				}
			}
		}
	}
	k := kinds[f.rng.IntN(len(kinds))]
	f.counts[k]++
	return k
}

func (f *faulty) RoundTrip(req *http.Request) (*http.Response, error) {
	if f.isList(req) {
		q := req.URL.Query()
		if n, err := strconv.Atoi(q.Get("per_page")); err != nil || n > pageSize {
			q.Set("per_page", strconv.Itoa(pageSize))
			req = req.Clone(req.Context())
			req.URL.RawQuery = q.Encode()
		}
	}
	kind := f.pick(req)
	switch kind {
	case fault5xx:
		drain(req)
		return synth(req, http.StatusBadGateway, "text/html", "<html><body><h1>502 Bad Gateway</h1></body></html>\n", nil), nil
	case fault429:
		drain(req)
		return synth(req, http.StatusTooManyRequests, "application/json", `{"detail":"Request was throttled."}`,
			http.Header{"Retry-After": {"1"}}), nil
	case fault403:
		return synth(req, http.StatusForbidden, "application/json", `{"message":"API rate limit exceeded"}`,
			http.Header{"X-Ratelimit-Remaining": {"0"}}), nil
	case faultHang:
		<-req.Context().Done()
		return nil, req.Context().Err()
	case faultReset:
		drain(req)
		return nil, &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
	case faultInvalidPage:
		q := req.URL.Query()
		q.Set("page", "9999")
		r := req.Clone(req.Context())
		r.URL.RawQuery = q.Encode()
		return f.upstream(r) // the server's own 404 {"detail":"Invalid page."}
	}

	var resp *http.Response
	var err error
	if f.isActionable(req) {
		resp, err = f.actionable(req, kind == faultShift)
	} else {
		resp, err = f.upstream(req)
	}
	if err != nil || kind == "" || kind == faultShift {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	switch kind {
	case faultResetAfter:
		return nil, &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
	case fault5xxAfter:
		return synth(req, http.StatusBadGateway, "text/html", "<html><body><h1>502 Bad Gateway</h1></body></html>\n", nil), nil
	case faultTruncated:
		resp.Body = &cutBody{r: bytes.NewReader(body[:len(body)/2]), err: io.ErrUnexpectedEOF}
		return resp, nil
	case faultCut:
		resp.Header.Del("Content-Length")
		resp.ContentLength = -1
		resp.Body = io.NopCloser(bytes.NewReader(body[:len(body)/2]))
		return resp, nil
	case faultMalformed:
		bad := bytes.Replace(body, []byte(`"`), []byte(`'`), 1)
		if bytes.Equal(bad, body) {
			bad = []byte("[,]")
		}
		return replaced(resp, resp.StatusCode, bad), nil
	case faultHTML200:
		resp.Header.Set("Content-Type", "text/html; charset=utf-8")
		return replaced(resp, http.StatusOK, []byte("<!DOCTYPE html>\n<html><head><title>Maintenance</title></head><body>Back soon.</body></html>\n")), nil
	case faultNoLink:
		resp.Header.Del("Link")
	}
	return replaced(resp, resp.StatusCode, body), nil
}

// actionable serves the listing of actionable patches without the patches
// that left it this tick. With shift, a patch read on an earlier page
// leaves it now (it was accepted, say), which shifts this page and every
// later one. The patch chosen belongs to a series with another patch in
// the listing, so its series stays actionable: its leaving changes no
// unit, and only a listing trusted while incomplete would lose one.
func (f *faulty) actionable(req *http.Request, shift bool) (*http.Response, error) {
	f.mu.Lock()
	noneLeft := len(f.left) == 0
	f.mu.Unlock()
	if noneLeft && !shift {
		return f.upstream(req)
	}
	q := req.URL.Query()
	page := max(1, atoi(q.Get("page")))
	q.Del("page")
	q.Set("per_page", "250")
	whole := req.Clone(req.Context())
	whole.URL.RawQuery = q.Encode()
	resp, err := f.upstream(whole)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		return replaced(resp, resp.StatusCode, body), err
	}
	type item struct {
		ID     int64 `json:"id"`
		Series []struct {
			ID int64 `json:"id"`
		} `json:"series"`
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, err
	}
	f.mu.Lock()
	keep := func() ([]json.RawMessage, []item) {
		var out []json.RawMessage
		var items []item
		for _, r := range raw {
			var it item
			_ = json.Unmarshal(r, &it)
			if !f.left[it.ID] {
				out, items = append(out, r), append(items, it)
			}
		}
		return out, items
	}
	kept, items := keep()
	if shift {
		perSeries := map[int64]int{}
		for _, it := range items {
			if len(it.Series) > 0 {
				perSeries[it.Series[0].ID]++
			}
		}
		var candidates []int64
		for _, it := range items[:min(len(items), (page-1)*pageSize)] {
			if len(it.Series) > 0 && perSeries[it.Series[0].ID] > 1 {
				candidates = append(candidates, it.ID)
			}
		}
		if len(candidates) > 0 {
			f.left[candidates[f.rng.IntN(len(candidates))]] = true
			kept, _ = keep()
		}
	}
	f.mu.Unlock()
	pages := max(1, (len(kept)+pageSize-1)/pageSize)
	if page > pages {
		r := req.Clone(req.Context())
		q := r.URL.Query()
		q.Set("page", "9999")
		r.URL.RawQuery = q.Encode()
		return f.upstream(r)
	}
	link := func(n int) string {
		u := *req.URL
		q := u.Query()
		q.Set("page", strconv.Itoa(n))
		u.RawQuery = q.Encode()
		return "<" + u.String() + ">"
	}
	var links []string
	if page < pages {
		links = append(links, link(page+1)+`; rel="next"`)
	}
	links = append(links, link(1)+`; rel="first"`, link(pages)+`; rel="last"`)
	resp.Header.Set("Link", strings.Join(links, ", "))
	out, _ := json.Marshal(kept[(page-1)*pageSize : min(page*pageSize, len(kept))])
	return replaced(resp, http.StatusOK, out), nil
}

func atoi(s string) int { n, _ := strconv.Atoi(s); return n }

// drain reads and closes a request body, as a server that answers before
// reading it still lets the client send it.
func drain(req *http.Request) {
	if req.Body != nil {
		_, _ = io.Copy(io.Discard, req.Body)
		req.Body.Close()
	}
}

// synth is an answer made by a proxy in front of the server.
func synth(req *http.Request, status int, contentType, body string, h http.Header) *http.Response {
	if h == nil {
		h = http.Header{}
	}
	h.Set("Content-Type", contentType)
	resp := &http.Response{Status: fmt.Sprintf("%d %s", status, http.StatusText(status)), StatusCode: status,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Header: h, Request: req}
	return replaced(resp, status, []byte(body))
}

// replaced gives resp a new status and body, with a matching Content-Length.
func replaced(resp *http.Response, status int, body []byte) *http.Response {
	resp.StatusCode = status
	resp.Status = fmt.Sprintf("%d %s", status, http.StatusText(status))
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
	return resp
}

// cutBody ends with err after r: a connection that dropped mid-body.
type cutBody struct {
	r   io.Reader
	err error
}

func (b *cutBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err == io.EOF {
		err = b.err
	}
	return n, err
}

func (b *cutBody) Close() error { return nil }

// wire builds a Patchwork source (posting checks) and a KernelCI target on
// clients whose base transport is tr, and a runner over them.
func wire(t *testing.T, name string, tr http.RoundTripper, pwURL, apiURL, pipeURL, tokenFile, pwTokenFile string,
	store cycle.Store, now func() time.Time, timeout time.Duration) *cycle.Runner {
	t.Helper()
	client := func(label string, cred *httpx.Credential, cache bool) *http.Client {
		o := httpx.Options{
			Name: name + " " + label, Credential: cred, UserAgent: httpx.UserAgent("fault-test"),
			Timeout: timeout, RetryMax: 2, RetryWaitMin: time.Millisecond, RetryWaitMax: 5 * time.Millisecond,
			Transport: tr,
		}
		if cache {
			o.CacheDir = filepath.Join(t.TempDir(), "cache")
		}
		c, err := httpx.New(o)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	pwc := client("patchwork", &httpx.Credential{Header: "Authorization", Prefix: "Token ", Secret: secret.Source{File: pwTokenFile}}, true)
	src, err := patchwork.New(patchwork.Opts{
		Name: "netdev", URL: pwURL, Project: "netdev", Lookback: 10000 * 24 * time.Hour,
		Base:    change.Base{Tree: baseTree, URL: baseURL, Branch: "main", Policy: change.PolicyFollow},
		Targets: []string{"kernelci"}, HTTP: pwc,
	})
	if err != nil {
		t.Fatal(err)
	}
	rp, err := src.Reporter(patchwork.ReporterOpts{Name: "patchwork:netdev", Context: "kernelci"})
	if err != nil {
		t.Fatal(err)
	}
	kt, err := kernelci.New(kernelci.Opts{
		Name: "kernelci", APIURL: apiURL, PipelineURL: pipeURL, Token: secret.Source{File: tokenFile},
		PatchDomains: []string{"127.0.0.1"}, // the loopback Patchwork, as the fake pipeline allows
		APIHTTP:      client("kernelci-api", nil, true), PipelineHTTP: client("kernelci-pipeline", nil, false),
	})
	if err != nil {
		t.Fatal(err)
	}
	return cycle.New(cycle.Options{
		Sources:   []cycle.Source{src},
		Targets:   []cycle.Target{kt},
		Resolver:  noGit{},
		Store:     store,
		GoneGrace: 30 * time.Minute,
		Reporters: map[string][]cycle.Reporter{"netdev": {rp}},
		Now:       now,
	})
}

// noGit fails every git resolution: the KernelCI target resolves bases.
type noGit struct{}

func (noGit) ResolveBase(_ context.Context, url, branch string) (string, error) {
	return "", fmt.Errorf("no git in this test (%s %s)", url, branch)
}

const (
	baseTree = "net-next"
	baseURL  = "https://git.kernel.org/pub/scm/linux/kernel/git/netdev/net-next.git"
)

// worlds is how many independent trawls the suite runs side by side; the
// ticks are shared between them.
const worlds = 4

// outcome is what one world of the fault suite saw.
type outcome struct {
	ticks, faultTicks, requests       int
	unknownTicks, triggers, patchsets int
	counts                            map[string]int
	violations                        []string
}

// TestFaultsLoseNothing runs trawl for many ticks against the Patchwork
// and KernelCI fakes through a transport that injects faults on any
// request, while the recorded mail arrives and the base moves (in every
// other phase), and checks
// after every tick, against a twin that sees the same servers without
// faults:
//
//   - no trigger for a unit whose inputs did not change, and no trigger
//     with a fingerprint other than the clean one;
//   - no unit gone or forgotten because its source failed or its listing
//     shifted;
//   - the state file always loads;
//
// and, at the end of each phase, after a few ticks without faults: every
// changed unit was triggered (nothing is left to trigger), no report is
// left in the outbox or unposted; and at the end, no patchset and no
// check was submitted twice.
//
// It runs 1,000 ticks; under the race detector 120, because make test runs
// it once more, in full, without the detector. TRAWL_FAULT_SEED replays a
// run; -torture or TRAWL_TORTURE=1 runs 20,000 ticks (make torture);
// TRAWL_FAULT_TICKS sets the count.
func TestFaultsLoseNothing(t *testing.T) {
	ticks := 1000
	if raceEnabled {
		ticks = 120
	}
	if s := os.Getenv("TRAWL_FAULT_TICKS"); s != "" {
		ticks = atoi(s)
	}
	if *torture || os.Getenv("TRAWL_TORTURE") == "1" {
		ticks = 20000
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("TRAWL_FAULT_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("TRAWL_FAULT_SEED=%q: %v", s, err)
		}
	}
	results := make([]outcome, worlds)
	t.Run("worlds", func(t *testing.T) {
		for w := range worlds {
			t.Run(strconv.Itoa(w), func(t *testing.T) {
				t.Parallel()
				results[w] = runWorld(t, seed+uint64(w), (ticks+worlds-1)/worlds)
			})
		}
	})
	total := outcome{counts: map[string]int{}}
	for _, r := range results {
		total.ticks += r.ticks
		total.faultTicks += r.faultTicks
		total.requests += r.requests
		total.unknownTicks += r.unknownTicks
		total.triggers += r.triggers
		total.patchsets += r.patchsets
		total.violations = append(total.violations, r.violations...)
		for k, n := range r.counts {
			total.counts[k] += n
		}
	}
	faults := 0
	var lines []string
	for _, k := range slices.Sorted(maps.Keys(total.counts)) {
		faults += total.counts[k]
		lines = append(lines, fmt.Sprintf("  %-55s %d", k, total.counts[k]))
	}
	t.Logf("seed %d (worlds %d to %d): %d ticks (%d with faults), %d requests, %d faults injected, "+
		"%d ticks with the source unknown, %d triggers, %d patchsets, violations: %d\n%s",
		seed, seed, seed+worlds-1, total.ticks, total.faultTicks, total.requests, faults,
		total.unknownTicks, total.triggers, total.patchsets, len(total.violations), strings.Join(lines, "\n"))
	if len(total.violations) > 0 {
		t.Errorf("%d violations; rerun with TRAWL_FAULT_SEED=%d go test ./pkg/cycle -run TestFaultsLoseNothing; the first ones:\n%s",
			len(total.violations), seed, strings.Join(total.violations[:min(20, len(total.violations))], "\n"))
	}
}

// runWorld runs one trawl against its own fakes for ticks ticks with
// faults, in five phases of the recorded mail, each ended by ticks
// without faults.
func runWorld(t *testing.T, seed uint64, ticks int) outcome {
	ctx := t.Context()
	dir := t.TempDir()
	var res outcome

	pw, err := pwfake.New(pwfake.Options{})
	if err != nil {
		t.Fatal(err)
	}
	pwSrv := httptest.NewServer(pw)
	defer pwSrv.Close()
	kci := kcifake.New(kcifake.Options{Secret: []byte("fault-secret"), AllowedDomains: []string{"127.0.0.1"}})
	apiSrv := httptest.NewServer(kci.APIHandler())
	defer apiSrv.Close()
	pipeSrv := httptest.NewServer(kci.PipelineHandler())
	defer pipeSrv.Close()
	moves := 0
	moveBase := func() {
		moves++
		kci.AddCheckout(baseTree, baseURL, "main", fmt.Sprintf("%040x", moves))
	}
	moveBase()
	tokenFile := filepath.Join(dir, "kernelci.jwt")
	pwTokenFile := filepath.Join(dir, "patchwork.token")
	if err := os.WriteFile(tokenFile, []byte(kci.Token("fault@trawl.example", "patchset")), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pwTokenFile, []byte(pwfake.BotToken), 0o600); err != nil {
		t.Fatal(err)
	}

	// The fake clock moves 10 minutes a tick: past the gone grace in 3
	// ticks, past the longest report backoff (an hour) in 6.
	var clockMu sync.Mutex
	clock := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	now := func() time.Time { clockMu.Lock(); defer clockMu.Unlock(); return clock }

	pwURL, _ := url.Parse(pwSrv.URL)
	base := http.DefaultTransport.(*http.Transport).Clone()
	defer base.CloseIdleConnections()
	ft := &faulty{next: base, pwHost: pwURL.Host, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		rate: 0.06, counts: map[string]int{}, memo: map[string]memoized{}}
	statePath := filepath.Join(dir, "state.json")
	store, err := state.Open(statePath)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	// A short attempt timeout bounds each hang; the twins' is generous.
	trawl := wire(t, "faulty", ft, pwSrv.URL, apiSrv.URL, pipeSrv.URL, tokenFile, pwTokenFile, store, now, time.Second)
	twin := wire(t, "twin", base, pwSrv.URL, apiSrv.URL, pipeSrv.URL, tokenFile, pwTokenFile, state.ReadOnly(statePath), now, 10*time.Second)
	// The twin that plans from the state as it was before the faulty tick
	// (a copy), when the tick did something it must agree with.
	snapPath := filepath.Join(dir, "before.json")
	before := wire(t, "twin-before", base, pwSrv.URL, apiSrv.URL, pipeSrv.URL, tokenFile, pwTokenFile, state.ReadOnly(snapPath), now, 10*time.Second)

	phases := []pwfake.Phase{pwfake.Phase1, pwfake.P2CoverOnly, pwfake.P2OnePatch, pwfake.P2V3Complete, pwfake.P2DependsOn}
	const settleMax = 12 // fault-free ticks allowed to converge at the end of a phase
	perPhase := max(1, ticks/len(phases))
	violate := func(tick int, format string, args ...any) {
		res.violations = append(res.violations, fmt.Sprintf("seed %d tick %d: ", seed, tick)+fmt.Sprintf(format, args...))
	}
	ran := map[string]bool{}

	var last *cycle.Report // the faulty trawl's last report
	step := func(faults bool) {
		res.ticks++
		tick := res.ticks
		if faults {
			res.faultTicks++
		}
		clockMu.Lock()
		clock = clock.Add(10 * time.Minute)
		clockMu.Unlock()
		snap, err := os.ReadFile(statePath)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Fatal(err)
		}
		ft.setTick(faults)
		rep, err := trawl.Run(ctx, cycle.Act, nil)
		ft.setTick(false)
		last = rep
		if err != nil {
			violate(tick, "cycle: %v", err)
			return
		}
		if len(rep.UnknownSources) > 0 {
			res.unknownTicks++
		}

		if acted(rep) {
			if snap == nil {
				os.Remove(snapPath)
			} else if err := os.WriteFile(snapPath, snap, 0o600); err != nil {
				t.Fatal(err)
			}
			plan, err := before.Run(ctx, cycle.Plan, nil)
			if err != nil || len(plan.UnknownSources) > 0 {
				t.Fatalf("tick %d: the twin without faults failed: %v %+v", tick, err, plan)
			}
			check(tick, plan, rep, violate)
		}
		for _, u := range rep.Units {
			if u.Outcome == cycle.OutcomeTriggered {
				res.triggers++
			}
		}
		if _, err := state.ReadOnly(statePath).Load(); err != nil {
			violate(tick, "the state file does not load: %v", err)
		}
		pipeline(t, kci, ran)
	}

	for i, phase := range phases {
		if err := pw.SetPhase(phase); err != nil {
			t.Fatal(err)
		}
		ft.forget()
		for j := range perPhase {
			if j == perPhase/2 && i%2 == 0 {
				moveBase() // every unit is built again on the new base
			}
			step(true)
		}
		// The faults clear: trawl must converge on what the twin sees.
		left := ""
		for range settleMax {
			step(false)
			plan, err := twin.Run(ctx, cycle.Plan, nil)
			if err != nil {
				t.Fatal(err)
			}
			if left = settled(plan, statePath); left == "" {
				break
			}
		}
		if left != "" {
			var saw []string
			for _, u := range last.Units {
				if u.Outcome != cycle.OutcomeUnchanged {
					saw = append(saw, u.Unit+" "+u.Outcome+": "+u.Detail)
				}
			}
			for _, e := range last.UnknownSources {
				saw = append(saw, "source "+e.Source+" unknown: "+e.Err)
			}
			violate(res.ticks, "phase %d: not converged %d ticks after the faults cleared: %s (the trawl's last tick: %s)",
				i, settleMax, left, strings.Join(saw, "; "))
		}
	}
	res.violations = append(res.violations, duplicates(pw, kci)...)
	res.patchsets = len(kci.Patchsets())
	ft.mu.Lock()
	res.requests, res.counts = ft.requests, ft.counts
	ft.mu.Unlock()
	if len(res.violations) > 0 {
		t.Logf("seed %d: %d violations, the first ones:\n%s", seed, len(res.violations),
			strings.Join(res.violations[:min(5, len(res.violations))], "\n"))
	}
	return res
}

// acted reports a tick that triggered, or found a unit gone: what the twin
// must agree with.
func acted(rep *cycle.Report) bool {
	for _, u := range rep.Units {
		switch u.Outcome {
		case cycle.OutcomeTriggered, cycle.OutcomeAdopted, cycle.OutcomeFailed, cycle.OutcomeGone, cycle.OutcomeForgotten:
			return true
		}
	}
	return false
}

// check compares one faulty tick with the twin's plan of the same tick,
// made from the same state just before.
func check(tick int, plan, rep *cycle.Report, violate func(int, string, ...any)) {
	want := map[string]cycle.UnitReport{}
	for _, u := range plan.Units {
		want[u.Unit] = u
	}
	for _, u := range rep.Units {
		w, ok := want[u.Unit]
		present := ok && w.Outcome != cycle.OutcomeGone && w.Outcome != cycle.OutcomeForgotten
		switch u.Outcome {
		case cycle.OutcomeTriggered, cycle.OutcomeAdopted, cycle.OutcomeFailed:
			switch {
			case !present:
				violate(tick, "%s %s: the twin sees no such unit", u.Unit, u.Outcome)
			case w.Outcome != cycle.OutcomeTrigger:
				violate(tick, "%s %s although its inputs did not change (twin: %s)", u.Unit, u.Outcome, w.Outcome)
			case u.Fingerprint != w.Fingerprint:
				violate(tick, "%s %s with fingerprint %.12s, the twin's is %.12s", u.Unit, u.Outcome, u.Fingerprint, w.Fingerprint)
			}
		case cycle.OutcomeGone, cycle.OutcomeForgotten:
			if present {
				violate(tick, "%s %s, but it is on its source (twin: %s)", u.Unit, u.Outcome, w.Outcome)
			}
		}
	}
}

// settled says what is left to do after the faults cleared, "" for
// nothing: no unit to trigger, no report in the outbox, and every result
// reported.
func settled(plan *cycle.Report, statePath string) string {
	var left []string
	for _, u := range plan.Units {
		if u.Outcome == cycle.OutcomeTrigger || u.Outcome == cycle.OutcomeFailed || u.Outcome == cycle.OutcomeUnknown {
			left = append(left, u.Unit+" "+u.Outcome)
		}
	}
	st, err := state.ReadOnly(statePath).Load()
	if err != nil {
		return "state: " + err.Error()
	}
	if len(st.Outbox) > 0 {
		left = append(left, fmt.Sprintf("%d reports in the outbox", len(st.Outbox)))
	}
	for k, u := range st.Units {
		if u.Result == nil || u.GoneSince != nil {
			continue
		}
		if r := u.Reports["patchwork:netdev"]; r == nil || r.Fingerprint != u.Fingerprint || r.State != u.Result.State {
			left = append(left, k+": result "+string(u.Result.State)+" not reported")
		}
	}
	return strings.Join(left, "; ")
}

// duplicates lists patchsets submitted twice and checks posted twice.
func duplicates(pw *pwfake.Fake, kci *kcifake.Fake) []string {
	var out []string
	sets := map[string]int{}
	for _, n := range kci.Patchsets() {
		var arts []string
		for i := 0; ; i++ {
			a, ok := n.Artifacts["patch"+strconv.Itoa(i)]
			if !ok {
				break
			}
			arts = append(arts, a)
		}
		parent := ""
		if n.Parent != nil {
			parent = *n.Parent // the checkout of the base it was built on
		}
		sets["on "+parent+": "+strings.Join(arts, " ")]++
	}
	for k, n := range sets {
		if n > 1 {
			out = append(out, fmt.Sprintf("patchset %s submitted %d times", k, n))
		}
	}
	for id := int64(1); id <= 40; id++ {
		posted := map[string]int{}
		for _, c := range pw.Checks(id) {
			if c.ID >= firstPostedCheck {
				// The description names the fingerprint: one post per
				// state of each build.
				posted[c.Context+" "+c.State+" "+c.Description]++
			}
		}
		for k, n := range posted {
			if n > 1 {
				out = append(out, fmt.Sprintf("patch %d: check %s posted %d times", id, k, n))
			}
		}
	}
	return out
}

// firstPostedCheck is the id of the first check the fake did not record.
const firstPostedCheck = 13

// pipeline plays KernelCI's pipeline: every new patchset is applied, built
// and tested (passing), then the timeout services run.
func pipeline(t *testing.T, kci *kcifake.Fake, ran map[string]bool) {
	t.Helper()
	kci.Process()
	for _, n := range kci.Patchsets() {
		if ran[n.ID] {
			continue
		}
		ran[n.ID] = true
		plan := kcifake.RunPlan{Builds: []kcifake.BuildPlan{{Name: "kbuild-gcc-12-x86", Arch: "x86_64", Result: "pass",
			Tests: []kcifake.TestPlan{{Name: "baseline-x86", Platform: "qemu-x86", Result: "pass"}}}}}
		if err := kci.Run(n.ID, plan); err != nil {
			t.Fatalf("pipeline: %v", err)
		}
	}
	kci.Settle()
}
