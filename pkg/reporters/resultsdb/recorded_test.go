package resultsdb_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/trawl-ci/trawl/pkg/capture"
	"github.com/trawl-ci/trawl/pkg/report"
	"github.com/trawl-ci/trawl/pkg/reporters/resultsdb"
	"github.com/trawl-ci/trawl/pkg/targets"
)

// recordedServer answers every request with the recorded answer of x (the
// real ResultsDB's, not the fake's) and keeps the last request body.
type recordedServer struct {
	mu   sync.Mutex
	last []byte
	srv  *httptest.Server
}

func serveRecorded(t *testing.T, x capture.Exchange) *recordedServer {
	t.Helper()
	rs := &recordedServer{}
	rs.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rs.mu.Lock()
		rs.last = b
		rs.mu.Unlock()
		for k, vs := range x.Header {
			if k != "Content-Length" && k != "Connection" {
				w.Header()[k] = vs
			}
		}
		w.WriteHeader(x.Status)
		_, _ = w.Write(x.Body)
	}))
	t.Cleanup(rs.srv.Close)
	return rs
}

// recordedPost is what trawl encoded in a recorded post-201-trawl-* body.
type recordedPost struct {
	Testcase struct{ Name string } `json:"testcase"`
	Outcome  string                `json:"outcome"`
	RefURL   string                `json:"ref_url"`
	Note     string                `json:"note"`
	Data     map[string]string     `json:"data"`
}

// TestPostAgainstRecordedAnswers posts the results recorded in the four
// post-201-trawl-* captures: trawl must send exactly the recorded request
// body, and read the id and href of the real server's 201 answer.
func TestPostAgainstRecordedAnswers(t *testing.T) {
	dir, err := capture.Shared("resultsdb")
	if err != nil {
		t.Fatal(err)
	}
	states := map[string]targets.State{"PASSED": targets.StateSuccess, "FAILED": targets.StateFail, "NEEDS_INSPECTION": targets.StateWarning}
	names, err := capture.Names(dir, "post-201-trawl-")
	if err != nil || len(names) != 4 {
		t.Fatalf("captures %v: %v", names, err)
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			x, err := capture.Load(dir, name)
			if err != nil {
				t.Fatal(err)
			}
			wantBody, ok := strings.CutSuffix(x.RequestBody, `\n`)
			if !ok {
				t.Fatalf("recorded body does not end with a newline: %q", x.RequestBody)
			}
			wantBody += "\n"
			var p recordedPost
			if err := json.Unmarshal([]byte(wantBody), &p); err != nil {
				t.Fatal(err)
			}
			var answer struct {
				ID   int    `json:"id"`
				Href string `json:"href"`
			}
			if err := json.Unmarshal(x.Body, &answer); err != nil {
				t.Fatal(err)
			}
			rs := serveRecorded(t, x)
			core, logs := observer.New(zap.InfoLevel)
			r, err := resultsdb.New(resultsdb.Opts{Name: "rdb", URL: rs.srv.URL, Testcase: p.Testcase.Name,
				ItemType: p.Data["type"], HTTP: client(t), Logger: zap.New(core)})
			if err != nil {
				t.Fatal(err)
			}
			err = r.PostResult(t.Context(), resultsdb.Result{
				Item: p.Data["item"], State: states[p.Outcome], RefURL: p.RefURL, Note: p.Note,
				Fingerprint: p.Data["fingerprint"], ChangeURL: p.Data["change_url"], Submitter: p.Data["submitter"],
				Unit: p.Data["unit"], Target: p.Data["target"],
			})
			if err != nil {
				t.Fatalf("PostResult against the recorded 201: %v", err)
			}
			rs.mu.Lock()
			got := string(rs.last)
			rs.mu.Unlock()
			if got != wantBody {
				t.Errorf("request body\n%s\nrecorded\n%s", got, wantBody)
			}
			posted := logs.FilterMessage("result posted").All()
			if len(posted) != 1 {
				t.Fatalf("logged %d 'result posted' lines", len(posted))
			}
			f := posted[0].ContextMap()
			if f["id"] != int64(answer.ID) || f["href"] != answer.Href {
				t.Errorf("read id %v href %v from the answer, recorded %d %s", f["id"], f["href"], answer.ID, answer.Href)
			}
		})
	}
}

// TestLookBeforePostReadsRecordedAnswers feeds the look-up the real
// server's answers to a results query: a page holding the newest result
// means the report is there already; an empty page (page past the end)
// means it is not, and the post goes ahead.
func TestLookBeforePostReadsRecordedAnswers(t *testing.T) {
	dir, err := capture.Shared("resultsdb")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		capture string
		want    report.Done
	}{
		{"results-trawl-lookup", report.Found},
		{"results-limit5-beyond", report.Posted},
	}
	for _, tt := range tests {
		t.Run(tt.capture, func(t *testing.T) {
			x, err := capture.Load(dir, tt.capture)
			if err != nil {
				t.Fatal(err)
			}
			created, err := capture.Load(dir, "post-201-trawl-passed")
			if err != nil {
				t.Fatal(err)
			}
			// GETs get the recorded page, POSTs the recorded 201.
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				ans := x
				if r.Method == http.MethodPost {
					ans = created
				}
				w.Header().Set("Content-Type", ans.Header.Get("Content-Type"))
				w.WriteHeader(ans.Status)
				_, _ = w.Write(ans.Body)
			}))
			defer srv.Close()
			r, err := resultsdb.New(resultsdb.Opts{Name: "rdb", URL: srv.URL, Testcase: testcase, HTTP: client(t)})
			if err != nil {
				t.Fatal(err)
			}
			m := report.Message{Unit: item + "@kernelci-staging", Target: "kernelci-staging", Fingerprint: "f1a2b3c4d5e6f709", State: targets.StateFail, Summary: "failed"}
			done, err := r.Report(t.Context(), item, m, "FAILED")
			if err != nil || done != tt.want {
				t.Errorf("Report = %v, %v; want %v", done, err, tt.want)
			}
		})
	}
}
