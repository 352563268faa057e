package github

import (
	"fmt"
	"reflect"
	"testing"

	gh "github.com/google/go-github/v92/github"

	"github.com/trawl-ci/trawl/pkg/change"
	"github.com/trawl-ci/trawl/pkg/fill"
)

// TestTrimKeepsWhatFetchReads: for a pull request with every field set,
// whatever the filters, a Fetch skips, converts and parses the body of its
// trimmed form exactly as it does the full one, and the page check sees
// the same page.
func TestTrimKeepsWhatFetchReads(t *testing.T) {
	var full gh.PullRequest
	fill.Fill(reflect.ValueOf(&full).Elem(), "pr", 4)
	full.Body = new("Depends-on: #7\nDepends-on: https://github.com/" + testRepo + "/pull/9")
	same := full
	sameRepo := *full.Head
	sameRepo.Repo = full.Base.Repo // not a fork
	same.Head = &sameRepo
	var tm trimmer // one for all: what it shares must not mix them up
	for _, pr := range []*gh.PullRequest{&full, &same} {
		for _, o := range []Opts{
			{Name: "gh", Repo: testRepo, Targets: []string{"kci"}},
			{Name: "gh", Repo: testRepo, Drafts: true, Forks: true, Branches: []string{pr.GetBase().GetRef()}},
			{Name: "gh", Repo: testRepo, Drafts: true, Branches: []string{"other"},
				Base: change.Base{URL: "https://git.example.org/x.git", Tree: "x"}},
		} {
			s := &Source{o: o, host: defaultHost}
			tr := tm.trim(pr)
			name := fmt.Sprintf("fork %v, opts %+v", pr == &full, o)
			if got, want := s.skip(tr), s.skip(pr); got != want {
				t.Errorf("%s: skip of the trimmed form %q, of the full one %q", name, got, want)
			}
			if got, want := s.convert(tr), s.convert(pr); !reflect.DeepEqual(got, want) {
				t.Errorf("%s: convert of the trimmed form\n%+v\nof the full one\n%+v", name, got, want)
			}
			if tr.GetBody() != pr.GetBody() {
				t.Errorf("%s: body %q, want %q", name, tr.GetBody(), pr.GetBody())
			}
			if !samePage([]*gh.PullRequest{tr}, []*gh.PullRequest{pr}) {
				t.Errorf("%s: the page check tells the trimmed form from the full one", name)
			}
		}
	}
	if new(trimmer).trim(nil) != nil {
		t.Error("trim(nil) is not nil")
	}
}
