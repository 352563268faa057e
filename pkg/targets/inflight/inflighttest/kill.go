package inflighttest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/trawl-ci/trawl/pkg/targets"
)

// Trigger is the part of a target the kill helpers drive.
type Trigger interface {
	Trigger(ctx context.Context, r targets.Request) (targets.Job, error)
}

// Kill triggers r on a first process and kills it (cancels its trigger)
// once received is closed, the server holding its create request. The
// killed trigger must fail. A trigger of r on a new process, made by
// process afterwards on the same state directory, must then report the
// unit waiting (targets.ErrWaiting): the request on the wire may still
// make the job. Kill returns that new process.
func Kill[T Trigger](t testing.TB, received <-chan struct{}, process func() T, r targets.Request) T {
	t.Helper()
	first := process()
	ctx, kill := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := first.Trigger(ctx, r)
		done <- err
	}()
	select {
	case <-received:
	case err := <-done:
		t.Fatalf("the first trigger ended before its create request: %v", err)
	case <-time.After(time.Minute):
		t.Fatal("no create request within a minute")
	}
	kill()
	if err := <-done; err == nil {
		t.Fatal("the killed trigger succeeded")
	}
	next := process()
	if _, err := next.Trigger(context.Background(), r); !errors.Is(err, targets.ErrWaiting) {
		t.Fatalf("trigger while the create request is on the wire: %v, want a wait", err)
	}
	return next
}

// Settle releases h's held request and checks what next does once it was
// handed on or dropped: delivered, next adopts the job the server made;
// lost, next still waits within the grace, then creates the job anew once
// pastGrace has moved its clock past it.
func Settle(t testing.TB, h *Hold, next Trigger, r targets.Request, pastGrace func()) {
	t.Helper()
	h.Release()
	<-h.Handed
	if h.deliver {
		job, err := next.Trigger(context.Background(), r)
		if err != nil || !job.Adopted {
			t.Fatalf("trigger once the server has the job: %+v %v, want it adopted", job, err)
		}
		return
	}
	if _, err := next.Trigger(context.Background(), r); !errors.Is(err, targets.ErrWaiting) {
		t.Fatalf("trigger within the grace: %v, want a wait", err)
	}
	pastGrace()
	job, err := next.Trigger(context.Background(), r)
	if err != nil || job.Adopted {
		t.Fatalf("trigger past the grace: %+v %v, want a new job", job, err)
	}
}
