package capture

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadRecordedExchanges(t *testing.T) {
	dir, err := Shared("kernelci")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		method     string
		target     string
		status     int
		header     string
		value      string
		bodyPrefix string
		reqBody    string
	}{
		{"nodes-trailing-slash", "GET", "/latest/nodes/?kind=checkout&limit=1", http.StatusTemporaryRedirect, "Location", "http://127.0.0.1:8701/latest/nodes?kind=checkout&limit=1", "", ""},
		{"node-get-unknown-objectid", "GET", "/latest/node/", http.StatusOK, "Content-Type", "application/json", "null", ""},
		{"patchset-post-200", "POST", "/api/patchset", http.StatusOK, "Server", "uvicorn", `{"message":"OK"`, `{"nodeid":"6b11363cfd3ad16ddefe1141"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			x, err := Load(dir, tc.name)
			if err != nil {
				t.Fatal(err)
			}
			if x.Method != tc.method || !strings.HasPrefix(x.Target, tc.target) || x.Status != tc.status {
				t.Errorf("got %s %s -> %d, want %s %s… -> %d", x.Method, x.Target, x.Status, tc.method, tc.target, tc.status)
			}
			if got := x.Header.Get(tc.header); got != tc.value {
				t.Errorf("%s = %q, want %q", tc.header, got, tc.value)
			}
			if !strings.HasPrefix(string(x.Body), tc.bodyPrefix) {
				t.Errorf("body starts %.40q, want %q", x.Body, tc.bodyPrefix)
			}
			if tc.bodyPrefix == "" && x.Body != nil {
				t.Errorf("body = %.40q, want none", x.Body)
			}
			if !strings.HasPrefix(x.RequestBody, tc.reqBody) {
				t.Errorf("request body %.60q, want prefix %q", x.RequestBody, tc.reqBody)
			}
		})
	}
}

func TestLoadRejectsMalformed(t *testing.T) {
	dir := t.TempDir()
	for name, text := range map[string]string{
		"no-status":  "> GET / HTTP/1.1\n",
		"bad-status": "> GET / HTTP/1.1\n< HTTP/1.1 abc\n",
		"stray":      "> GET / HTTP/1.1\nstray\n< HTTP/1.1 200 OK\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name+".headers.txt"), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := Load(dir, name); err == nil {
			t.Errorf("%s: loaded, want an error", name)
		} else if !strings.Contains(err.Error(), name) {
			t.Errorf("%s: error %q does not name the file", name, err)
		}
	}
}

func TestNames(t *testing.T) {
	dir, err := Shared("resultsdb")
	if err != nil {
		t.Fatal(err)
	}
	names, err := Names(dir, "post-201-trawl-")
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != 4 {
		t.Fatalf("got %v, want the 4 post-201-trawl captures", names)
	}
	for _, n := range names {
		if _, err := Load(dir, n); err != nil {
			t.Error(err)
		}
	}
}

// TestEverySharedCaptureParses reads every recorded exchange of every set,
// so a capture the reader cannot parse is found here and not in a replay.
func TestEverySharedCaptureParses(t *testing.T) {
	for _, set := range []string{"kernelci", "resultsdb", "patchwork"} {
		dir, err := Shared(set)
		if err != nil {
			t.Fatal(err)
		}
		names, err := Names(dir, "")
		if err != nil {
			t.Fatal(err)
		}
		if len(names) < 50 {
			t.Errorf("%s: only %d captures", set, len(names))
		}
		for _, n := range names {
			if _, err := Load(dir, n); err != nil {
				t.Error(err)
			}
		}
	}
}
