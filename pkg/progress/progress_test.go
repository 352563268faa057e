package progress

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trawl-ci/trawl/pkg/httpx"
)

func TestRender(t *testing.T) {
	tests := []struct {
		name    string
		elapsed time.Duration
		counts  httpx.Counts
		fetched map[string]int
		failed  map[string]bool
		want    string
	}{
		{"nothing yet", 1500 * time.Millisecond, httpx.Counts{}, nil, nil,
			"trawl: 1s · fetching · 0 requests (0 network, 0 cache)"},
		{"one source", 46 * time.Second, httpx.Counts{Network: 300, Cache: 20, Revalidated: 5}, map[string]int{"netdev": 401}, nil,
			"trawl: 46s · fetched netdev 401 · 325 requests (300 network, 25 cache)"},
		{"sorted, failed marked", 2 * time.Second, httpx.Counts{Network: 3}, map[string]int{"pw": 2, "gh": 0}, map[string]bool{"gh": true},
			"trawl: 2s · fetched gh failed, pw 2 · 3 requests (3 network, 0 cache)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Render(tc.elapsed, tc.counts, tc.fetched, tc.failed); got != tc.want {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

// TestLogLinesDoNotMixWithTheStatusLine: a log line written while a status
// line shows clears it first and redraws it after, so the terminal shows
// whole log lines above one status line.
func TestLogLinesDoNotMixWithTheStatusLine(t *testing.T) {
	var buf bytes.Buffer
	term := NewTerminal(&buf)
	if _, err := term.Write([]byte("first log line\n")); err != nil {
		t.Fatal(err)
	}
	term.SetStatus("trawl: 1s")
	if _, err := term.Write([]byte("second log line\n")); err != nil {
		t.Fatal(err)
	}
	term.SetStatus("")
	want := "first log line\n" + clearLine + "trawl: 1s" + clearLine + "second log line\n" + "trawl: 1s" + clearLine
	if got := buf.String(); got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

// lockedBuffer is a bytes.Buffer safe for the ticker goroutine.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestLineFollowsTheCycle: the line shows the requests as they grow and
// the sources as they are fetched, and is gone when the cycle ends or the
// context is cancelled.
func TestLineFollowsTheCycle(t *testing.T) {
	var buf lockedBuffer
	term := NewTerminal(&buf)
	var mu sync.Mutex
	counts := httpx.Counts{Network: 7}
	requests := func() httpx.Counts { mu.Lock(); defer mu.Unlock(); return counts }
	l := NewLine(term, requests, nil)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); l.Run(ctx, time.Millisecond) }()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(buf.String(), "7 requests") {
		if time.Now().After(deadline) {
			t.Fatalf("no status line with the request count: %q", buf.String())
		}
		time.Sleep(time.Millisecond)
	}
	l.SourceFetched("netdev", 401, time.Second, nil)
	l.SourceFetched("gh", 0, time.Second, errors.New("502"))
	if s := term.Status(); !strings.Contains(s, "fetched gh failed, netdev 401") {
		t.Errorf("status %q does not name the fetched sources", s)
	}
	l.CycleEnded(nil, nil, nil)
	if s := term.Status(); s != "" {
		t.Errorf("status %q left after the cycle ended", s)
	}
	cancel()
	<-done
	if !strings.HasSuffix(buf.String(), clearLine) {
		t.Errorf("line not cleared at the end: %q", buf.String())
	}
}
