package web

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/trawl-ci/trawl/fingerprint"
	"github.com/trawl-ci/trawl/pkg/change"
	"github.com/trawl-ci/trawl/pkg/cycle"
	"github.com/trawl-ci/trawl/pkg/daemon"
	"github.com/trawl-ci/trawl/pkg/state"
	"github.com/trawl-ci/trawl/pkg/targets"
)

// hostile is a subject a forge could send: markup that would change the
// page if it ran or rendered, and an ANSI colour escape.
const hostile = "<script>document.body.setAttribute('data-pwned','1')</script>" +
	"<img src=x onerror=\"document.body.setAttribute('data-pwned','2')\">\x1b[31mred\x1b[0m"

type fixedCycles []daemon.GroupState

func (f fixedCycles) Groups() []daemon.GroupState { return f }

var _ Cycles = fixedCycles(nil)

const (
	depKey  = change.Key("pw:pw.example/netdev/series/1")
	unitKey = change.Key("pw:pw.example/netdev/series/2")
)

// world is a status page over one cycle in which unit 2 (depending on
// unit 1, with a hostile subject) changed since its last trigger.
func world(t *testing.T) *httptest.Server {
	t.Helper()
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	then := fingerprint.Input{Target: "kernelci", TargetConfig: "cfg1", BaseURL: "https://git.example/net.git", BaseBranch: "main",
		Items: []fingerprint.Item{{Key: string(depKey), Version: 1, Content: []string{"h1"}}, {Key: string(unitKey), Version: 1, Content: []string{"h2"}}},
		Deps:  []fingerprint.Dep{{Key: string(depKey), Fingerprint: strings.Repeat("d", 64)}}}
	cur := then
	cur.Items = []fingerprint.Item{then.Items[0], {Key: string(unitKey), Version: 2, Content: []string{"h3"}}}
	thenJSON, err := json.Marshal(then)
	if err != nil {
		t.Fatal(err)
	}
	uk := change.UnitKey(unitKey, "kernelci")
	dk := change.UnitKey(depKey, "kernelci")
	st := state.New()
	st.Units[uk] = &state.Unit{Change: string(unitKey), Target: "kernelci", Source: "netdev", Status: "triggered",
		Fingerprint: fingerprint.Sum(then), Inputs: string(thenJSON), TriggeredAt: &now, TriggerReason: "new",
		Job:    &targets.Job{ID: "node-42", URL: "https://kernelci.example/node/42"},
		Result: &targets.Result{State: targets.StateFail, Summary: "builds 1/2 failed " + hostile}}
	st.Units[dk] = &state.Unit{Change: string(depKey), Target: "kernelci", Source: "netdev", Status: "unchanged",
		Fingerprint: strings.Repeat("d", 64)}
	rep := &cycle.Report{Scope: []string{"netdev"}, Units: []cycle.UnitReport{
		{Unit: dk, Change: depKey, Source: "netdev", Target: "kernelci", Title: "the dependency", Outcome: cycle.OutcomeUnchanged, Fingerprint: strings.Repeat("d", 64)},
		{Unit: uk, Change: unitKey, Source: "netdev", Target: "kernelci", Title: hostile, Outcome: cycle.OutcomeTrigger,
			Deps: []change.Key{depKey}, Fingerprint: fingerprint.Sum(cur), Inputs: &cur},
	}}
	groups := fixedCycles{{Group: daemon.Group{Schedule: "@every 5m", Sources: []string{"netdev"}}, Interval: 5 * time.Minute,
		Last:     &daemon.Cycle{Started: now.Add(-time.Minute), Ended: now, Report: rep},
		Complete: map[string]time.Time{"netdev": now}}}
	h := New(Options{Cycles: groups, Load: func() (*state.State, error) { return st, nil }, Now: func() time.Time { return now }})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// chromium returns the browser, failing in CI (CI set) when it is
// missing: .ci/run installs it there.
func chromium(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"chromium", "/usr/bin/chromium"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium not found: .ci/run installs it (apt-get install chromium)")
	}
	t.Skip("chromium not installed; CI installs it and runs this test")
	return ""
}

// browse runs headless chromium on url with extra flags and returns its
// standard output.
func browse(t *testing.T, bin string, extra ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	args := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--user-data-dir=" + t.TempDir()}, extra...)
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.WaitDelay = 5 * time.Second
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium %v: %v\n%s", extra, err, stderr.String())
	}
	return string(out)
}

// TestStatusPageInABrowser renders the status page in headless chromium:
// the hostile subject shows as text and nothing in it ran or rendered as
// markup; the unit link leads to the unit's page, which marks the inputs
// that changed since the last trigger.
func TestStatusPageInABrowser(t *testing.T) {
	bin := chromium(t)
	srv := world(t)

	dom := browse(t, bin, "--dump-dom", srv.URL+"/")
	if !strings.Contains(dom, "<table id=\"units\"") {
		t.Fatalf("no units table in the DOM:\n%s", dom)
	}
	for _, bad := range []string{"<script", "<img"} {
		if strings.Contains(dom, bad) {
			t.Errorf("the DOM holds %q: forge text was rendered as markup\n%s", bad, dom)
		}
	}
	if regexp.MustCompile(`<[^>]*\sonerror=`).MatchString(dom) {
		t.Errorf("an element of the DOM carries an onerror attribute from forge text\n%s", dom)
	}
	if regexp.MustCompile(`<body[^>]*data-pwned`).MatchString(dom) {
		t.Errorf("an injected script ran: body carries data-pwned\n%s", dom)
	}
	if !strings.Contains(dom, "&lt;script&gt;document.body.setAttribute('data-pwned','1')&lt;/script&gt;") {
		t.Errorf("the hostile subject is not shown as text\n%s", dom)
	}
	if strings.Contains(dom, "\x1b") || !strings.Contains(dom, `\x1b[31mred\x1b[0m`) {
		t.Errorf("the ANSI escape is not shown as a visible escape\n%s", dom)
	}

	m := regexp.MustCompile(`<a class="unit" href="([^"]+)">pw:pw.example/netdev/series/2@kernelci</a>`).FindStringSubmatch(dom)
	if m == nil {
		t.Fatalf("no link to the unit page\n%s", dom)
	}
	link, err := url.Parse(strings.ReplaceAll(m[1], "&amp;", "&"))
	if err != nil {
		t.Fatal(err)
	}
	base, _ := url.Parse(srv.URL + "/")
	unitDOM := browse(t, bin, "--dump-dom", base.ResolveReference(link).String())
	if !strings.Contains(unitDOM, "<h1>pw:pw.example/netdev/series/2@kernelci</h1>") {
		t.Fatalf("the unit link did not lead to the unit's page\n%s", unitDOM)
	}
	changed := regexp.MustCompile(`(?s)<tr class="changed">\s*<td class="mark">≠</td><td>([^<]+)</td>`).FindAllStringSubmatch(unitDOM, -1)
	if len(changed) != 1 || changed[0][1] != "item pw:pw.example/netdev/series/2" {
		t.Errorf("changed inputs = %v, want only the unit's own item\n%s", changed, unitDOM)
	}
	if !strings.Contains(unitDOM, "<li>") || strings.Contains(unitDOM, "<script") {
		t.Errorf("the unit page lacks the differences or holds a script\n%s", unitDOM)
	}

	shot := filepath.Join(os.Getenv("TRAWL_SCREENSHOT_DIR"), "status.png")
	if os.Getenv("TRAWL_SCREENSHOT_DIR") == "" {
		shot = filepath.Join(t.TempDir(), "status.png")
	}
	browse(t, bin, "--screenshot="+shot, "--window-size=1280,900", srv.URL+"/")
	fi, err := os.Stat(shot)
	if err != nil || fi.Size() < 1000 {
		t.Fatalf("screenshot %s: %v (%v bytes)", shot, err, fi)
	}
}

// TestUnitPage serves the unit page without a browser: an unknown unit
// is a 404, a known one explains its fingerprint.
func TestUnitPage(t *testing.T) {
	srv := world(t)
	for _, tc := range []struct {
		path   string
		status int
		want   string
	}{
		{"/unit?u=" + url.QueryEscape("nope@kernelci"), http.StatusNotFound, `no unit "nope@kernelci"`},
		{"/unit?u=" + url.QueryEscape(change.UnitKey(depKey, "kernelci")), http.StatusOK, "the dependency"},
		{"/unit?u=" + url.QueryEscape(change.UnitKey(unitKey, "kernelci")), http.StatusOK, "version 1 -&gt; 2"},
		{"/nothing", http.StatusNotFound, ""},
	} {
		resp, err := http.Get(srv.URL + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		_, err = io.Copy(&b, resp.Body)
		resp.Body.Close()
		if err != nil && !errors.Is(err, io.EOF) {
			t.Fatal(err)
		}
		if resp.StatusCode != tc.status || !strings.Contains(b.String(), tc.want) {
			t.Errorf("GET %s = %d, want %d with %q\n%s", tc.path, resp.StatusCode, tc.status, tc.want, b.String())
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
			t.Errorf("GET %s: Content-Security-Policy %q", tc.path, csp)
		}
	}
}
