// Package bbmaster starts a real Buildbot master for tests: Debian's
// buildbot package (3.7), on loopback, with the base change hook behind
// basic auth, a scheduler on trawl's changes and a local worker. It is
// test support, imported only by tests.
//
// Debian does not package buildbot-www (the web UI), without which the
// master refuses to start its web server, and with it the REST API and
// the change hook (www/service.py: "could not find buildbot-www"). Start
// therefore puts a stand-in on the master's PYTHONPATH: a www plugin named
// "base" that serves an empty static directory and no UI. The REST API and
// the change hook are the master's own.
package bbmaster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Credentials of the change hook.
const (
	User     = "trawl"
	Password = "hook-s3cret-pw"
)

// Builder is the master's one builder. Its build runs `sh` on the local
// worker and ends by the unit's title (the trawl_title property): "[fail]"
// in it fails the build, "[warn]" ends it with warnings, "[slow]" makes
// it take two seconds; anything else succeeds.
const Builder = "unit"

// Category is the change category the master's scheduler takes.
const Category = "trawl"

// InstallHint is how to get the master when it is missing.
const InstallHint = "apt-get install -y buildbot buildbot-worker"

// startTimeout bounds the master's start (upgrade-master and start); the
// machine running the suite may be loaded.
const startTimeout = 2 * time.Minute

// Master is a running Buildbot master.
type Master struct {
	// URL is the web root, with a trailing slash.
	URL string
	// Dir is the master's base directory.
	Dir string
	// Started is how long the start took, database creation included.
	Started time.Duration

	cmd  *exec.Cmd
	done chan error
}

// Start creates a master under dir (which must exist) and starts it. The
// caller must Stop it.
func Start(dir string) (*Master, error) {
	begin := time.Now()
	bb, err := exec.LookPath("buildbot")
	if err != nil {
		return nil, fmt.Errorf("buildbot is not installed (the Buildbot target's tests run a real master): run %q: %w", InstallHint, err)
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	m := &Master{URL: fmt.Sprintf("http://127.0.0.1:%d/", port), Dir: filepath.Join(dir, "master"), done: make(chan error, 1)}
	py := filepath.Join(dir, "py")
	if err := writeFiles(py, m.Dir, port); err != nil {
		return nil, err
	}
	env := append(os.Environ(), "PYTHONPATH="+py, "PYTHONDONTWRITEBYTECODE=1")
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	up := exec.CommandContext(ctx, bb, "upgrade-master", "--quiet", m.Dir)
	up.Env = env
	if out, err := up.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("buildbot upgrade-master %s: %w\n%s", m.Dir, err, out)
	}
	m.cmd = exec.Command(bb, "start", "--nodaemon", m.Dir)
	m.cmd.Env = env
	m.cmd.Dir = m.Dir
	// Its own process group, for Stop; and killed with the test binary
	// should that die first (a test timeout), not left running.
	m.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	log, err := os.Create(filepath.Join(m.Dir, "stdout.log"))
	if err != nil {
		return nil, err
	}
	defer log.Close()
	m.cmd.Stdout, m.cmd.Stderr = log, log
	if err := m.cmd.Start(); err != nil {
		return nil, fmt.Errorf("buildbot start: %w", err)
	}
	go func() { m.done <- m.cmd.Wait() }()
	if err := m.waitReady(ctx); err != nil {
		m.Stop()
		return nil, fmt.Errorf("buildbot master in %s: %w\n%s", m.Dir, err, m.logTail())
	}
	m.Started = time.Since(begin)
	return m, nil
}

// waitReady waits until the REST API answers and the local worker is
// connected, or the master ends, or ctx ends.
func (m *Master) waitReady(ctx context.Context) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		var w struct {
			Workers []struct {
				ConnectedTo []any `json:"connected_to"`
			} `json:"workers"`
		}
		if m.get(ctx, "workers", &w) == nil && len(w.Workers) == 1 && len(w.Workers[0].ConnectedTo) > 0 {
			return nil
		}
		select {
		case err := <-m.done:
			m.done <- err
			if err == nil {
				err = errors.New("exit status 0")
			}
			return fmt.Errorf("the master ended while starting: %w", err)
		case <-ctx.Done():
			return fmt.Errorf("not ready after %s: %w", startTimeout, ctx.Err())
		case <-tick.C:
		}
	}
}

// Stop kills the master's process group and waits for it, bounded.
func (m *Master) Stop() {
	if m.cmd == nil || m.cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-m.cmd.Process.Pid, syscall.SIGKILL)
	select {
	case err := <-m.done:
		m.done <- err
	case <-time.After(30 * time.Second):
	}
}

// logTail is the end of the master's log, for a failed start.
func (m *Master) logTail() string {
	b, _ := os.ReadFile(filepath.Join(m.Dir, "twistd.log"))
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// get reads the REST API's path into v.
func (m *Master) get(ctx context.Context, path string, v any) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.URL+"api/v2/"+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %d: %s", req.URL, resp.StatusCode, bytes.TrimSpace(body))
	}
	return json.Unmarshal(body, v)
}

// Change is a change on the master.
type Change struct {
	ChangeID    int                          `json:"changeid"`
	Project     string                       `json:"project"`
	Category    string                       `json:"category"`
	Properties  map[string][]json.RawMessage `json:"properties"`
	SourceStamp struct {
		SSID int `json:"ssid"`
	} `json:"sourcestamp"`
}

// Property is a change's string property, or "".
func (c Change) Property(name string) string {
	var s string
	if p := c.Properties[name]; len(p) > 0 {
		_ = json.Unmarshal(p[0], &s)
	}
	return s
}

// Build is a build on the master, with its properties.
type Build struct {
	BuildID    int                          `json:"buildid"`
	Number     int                          `json:"number"`
	Complete   bool                         `json:"complete"`
	Results    *int                         `json:"results"`
	Properties map[string][]json.RawMessage `json:"properties"`
}

// Changes lists every change whose project starts with prefix.
func (m *Master) Changes(ctx context.Context, prefix string) ([]Change, error) {
	var page struct {
		Changes []Change `json:"changes"`
	}
	if err := m.get(ctx, "changes", &page); err != nil {
		return nil, err
	}
	var out []Change
	for _, c := range page.Changes {
		if strings.HasPrefix(c.Project, prefix) {
			out = append(out, c)
		}
	}
	return out, nil
}

// Builds lists the builds of a change.
func (m *Master) Builds(ctx context.Context, changeID int) ([]Build, error) {
	var page struct {
		Builds []Build `json:"builds"`
	}
	err := m.get(ctx, "changes/"+strconv.Itoa(changeID)+"/builds?property=*", &page)
	return page.Builds, err
}

// WaitBuilds waits until every change whose project starts with prefix
// has a complete build, bounded by ctx. It asks for the builds of each
// change only until it has seen one complete: a loaded master answers
// slowly, and the polling must not add to its load.
func (m *Master) WaitBuilds(ctx context.Context, prefix string) error {
	built := map[int]bool{}
	for {
		changes, err := m.Changes(ctx, prefix)
		if err != nil {
			return err
		}
		for _, c := range changes {
			if built[c.ChangeID] {
				continue
			}
			bs, err := m.Builds(ctx, c.ChangeID)
			if err != nil {
				return err
			}
			built[c.ChangeID] = len(bs) > 0 && bs[len(bs)-1].Complete
		}
		done := 0
		for _, c := range changes {
			if built[c.ChangeID] {
				done++
			}
		}
		if done == len(changes) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d of %d changes of %s built: %w", done, len(changes), prefix, ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// freePort returns a loopback port nobody listens on now.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// writeFiles writes the www stand-in under py and the master's files
// under dir.
func writeFiles(py, dir string, port int) error {
	files := map[string]string{
		filepath.Join(py, "trawl_bbwww", "__init__.py"):                  wwwPlugin,
		filepath.Join(py, "trawl_bbwww", "VERSION"):                      "0\n",
		filepath.Join(py, "trawl_bbwww", "static", "index.html"):         "<!doctype html><title>buildbot</title>\n",
		filepath.Join(py, "trawl_bbwww-0.dist-info", "METADATA"):         "Metadata-Version: 2.1\nName: trawl-bbwww\nVersion: 0\n",
		filepath.Join(py, "trawl_bbwww-0.dist-info", "entry_points.txt"): "[buildbot.www]\nbase = trawl_bbwww:ep\n",
		filepath.Join(dir, "buildbot.tac"):                               tac,
		filepath.Join(dir, "hook.passwd"):                                User + ":" + Password + "\n",
		filepath.Join(dir, "master.cfg"):                                 strings.ReplaceAll(masterCfg, "@PORT@", strconv.Itoa(port)),
	}
	for name, content := range files {
		if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// wwwPlugin stands in for buildbot-www (see the package documentation).
const wwwPlugin = `from buildbot.www.plugin import Application
ep = Application(__name__, "stand-in for buildbot-www: REST API and change hook only", ui=False)
`

// tac is what buildbot create-master writes, without the log rotation.
const tac = `import os
from twisted.application import service
from buildbot.master import BuildMaster
basedir = os.path.abspath(os.path.dirname(__file__))
application = service.Application('buildmaster')
BuildMaster(basedir, 'master.cfg', umask=None).setServiceParent(application)
`

// masterCfg is the master's configuration: a local worker (in the
// master's process), the base change hook behind basic auth, a scheduler
// on the trawl category and one builder.
const masterCfg = `from twisted.cred import strcred
from buildbot.plugins import schedulers, steps, util, worker
from buildbot.process.results import FAILURE, SUCCESS, WARNINGS

c = BuildmasterConfig = {}
c['title'] = 'trawl test master'
c['buildbotURL'] = 'http://127.0.0.1:@PORT@/'
c['buildbotNetUsageData'] = None
c['db'] = {'db_url': 'sqlite:///state.sqlite'}
c['protocols'] = {'null': {}}
c['workers'] = [worker.LocalWorker('local')]
c['change_source'] = []
c['schedulers'] = [schedulers.AnyBranchScheduler(
    name='trawl', treeStableTimer=None,
    change_filter=util.ChangeFilter(category='` + Category + `'),
    builderNames=['` + Builder + `'])]
script = '''
case "$TRAWL_TITLE" in
*"[slow]"*) sleep 2 ;;
esac
echo "unit $TRAWL_UNIT fingerprint $TRAWL_FINGERPRINT"
case "$TRAWL_TITLE" in
*"[fail]"*) exit 1 ;;
*"[warn]"*) exit 3 ;;
esac
'''
c['builders'] = [util.BuilderConfig(
    name='` + Builder + `', workernames=['local'],
    factory=util.BuildFactory([steps.ShellCommand(
        name='build', command=['sh', '-c', script],
        env={'TRAWL_TITLE': util.Interpolate('%(prop:trawl_title)s'),
             'TRAWL_UNIT': util.Interpolate('%(prop:trawl_unit)s'),
             'TRAWL_FINGERPRINT': util.Interpolate('%(prop:trawl_fingerprint)s')},
        decodeRC={0: SUCCESS, 1: FAILURE, 3: WARNINGS},
        warnOnWarnings=True, flunkOnFailure=True)]))]
c['www'] = {
    'port': 'tcp:@PORT@:interface=127.0.0.1',
    'change_hook_dialects': {'base': True},
    'change_hook_auth': [strcred.makeChecker('file:hook.passwd')],
}
`
