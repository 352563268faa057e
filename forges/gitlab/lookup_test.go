package gitlab

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"testing"

	gl "gitlab.com/gitlab-org/api/client-go"

	"github.com/trawl-ci/trawl/forges/gitlab/glfake"
	"github.com/trawl-ci/trawl/pkg/change"
	"github.com/trawl-ci/trawl/pkg/report"
	"github.com/trawl-ci/trawl/pkg/targets"
)

// reportState reports st of a unit of change c through r, on c's item.
func reportState(r *Reporter, c change.Change, st targets.State, summary string) (report.Done, error) {
	posted, _ := r.Map(st)
	m := report.Message{Change: string(c.Key), Target: "ci", Fingerprint: "0123456789abcdef", State: st, Summary: summary}
	return r.Report(context.Background(), r.Items(&c)[0], m, posted)
}

// fetchOne fetches s and returns merge request iid's change.
func fetchOne(t *testing.T, s *Source, iid int64) change.Change {
	t.Helper()
	changes, err := s.Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return byIID(t, changes, iid)
}

// The look-before-post reads every page of the commit's statuses (GitLab
// serves 20 a page, oldest first) and compares with the newest of the
// name, so a long history never makes it post a repeat; the relay read
// sees the newest too.
func TestStatusReadsEveryPageAndTheNewest(t *testing.T) {
	w, s, r, c := oneMRReporter(t)
	// 131 conclusive statuses, success and failed in turn: each post of a
	// finished state starts a new one. The newest (run 130) is success;
	// the newest of the first page of 20 would be failed (run 19).
	for i := range 131 {
		st := targets.StateSuccess
		if i%2 == 1 {
			st = targets.StateFail
		}
		if _, err := reportState(r, c, st, fmt.Sprintf("run %d", i)); err != nil {
			t.Fatalf("post %d: %v", i, err)
		}
	}
	if n := len(w.fake.Statuses()); n != 131 {
		t.Fatalf("%d statuses stored, want 131", n)
	}
	before := len(w.requests("/statuses"))
	if done, err := reportState(r, c, targets.StateSuccess, "run 130"); err != nil || done != report.Found {
		t.Fatalf("report of the newest status: %v %v, want it found", done, err)
	}
	reads := w.requests("/statuses")[before:]
	if len(reads) != 2 || reads[0].Query.Get("per_page") != "100" || reads[1].Query.Get("page") != "2" {
		t.Errorf("reads %+v, want pages 1 and 2 at per_page=100", reads)
	}
	if n := len(w.fake.Statuses()); n != 131 {
		t.Errorf("%d statuses stored after the repeat, want no new one", n)
	}
	// A failure now is new, and the relay read sees it as the newest.
	if done, err := reportState(r, c, targets.StateFail, "run 131"); err != nil || done != report.Posted {
		t.Fatalf("report of a new state: %v %v, want it posted", done, err)
	}
	_, statuses, err := s.Statuses(context.Background(), c.Key)
	if err != nil {
		t.Fatal(err)
	}
	if len(statuses) != 1 || statuses[0].State != targets.StateFail || !strings.HasPrefix(statuses[0].Description, "run 131 ") {
		t.Errorf("Statuses = %+v, want the newest: failed, run 131", statuses)
	}
}

// newest picks by id, whatever order the list comes in.
func TestNewestByID(t *testing.T) {
	var all []*gl.CommitStatus
	for id := int64(1); id <= 50; id++ {
		all = append(all, &gl.CommitStatus{ID: id, Name: fmt.Sprintf("n%d", id%3), Status: fmt.Sprint(id)})
	}
	for range 5 {
		rand.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
		got := newest(append(all, nil))
		if len(got) != 3 || got["n0"].ID != 48 || got["n1"].ID != 49 || got["n2"].ID != 50 {
			t.Fatalf("newest = %v", got)
		}
	}
}

// A full page without x-next-page gives no sign the list ended: the read
// fails rather than miss the newer statuses.
func TestStatusReadWithoutNextPageHeaderFails(t *testing.T) {
	w := newWrappedWorld(t, glfake.Options{}, func(_ *glfake.Fake, h http.Handler) http.Handler {
		return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			h.ServeHTTP(dropHeader{ResponseWriter: rw, name: "X-Next-Page"}, r)
		})
	})
	w.addMR(1, nil)
	s := w.source(t, w.opts())
	for i := range 100 {
		st := StatusSuccess
		if i%2 == 1 {
			st = StatusFailed
		}
		if err := s.PostStatus(context.Background(), mainPath, sha("a", 1), Status{State: st, Name: "trawl"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.commitStatuses(context.Background(), mainPath, sha("a", 1), "trawl"); err == nil || !strings.Contains(err.Error(), "x-next-page") {
		t.Errorf("read of a full page without x-next-page: %v, want an error", err)
	}
}

// dropHeader removes one header from the answers it writes.
type dropHeader struct {
	http.ResponseWriter
	name string
}

func (d dropHeader) WriteHeader(code int) {
	d.Header().Del(d.name)
	d.ResponseWriter.WriteHeader(code)
}

// newForkWorld is newWorld with the fork project changed by mod before
// the fake serves it.
func newForkWorld(t *testing.T, mod func(*glfake.Project)) *world {
	t.Helper()
	var once sync.Once
	return newWrappedWorld(t, glfake.Options{}, func(f *glfake.Fake, h http.Handler) http.Handler {
		once.Do(func() { f.UpdateProject(forkID, mod) })
		return h
	})
}

func (c *codeRecorder) WriteHeader(code int) {
	c.code = code
	c.ResponseWriter.WriteHeader(code)
}

func TestRelayLinksAndStatuses(t *testing.T) {
	w := newWorld(t, glfake.Options{})
	desc := "Source-git change.\nRelay-CI-from: !42\n"
	w.addMR(7, func(m *glfake.MR) { m.Description = &desc })
	w.addMR(42, nil)
	s := w.source(t, w.opts())
	changes, err := s.Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	src := byIID(t, changes, 7)
	dist := byIID(t, changes, 42)
	if len(src.Relays) != 1 || src.Relays[0].Key != dist.Key {
		t.Fatalf("relays = %+v, want MR 42", src.Relays)
	}
	r, err := s.Reporter(ReporterOpts{Name: "gl", Context: "trawl"})
	if err != nil {
		t.Fatal(err)
	}
	item := r.Items(&dist)[0]
	for _, st := range []targets.State{targets.StatePending, targets.StateFail} {
		posted, _ := r.Map(st)
		if _, err := r.Report(context.Background(), item, report.Message{Fingerprint: "f", State: st, Summary: "build", Context: "ci/build"}, posted); err != nil {
			t.Fatal(err)
		}
	}
	head, statuses, err := s.Statuses(context.Background(), dist.Key)
	if err != nil {
		t.Fatal(err)
	}
	if head != dist.HeadSHA || len(statuses) != 1 || statuses[0].Context != "ci/build" || statuses[0].State != targets.StateFail {
		t.Fatalf("Statuses = %s %+v, want the newest ci/build: failed", head, statuses)
	}
}
