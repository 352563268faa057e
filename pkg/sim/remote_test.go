package sim

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// serveEnv, when set in the environment of this test binary, makes it a
// simulator serving "series,prs,seed,webhook,eventsrelist,actionable,latency"
// until its standard input closes (webhook 1: the Patchwork series go to
// the webhook target, 0: to KernelCI; latency in microseconds).
const serveEnv = "TRAWL_SIM_SERVE"

func TestMain(m *testing.M) {
	if spec := os.Getenv(serveEnv); spec != "" {
		if err := serve(spec); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// serve runs a world in this process and prints the URL of its controls.
func serve(spec string) error {
	var o Options
	var webhook, latency int64
	if _, err := fmt.Sscanf(spec, "%d,%d,%d,%d,%d,%d,%d", &o.Series, &o.PullRequests, &o.Seed, &webhook, &o.EventsRelist, &o.Actionable, &latency); err != nil {
		return fmt.Errorf("%s=%q: %w", serveEnv, spec, err)
	}
	o.Webhook = webhook == 1
	o.Latency = time.Duration(latency) * time.Microsecond
	w := New(o)
	w.Start()
	defer w.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: w.ControlHandler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	fmt.Printf("http://%s\n", ln.Addr())
	_, _ = io.Copy(io.Discard, os.Stdin)
	return nil
}

// remote is a world served by a child process: what trawl costs is then
// measured without the simulator's own work.
type remote struct {
	tb   testing.TB
	base string
}

func startRemote(tb testing.TB, o Options) *remote {
	tb.Helper()
	exe, err := os.Executable()
	if err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(exe)
	webhook := 0
	if o.Webhook {
		webhook = 1
	}
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d,%d,%d,%d,%d,%d,%d", serveEnv, o.Series, o.PullRequests, o.Seed, webhook, o.EventsRelist, o.Actionable, o.Latency.Microseconds()))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		_ = stdin.Close()
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		tb.Fatalf("simulator: %v", err)
	}
	return &remote{tb: tb, base: strings.TrimSpace(line)}
}

func (r *remote) call(method, path string, out any) {
	r.tb.Helper()
	req, err := http.NewRequest(method, r.base+path, nil)
	if err != nil {
		r.tb.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.tb.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		r.tb.Fatalf("simulator %s %s: %s: %s", method, path, resp.Status, b)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		r.tb.Fatal(err)
	}
}

func (r *remote) Units() (n int) {
	r.call(http.MethodGet, "/units", &n)
	return n
}

func (r *remote) Change() {
	var ok bool
	r.call(http.MethodPost, "/change", &ok)
}

func (r *remote) Tick() {
	var ok bool
	r.call(http.MethodPost, "/tick", &ok)
}

func (r *remote) ListPages() (n int64) {
	r.call(http.MethodGet, "/listpages", &n)
	return n
}

func (r *remote) Triggers() (ts []time.Time) {
	r.call(http.MethodGet, "/triggers", &ts)
	return ts
}

func (r *remote) Stats() (s map[string]Counts) {
	r.call(http.MethodGet, "/stats", &s)
	return s
}

func (r *remote) WriteConfig(dir string, checks bool) (path string, err error) {
	r.call(http.MethodPost, "/config?dir="+url.QueryEscape(dir)+"&checks="+strconv.FormatBool(checks), &path)
	return path, nil
}

// TestRemoteWorld: the simulator in a child process answers as one in
// this process does.
func TestRemoteWorld(t *testing.T) {
	h := wire(t, startRemote(t, Options{Series: 30, PullRequests: 4, Seed: 3, Webhook: true}), false)
	units := h.w.Units()
	if rep := h.tick(t); rep.Count.Triggered != units {
		t.Fatalf("cold tick triggered %d, want %d", rep.Count.Triggered, units)
	}
	h.w.Change()
	if rep := h.tick(t); rep.Count.Triggered != 1 {
		t.Fatalf("after a change: triggered %d, want 1", rep.Count.Triggered)
	}
}
