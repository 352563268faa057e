package github

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestListNeverEndingFailsAtTheCap: a server whose Link chain never ends
// (each page names the next) cannot hold a tick: the list fails after
// MaxPages pages, with an error saying so, and asks for no more.
func TestListNeverEndingFailsAtTheCap(t *testing.T) {
	var asked atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked.Add(1)
		page, _ := strconv.Atoi(r.URL.Query().Get("page"))
		if page == 0 {
			page = 1
		}
		next := *r.URL
		q := next.Query()
		q.Set("page", strconv.Itoa(page+1))
		next.RawQuery = q.Encode()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Link", fmt.Sprintf(`<http://%s%s>; rel="next"`, r.Host, next.RequestURI()))
		fmt.Fprintf(w, `[{"number":%d,"state":"open"}]`, page)
	}))
	defer srv.Close()
	s, err := New(Opts{Name: "gh", Repo: testRepo, APIURL: srv.URL + "/", HTTP: srv.Client(), MaxPages: 7})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = s.listPages(ctx, &fetchPass{})
	if err == nil || !strings.Contains(err.Error(), "more than 7 pages") {
		t.Fatalf("err = %v, want the page cap", err)
	}
	if n := asked.Load(); n != 7 {
		t.Errorf("asked %d pages, want 7", n)
	}
}
