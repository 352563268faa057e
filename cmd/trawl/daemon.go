package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"github.com/trawl-ci/trawl/pkg/config"
	"github.com/trawl-ci/trawl/pkg/daemon"
	"github.com/trawl-ci/trawl/pkg/setup"
	"github.com/trawl-ci/trawl/pkg/state"
	"github.com/trawl-ci/trawl/pkg/web"
)

// runDaemon is `trawl run`: the daemon on cfg until ctx ends. SIGHUP reads
// the configuration file at path again; a valid one replaces the running
// daemon (its cycles are cancelled and awaited, the state lock is handed
// over, every group runs once at once as at start), an invalid one is
// logged at error and the running configuration kept.
//
// fresh (--fresh-state) applies to the first start only.
func runDaemon(ctx context.Context, path string, cfg *config.Config, fresh bool, stderr io.Writer) int {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	return serve(ctx, path, cfg, fresh, hup, stderr)
}

// serve runs the daemon and reloads it on each value of reload.
func serve(ctx context.Context, path string, cfg *config.Config, fresh bool, reload <-chan os.Signal, stderr io.Writer) int {
	for {
		log, err := setup.NewLogger(cfg.Log, stderr)
		if err != nil {
			fmt.Fprintf(stderr, "trawl: %v\n", err)
			return exitConfig
		}
		next, code := serveOnce(ctx, path, cfg, fresh, log, reload, stderr)
		_ = log.Sync()
		fresh = false
		if next == nil {
			return code
		}
		cfg = next
	}
}

// serveOnce runs the daemon on cfg until ctx ends (next is nil) or a reload
// brings a valid configuration (next).
func serveOnce(ctx context.Context, path string, cfg *config.Config, fresh bool, log *zap.Logger, reload <-chan os.Signal, stderr io.Writer) (next *config.Config, code int) {
	app, err := setup.New(cfg, setup.Options{Version: readVersion().Version, Logger: log, FreshState: fresh})
	if err != nil {
		fmt.Fprintf(stderr, "trawl run: %v\n", err)
		return nil, exitRuntime
	}
	defer app.Close()
	dctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	tracker := daemon.NewTracker(app.Groups)
	go func() {
		done <- daemon.Run(dctx, daemon.Options{
			Cycler:       app.Cycler(),
			Groups:       app.Groups,
			Parse:        config.ParseSchedule,
			CycleTimeout: time.Duration(cfg.CycleTimeout),
			Listen:       cfg.Listen,
			Metrics:      promhttp.HandlerFor(app.Metrics, promhttp.HandlerOpts{}),
			Tracker:      tracker,
			Status:       web.New(web.Options{Cycles: tracker, Load: state.ReadOnly(cfg.StatePath()).Load}),
			Logger:       log,
		})
	}()
	for {
		select {
		case err := <-done:
			if err != nil {
				fmt.Fprintf(stderr, "trawl run: %v\n", err)
				return nil, exitRuntime
			}
			return nil, exitOK
		case <-reload:
			c, err := loadChecked(path)
			if err != nil {
				log.Error("reload: the configuration is invalid; keeping the running one", zap.String("config", path), zap.Error(err))
				continue
			}
			log.Info("reload: configuration read; restarting the daemon on it", zap.String("config", path))
			cancel()
			if err := <-done; err != nil {
				log.Error("reload: the daemon did not stop cleanly", zap.Error(err))
			}
			return c, exitOK
		}
	}
}

// loadChecked loads the configuration at path and checks what it needs
// from this machine (secrets, commands, directories).
func loadChecked(path string) (*config.Config, error) {
	c, err := config.LoadFile(path)
	if err != nil {
		return nil, err
	}
	if err := c.CheckLocal(); err != nil {
		return nil, err
	}
	return c, nil
}
