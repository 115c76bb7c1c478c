package redmine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/backlogd/backlogd/connectors"
	"github.com/backlogd/backlogd/connectors/transport"
	"golang.org/x/time/rate"
)

// Config is everything New needs: the decoded settings with the API key
// resolved, and the knobs tests turn. The zero value of every knob is the
// production default.
type Config struct {
	Settings
	// Target names the target in logs and metrics.
	Target string
	APIKey connectors.Secret
	// Base is the round tripper under the shared client (defaults to the
	// daemon's HTTP client's transport, or a pooled one).
	Base     http.RoundTripper
	Observer connectors.Observer
	Logger   *slog.Logger
	// MaxWait is the longest wait slept through inside a call (default 5s);
	// MaxRetries bounds retries of 5xx and transport errors (default 3).
	MaxWait    time.Duration
	MaxRetries int
	// Timeout bounds one attempt (default 30s).
	Timeout time.Duration
}

// Connector is a Redmine connector for one project. It implements
// connectors.Connector; Redmine has no webhooks, so changes are polled.
type Connector struct {
	cfg   Config
	http  *transport.Client
	pace  *rate.Limiter
	log   *slog.Logger
	etags *etagCache

	mu   sync.Mutex
	meta *meta
}

var (
	_ connectors.Connector = (*Connector)(nil)
	_ connectors.Factory   = Factory
)

// Factory builds a Redmine connector from a target's settings and
// resolves trackers, statuses, priorities and custom fields by name;
// register it under the kind "redmine". A bad key or project fails here;
// an unreachable server does not (the names load on first use), so one
// client's outage never stops the daemon.
func Factory(ctx context.Context, env connectors.Env) (connectors.Connector, error) {
	var s Settings
	if err := connectors.LoadSettings("redmine", env, &s); err != nil {
		return nil, err
	}
	cfg := Config{Settings: s, Target: env.Target, Observer: env.Observer, Logger: env.Logger}
	if err := connectors.ResolveSecrets("redmine", env, connectors.SecretSetting{Name: "api_key", Ref: s.APIKey, Into: &cfg.APIKey}); err != nil {
		return nil, err
	}
	if env.Offline {
		return nil, nil // settings and references checked; nothing to connect
	}
	if env.HTTP != nil {
		cfg.Base = env.HTTP.Transport
	}
	c, err := New(cfg)
	if err != nil {
		return nil, fmt.Errorf("redmine target %s: %w", env.Target, err)
	}
	if err := c.Refresh(ctx); err != nil {
		if connectors.IsTerminal(err) {
			return nil, fmt.Errorf("redmine target %s: %w", env.Target, err)
		}
		c.log.Warn("redmine: could not read trackers and statuses at start; retrying on first use", "error", err)
	}
	return c, nil
}

// New builds a connector. It makes no request; Refresh (called by
// Factory, or on first use) reads the names.
func New(cfg Config) (*Connector, error) {
	if err := cfg.Settings.Validate(); err != nil {
		return nil, fmt.Errorf("redmine: %w", err)
	}
	if cfg.APIKey.IsZero() {
		return nil, errors.New("redmine: the API key is empty; set the variable or file its reference names")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Connector{cfg: cfg, log: cfg.Logger.With("target", cfg.Target), etags: newETagCache(2000)}
	if cfg.RequestsPerSecond > 0 {
		c.pace = rate.NewLimiter(rate.Limit(cfg.RequestsPerSecond), max(1, int(cfg.RequestsPerSecond)))
	}
	c.http = transport.New(transport.Options{
		Target: cfg.Target, Base: cfg.Base, Classify: Classify, Observer: cfg.Observer,
		Logger: cfg.Logger, MaxRetries: cfg.MaxRetries, MaxWait: cfg.MaxWait, Timeout: cfg.Timeout,
	})
	return c, nil
}

// Capabilities implements connectors.Connector. Values are filled once
// the names have been loaded (Factory does it at start).
func (c *Connector) Capabilities() connectors.Capabilities {
	c.mu.Lock()
	m := c.meta
	c.mu.Unlock()
	return m.capabilities()
}

// Get implements connectors.Connector: the issue with its notes.
func (c *Connector) Get(ctx context.Context, id string) (connectors.Record, error) {
	m, err := c.metadata(ctx)
	if err != nil {
		return connectors.Record{}, err
	}
	is, err := c.getIssue(ctx, id, true)
	if err != nil {
		return connectors.Record{}, fmt.Errorf("redmine: get issue #%s: %w", id, err)
	}
	return c.record(m, is), nil
}

func (c *Connector) getIssue(ctx context.Context, id string, journals bool) (*issue, error) {
	if err := checkID(id, "issue"); err != nil {
		return nil, err
	}
	var q url.Values
	if journals {
		q = url.Values{"include": {"journals"}}
	}
	var env issueEnvelope
	if err := c.do(ctx, call{method: http.MethodGet, path: "/issues/" + id + ".json", query: q, out: &env, cache: true}); err != nil {
		return nil, err
	}
	return &env.Issue, nil
}

// FindByMarker implements connectors.Connector with the marker custom
// field's filter (cf_N=BL-42, exact), including closed issues. An answer
// holding an issue with another marker means Redmine ignored the filter
// (the field is not "Used as a filter"): that is a terminal error, never
// "not found".
func (c *Connector) FindByMarker(ctx context.Context, marker string) (connectors.Record, error) {
	m, err := c.metadata(ctx)
	if err != nil {
		return connectors.Record{}, err
	}
	q := url.Values{
		"project_id":                      {strconv.Itoa(m.projectID)},
		"status_id":                       {"*"},
		"cf_" + strconv.Itoa(m.marker.ID): {marker},
		"sort":                            {"id"},
		"limit":                           {"25"},
	}
	var l issueList
	if err := c.do(ctx, call{method: http.MethodGet, path: "/issues.json", query: q, out: &l}); err != nil {
		return connectors.Record{}, fmt.Errorf("redmine: find the issue marked %s: %w", marker, err)
	}
	var found *connectors.Record
	for _, is := range l.Issues {
		r := c.record(m, &is)
		if !strings.EqualFold(r.Marker, marker) {
			// Redmine drops a cf_N filter on a field that is not "Used as a
			// filter" without a word and lists the project's issues: an
			// answer without the marker asked for would read as "no issue
			// has it", and the syncer would create a duplicate. A key
			// without admin rights cannot check the setting at start.
			return connectors.Record{}, connectors.Terminalf("redmine: find the issue marked %s: Redmine ignored the filter on custom field %q (issue #%s carries %q): the field must be \"Used as a filter\"; an administrator ticks it in Administration › Custom fields › %s", marker, c.cfg.MarkerField, r.ID, r.Marker, c.cfg.MarkerField)
		}
		// Redmine's string filter may ignore case (MySQL): compare exactly.
		if r.Marker == marker && found == nil {
			found = &r
		}
	}
	if found != nil {
		if l.TotalCount > 1 {
			c.log.Warn("redmine: several issues carry the same marker; using the oldest", "item", marker, "issue", found.ID)
		}
		return c.Get(ctx, found.ID)
	}
	return connectors.Record{}, fmt.Errorf("redmine: no issue marked %s: %w", marker, connectors.ErrNotFound)
}

// Create implements connectors.Connector. Redmine ignores status_id on
// create (a new issue takes its tracker's default status), so a status
// other than that is set with a second write.
func (c *Connector) Create(ctx context.Context, marker string, fields connectors.Fields) (connectors.Record, error) {
	m, err := c.metadata(ctx)
	if err != nil {
		return connectors.Record{}, err
	}
	ws, err := c.encode(ctx, m, fields)
	if err != nil {
		return connectors.Record{}, fmt.Errorf("redmine: create the issue for %s: %w", marker, err)
	}
	if tracker, ok := c.createTracker(m, ws); marker != "" && ok && !m.marker.enabledFor(tracker) {
		// Redmine would drop the marker without a word, and the issue
		// would be adopted as a new item on the next poll.
		return connectors.Record{}, connectors.Terminalf("redmine: create the issue for %s: custom field %q, which holds backlogd's ids, is not enabled for tracker %q: enable it in Administration › Custom fields › %s › Trackers, or map the item to one of: %s", marker, c.cfg.MarkerField, m.trackers.byID[tracker], c.cfg.MarkerField, strings.Join(c.markedTrackers(m), ", "))
	}
	body := payload(ws, map[string]any{
		"project_id":    m.projectID,
		"custom_fields": []map[string]any{{"id": m.marker.ID, "value": marker}},
	})
	var env issueEnvelope
	if err := c.do(ctx, call{method: http.MethodPost, path: "/issues.json", in: body, out: &env}); err != nil {
		return connectors.Record{}, fmt.Errorf("redmine: create the issue for %s: %w", marker, c.writeErr(err, "the new issue"))
	}
	r := c.record(m, &env.Issue)
	r.Comments = []connectors.Comment{}
	if r.Marker != marker {
		// Redmine silently drops values of a field not enabled for the
		// project or tracker (a key without admin rights cannot tell
		// beforehand). Left there, the unmarked issue would be adopted
		// as a new item next to the one it was made for: delete it.
		why := fmt.Sprintf("Redmine did not store %q in custom field %q: enable the field for project %s and tracker %s (Administration › Custom fields › %s)", marker, c.cfg.MarkerField, c.cfg.Project, r.Fields.Get(FieldTracker), c.cfg.MarkerField)
		if err := c.do(ctx, call{method: http.MethodDelete, path: "/issues/" + r.ID + ".json"}); err != nil && !errors.Is(err, connectors.ErrNotFound) {
			c.log.Error("redmine: an issue created without its marker could not be deleted; delete it by hand or it will be adopted as a duplicate", "issue", r.ID, "item", marker, "error", err)
			return connectors.Record{}, connectors.Terminalf("redmine: created issue #%s for %s but %s; deleting it failed (%v): delete issue #%s by hand, or it will be adopted as a duplicate", r.ID, marker, why, err, r.ID)
		}
		return connectors.Record{}, connectors.Terminalf("redmine: created issue #%s for %s, then deleted it: %s", r.ID, marker, why)
	}
	if rest := changed(ws, r); len(rest) > 0 {
		// Only the status should differ; send whatever did not stick.
		if err := c.put(ctx, r.ID, payload(rest, nil)); err != nil {
			return connectors.Record{}, fmt.Errorf("redmine: create the issue for %s: set %s on #%s: %w", marker, fieldList(rest), r.ID, err)
		}
		return c.Get(ctx, r.ID)
	}
	return r, nil
}

// createTracker returns the tracker a create with ws names. Without one
// Redmine takes the first of the project's trackers the user may add
// issues to, which the connector cannot tell: it answers the project's
// first only when the marker field is enabled for none of them (the
// create is then refused whichever Redmine takes), and ok false
// otherwise, leaving it to the check after the create.
func (c *Connector) createTracker(m *meta, ws []wireValue) (int, bool) {
	for _, w := range ws {
		if w.key == "tracker_id" {
			id, ok := w.value.(int)
			return id, ok
		}
	}
	for _, name := range m.trackers.list {
		if id, ok := m.trackers.id(name); ok && m.marker.enabledFor(id) {
			return 0, false
		}
	}
	if len(m.trackers.list) == 0 {
		return 0, false
	}
	return m.trackers.id(m.trackers.list[0])
}

// markedTrackers lists the project's trackers the marker field is
// enabled for.
func (c *Connector) markedTrackers(m *meta) []string {
	var out []string
	for _, name := range m.trackers.list {
		if id, ok := m.trackers.id(name); ok && m.marker.enabledFor(id) {
			out = append(out, name)
		}
	}
	if len(out) == 0 {
		return []string{"(none: enable the field for a tracker)"}
	}
	return out
}

func fieldList(ws []wireValue) string {
	var s []string
	for _, w := range ws {
		s = append(s, w.native)
	}
	return strings.Join(s, ", ")
}

// Update implements connectors.Connector. It reads the issue first and
// writes only the fields that differ: Redmine bumps updated_on on every
// PUT, even an empty one, which would echo back as a change. Redmine's
// API does not show lock_version, so version (the updated_on last read)
// is checked against the fresh read; a write racing in between still
// ends in ErrConflict when Redmine's own lock catches it. The marker is
// a custom field, sent in the same PUT as the fields and read back.
func (c *Connector) Update(ctx context.Context, id, version string, fields connectors.Fields, marker string) (connectors.Record, error) {
	m, err := c.metadata(ctx)
	if err != nil {
		return connectors.Record{}, err
	}
	ws, err := c.encode(ctx, m, fields)
	if err != nil {
		return connectors.Record{}, fmt.Errorf("redmine: update issue #%s: %w", id, err)
	}
	is, err := c.getIssue(ctx, id, true)
	if err != nil {
		return connectors.Record{}, fmt.Errorf("redmine: update issue #%s: %w", id, err)
	}
	cur := c.record(m, is)
	if version != "" && version != cur.Version {
		return connectors.Record{}, fmt.Errorf("redmine: update issue #%s: changed at %s since read at %s: %w", id, cur.Version, version, connectors.ErrConflict)
	}
	ws = changed(ws, cur)
	mark := marker != "" && cur.Marker != marker
	if len(ws) == 0 && !mark {
		return cur, nil
	}
	var extra map[string]any
	var unmarkable error
	if mark {
		// The tracker the issue will have: its own, or the one this
		// update moves it to.
		tracker, name, known := 0, "", false
		if is.Tracker != nil {
			tracker, name, known = is.Tracker.ID, is.Tracker.Name, true
		}
		for _, w := range ws {
			if w.key == "tracker_id" {
				tracker, known = w.value.(int)
				name = m.trackers.byID[tracker]
			}
		}
		if known && !m.marker.enabledFor(tracker) {
			// The fields still go out (a person moved the issue to a
			// tracker without the field): only the marker is refused.
			unmarkable = connectors.Terminalf("redmine: mark issue #%s as %s: custom field %q, which holds backlogd's ids, is not enabled for tracker %q: enable it in Administration › Custom fields › %s › Trackers", id, marker, c.cfg.MarkerField, name, c.cfg.MarkerField)
			if len(ws) == 0 {
				return connectors.Record{}, unmarkable
			}
			mark = false
		} else {
			extra = map[string]any{"custom_fields": []map[string]any{{"id": m.marker.ID, "value": marker}}}
		}
	}
	if err := c.put(ctx, id, payload(ws, extra)); err != nil {
		what := fieldList(ws)
		if mark {
			what = strings.TrimPrefix(what+", marker "+marker, ", ")
		}
		return connectors.Record{}, fmt.Errorf("redmine: update issue #%s (%s): %w", id, what, err)
	}
	rec, err := c.Get(ctx, id)
	if err != nil {
		return connectors.Record{}, err
	}
	if unmarkable != nil {
		return connectors.Record{}, unmarkable
	}
	if mark && rec.Marker != marker {
		// Redmine drops a value of a field not enabled for the issue's
		// project or tracker and still answers 204: without this check
		// the syncer would take an unmarked issue for a marked one.
		return connectors.Record{}, connectors.Terminalf("redmine: mark issue #%s as %s: Redmine did not store it in custom field %q (it holds %q): enable the field for project %s and tracker %s (Administration › Custom fields › %s)", id, marker, c.cfg.MarkerField, rec.Marker, c.cfg.Project, rec.Fields.Get(FieldTracker), c.cfg.MarkerField)
	}
	return rec, nil
}

// checkID refuses an id that is not a Redmine id before it reaches a URL.
// No issue or journal has such an id, so it is not found: the syncer then
// treats the record as gone, as it would a deleted one.
func checkID(id, what string) error {
	if n, err := strconv.Atoi(id); err != nil || n <= 0 {
		return fmt.Errorf("%q is not a Redmine %s id: %w", id, what, connectors.ErrNotFound)
	}
	return nil
}

// put sends PUT /issues/ID.json; Redmine answers 204 with no body.
func (c *Connector) put(ctx context.Context, id string, body map[string]any) error {
	if err := checkID(id, "issue"); err != nil {
		return err
	}
	err := c.do(ctx, call{method: http.MethodPut, path: "/issues/" + id + ".json", in: body})
	return c.writeErr(err, "issue #"+id)
}

// writeErr maps a 422: Redmine's messages become a terminal error that
// quotes them; an empty list is a stale lock, a conflict.
func (c *Connector) writeErr(err error, what string) error {
	var ae *apiError
	if errors.As(err, &ae) {
		if len(ae.Errors) == 0 {
			return fmt.Errorf("%s was changed concurrently: %w", what, connectors.ErrConflict)
		}
		return connectors.Terminalf("Redmine refused %s: %s; fix the value in the item or the mapping", what, strings.Join(ae.Errors, "; "))
	}
	return err
}
