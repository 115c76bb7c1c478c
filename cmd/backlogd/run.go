package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/backlogd/backlogd/connectors"
	"github.com/backlogd/backlogd/mapping"
	"github.com/backlogd/backlogd/syncer"
	"github.com/backlogd/backlogd/syncer/metrics"
	"github.com/backlogd/backlogd/syncer/store"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// daemon is a running backlogd: one store and listener for its lifetime,
// and a syncer that a reload replaces as a whole.
type daemon struct {
	configPath string
	log        *slog.Logger
	store      store.Store
	metrics    *metrics.Metrics
	quotas     *syncer.Quotas // rate-limit headroom for status, kept across reloads
	grace      time.Duration
	root       context.Context
	prom       http.Handler

	// fatal receives an error the daemon cannot go on after (the syncer
	// or the listener stopped); run shuts down and exits non-zero.
	fatal chan error

	mu      sync.Mutex // serialises reloads
	cfg     *mapping.Config
	current atomic.Pointer[running]
}

// running is one generation of the syncer.
type running struct {
	sync    *syncer.Syncer
	handler http.Handler
	cancel  context.CancelFunc
	done    chan struct{}
}

func cmdRun(ctx context.Context, args []string, _, stderr io.Writer) (err error) {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	var c common
	c.register(fs)
	grace := fs.Duration("grace", 10*time.Second, "how long in-flight writes may finish after SIGTERM")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(c.config)
	if err != nil {
		return err
	}
	log := newLogger(cfg, stderr, "json")
	// From here on a fatal error is one more JSON line, like every other
	// event of the daemon, not a plain-text line a log pipeline chokes on.
	defer func() {
		if err == nil {
			return
		}
		log.Error("backlogd stopped", "error", err)
		code := 1
		var ee *exitError
		if errors.As(err, &ee) {
			code = ee.code
		}
		err = &exitError{code: code, err: err, logged: true}
	}()
	reg := prometheus.NewRegistry()
	m := metrics.New(reg, metrics.BuildInfo{Version: version, Revision: revision, GoVersion: runtime.Version()})
	st, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer func() {
		if err := st.Close(); err != nil {
			log.Error("closing store", "error", err)
		}
	}()
	if cfg.Store.Driver != "postgres" {
		// One process syncs a SQLite store: a second daemon, or a
		// `resync` beside this one, would create what this one creates.
		unlock, err := lockStore(cfg)
		if err != nil {
			return err
		}
		defer unlock()
	}
	d := &daemon{
		configPath: c.config, log: log, store: st, metrics: m, quotas: &syncer.Quotas{}, grace: *grace, root: ctx,
		prom:  promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}),
		fatal: make(chan error, 1),
	}
	s, err := d.build(cfg)
	if err != nil {
		return configError(err)
	}
	d.launch(s, cfg)

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w; set listen: in %s to a free address", cfg.Listen, err, c.config)
	}
	token, err := apiToken(cfg)
	if err != nil {
		return configError(fmt.Errorf("%s: api_token: %w", c.config, err))
	}
	if token.IsZero() && !loopback(ln.Addr()) {
		log.Warn("the API answers loopback clients only: set api_token to use status, resync and /api/v1 from other hosts", "listen", ln.Addr().String())
	}
	srv := &http.Server{
		Handler: syncer.RequireAPIToken(token, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			d.current.Load().handler.ServeHTTP(w, r)
		})),
		ReadHeaderTimeout: 10 * time.Second,
		// A webhook body is read whole before its signature is checked:
		// bound how long a slow client may hold a connection for it.
		ReadTimeout:  time.Minute,
		WriteTimeout: time.Minute,
		IdleTimeout:  2 * time.Minute,
	}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.fail(fmt.Errorf("http server: %w", err))
		}
	}()
	log.Info("backlogd started", "listen", ln.Addr().String(), "version", version, "targets", len(cfg.Targets), "clients", len(cfg.Clients))

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	var fatal error
	for {
		select {
		case <-hup:
			if err := d.reload(ctx); err != nil {
				log.Error("reload rejected; the running config stays in force", "error", err)
			}
			continue
		case fatal = <-d.fatal:
			// Exit non-zero, so the orchestrator restarts a daemon that
			// stopped syncing instead of leaving it healthy and idle.
		case <-ctx.Done():
		}
		break
	}
	log.Info("shutting down: no new work, finishing in-flight writes", "grace", d.grace)
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.grace+5*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutdownCtx)
	r := d.current.Load()
	r.cancel()
	<-r.done
	if fatal != nil {
		return fatal
	}
	log.Info("stopped")
	return nil
}

// fail reports an error the daemon cannot run on; the first one wins.
func (d *daemon) fail(err error) {
	select {
	case d.fatal <- err:
	default:
	}
}

// build makes a syncer generation for cfg without starting it, so a bad
// config is refused before anything running is touched.
func (d *daemon) build(cfg *mapping.Config) (*syncer.Syncer, error) {
	conns, err := buildConnectors(d.root, cfg, d.log, connectors.Observers{d.metrics, d.quotas}, nil)
	if err != nil {
		return nil, err
	}
	return syncer.New(cfg, d.store, conns, syncer.Options{Logger: d.log, Metrics: d.metrics, Grace: d.grace, Quotas: d.quotas})
}

// launch starts a built generation and makes it the one serving HTTP.
func (d *daemon) launch(s *syncer.Syncer, cfg *mapping.Config) {
	clients := map[string][]string{}
	for _, c := range cfg.Clients {
		clients[c.Target] = append(clients[c.Target], c.ID)
	}
	d.metrics.Known(s.Targets(), clients)
	ctx, cancel := context.WithCancel(d.root)
	r := &running{sync: s, cancel: cancel, done: make(chan struct{})}
	r.handler = s.Handler(d.prom, d.reload)
	go func() {
		defer close(r.done)
		if err := s.Run(ctx); err != nil && ctx.Err() == nil {
			d.fail(fmt.Errorf("syncer: %w", err))
		}
	}()
	d.cfg = cfg
	d.current.Store(r)
}

// reload reads the config again; an invalid one is rejected whole and the
// running generation keeps going. Store and listener changes need a
// restart and are reported as such.
func (d *daemon) reload(context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	cfg, err := loadConfig(d.configPath)
	if err == nil {
		var s *syncer.Syncer
		if s, err = d.build(cfg); err == nil {
			if cfg.Listen != d.cfg.Listen || cfg.Store != d.cfg.Store || cfg.DataDir != d.cfg.DataDir {
				d.log.Warn("listen, data_dir and store changes take effect at the next restart")
			}
			// Stop the old generation before the new one starts: two
			// syncers must never reconcile the same keys at once.
			old := d.current.Load()
			old.cancel()
			d.log.Info("reloading: the running syncer takes no new work and finishes its in-flight writes", "grace", d.grace)
			<-old.done
			// Until the new generation serves HTTP, and for the requests
			// the old one is still serving after that, webhooks reach the
			// old syncer: what it queued, and queues from now on, goes to
			// the new one.
			handed := old.sync.HandOver(s)
			d.launch(s, cfg)
			for _, t := range old.sync.Targets() {
				if _, ok := cfg.Target(t); !ok {
					d.metrics.Forget(t)
				}
			}
			d.metrics.Reload("success")
			d.log.Info("config reloaded", "targets", len(cfg.Targets), "clients", len(cfg.Clients), "keys_handed_over", handed)
			return nil
		}
	}
	d.metrics.Reload("failure")
	return fmt.Errorf("invalid config, keeping the running one: %w", err)
}
