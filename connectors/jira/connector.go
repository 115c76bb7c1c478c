package jira

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	gojira "github.com/andygrunwald/go-jira"
	"github.com/backlogd/backlogd/connectors"
	"github.com/backlogd/backlogd/connectors/transport"
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

	// MaxWait is the longest wait slept through inside a call (default
	// 5s); MaxRetries bounds retries of 5xx and transport errors (default
	// 3); Timeout bounds one attempt (default 30s).
	MaxWait    time.Duration
	MaxRetries int
	Timeout    time.Duration
	// Overlap is how far before the newest update seen Changes asks again,
	// for writes Jira's index shows late (default 1m, on top of JQL's
	// minute resolution).
	Overlap time.Duration
	// MarkerLookback is how far back FindByMarker looks for issues the
	// integration user created (default 7 days).
	MarkerLookback time.Duration
	// ProbeMisses is how many missing keys in a row end FindByMarker's
	// read of keys past the newest indexed one (default 3).
	ProbeMisses int
	// MaxTransitions bounds the transitions one status change may take
	// (default 8).
	MaxTransitions int
}

// Connector is a Jira connector for one project, on Cloud or Data Center.
// It implements connectors.Connector and connectors.WebhookReceiver.
type Connector struct {
	cfg    Config
	http   *transport.Client
	client *gojira.Client
	log    *slog.Logger
	users  *directory

	mu      sync.Mutex
	meta    *meta
	markers map[string]markerSeen // canonical id to the issue seen carrying it (see note)
	keys    map[string]string     // issue key to id, and id to key
	lastNum int                   // the highest issue number seen in the project
	graph   map[string]map[string][]edge
	options map[string]map[string]string // field id to option label to id, as read
}

var (
	_ connectors.Connector       = (*Connector)(nil)
	_ connectors.WebhookReceiver = (*Connector)(nil)
	_ connectors.Factory         = Factory
)

// Factory builds a Jira connector from a target's settings and resolves
// the flavour, the user's time zone, custom fields, issue types, statuses
// and the other names records use; register it under the kind "jira". A
// bad token, project or setting fails here; an unreachable site does not
// (the names load on first use), so one client's outage never stops the
// daemon.
func Factory(ctx context.Context, env connectors.Env) (connectors.Connector, error) {
	var s Settings
	if err := connectors.LoadSettings("jira", env, &s); err != nil {
		return nil, err
	}
	cfg := Config{Settings: s, Target: env.Target, Observer: env.Observer, Logger: env.Logger}
	err := connectors.ResolveSecrets("jira", env,
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
	c, err := New(cfg)
	if err != nil {
		return nil, fmt.Errorf("jira target %s: %w", env.Target, err)
	}
	if err := c.Refresh(ctx); err != nil {
		if connectors.IsTerminal(err) {
			return nil, fmt.Errorf("jira target %s: %w", env.Target, err)
		}
		c.log.Warn("jira: could not read the site's fields and workflow at start; retrying on first use", "error", err)
	}
	return c, nil
}

// New builds a connector. It makes no request; Refresh (called by
// Factory, or on first use) reads the site.
func New(cfg Config) (*Connector, error) {
	if err := cfg.Settings.Validate(); err != nil {
		return nil, fmt.Errorf("jira: %w", err)
	}
	if cfg.Token.IsZero() {
		return nil, errors.New("jira: the token is empty; set the variable or file its reference names")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Overlap == 0 {
		cfg.Overlap = time.Minute
	}
	if cfg.MarkerLookback == 0 {
		cfg.MarkerLookback = 7 * 24 * time.Hour
	}
	if cfg.ProbeMisses == 0 {
		cfg.ProbeMisses = 3
	}
	if cfg.MaxTransitions == 0 {
		cfg.MaxTransitions = 8
	}
	c := &Connector{cfg: cfg, log: cfg.Logger.With("target", cfg.Target), markers: map[string]markerSeen{}, keys: map[string]string{},
		graph: map[string]map[string][]edge{}}
	c.http = transport.New(transport.Options{
		Target: cfg.Target, Base: cfg.Base, Classify: Classify, Observer: cfg.Observer, Logger: cfg.Logger,
		MaxRetries: cfg.MaxRetries, MaxWait: cfg.MaxWait, Timeout: cfg.Timeout,
	})
	// Credentials are added above the retrying client so every retry
	// carries them; they never reach a log or an error.
	var auth http.RoundTripper
	if cfg.User != "" {
		auth = &gojira.BasicAuthTransport{Username: cfg.User, Password: cfg.Token.Reveal(), Transport: c.http.HTTP.Transport}
	} else {
		auth = &gojira.PATAuthTransport{Token: cfg.Token.Reveal(), Transport: c.http.HTTP.Transport}
	}
	client, err := gojira.NewClient(&http.Client{Transport: auth}, cfg.URL+"/")
	if err != nil {
		return nil, fmt.Errorf("jira: url %q: %w", redactURL(cfg.URL), err)
	}
	c.client = client
	c.users = newDirectory(c)
	return c, nil
}

// Transport returns the shared client the connector sends requests with,
// so the daemon can show the target's pause.
func (c *Connector) Transport() *transport.Client { return c.http }

// call is one request to the REST API.
type call struct {
	op     string // what the connector was doing, for errors
	method string
	path   string // below the site URL: rest/api/2/issue/ACME-1
	query  url.Values
	in     any // JSON body, nil for none
	out    any // decoded answer, nil to ignore
}

// do sends a request built by go-jira (base URL, JSON body, credentials)
// through the shared client and maps Jira's answers to the errors the
// syncer branches on. The request is made with NewRequest and Do rather
// than go-jira's services where those cannot hold what Jira sends (ADF
// bodies, nextPageToken, transition field schemas).
func (c *Connector) do(ctx context.Context, k call) error {
	p := k.path
	if len(k.query) > 0 {
		p += "?" + k.query.Encode()
	}
	req, err := c.client.NewRequestWithContext(ctx, k.method, p, k.in)
	if err != nil {
		return fmt.Errorf("jira: %s: build request: %w", k.op, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.client.Do(req, nil)
	var hr *http.Response
	if resp != nil {
		hr = resp.Response
	}
	if hr == nil {
		return c.transportErr(k.op, err)
	}
	defer hr.Body.Close()
	data, rerr := io.ReadAll(io.LimitReader(hr.Body, 64<<20))
	if err := c.statusErr(k.op, hr, data); err != nil {
		return err
	}
	if rerr != nil {
		return fmt.Errorf("jira: %s: read answer: %w", k.op, rerr)
	}
	if k.out != nil && len(bytes.TrimSpace(data)) > 0 {
		if err := json.Unmarshal(data, k.out); err != nil {
			return fmt.Errorf("jira: %s: decode answer: %w", k.op, err)
		}
	}
	return nil
}

// transportErr wraps an error that came with no response: a rate limit
// the transport stopped before sending, a cancelled context, a network
// failure. The URL stays out of it: only the operation is named.
func (c *Connector) transportErr(op string, err error) error {
	var rl *connectors.RateLimitError
	if errors.As(err, &rl) {
		return fmt.Errorf("jira %s: %s: %w", c.cfg.Project, op, rl)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("jira %s: %s: %w", c.cfg.Project, op, err)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return fmt.Errorf("jira %s: %s: %w", c.cfg.Project, op, err)
}

// statusErr maps a response status: 401 terminal for the whole target,
// 403 terminal for the endpoint (connectors.TerminalError.Scope), 404
// ErrNotFound, 410 terminal (a removed endpoint), 400 terminal with
// Jira's messages, 409 ErrConflict, 429 and 503 with Retry-After a rate
// limit, other 5xx a plain (retried) error.
func (c *Connector) statusErr(op string, resp *http.Response, body []byte) error {
	s := resp.StatusCode
	if s >= 200 && s < 300 {
		return nil
	}
	where := fmt.Sprintf("jira %s: %s", c.cfg.Project, op)
	if lim := c.http.RateLimitFrom(resp); lim != nil {
		return fmt.Errorf("%s: %w", where, lim)
	}
	msg := jiraMessage(body)
	switch {
	case s == http.StatusUnauthorized:
		who := "the token"
		if c.cfg.User != "" {
			who = "user " + c.cfg.User + " and its API token"
		}
		return connectors.ScopedTerminalf(connectors.ScopeTarget, "%s: Jira refused %s (HTTP 401); check that token's secret reference points to a valid, unexpired token (on Cloud, an API token of the account named by user)", where, who)
	case s == http.StatusForbidden:
		return connectors.ScopedTerminalf(connectors.ScopeEndpoint, "%s: the Jira user may not do this (HTTP 403: %s); give it Browse, Create, Edit and Transition issues and Add comments in project %s", where, msg, c.cfg.Project)
	case s == http.StatusNotFound:
		return fmt.Errorf("%s: %w", where, connectors.ErrNotFound)
	case s == http.StatusGone:
		return connectors.Terminalf("%s: Jira removed this endpoint (HTTP 410: %s); Jira Cloud sites need flavor: cloud", where, msg)
	case s == http.StatusConflict:
		return fmt.Errorf("%s: %s: %w", where, msg, connectors.ErrConflict)
	case s == http.StatusBadRequest || s == http.StatusUnprocessableEntity:
		return connectors.Terminal(&badRequest{where: where, msg: msg})
	}
	return fmt.Errorf("%s: HTTP %d: %s", where, s, msg)
}

// badRequest is a 400: Jira refused the values. It is wrapped as
// terminal: sending them again changes nothing. Callers that know more
// (a transition) read msg to say which.
type badRequest struct {
	where string
	msg   string
}

func (e *badRequest) Error() string {
	return fmt.Sprintf("%s: Jira refused the request (HTTP 400: %s); fix the mapped values", e.where, e.msg)
}

// jiraMessage extracts Jira's errorMessages and field errors.
func jiraMessage(body []byte) string {
	var e gojira.Error
	if json.Unmarshal(body, &e) == nil && (len(e.ErrorMessages) > 0 || len(e.Errors) > 0) {
		parts := slices.Clone(e.ErrorMessages)
		for _, k := range sortedKeys(e.Errors) {
			parts = append(parts, k+": "+e.Errors[k])
		}
		return strings.Join(parts, "; ")
	}
	t := strings.TrimSpace(string(body))
	if len(t) > 200 {
		t = t[:200] + "…"
	}
	if t == "" {
		return "no details"
	}
	return t
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
