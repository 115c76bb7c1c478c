package github

import (
	"context"
	"crypto/rand"
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
	gh "github.com/google/go-github/v60/github"
	"golang.org/x/time/rate"
)

// Config is everything New needs: the decoded settings with their secrets
// resolved, and the knobs tests turn. The zero value of every knob is the
// production default.
type Config struct {
	Settings
	// Target names the target in logs and metrics.
	Target        string
	Token         connectors.Secret
	WebhookSecret connectors.Secret
	// Base is the round tripper under the shared client (defaults to the
	// daemon's HTTP client's transport, or a pooled one).
	Base     http.RoundTripper
	Observer connectors.Observer
	Logger   *slog.Logger

	// MinLimitWait is the first wait after a secondary limit that gave no
	// Retry-After (default one minute, as GitHub asks).
	MinLimitWait time.Duration
	// MaxWait is the longest wait slept through inside a call (default 5s).
	MaxWait time.Duration
	// CreatesPerMinute and CreatesPerHour pace content-creating requests
	// (issues, comments) under GitHub's secondary limits (defaults 75 and
	// 480, below GitHub's 80 and 500); negative disables pacing.
	CreatesPerMinute int
	CreatesPerHour   int
	// WritesPerMinute paces every request that changes something (POST,
	// PATCH, PUT, DELETE), with a burst of a sixth of it: GitHub asks for
	// at least a second between them, and a bulk edit (an onboarding, a
	// relabelling of the backlog) that ignores that meets a secondary
	// limit and a pause of a minute or more (default 60; negative
	// disables pacing).
	WritesPerMinute int
	// LowQuota is the share of the primary quota left at which the target
	// is paused until the reset (default 0.02); negative disables it.
	LowQuota float64
	// CursorLag is how far behind the newest updated_at the Changes cursor
	// stays, to catch writes GitHub shows late (default 5s).
	CursorLag time.Duration
	// RecentScan is how many pages of the token user's newest issues
	// FindByMarker reads before asking the search API (default 2).
	RecentScan int
}

// Connector is a GitHub Issues connector for one repository. It implements
// connectors.Connector and connectors.WebhookReceiver.
type Connector struct {
	cfg    Config
	client *gh.Client
	http   *transport.Client
	log    *slog.Logger

	cache *etagCache
	// perMinute and perHour pace content-creating requests, writes every
	// mutating one; any may be nil.
	perMinute, perHour, writes *rate.Limiter

	mu         sync.Mutex
	login      string            // the token's user, read once
	milestones map[string]int    // title to number
	markers    map[string]string // issue number to the marker last seen on it
	index      markerIndex       // what FindByMarker knows without asking (marker.go)
	// pass identifies this connector in the cursors of listings it
	// begins, so the index is only called complete by the connector that
	// read a full listing from its first page.
	pass string
}

var (
	_ connectors.Connector       = (*Connector)(nil)
	_ connectors.WebhookReceiver = (*Connector)(nil)
	_ connectors.Factory         = Factory
)

// Factory builds a GitHub connector from a target's settings; register it
// under the kind "github".
func Factory(ctx context.Context, env connectors.Env) (connectors.Connector, error) {
	var s Settings
	if err := connectors.LoadSettings("github", env, &s); err != nil {
		return nil, err
	}
	cfg := Config{Settings: s, Target: env.Target, Observer: env.Observer, Logger: env.Logger}
	err := connectors.ResolveSecrets("github", env,
		connectors.SecretSetting{Name: "token", Ref: s.Token, Into: &cfg.Token},
		connectors.SecretSetting{Name: "webhook_secret", Ref: s.WebhookSecret, Into: &cfg.WebhookSecret})
	if err != nil {
		return nil, err
	}
	if env.Offline {
		return nil, nil // settings and references checked; nothing to connect
	}
	if env.HTTP != nil {
		cfg.Base = env.HTTP.Transport
	}
	return New(cfg)
}

// New builds a connector. It makes no request: a bad token shows on the
// first call, as a terminal error.
func New(cfg Config) (*Connector, error) {
	if err := cfg.Settings.Validate(); err != nil {
		return nil, fmt.Errorf("github: %w", err)
	}
	if cfg.Token.IsZero() {
		return nil, errors.New("github: the token is empty; set the variable or file its reference names")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MinLimitWait == 0 {
		cfg.MinLimitWait = time.Minute
	}
	if cfg.CreatesPerMinute == 0 {
		cfg.CreatesPerMinute = 75
	}
	if cfg.CreatesPerHour == 0 {
		cfg.CreatesPerHour = 480
	}
	if cfg.WritesPerMinute == 0 {
		cfg.WritesPerMinute = 60
	}
	if cfg.LowQuota == 0 {
		cfg.LowQuota = 0.02
	}
	if cfg.CursorLag == 0 {
		cfg.CursorLag = 5 * time.Second
	}
	if cfg.RecentScan == 0 {
		cfg.RecentScan = 2
	}
	c := &Connector{cfg: cfg, log: cfg.Logger.With("target", cfg.Target), milestones: map[string]int{}, markers: map[string]string{}, cache: newETagCache(3000),
		index: markerIndex{byMarker: map[string]int{}, uncertain: map[string]bool{}}, pass: rand.Text()}
	c.http = transport.New(transport.Options{
		Target:           cfg.Target,
		Base:             cfg.Base,
		Classify:         Classify,
		Observer:         cfg.Observer,
		Logger:           cfg.Logger,
		MaxWait:          cfg.MaxWait,
		MinLimitWait:     cfg.MinLimitWait,
		WriteConcurrency: 1, // GitHub: serialize writes per token
	})
	if cfg.CreatesPerMinute > 0 {
		// In any minute at most burst + rate*60 requests pass.
		burst := max(1, cfg.CreatesPerMinute/8)
		c.perMinute = rate.NewLimiter(rate.Limit(float64(cfg.CreatesPerMinute-burst)/60), burst)
	}
	if cfg.CreatesPerHour > 0 {
		burst := max(1, cfg.CreatesPerHour/10)
		c.perHour = rate.NewLimiter(rate.Limit(float64(cfg.CreatesPerHour-burst)/3600), burst)
	}
	if cfg.WritesPerMinute > 0 {
		c.writes = rate.NewLimiter(rate.Limit(float64(cfg.WritesPerMinute)/60), max(1, cfg.WritesPerMinute/6))
	}
	hc := &http.Client{Transport: &guard{c: c, next: c.http.HTTP.Transport}}
	client := gh.NewClient(hc)
	if cfg.BaseURL != "" {
		var err error
		if client, err = client.WithEnterpriseURLs(cfg.BaseURL, cfg.BaseURL); err != nil {
			return nil, fmt.Errorf("github: base_url %q: %w", cfg.BaseURL, err)
		}
		// WithEnterpriseURLs adds /api/v3/ to hosts without it; a test
		// server or a proxy serving the API at its root keeps its path.
		if u, err := url.Parse(cfg.BaseURL); err == nil && !strings.HasSuffix(strings.TrimSuffix(u.Path, "/"), "/api/v3") {
			if !strings.HasSuffix(u.Path, "/") {
				u.Path += "/"
			}
			client.BaseURL = u
		}
	}
	c.client = client.WithAuthToken(cfg.Token.Reveal())
	return c, nil
}

// Transport returns the shared client the connector sends requests with,
// so the daemon can show the target's pause.
func (c *Connector) Transport() *transport.Client { return c.http }

// Capabilities implements connectors.Connector.
func (c *Connector) Capabilities() connectors.Capabilities {
	return connectors.Capabilities{
		Fields: []connectors.FieldSpec{
			{Name: FieldTitle},
			{Name: FieldBody},
			{Name: FieldState, Values: []string{"open", "closed"}},
			{Name: FieldStateReason, Values: []string{"completed", "not_planned", "reopened"}},
			{Name: FieldLabels, Multi: true},
			{Name: FieldAssignees, Multi: true},
			{Name: FieldMilestone},
			{Name: FieldParent},
			{Name: FieldType},
		},
		Comments:       true,
		EditComments:   true,
		DeleteComments: true,
		Webhooks:       true,
		Hierarchy:      true,
	}
}

// Native field names.
const (
	FieldTitle       = "title"
	FieldBody        = "body"
	FieldState       = "state"
	FieldStateReason = "state_reason"
	FieldLabels      = "labels"
	FieldAssignees   = "assignees"
	FieldMilestone   = "milestone"
	FieldParent      = "parent"
	FieldType        = "type"
)

// guard sits between go-github and the shared client: it paces
// content-creating requests and pauses the target when the quota runs
// low, before GitHub starts refusing.
type guard struct {
	c    *Connector
	next http.RoundTripper
}

func (g *guard) RoundTrip(req *http.Request) (*http.Response, error) {
	var pacers []pacer
	switch {
	case req.Method == http.MethodPost && !strings.Contains(req.URL.Path, "/search/"):
		pacers = []pacer{{g.c.perMinute, contentReason}, {g.c.perHour, contentReason}, {g.c.writes, writeReason}}
	case req.Method == http.MethodPatch || req.Method == http.MethodPut || req.Method == http.MethodDelete:
		pacers = []pacer{{g.c.writes, writeReason}}
	}
	if pacers != nil {
		if err := g.c.paceRequest(req.Context(), pacers); err != nil {
			return nil, err
		}
	}
	var resp *http.Response
	var err error
	if cacheable(req) {
		resp, err = g.c.cache.roundTrip(g.next, req)
	} else {
		resp, err = g.next.RoundTrip(req)
	}
	if err == nil {
		g.c.watchQuota(resp)
		hideSecondaryReset(resp)
	}
	return resp, err
}

// hideSecondaryReset keeps go-github from taking the primary quota's
// reset for the end of a secondary limit. go-github v60 (parseSecondaryRate)
// reads X-RateLimit-Reset as the limit's end when a 403 secondary limit
// has no Retry-After, and then refuses every request itself until then:
// up to an hour, though GitHub asks for a minute and exponential back-off
// in that case
// (https://docs.github.com/en/rest/using-the-rest-api/best-practices-for-using-the-rest-api#handle-rate-limit-errors-appropriately).
// The shared client has already paused the target for the right wait;
// the header goes only when the quota is not exhausted, where the reset
// is the wait GitHub means.
func hideSecondaryReset(resp *http.Response) {
	if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Retry-After") != "" || resp.Header.Get("X-RateLimit-Remaining") == "0" {
		return
	}
	if d := Classify(resp, transport.PeekBody(resp)); d.Limited && strings.Contains(d.Reason, "secondary") {
		resp.Header.Del("X-RateLimit-Reset")
	}
}

// maxPaceWait is the longest pacing wait slept through in a call; longer
// ones come back as a rate limit so the worker is free meanwhile.
const maxPaceWait = 5 * time.Second

const (
	contentReason = "pacing content creation under GitHub's secondary limits (80 a minute, 500 an hour)"
	writeReason   = "pacing writes: GitHub asks for a second between requests that change something"
)

// pacedCall is the pacing of one connector call that makes several
// writes, carried by its context. prepaid counts writes paced before the
// call began (Update takes its turn before it reads what it writes over,
// so no wait sits between that read and the PATCH); every other write of
// the call waits its turn however long, because failing it would leave
// the call half done (an issue created but not closed).
type pacedCall struct {
	mu      sync.Mutex
	prepaid int
}

type pacedCallKey struct{}

// withPacedCall marks ctx as one call's, with prepaid writes paced already.
func withPacedCall(ctx context.Context, prepaid int) context.Context {
	return context.WithValue(ctx, pacedCallKey{}, &pacedCall{prepaid: prepaid})
}

// paceRequest paces one request: not at all when its call paid for it,
// without a bound inside a call, else as pace does.
func (c *Connector) paceRequest(ctx context.Context, pacers []pacer) error {
	pc, inCall := ctx.Value(pacedCallKey{}).(*pacedCall)
	if !inCall {
		return c.pace(ctx, maxPaceWait, pacers...)
	}
	pc.mu.Lock()
	paid := pc.prepaid > 0
	if paid {
		pc.prepaid--
	}
	pc.mu.Unlock()
	if paid {
		return nil
	}
	return c.pace(ctx, 0, pacers...)
}

// pacer is one limiter a request waits for, and why.
type pacer struct {
	l      *rate.Limiter // nil: not paced
	reason string
}

// pace waits for every limiter given, or returns a RateLimitError naming
// the longest wait's reason when that wait would be longer than limit
// (0: no limit, wait until ctx ends).
func (c *Connector) pace(ctx context.Context, limit time.Duration, pacers ...pacer) error {
	var rs []*rate.Reservation
	var wait time.Duration
	var reason string
	for _, p := range pacers {
		if p.l == nil {
			continue
		}
		r := p.l.Reserve()
		rs = append(rs, r)
		if d := r.Delay(); d > wait {
			wait, reason = d, p.reason
		}
	}
	if wait == 0 {
		return nil
	}
	if limit > 0 && wait > limit {
		for _, r := range rs {
			r.Cancel()
		}
		return &connectors.RateLimitError{RetryAfter: wait, Scope: connectors.ScopeEndpoint, Reason: reason}
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		for _, r := range rs {
			r.Cancel()
		}
		return ctx.Err()
	}
}

// watchQuota pauses the target until the reset when fewer than LowQuota
// of the primary quota's requests are left, so other clients of the
// token (a person's browser, CI) keep working and we never see a 403.
func (c *Connector) watchQuota(resp *http.Response) {
	if c.cfg.LowQuota < 0 {
		return
	}
	limit, err1 := strconv.Atoi(resp.Header.Get("X-RateLimit-Limit"))
	left, err2 := strconv.Atoi(resp.Header.Get("X-RateLimit-Remaining"))
	reset, err3 := strconv.ParseInt(resp.Header.Get("X-RateLimit-Reset"), 10, 64)
	if err1 != nil || err2 != nil || err3 != nil || limit <= 0 || left == 0 {
		return // remaining 0 is the classifier's case: a refused request
	}
	if float64(left) < c.cfg.LowQuota*float64(limit) {
		until := time.Unix(reset, 0).Add(time.Second)
		if until.After(time.Now()) && c.http.PausedUntil().Before(until) {
			c.log.Warn("GitHub quota running low, pausing the target until it resets",
				"remaining", left, "limit", limit, "until", until.UTC())
			c.http.Pause(until, fmt.Sprintf("quota low: %d of %d requests left", left, limit))
		}
	}
}

// repoPath is the API path of the repository.
func (c *Connector) repoPath() string {
	return "repos/" + url.PathEscape(c.cfg.Owner) + "/" + url.PathEscape(c.cfg.Repo)
}

// call sends a request built with go-github and decodes the answer into
// v, mapping failures to the connectors errors.
func (c *Connector) call(ctx context.Context, op, method, path string, body, v any, hdr ...string) (*gh.Response, error) {
	req, err := c.client.NewRequest(method, path, body)
	if err != nil {
		return nil, fmt.Errorf("github: %s: %w", op, err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.client.Do(ctx, req, v)
	return resp, c.wrap(op, resp, err)
}

// errNotModified is what call returns for a 304 answer.
var errNotModified = errors.New("not modified")

// wrap turns a go-github error into the errors the syncer branches on.
func (c *Connector) wrap(op string, resp *gh.Response, err error) error {
	if err == nil {
		return nil
	}
	repo := c.cfg.Owner + "/" + c.cfg.Repo
	var rl *connectors.RateLimitError
	if errors.As(err, &rl) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("github %s: %s: %w", repo, op, err)
	}
	// go-github refuses locally once it saw the quota at zero.
	var ghrl *gh.RateLimitError
	if errors.As(err, &ghrl) && (resp == nil || resp.Response == nil || resp.Header.Get("X-RateLimit-Remaining") == "") {
		wait := max(time.Until(ghrl.Rate.Reset.Time), time.Second)
		return fmt.Errorf("github %s: %s: %w", repo, op, &connectors.RateLimitError{RetryAfter: wait, Scope: connectors.ScopeTarget, Reason: "GitHub API rate limit exhausted"})
	}
	if resp == nil || resp.Response == nil {
		return fmt.Errorf("github %s: %s: %w", repo, op, err)
	}
	status := resp.StatusCode
	if lim := c.http.RateLimitFrom(resp.Response); lim != nil {
		return fmt.Errorf("github %s: %s: %w", repo, op, lim)
	}
	// go-github also refuses locally once it saw a secondary limit with
	// a wait, until that wait ends: a fake 403 without headers or body,
	// which the classifier cannot tell from a permission problem.
	var abuse *gh.AbuseRateLimitError
	if errors.As(err, &abuse) {
		wait := c.cfg.MinLimitWait
		if abuse.RetryAfter != nil && *abuse.RetryAfter > 0 {
			wait = *abuse.RetryAfter
		}
		const reason = "GitHub secondary rate limit"
		c.http.Pause(time.Now().Add(wait), reason)
		return fmt.Errorf("github %s: %s: %w", repo, op, &connectors.RateLimitError{RetryAfter: wait, Scope: connectors.ScopeTarget, Reason: reason})
	}
	msg := apiMessage(err)
	switch {
	case status == http.StatusNotModified:
		return errNotModified
	case status == http.StatusNotFound || status == http.StatusGone:
		return fmt.Errorf("github %s: %s: %w", repo, op, connectors.ErrNotFound)
	case status == http.StatusUnauthorized:
		return connectors.ScopedTerminalf(connectors.ScopeTarget, "github %s: %s: GitHub refused the token (HTTP 401: %s); check that the token's secret reference points to a valid, unexpired token", repo, op, msg)
	case status == http.StatusForbidden:
		return connectors.ScopedTerminalf(connectors.ScopeEndpoint, "github %s: %s: the token may not do this (HTTP 403: %s); give it Issues read/write access to the repository", repo, op, msg)
	case status == http.StatusUnprocessableEntity:
		return connectors.Terminalf("github %s: %s: GitHub refused the values (HTTP 422: %s); fix the mapped values (assignees need access to the repository, milestones and types must exist)", repo, op, msg)
	}
	return fmt.Errorf("github %s: %s: HTTP %d: %s", repo, op, status, msg)
}

// apiMessage extracts GitHub's message and validation details.
func apiMessage(err error) string {
	var er *gh.ErrorResponse
	if !errors.As(err, &er) {
		return err.Error()
	}
	parts := []string{er.Message}
	for _, e := range er.Errors {
		switch {
		case e.Message != "":
			parts = append(parts, e.Message)
		case e.Field != "":
			parts = append(parts, fmt.Sprintf("%s %s is %s", e.Resource, e.Field, e.Code))
		}
	}
	return strings.Join(parts, "; ")
}

// user returns the token's login, read once.
func (c *Connector) user(ctx context.Context) (string, error) {
	c.mu.Lock()
	login := c.login
	c.mu.Unlock()
	if login != "" {
		return login, nil
	}
	var u gh.User
	if _, err := c.call(ctx, "read the token's user", http.MethodGet, "user", nil, &u); err != nil {
		return "", err
	}
	c.mu.Lock()
	c.login = u.GetLogin()
	c.mu.Unlock()
	return u.GetLogin(), nil
}
