package patchwork

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/trawl-ci/trawl/forges/patchwork/pwfake"
	"github.com/trawl-ci/trawl/pkg/change"
)

func TestOwnerMethods(t *testing.T) {
	pw, err := pwfake.New(pwfake.Options{Phase: pwfake.P2DependsOn})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(pw)
	defer srv.Close()
	s, err := New(Opts{Name: "netdev", URL: srv.URL, Project: "netdev", HTTP: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	host := srv.Listener.Addr().String()
	for key, want := range map[change.Key]change.Claim{
		change.PatchworkKey(host, "netdev", 15):               change.ClaimOwn,
		change.PatchworkKey(host, "bpf", 9):                   change.ClaimHost,
		change.PatchworkKey("patchwork.kernel.org", "bpf", 9): change.ClaimNone,
		"gh:rock-core/base-types#1":                           change.ClaimNone,
	} {
		if got := s.Claim(key); got != want {
			t.Errorf("Claim(%s) = %v, want %v", key, got, want)
		}
	}
	ctx := context.Background()
	// Series 15 is the v3 whose cover letter series 16 names.
	got, err := s.ResolveMsgID(ctx, "<20261121050000.4242-0-stephenfinucane@example.org>")
	if err != nil || got != change.PatchworkKey(host, "netdev", 15) {
		t.Fatalf("ResolveMsgID(cover of series 15) = %q, %v", got, err)
	}
	if got, err := s.ResolveMsgID(ctx, "nobody@example.org"); err != nil || got != "" {
		t.Fatalf("ResolveMsgID(unknown) = %q, %v; want none", got, err)
	}
	// Series 4 has an accepted patch and three new ones: still open.
	st, err := s.ChangeState(ctx, change.PatchworkKey(host, "netdev", 4))
	if err != nil || st != change.StateOpen {
		t.Fatalf("ChangeState(series 4) = %q, %v; want open", st, err)
	}
	if _, err := s.ChangeState(ctx, "pw:elsewhere.org/netdev/series/4"); err == nil {
		t.Fatal("ChangeState answered for another instance")
	}
}
