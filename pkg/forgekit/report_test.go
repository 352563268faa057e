package forgekit

import (
	"context"
	"errors"
	"testing"

	"github.com/trawl-ci/trawl/pkg/report"
	"github.com/trawl-ci/trawl/pkg/targets"
)

func TestLookBeforePost(t *testing.T) {
	m := report.Message{Target: "kernelci", Fingerprint: "0123456789abcdef", State: targets.StateSuccess, Summary: "build passed"}
	desc := report.Description(m, 200) // what a post of m writes
	other := report.Description(report.Message{Fingerprint: "fedcba9876543210", Summary: "build passed"}, 200)
	lookErr, postErr := errors.New("look failed"), errors.New("post failed")
	tests := []struct {
		name      string
		existing  []Existing
		lookErr   error
		postDone  report.Done
		postErr   error
		want      report.Done
		wantErr   error
		wantPosts int
	}{
		{name: "nothing there: posts", want: report.Posted, wantPosts: 1},
		{name: "the same report there: found, not posted", existing: []Existing{{"success", desc}}, want: report.Found},
		{name: "same state, other wording of the same fingerprint: found",
			existing: []Existing{{"success", "built in 3 min " + desc[len(desc)-20:]}}, want: report.Found},
		{name: "another state: posts", existing: []Existing{{"pending", desc}}, want: report.Posted, wantPosts: 1},
		{name: "another fingerprint: posts", existing: []Existing{{"success", other}}, want: report.Posted, wantPosts: 1},
		{name: "one of several is the same: found",
			existing: []Existing{{"pending", desc}, {"success", desc}}, want: report.Found},
		{name: "failed look: no post", lookErr: lookErr, wantErr: lookErr},
		{name: "failed post", postErr: postErr, wantErr: postErr, wantPosts: 1},
		{name: "the forge says it was there", postDone: report.Found, want: report.Found, wantPosts: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			posts := 0
			got, err := LookBeforePost(t.Context(), m, "success",
				func(context.Context) ([]Existing, error) { return tt.existing, tt.lookErr },
				func(context.Context) (report.Done, error) {
					posts++
					if tt.postErr != nil {
						return 0, tt.postErr
					}
					if tt.postDone != 0 {
						return tt.postDone, nil
					}
					return report.Posted, nil
				})
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("error %v, want %v", err, tt.wantErr)
			}
			if err == nil && got != tt.want {
				t.Errorf("done %v, want %v", got, tt.want)
			}
			if posts != tt.wantPosts {
				t.Errorf("%d posts, want %d", posts, tt.wantPosts)
			}
		})
	}
}

func TestContext(t *testing.T) {
	tests := []struct {
		name      string
		m         report.Message
		perTarget bool
		want      string
	}{
		{"one status for every target", report.Message{Target: "kernelci"}, false, "trawl"},
		{"one status per target", report.Message{Target: "kernelci"}, true, "trawl/kernelci"},
		{"a relayed result keeps its name", report.Message{Target: "kernelci", Context: "relay/ci"}, true, "relay/ci"},
		{"a relayed result keeps its name without per-target", report.Message{Context: "relay/ci"}, false, "relay/ci"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Context(tt.m, "trawl", "/", tt.perTarget); got != tt.want {
				t.Errorf("Context = %q, want %q", got, tt.want)
			}
		})
	}
}
