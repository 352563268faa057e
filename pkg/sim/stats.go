package sim

import (
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// Counts are the requests one server received from trawl.
type Counts struct {
	Requests    int64 // every request
	NotModified int64 // answered 304
	Errors      int64 // answered 4xx or 5xx
	Bytes       int64 // response body bytes sent
	// Reports are the requests about reports: Patchwork checks, GitHub
	// and GitLab commit statuses, posted or read.
	Reports int64
	// ReportPosts are the reports posted (a POST the server took).
	ReportPosts int64
}

// Stats counts trawl's requests per forge (the requests the fakes make
// themselves are left out). It is safe for concurrent use.
type Stats struct {
	mu    sync.Mutex
	by    map[string]Counts
	times []time.Time
}

func newStats() *Stats { return &Stats{by: map[string]Counts{}} }

func (s *Stats) count(forge string, r *http.Request, status, bytes int) {
	if r.Header.Get(internal) != "" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.by[forge]
	c.Requests++
	c.Bytes += int64(bytes)
	switch {
	case status == http.StatusNotModified:
		c.NotModified++
	case status >= 400:
		c.Errors++
	}
	if p := r.URL.Path; strings.Contains(p, "/checks/") || strings.Contains(p, "/statuses") || strings.HasSuffix(p, "/status") {
		c.Reports++
		if r.Method == http.MethodPost && status < 300 {
			c.ReportPosts++
		}
	}
	s.by[forge] = c
}

func (s *Stats) trigger() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.times = append(s.times, time.Now())
}

func (s *Stats) triggers() []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.times)
}

// Snapshot returns the counts so far, by forge.
func (s *Stats) Snapshot() map[string]Counts {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.by)
}

// Sub returns what happened between two snapshots.
func Sub(now, before map[string]Counts) map[string]Counts {
	out := map[string]Counts{}
	for k, c := range now {
		b := before[k]
		out[k] = Counts{c.Requests - b.Requests, c.NotModified - b.NotModified, c.Errors - b.Errors, c.Bytes - b.Bytes,
			c.Reports - b.Reports, c.ReportPosts - b.ReportPosts}
	}
	return out
}

// wrap counts the answers of h as forge's; a POST to KernelCI's patchset
// endpoint is a trigger.
func (s *Stats) wrap(forge string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &recorder{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(rec, r)
		s.count(forge, r, rec.status, rec.bytes)
		if forge == "kernelci" && r.Method == http.MethodPost && rec.status < 300 && r.URL.Path == "/api/patchset" {
			s.trigger()
		}
	})
}

type recorder struct {
	http.ResponseWriter
	status, bytes int
}

func (r *recorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	n, err := r.ResponseWriter.Write(b)
	r.bytes += n
	return n, err
}
