package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/backlogd/backlogd/connectors"
	"github.com/backlogd/backlogd/connectors/registry"
	"github.com/backlogd/backlogd/mapping"
	"github.com/backlogd/backlogd/syncer"
	"github.com/backlogd/backlogd/syncer/store"
	"github.com/backlogd/backlogd/syncer/store/postgres"
	"github.com/backlogd/backlogd/syncer/store/sqlite"
)

// flags common to the commands that read the config.
type common struct {
	config string
}

func (c *common) register(fs *flag.FlagSet) {
	def := os.Getenv("BACKLOGD_CONFIG")
	if def == "" {
		def = "configs/backlogd.yaml"
	}
	fs.StringVar(&c.config, "config", def, "daemon config file")
}

func parse(fs *flag.FlagSet, args []string) error {
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		return &exitError{code: 2, err: fmt.Errorf("%s: %w (see backlogd help)", fs.Name(), err)}
	}
	return nil
}

// loadConfig loads the config files. BACKLOGD_LISTEN, when set,
// overrides listen: so a container's healthcheck and its daemon always
// agree on the address.
func loadConfig(path string) (*mapping.Config, error) {
	cfg, err := mapping.Load(path)
	if err != nil {
		return nil, configError(fmt.Errorf("invalid config:\n%w", err))
	}
	if v := os.Getenv("BACKLOGD_LISTEN"); v != "" {
		if _, _, err := net.SplitHostPort(v); err != nil {
			return nil, configError(fmt.Errorf("BACKLOGD_LISTEN=%q is not a host:port address; write it like 0.0.0.0:9464", v))
		}
		cfg.Listen = v
	}
	return cfg, nil
}

func newLogger(cfg *mapping.Config, w io.Writer, defaultFormat string) *slog.Logger {
	level := slog.LevelInfo
	switch strings.ToLower(cfg.Log.Level) {
	case "debug":
		level = slog.LevelDebug
	case "warn":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	}
	format := cfg.Log.Format
	if format == "" {
		format = defaultFormat
	}
	opts := &slog.HandlerOptions{Level: level}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// openStore opens the configured state store, creating the data
// directory when missing.
func openStore(ctx context.Context, cfg *mapping.Config) (store.Store, error) {
	switch cfg.Store.Driver {
	case "", "sqlite":
		path := cfg.Store.Path
		if path == "" {
			path = filepath.Join(cfg.DataDir, "backlogd.db")
		}
		st, err := sqlite.Open(ctx, path, sqlite.WithIDPrefix(cfg.IDPrefix))
		if err != nil {
			return nil, fmt.Errorf("open store %s: %w", path, err)
		}
		return st, nil
	case "postgres":
		return openPostgres(ctx, cfg)
	}
	return nil, configError(fmt.Errorf("%s: store driver %q is not available in this build; use sqlite or postgres", cfg.Path, cfg.Store.Driver))
}

// openPostgres opens the shared store several replicas use. The DSN is
// resolved from its secret reference here and handed to the store only:
// the store scrubs it from every error it returns.
// BACKLOGD_LEASE_TTL (a duration, default 15s) sets how long a replica's
// heartbeat and leases last unrenewed; every replica needs the same.
func openPostgres(ctx context.Context, cfg *mapping.Config) (store.Store, error) {
	dsn, err := connectors.EnvSecrets{}.Resolve(cfg.Store.DSN)
	if err != nil {
		return nil, configError(fmt.Errorf("%s: store.dsn: %w", cfg.Path, err))
	}
	opts := []postgres.Option{postgres.WithIDPrefix(cfg.IDPrefix)}
	if v := os.Getenv("BACKLOGD_LEASE_TTL"); v != "" {
		ttl, err := time.ParseDuration(v)
		if err != nil || ttl < time.Second {
			return nil, configError(fmt.Errorf("BACKLOGD_LEASE_TTL=%q is not a duration of a second or more; write it like 15s", v))
		}
		opts = append(opts, postgres.WithLeaseTTL(ttl))
	}
	st, err := postgres.Open(ctx, dsn.Reveal(), opts...)
	if err != nil {
		return nil, fmt.Errorf("open store (postgres, dsn from %s): %w", cfg.Store.DSN, err)
	}
	return st, nil
}

// buildConnectors makes one connector per target that a client uses.
// secrets resolves the references; nil means the process environment and
// files (connectors.EnvSecrets).
func buildConnectors(ctx context.Context, cfg *mapping.Config, log *slog.Logger, obs connectors.Observer, secrets connectors.SecretResolver) (map[string]connectors.Connector, error) {
	if secrets == nil {
		secrets = connectors.EnvSecrets{}
	}
	conns := map[string]connectors.Connector{}
	var errs []error
	for _, t := range cfg.Targets {
		if len(cfg.ClientsOf(t.Name)) == 0 {
			continue
		}
		env := connectors.Env{
			Target: t.Name, Settings: t.Settings, Secrets: secrets,
			Observer: obs, Logger: log.With("target", t.Name), DataDir: cfg.DataDir,
		}
		c, err := registry.New(ctx, t.Kind, env)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s:%d: target %s: %w", t.File, t.Line, t.Name, err))
			continue
		}
		conns[t.Name] = c
	}
	return conns, errors.Join(errs...)
}

// setup loads everything a command that syncs needs.
type setup struct {
	cfg   *mapping.Config
	log   *slog.Logger
	store store.Store
	sync  *syncer.Syncer
}

func (s *setup) Close() {
	if s.store != nil {
		s.store.Close()
	}
}

func newSetup(ctx context.Context, configPath string, log *slog.Logger, obs connectors.Observer, m syncer.Metrics) (*setup, error) {
	cfg, err := loadConfig(configPath)
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = newLogger(cfg, os.Stderr, "text")
	}
	conns, err := buildConnectors(ctx, cfg, log, obs, nil)
	if err != nil {
		return nil, configError(err)
	}
	st, err := openStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	s, err := syncer.New(cfg, st, conns, syncer.Options{Logger: log, Metrics: m})
	if err != nil {
		st.Close()
		return nil, configError(err)
	}
	return &setup{cfg: cfg, log: log, store: st, sync: s}, nil
}
