package webhook_test

import (
	"context"
	"crypto/hmac"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/trawl-ci/trawl/pkg/change"
	"github.com/trawl-ci/trawl/pkg/httpx"
	"github.com/trawl-ci/trawl/pkg/secret"
	"github.com/trawl-ci/trawl/pkg/targets"
	"github.com/trawl-ci/trawl/pkg/targets/webhook"
)

const key = "s3cr3t-hmac-key"

// delivery is one POST the receiver got.
type delivery struct {
	header http.Header
	body   []byte
}

// receiver is a webhook endpoint that records what it gets and answers
// with status and answer.
type receiver struct {
	mu         sync.Mutex
	deliveries []delivery
	status     int
	answer     string
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if r.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	rc.deliveries = append(rc.deliveries, delivery{header: r.Header.Clone(), body: body})
	w.WriteHeader(rc.status)
	io.WriteString(w, rc.answer)
}

// all returns every delivery so far.
func (rc *receiver) all() []delivery {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]delivery(nil), rc.deliveries...)
}

func (rc *receiver) last(t *testing.T) delivery {
	t.Helper()
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.deliveries) == 0 {
		t.Fatal("nothing delivered")
	}
	return rc.deliveries[len(rc.deliveries)-1]
}

// newTarget starts a receiver and a target posting to it, signed with key
// read from a file.
func newTarget(t *testing.T, status int, answer string, edit ...func(*webhook.Opts)) (*webhook.Target, *receiver, *httptest.Server) {
	t.Helper()
	rc := &receiver{status: status, answer: answer}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	keyFile := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(keyFile, []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	client, err := httpx.New(httpx.Options{Name: "webhook test", UserAgent: httpx.UserAgent("test"), RetryMax: -1})
	if err != nil {
		t.Fatal(err)
	}
	o := webhook.Opts{Name: "hook", URL: srv.URL + "/trawl", Secret: secret.Source{File: keyFile}, HTTP: client}
	for _, e := range edit {
		e(&o)
	}
	tg, err := webhook.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return tg, rc, srv
}

func request(fp string) targets.Request {
	return targets.Request{
		Unit:        "pw:pw.example.org/netdev/series/9@hook",
		Fingerprint: fp,
		Change:      "pw:pw.example.org/netdev/series/9",
		Title:       "net: fix a thing",
		WebURL:      "https://pw.example.org/project/netdev/list/?series=9",
		Base:        targets.Base{Tree: "net-next", URL: "https://git.example.org/net-next.git", Branch: "main", Commit: "1111111111111111111111111111111111111111"},
		Patches: []change.Patch{
			{ID: 7, MsgID: "<a@example.org>", Name: "[1/2] one", Hash: "h1", MboxURL: "https://pw.example.org/patch/7/mbox/"},
			{ID: 8, MsgID: "<b@example.org>", Name: "[2/2] two", Hash: "h2", MboxURL: "https://pw.example.org/patch/8/mbox/"},
		},
		Heads: []targets.Head{{Key: "gh:o/r#3", Repo: "o/r", SHA: "2222222222222222222222222222222222222222"}},
	}
}

func TestTriggerDeliversSignedUnit(t *testing.T) {
	tg, rc, _ := newTarget(t, http.StatusAccepted, "")
	r := request("fp1")
	job, err := tg.Trigger(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	d := rc.last(t)
	wantID := webhook.DeliveryID(r.Unit, r.Fingerprint, 0)
	if want := (targets.Job{Target: "hook", ID: wantID, BaseCommit: r.Base.Commit}); job != want {
		t.Errorf("Trigger = %+v, want %+v", job, want)
	}

	if got := d.header.Get("X-Trawl-Signature-256"); !hmac.Equal([]byte(got), []byte(webhook.Sign([]byte(key), d.body))) {
		t.Errorf("signature %q does not verify with the key", got)
	}
	for h, want := range map[string]string{
		"Content-Type":     "application/json",
		"X-Trawl-Event":    "trigger",
		"X-Trawl-Delivery": wantID,
		"User-Agent":       httpx.UserAgent("test"),
	} {
		if got := d.header.Get(h); got != want {
			t.Errorf("header %s = %q, want %q", h, got, want)
		}
	}

	var body map[string]any
	if err := json.Unmarshal(d.body, &body); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"unit":        r.Unit,
		"fingerprint": "fp1",
		"attempt":     float64(0),
		"change":      string(r.Change),
		"title":       r.Title,
		"web_url":     r.WebURL,
		"base":        map[string]any{"tree": "net-next", "url": r.Base.URL, "branch": "main", "commit": r.Base.Commit, "exact": false},
		"patches": []any{
			map[string]any{"id": 7.0, "msgid": "<a@example.org>", "name": "[1/2] one", "hash": "h1", "mbox_url": "https://pw.example.org/patch/7/mbox/"},
			map[string]any{"id": 8.0, "msgid": "<b@example.org>", "name": "[2/2] two", "hash": "h2", "mbox_url": "https://pw.example.org/patch/8/mbox/"},
		},
		"heads":    []any{map[string]any{"key": "gh:o/r#3", "repo": "o/r", "sha": "2222222222222222222222222222222222222222"}},
		"delivery": wantID,
	}
	if !reflect.DeepEqual(body, want) {
		t.Errorf("body = %v\nwant   %v", body, want)
	}
}

func TestDeliveryIDIsStable(t *testing.T) {
	tg, rc, _ := newTarget(t, http.StatusOK, "")
	for _, fp := range []string{"fp1", "fp1", "fp2"} {
		if _, err := tg.Trigger(context.Background(), request(fp)); err != nil {
			t.Fatal(err)
		}
	}
	ds := rc.all()
	ids := make([]string, len(ds))
	for i, d := range ds {
		ids[i] = d.header.Get("X-Trawl-Delivery")
	}
	if len(ids) != 3 || ids[0] != ids[1] || ids[0] == ids[2] || ids[0] == "" {
		t.Fatalf("delivery ids %q: want the same id for one fingerprint and another for the next", ids)
	}
	if !reflect.DeepEqual(ds[0].body, ds[1].body) {
		t.Errorf("a redelivery changed the body:\n%s\n%s", ds[0].body, ds[1].body)
	}
}

func TestEmptyListsAreArrays(t *testing.T) {
	tg, rc, _ := newTarget(t, http.StatusOK, "")
	r := request("fp1")
	r.Patches, r.Heads = nil, nil
	if _, err := tg.Trigger(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	body := string(rc.last(t).body)
	if !strings.Contains(body, `"patches":[]`) || !strings.Contains(body, `"heads":[]`) {
		t.Errorf("body = %s, want empty arrays for patches and heads", body)
	}
}

func TestAnswer(t *testing.T) {
	delivery := webhook.DeliveryID(request("fp1").Unit, "fp1", 0)
	tests := []struct {
		name   string
		answer string
		id     string
		url    string
	}{
		{"empty", "", delivery, ""},
		{"text", "OK\n", delivery, ""},
		{"id and url", `{"id": "build-17", "url": "https://ci.example.org/build/17"}`, "build-17", "https://ci.example.org/build/17"},
		{"numeric id", `{"id": 17}`, "17", ""},
		{"url only", `{"url": "https://ci.example.org/q/3"}`, delivery, "https://ci.example.org/q/3"},
		{"not an http url", `{"id": "x", "url": "javascript:alert(1)"}`, "x", ""},
		{"id of another type", `{"id": {"n": 1}}`, delivery, ""},
		{"id with a newline", `{"id": "a\nb"}`, delivery, ""},
		{"id too long", `{"id": "` + strings.Repeat("x", 300) + `"}`, delivery, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tg, _, _ := newTarget(t, http.StatusCreated, tt.answer)
			job, err := tg.Trigger(context.Background(), request("fp1"))
			if err != nil {
				t.Fatal(err)
			}
			if job.ID != tt.id || job.URL != tt.url || job.Adopted {
				t.Errorf("job = %+v, want id %q url %q", job, tt.id, tt.url)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name   string
		status int
		answer string
		is     error
		want   []string
	}{
		{"server error", http.StatusInternalServerError, `{"message": "queue full"}`, httpx.ErrServer, []string{"POST", "/trawl", "500", "queue full", "hook"}},
		{"refused", http.StatusUnauthorized, "bad signature\n", httpx.ErrForbidden, []string{"POST", "401", "bad signature"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tg, _, _ := newTarget(t, tt.status, tt.answer)
			_, err := tg.Trigger(context.Background(), request("fp1"))
			if !errors.Is(err, tt.is) {
				t.Fatalf("Trigger = %v, want %v", err, tt.is)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), key) {
				t.Errorf("error %q holds the secret", err)
			}
		})
	}
}

func TestSecretErrors(t *testing.T) {
	t.Setenv("TRAWL_TEST_HOOK_KEY", "")
	tg, rc, _ := newTarget(t, http.StatusOK, "", func(o *webhook.Opts) {
		o.Secret = secret.Source{Env: "TRAWL_TEST_HOOK_KEY"}
	})
	_, err := tg.Trigger(context.Background(), request("fp1"))
	if err == nil || !strings.Contains(err.Error(), "TRAWL_TEST_HOOK_KEY") {
		t.Errorf("Trigger = %v, want an error naming the variable", err)
	}
	if len(rc.all()) != 0 {
		t.Errorf("an unsigned delivery was sent")
	}
}

func TestUnreachable(t *testing.T) {
	tg, _, srv := newTarget(t, http.StatusOK, "")
	srv.Close()
	_, err := tg.Trigger(context.Background(), request("fp1"))
	if err == nil || !strings.Contains(err.Error(), srv.URL) || strings.Contains(err.Error(), key) {
		t.Errorf("Trigger = %v, want an error naming the URL and not the secret", err)
	}
}

func TestCustomHeader(t *testing.T) {
	tg, rc, _ := newTarget(t, http.StatusOK, "", func(o *webhook.Opts) { o.Header = "x-hub-signature-256" })
	if _, err := tg.Trigger(context.Background(), request("fp1")); err != nil {
		t.Fatal(err)
	}
	d := rc.last(t)
	if got := d.header.Get("X-Hub-Signature-256"); got != webhook.Sign([]byte(key), d.body) {
		t.Errorf("X-Hub-Signature-256 = %q, want the signature", got)
	}
	if got := d.header.Get(webhook.DefaultHeader); got != "" {
		t.Errorf("%s = %q, want it unset", webhook.DefaultHeader, got)
	}
}

func TestNewRejects(t *testing.T) {
	good := webhook.Opts{Name: "hook", URL: "https://ci.example.org/hook", Secret: secret.Source{Env: "K"}, HTTP: http.DefaultClient}
	tests := []struct {
		name string
		edit func(*webhook.Opts)
	}{
		{"no name", func(o *webhook.Opts) { o.Name = "" }},
		{"no url", func(o *webhook.Opts) { o.URL = "" }},
		{"not http", func(o *webhook.Opts) { o.URL = "ftp://ci.example.org/" }},
		{"no host", func(o *webhook.Opts) { o.URL = "https:///hook" }},
		{"no secret", func(o *webhook.Opts) { o.Secret = secret.Source{} }},
		{"no client", func(o *webhook.Opts) { o.HTTP = nil }},
		{"bad header", func(o *webhook.Opts) { o.Header = "X Sig" }},
		{"header with a colon", func(o *webhook.Opts) { o.Header = "X-Sig:" }},
	}
	if _, err := webhook.New(good); err != nil {
		t.Fatalf("New(good) = %v", err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := good
			tt.edit(&o)
			if _, err := webhook.New(o); err == nil {
				t.Errorf("New accepted %+v", o)
			}
		})
	}
}

func TestConfigHash(t *testing.T) {
	hash := func(edit func(*webhook.Opts)) string {
		o := webhook.Opts{Name: "hook", URL: "https://ci.example.org/hook", Secret: secret.Source{Env: "K"}, HTTP: http.DefaultClient}
		edit(&o)
		tg, err := webhook.New(o)
		if err != nil {
			t.Fatal(err)
		}
		return tg.ConfigHash()
	}
	h := hash(func(*webhook.Opts) {})
	if h != hash(func(o *webhook.Opts) { o.Secret = secret.Source{Env: "OTHER"}; o.Name = "other" }) {
		t.Errorf("the secret or the name changed the hash")
	}
	if h != hash(func(o *webhook.Opts) { o.Header = webhook.DefaultHeader }) {
		t.Errorf("naming the default header changed the hash")
	}
	if h == hash(func(o *webhook.Opts) { o.URL = "https://ci.example.org/other" }) {
		t.Errorf("another URL kept the hash")
	}
	if h == hash(func(o *webhook.Opts) { o.Header = "X-Hub-Signature-256" }) {
		t.Errorf("another header kept the hash")
	}
}
