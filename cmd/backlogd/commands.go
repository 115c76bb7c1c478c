package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/backlogd/backlogd/connectors"
	"github.com/backlogd/backlogd/connectors/registry"
	"github.com/backlogd/backlogd/mapping"
	"github.com/backlogd/backlogd/syncer"
	"github.com/backlogd/backlogd/syncer/store"
	"github.com/backlogd/backlogd/syncer/store/sqlite"
)

func cmdValidate(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	var c common
	c.register(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(c.config)
	if err != nil {
		return err
	}
	var errs []error
	for _, t := range cfg.Targets {
		if !registry.Known(t.Kind) {
			errs = append(errs, fmt.Errorf("%s:%d: target %s: unknown kind %q; use one of %s", t.File, t.Line, t.Name, t.Kind, strings.Join(registry.Kinds(), ", ")))
			continue
		}
		// The connector checks its own settings and secret references,
		// offline: no tracker is called, no secret read, no file made.
		env := connectors.Env{Target: t.Name, Settings: t.Settings, Secrets: connectors.RefChecker{}, DataDir: cfg.DataDir, Offline: true}
		if _, err := registry.New(ctx, t.Kind, env); err != nil {
			errs = append(errs, fmt.Errorf("%s:%d: %w", t.File, t.Line, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return configError(fmt.Errorf("invalid config:\n%w", err))
	}
	fmt.Fprintf(stdout, "%s: OK (%d targets, %d clients)\n", c.config, len(cfg.Targets), len(cfg.Clients))
	for _, cl := range cfg.Clients {
		fmt.Fprintf(stdout, "  client %-12s target %-16s scope: %s\n", cl.ID, cl.Target, cl.Scope)
	}
	return nil
}

func cmdPlan(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("plan", flag.ContinueOnError)
	var c common
	c.register(fs)
	asJSON := fs.Bool("json", false, "print the plan as JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	// The dry run's info lines ("reconciled", op=created) would read as
	// things done: a plan shows warnings only, and prints what it would do.
	quiet := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	s, err := newSetup(ctx, c.config, quiet, nil, nil)
	if err != nil {
		return err
	}
	defer s.Close()
	dir, err := os.MkdirTemp("", "backlogd-plan-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	scratch, err := sqlite.Open(ctx, dir+"/plan.db", sqlite.WithIDPrefix(s.cfg.IDPrefix))
	if err != nil {
		return err
	}
	defer scratch.Close()
	p, err := s.sync.Plan(ctx, scratch)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(p)
	}
	fmt.Fprint(stdout, p.String())
	return nil
}

// daemonURL returns the base URL of a running daemon for cfg, or "" if
// none answers.
func daemonURL(ctx context.Context, cfg *mapping.Config) string {
	base := "http://" + cfg.Listen
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/healthz", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return ""
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return ""
	}
	return base
}

func cmdStatus(ctx context.Context, args []string, stdout io.Writer) (err error) {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	var c common
	c.register(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(c.config)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	defer tw.Flush()
	if base := daemonURL(ctx, cfg); base != "" {
		var sts []syncer.TargetStatus
		if err := getJSON(ctx, cfg, base+"/api/v1/status", &sts); err != nil {
			return err
		}
		printStatus(tw, sts)
		if cfg.Store.Driver != "postgres" {
			return nil
		}
		// The daemon answering is one replica: the store knows them all.
		st, err := openStore(ctx, cfg)
		if err != nil {
			return err
		}
		defer st.Close()
		tw.Flush()
		return leaseStatus(ctx, st, stdout)
	}
	// No daemon answering: report what the store knows.
	st, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	defer func() {
		if err == nil {
			tw.Flush()
			err = leaseStatus(ctx, st, stdout)
		}
	}()
	var links []store.Link
	var conflicts []store.Conflict
	var intents []store.Intent
	err = st.Tx(ctx, func(tx store.Tx) error {
		var err error
		if links, err = tx.Links(ctx, ""); err != nil {
			return err
		}
		if conflicts, err = tx.Conflicts(ctx); err != nil {
			return err
		}
		intents, err = tx.Intents(ctx, "")
		return err
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "no daemon answers on %s; from the store:\n", cfg.Listen)
	// The store keeps the reason of each parked item on its link; whether
	// a target or its items are failing only the running daemon knows.
	fmt.Fprintf(tw, "TARGET\tCLIENT\tLINKED\tGONE\tUNLINKED\tOUTBOX\tCONFLICTS\tLAST SYNC\tPARKED\tLAST PARKED\n")
	for _, t := range cfg.Targets {
		var linked, gone, unlinked, pending, open, parked int
		var last time.Time
		var lastErr string
		for _, l := range links {
			if l.Target != t.Name {
				continue
			}
			switch l.State {
			case store.LinkActive:
				linked++
			case store.LinkGone:
				gone++
			default:
				unlinked++
			}
			if l.SyncedAt.After(last) {
				last = l.SyncedAt
			}
			if l.LastError != "" {
				parked++
				lastErr = l.ItemID + ": " + l.LastError
			}
		}
		for _, in := range intents {
			if in.Target == t.Name {
				pending++
			}
		}
		for _, c := range conflicts {
			if c.Target == t.Name {
				open++
			}
		}
		client := "-"
		if cs := cfg.ClientsOf(t.Name); len(cs) > 0 {
			client = cs[0].ID
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%s\t%d\t%s\n", t.Name, client, linked, gone, unlinked, pending, open, ago(last), parked, lastErr)
	}
	return nil
}

// leaseStatus prints the replicas sharing st and who owns each target,
// when st is shared (PostgreSQL); nothing otherwise.
func leaseStatus(ctx context.Context, st store.Store, w io.Writer) error {
	l, ok := st.(store.Leaser)
	if !ok {
		return nil
	}
	replicas, err := l.Replicas(ctx)
	if err != nil {
		return err
	}
	leases, err := l.Leases(ctx)
	if err != nil {
		return err
	}
	now := time.Now()
	live := map[string]bool{}
	held := map[string]int{}
	for _, r := range replicas {
		live[r.ID] = true
	}
	for _, le := range leases {
		if le.Expires.After(now) {
			held[le.Holder]++
		}
	}
	fmt.Fprintf(w, "\n%d replicas share the store (lease TTL %s):\n", len(replicas), l.LeaseTTL())
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "REPLICA\tHOST\tSTARTED\tLAST HEARTBEAT\tLEASES\n")
	for _, r := range replicas {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\n", r.ID, r.Host, ago(r.Started), ago(r.Seen), held[r.ID])
	}
	tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "LEASE\tOWNER\tTOKEN\tSINCE\tEXPIRES\n")
	for _, le := range leases {
		owner := le.Holder
		switch {
		case !le.Expires.After(now):
			owner = "none (last " + le.Holder + ")"
		case !live[le.Holder]:
			owner += " (no heartbeat)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", le.Target, owner, le.Token, ago(le.Acquired), until(le.Expires, now))
	}
	return tw.Flush()
}

// until says when t comes, or how long ago it went.
func until(t, now time.Time) string {
	if t.After(now) {
		return "in " + t.Sub(now).Round(100*time.Millisecond).String()
	}
	return "expired " + ago(t)
}

// quota renders a tracker's rate-limit headroom: "4870 left, resets 10:42".
// printStatus writes the running daemon's status, one line per target
// and, under it, the items that do not sync: STATE and LAST ERROR are the
// target's own (failing means nothing syncs with it), while items
// failing with a retried error (retrying) and parked items are counted
// and listed apart, up to statusItemsShown of each.
func printStatus(tw io.Writer, sts []syncer.TargetStatus) {
	fmt.Fprintf(tw, "TARGET\tCLIENT\tKIND\tSTATE\tLAST SYNC\tQUEUE\tOLDEST\tRATE LIMIT\tCONFLICTS\tFAILING\tPARKED\tLAST ERROR\n")
	// item prints a line about one item, under the target's STATE and
	// LAST ERROR.
	item := func(label, text string) { fmt.Fprintf(tw, "\t\t\t%s\t\t\t\t\t\t\t\t%s\n", label, text) }
	for _, st := range sts {
		state := "ok"
		switch {
		case !st.PausedUntil.IsZero():
			state = "paused until " + st.PausedUntil.UTC().Format(time.TimeOnly)
		case !st.Reached:
			state = "connecting"
		case st.LastError != "":
			state = "failing"
		}
		// A daemon older than this CLI lists parked items without counting them.
		parked := max(st.ItemsParked, len(st.Parked))
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%d\t%d\t%d\t%s\n", st.Target, st.Client, st.Kind, state,
			ago(st.LastPoll), st.Queue, st.OldestWait, quota(st.Quota), st.Conflicts, st.ItemsFailing, parked, st.LastError)
		for i, f := range st.FailingItems {
			if i == statusItemsShown {
				break
			}
			item("retrying", fmt.Sprintf("%s: %s (%s)", f.Item, f.Error, attempts(f)))
		}
		if n := st.ItemsFailing - min(len(st.FailingItems), statusItemsShown); n > 0 {
			item("retrying", fmt.Sprintf("… and %d more", n))
		}
		for i, p := range st.Parked {
			if i == statusItemsShown {
				item("parked", fmt.Sprintf("… and %d more", parked-i))
				break
			}
			item("parked", p)
		}
	}
}

// statusItemsShown bounds the items `backlogd status` lists per target
// and kind, so that a target with thousands parked stays readable.
const statusItemsShown = 10

// attempts says how long an item has been failing.
func attempts(f syncer.ItemError) string {
	s := "1 attempt"
	if f.Attempts != 1 {
		s = fmt.Sprintf("%d attempts", f.Attempts)
	}
	if !f.Since.IsZero() {
		s += " since " + f.Since.UTC().Format(time.TimeOnly)
	}
	return s
}

func quota(q *syncer.Quota) string {
	if q == nil {
		return "-"
	}
	if q.Reset.IsZero() {
		return fmt.Sprintf("%d left", q.Remaining)
	}
	return fmt.Sprintf("%d left, resets %s", q.Remaining, q.Reset.UTC().Format(time.TimeOnly))
}

func ago(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return time.Since(t).Round(time.Second).String() + " ago"
}

// apiToken resolves the daemon's API token (zero when none is set).
func apiToken(cfg *mapping.Config) (connectors.Secret, error) {
	if cfg.APIToken == "" {
		return connectors.Secret{}, nil
	}
	return connectors.EnvSecrets{}.Resolve(cfg.APIToken)
}

// authorize adds the API token to a request to the daemon, when this
// process can resolve it.
func authorize(req *http.Request, cfg *mapping.Config) {
	if tok, err := apiToken(cfg); err == nil && !tok.IsZero() {
		req.Header.Set("Authorization", "Bearer "+tok.Reveal())
	}
}

// loopback reports whether the listener only takes local connections.
func loopback(a net.Addr) bool {
	tcp, ok := a.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}

// callDaemon sends a request to the running daemon's API, with the API
// token when this process can resolve it, and fails unless the answer has
// the status wanted.
func callDaemon(ctx context.Context, cfg *mapping.Config, method, u string, want int) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return nil, err
	}
	authorize(req, cfg)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != want {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		return nil, fmt.Errorf("%s %s: %s: %s", method, u, resp.Status, strings.TrimSpace(string(b)))
	}
	return resp, nil
}

func getJSON(ctx context.Context, cfg *mapping.Config, u string, v any) error {
	resp, err := callDaemon(ctx, cfg, http.MethodGet, u, http.StatusOK)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(v)
}

func cmdConflicts(ctx context.Context, args []string, stdout io.Writer) error {
	resolve := len(args) > 0 && args[0] == "resolve"
	if resolve {
		args = args[1:]
	}
	fs := flag.NewFlagSet("conflicts", flag.ContinueOnError)
	var c common
	c.register(fs)
	take := fs.String("take", "", "canonical or tracker: which side's value wins")
	// Accept `resolve ID --take X` as well as `resolve --take X ID`.
	var id string
	if resolve && len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		id, args = args[0], args[1:]
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	if resolve && id == "" && fs.NArg() > 0 {
		id = fs.Arg(0)
	}
	cfg, err := loadConfig(c.config)
	if err != nil {
		return err
	}
	st, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	if resolve {
		n, err := strconv.ParseInt(id, 10, 64)
		if err != nil || *take == "" {
			return &exitError{code: 2, err: errors.New("usage: backlogd conflicts resolve ID --take canonical|tracker")}
		}
		cf, err := syncer.ResolveConflict(ctx, st, n, *take)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "conflict %d on %s %s (%s) resolved: %s value kept; it syncs at the next reconcile\n", n, cf.Target, cf.ItemID, cf.Field, *take)
		if base := daemonURL(ctx, cfg); base != "" {
			if err := postResync(ctx, cfg, base, cf.Target, cf.ItemID); err != nil {
				fmt.Fprintf(stdout, "the running daemon did not take the resync (%v); it syncs the item at its next sweep\n", err)
			}
		}
		return nil
	}
	var cs []store.Conflict
	if err := st.Tx(ctx, func(tx store.Tx) error {
		var err error
		cs, err = tx.Conflicts(ctx)
		return err
	}); err != nil {
		return err
	}
	if len(cs) == 0 {
		fmt.Fprintln(stdout, "No conflicts waiting.")
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	defer tw.Flush()
	fmt.Fprintf(tw, "ID\tCLIENT\tTARGET\tITEM\tFIELD\tCANONICAL\tTRACKER\tSINCE\n")
	for _, cf := range cs {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%q\t%q\t%s\n", cf.ID, cf.Client, cf.Target, cf.ItemID, cf.Field, cf.Canonical, cf.Remote, ago(cf.Created))
	}
	fmt.Fprintln(tw, "\nresolve with: backlogd conflicts resolve ID --take canonical|tracker")
	return nil
}

func postResync(ctx context.Context, cfg *mapping.Config, base, target, item string) error {
	u := base + "/api/v1/resync?target=" + url.QueryEscape(target) + "&item=" + url.QueryEscape(item)
	resp, err := callDaemon(ctx, cfg, http.MethodPost, u, http.StatusAccepted)
	if err != nil {
		return err
	}
	return resp.Body.Close()
}

func cmdResync(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("resync", flag.ContinueOnError)
	var c common
	c.register(fs)
	target := fs.String("target", "", "target to reconcile (default: all)")
	item := fs.String("item", "", "only this canonical item")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(c.config)
	if err != nil {
		return err
	}
	if base := daemonURL(ctx, cfg); base != "" {
		if err := postResync(ctx, cfg, base, *target, *item); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "queued on the running daemon")
		return nil
	}
	if cfg.Store.Driver != "postgres" {
		// No daemon answered: sync here, unless one holds the store
		// without answering (another listen address, a reload).
		unlock, err := lockStore(cfg)
		if err != nil {
			return err
		}
		defer unlock()
	}
	s, err := newSetup(ctx, c.config, nil, nil, nil)
	if err != nil {
		return err
	}
	defer s.Close()
	switch {
	case *target == "" && *item == "":
		err = s.sync.SyncOnce(ctx)
	case *target == "":
		s.sync.Enqueue(*item)
		err = s.sync.Drain(ctx)
	default:
		if err = s.sync.EnqueueTarget(ctx, *target, *item); err == nil {
			err = s.sync.Drain(ctx)
		}
	}
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, "resync done")
	return nil
}

func cmdHealthcheck(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	addr := fs.String("addr", envOr("BACKLOGD_LISTEN", "127.0.0.1:9464"), "daemon listen address")
	path := fs.String("path", "/healthz", "endpoint to check (/healthz or /readyz)")
	if err := parse(fs, args); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+*addr+*path, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck %s: %w", *addr, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return fmt.Errorf("healthcheck %s%s: %s %s", *addr, *path, resp.Status, strings.TrimSpace(string(b)))
	}
	fmt.Fprintln(stdout, "ok")
	return nil
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
