package gitlab

import (
	"fmt"
	"reflect"
	"testing"

	gl "gitlab.com/gitlab-org/api/client-go"

	"github.com/trawl-ci/trawl/pkg/change"
	"github.com/trawl-ci/trawl/pkg/fill"
)

// TestTrimKeepsWhatFetchReads: for a merge request with every field set,
// whatever the filters, a Fetch keeps, converts and parses the
// description of its trimmed form exactly as it does the full one.
func TestTrimKeepsWhatFetchReads(t *testing.T) {
	var fork gl.BasicMergeRequest
	fill.Fill(reflect.ValueOf(&fork).Elem(), "mr", 3)
	fork.Description = "Depends-on: !7\nDepends-on: https://gitlab.example.org/group/other/-/merge_requests/9"
	own := fork
	own.SourceProjectID = own.TargetProjectID
	project := &gl.Project{PathWithNamespace: "group/proj", HTTPURLToRepo: "https://gitlab.example.org/group/proj.git"}
	for _, mr := range []*gl.BasicMergeRequest{&fork, &own} {
		for _, o := range []Opts{
			{Name: "gl", Project: "group/proj", Targets: []string{"kci"}},
			{Name: "gl", Project: "group/proj", Drafts: true, Forks: true, Branches: []string{mr.TargetBranch}},
			{Name: "gl", Project: "group/proj", Drafts: true, Branches: []string{"other"},
				Base: change.Base{URL: "https://git.example.org/x.git", Tree: "x"}},
		} {
			s := &Source{o: o, host: "gitlab.example.org"}
			tr := trim(mr)
			name := fmt.Sprintf("fork %v, opts %+v", mr == &fork, o)
			if got, want := s.include(tr), s.include(mr); got != want {
				t.Errorf("%s: include of the trimmed form %v, of the full one %v", name, got, want)
			}
			e, te := entry{mr: mr, baseSHA: "b"}, entry{mr: tr, baseSHA: "b"}
			if got, want := s.convert(project, te, "h"), s.convert(project, e, "h"); !reflect.DeepEqual(got, want) {
				t.Errorf("%s: convert of the trimmed form\n%+v\nof the full one\n%+v", name, got, want)
			}
			if tr.Description != mr.Description || tr.State != mr.State || tr.IID != mr.IID || tr.SHA != mr.SHA {
				t.Errorf("%s: trimmed form %+v lost the description, state, iid or head of %+v", name, tr, mr)
			}
		}
	}
	if trim(nil) != nil {
		t.Error("trim(nil) is not nil")
	}
}
