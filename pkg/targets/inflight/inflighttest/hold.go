// Package inflighttest holds a create request on the wire for the tests of
// targets that record their create requests (package inflight): a server
// that has not made the job yet while the trawl that asked is killed.
package inflighttest

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
)

// Hold stands between a target and its fake server. It holds the first
// POST whose path ends in the given suffix, as a server still making the
// job does, and when released hands it on (deliver: the server makes the
// job after all, though nobody waits for its answer any more) or drops it
// (a request lost with the killed process). Further such POSTs go through
// at once; every other request goes straight to the fake.
type Hold struct {
	next    http.Handler
	suffix  string
	deliver bool
	// Received is closed when the held request has arrived.
	Received chan struct{}
	// Handed is closed once the held request was handed on or dropped.
	Handed  chan struct{}
	release chan struct{}
	once    sync.Once
	posts   atomic.Int32
}

// New returns a Hold in front of next for POSTs to paths ending in suffix.
func New(next http.Handler, suffix string, deliver bool) *Hold {
	return &Hold{next: next, suffix: suffix, deliver: deliver,
		Received: make(chan struct{}), Handed: make(chan struct{}), release: make(chan struct{})}
}

// Release lets the held request go. It may be called more than once (a
// deferred call after a failure lets a server close without waiting).
func (h *Hold) Release() { h.once.Do(func() { close(h.release) }) }

// Posts is the number of POSTs to the suffix seen, the held one included.
func (h *Hold) Posts() int32 { return h.posts.Load() }

// ServeHTTP implements http.Handler.
func (h *Hold) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, h.suffix) || h.posts.Add(1) > 1 {
		h.next.ServeHTTP(w, r)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	close(h.Received)
	<-h.release
	defer close(h.Handed)
	if h.deliver {
		late := r.Clone(context.WithoutCancel(r.Context()))
		late.Body = io.NopCloser(bytes.NewReader(body))
		h.next.ServeHTTP(httptest.NewRecorder(), late)
	}
}
