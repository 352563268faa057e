// Package daemon runs trawl cycles on their schedules until it is stopped.
//
// Sources that share a schedule form a group, ticked together. Each tick
// runs one cycle under a deadline; a tick that finds the previous one of its
// group still running is skipped, and a panic in a cycle is logged and
// recovered, so the next tick always runs. Every group also runs once at
// start, so an operator sees a first cycle without waiting for the schedule.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	"go.uber.org/zap"

	"github.com/trawl-ci/trawl/pkg/cycle"
)

// Cycler runs one cycle over a set of sources.
type Cycler interface {
	Run(ctx context.Context, mode cycle.Mode, scope []string) (*cycle.Report, error)
}

// Group is a set of sources ticked on one schedule.
type Group struct {
	Schedule string
	Sources  []string
}

// Options configures Run.
type Options struct {
	Cycler Cycler
	Groups []Group
	// Parse turns a schedule spec into a cron schedule (config.ParseSchedule).
	Parse func(spec string) (cron.Schedule, error)
	// CycleTimeout bounds each cycle; a cycle past it is abandoned.
	CycleTimeout time.Duration
	// Listen, when set, is the address /metrics, /healthz, /readyz and the
	// status page are served on.
	Listen string
	// Metrics is what /metrics serves.
	Metrics http.Handler
	// Status, when set, is the status page, served at / and below.
	Status http.Handler
	// Tracker records every group's cycles; nil makes one. Its groups
	// must be Groups.
	Tracker *Tracker
	// ReadyIntervals is how many of its group's intervals a source may go
	// without a complete cycle and stay ready; 0 means 3.
	ReadyIntervals int
	Logger         *zap.Logger
}

// Run schedules every group and blocks until ctx is cancelled, then waits
// for running cycles (which see the cancellation) to end, at most
// CycleTimeout. It returns an error only if a schedule cannot be parsed.
func Run(ctx context.Context, o Options) error {
	log := o.Logger
	if log == nil {
		log = zap.NewNop()
	}
	if o.CycleTimeout <= 0 {
		return errors.New("daemon: cycle timeout must be positive")
	}
	if o.Tracker == nil {
		o.Tracker = NewTracker(o.Groups)
	}
	if o.ReadyIntervals <= 0 {
		o.ReadyIntervals = 3
	}
	cl := cronLogger{log.Sugar()}
	c := cron.New(cron.WithLogger(cl), cron.WithChain(cron.Recover(cl), cron.SkipIfStillRunning(cl)))
	jobs := make([]cron.Job, 0, len(o.Groups))
	for i, g := range o.Groups {
		sched, err := o.Parse(g.Schedule)
		if err != nil {
			return fmt.Errorf("daemon: schedule %q: %w", g.Schedule, err)
		}
		next := sched.Next(time.Now())
		o.Tracker.setInterval(i, sched.Next(next).Sub(next))
		job := cron.NewChain(cron.Recover(cl)).Then(cron.FuncJob(func() { tick(ctx, o, log, i, g) }))
		jobs = append(jobs, job)
		c.Schedule(sched, job)
	}
	if o.Listen != "" {
		stop, err := serve(ctx, o.Listen, o.handler(), log)
		if err != nil {
			return err
		}
		defer stop()
	}
	for _, j := range jobs {
		if ctx.Err() != nil {
			break
		}
		j.Run()
	}
	c.Start()
	log.Info("daemon started", zap.Int("groups", len(o.Groups)))
	<-ctx.Done()
	log.Info("stopping: waiting for running cycles")
	stopped := c.Stop()
	select {
	case <-stopped.Done():
	case <-time.After(o.CycleTimeout):
		log.Warn("stopped without waiting for a cycle that did not end in time")
	}
	return nil
}

// tick runs one cycle of group i, g, under the cycle deadline and records
// it.
func tick(ctx context.Context, o Options, log *zap.Logger, i int, g Group) {
	cctx, cancel := context.WithTimeout(ctx, o.CycleTimeout)
	defer cancel()
	c := &Cycle{Started: time.Now()}
	rep, err := o.Cycler.Run(cctx, cycle.Act, g.Sources)
	c.Ended, c.Report = time.Now(), rep
	if err != nil {
		c.Err = err.Error()
	}
	o.Tracker.record(i, c)
	// A failed cycle logs its own summary at error level; only the
	// deadline, which the cycle cannot tell from a cancellation, is said
	// here.
	if errors.Is(cctx.Err(), context.DeadlineExceeded) {
		log.Error("cycle abandoned at its deadline", zap.Strings("sources", g.Sources), zap.Duration("timeout", o.CycleTimeout), zap.Error(err))
	}
	// trawl waits between ticks, often for minutes: the memory the cycle
	// used goes back to the system now, instead of staying resident at
	// the cycle's peak until the runtime's scavenger returns it, which it
	// does only down to about the heap's goal (twice what the last
	// collection kept). At 10k units the process then waits at about
	// half its peak, for one collection of what it keeps (tens of ms).
	debug.FreeOSMemory()
}

// handler serves /metrics, /healthz (the process is alive), /readyz
// (every source is being cycled successfully) and the status page.
func (o Options) handler() http.Handler {
	mux := http.NewServeMux()
	if o.Metrics != nil {
		mux.Handle("GET /metrics", o.Metrics)
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		ok, why := Ready(o.Tracker.Groups(), time.Now(), o.ReadyIntervals)
		if !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, strings.Join(why, "\n")+"\n")
			return
		}
		_, _ = io.WriteString(w, "ok\n")
	})
	if o.Status != nil {
		mux.Handle("/", o.Status)
	}
	return mux
}

// serve serves h on addr until stop is called. Stop runs once ctx is
// cancelled, so its shutdown deadline is measured from the call, not
// inherited from ctx's cancellation.
func serve(ctx context.Context, addr string, h http.Handler, log *zap.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("daemon: listen on %s: %w", addr, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server stopped", zap.Error(err))
		}
	}()
	log.Info("serving /metrics, /healthz, /readyz and the status page", zap.String("addr", ln.Addr().String()))
	return func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-done
	}, nil
}

// cronLogger adapts zap to cron.Logger.
type cronLogger struct{ s *zap.SugaredLogger }

func (l cronLogger) Info(msg string, kv ...any) { l.s.Debugw("cron: "+msg, kv...) }
func (l cronLogger) Error(err error, msg string, kv ...any) {
	l.s.Errorw("cron: "+msg, append(kv, "error", err)...)
}
