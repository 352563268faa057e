package cycle

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/trawl-ci/trawl/pkg/change"
	"github.com/trawl-ci/trawl/pkg/httpx"
	"github.com/trawl-ci/trawl/pkg/targets"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden files")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s differs:\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func TestStatusShowsTriggerResultAndReports(t *testing.T) {
	h, pt, rp := reportingHarness(t, series(1, 1, "a", "b"), series(2, 1, "c"))
	h.run(t, Act)
	h.now = h.now.Add(10 * time.Minute)
	pt.set(targets.StateFail, "builds 2/2 passed; tests 1 failed")
	rp.fail["20"] = &httpx.StatusError{Method: "POST", URL: "https://pw/api/1.3/patches/20/checks/", Status: 502}
	rp.fail["11"] = &httpx.StatusError{Method: "POST", URL: "https://pw/api/1.3/patches/11/checks/", Status: 403, Message: "You do not have permission to perform this action."}
	h.run(t, Act)
	blocked := series(3, 1, "d")
	blocked.Unbuildable = "git pull request without a diff: nothing to apply"
	h.src.changes = append(h.src.changes, blocked)
	h.run(t, Act)
	var b bytes.Buffer
	if err := WriteStatus(&b, h.store.st); err != nil {
		t.Fatal(err)
	}
	golden(t, "status.golden", b.Bytes())
}

func TestPlanTableGolden(t *testing.T) {
	dep := series(1, 1, "a")
	top := series(2, 1, "b")
	top.Deps = []change.Ref{{Raw: "<cover@x>", Key: dep.Key, Source: "netdev"}}
	pull := series(3, 1)
	pull.Unbuildable = "git pull request without a diff: nothing to apply"
	h := newHarness(t, dep, top, pull)
	rep := h.run(t, Plan)
	var b bytes.Buffer
	if err := rep.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	golden(t, "plan.golden", b.Bytes())
}
