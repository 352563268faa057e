package gitlab

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

	gl "gitlab.com/gitlab-org/api/client-go"
)

// TestListNeverEndingFailsAtTheCap: a server whose x-next-page never ends
// cannot hold a tick: the list fails after MaxPages pages, with an error
// saying so, and asks for no more.
func TestListNeverEndingFailsAtTheCap(t *testing.T) {
	var asked atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked.Add(1)
		page, _ := strconv.Atoi(r.URL.Query().Get("page"))
		if page == 0 {
			page = 1
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Page", strconv.Itoa(page))
		w.Header().Set("X-Next-Page", strconv.Itoa(page+1))
		fmt.Fprintf(w, `[{"iid":%d,"state":"opened"}]`, page)
	}))
	defer srv.Close()
	s, err := New(Opts{Name: "gl", URL: srv.URL, Project: "g/p", HTTP: srv.Client(), MaxPages: 7})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = s.list(ctx, 1, gl.ListProjectMergeRequestsOptions{State: gl.Ptr("opened")})
	if err == nil || !strings.Contains(err.Error(), "more than 7 pages") {
		t.Fatalf("err = %v, want the page cap", err)
	}
	if n := asked.Load(); n != 7 {
		t.Errorf("asked %d pages, want 7", n)
	}
}
