// Package transport is the one HTTP client every HTTP connector builds on:
// go-retryablehttp with a retry policy that understands each tracker's
// rate-limit signals, a per-target pause that stops requests before they
// burn quota, optional client-side pacing, and a count of every request
// for metrics.
//
// Short waits (a 5xx, a Retry-After of a few seconds, a failed
// connection) are retried inside the client; a TLS certificate the client
// refuses is a terminal error, since retrying never fixes it. A longer wait is not slept through: the client pauses the
// target and returns a *connectors.RateLimitError, so the syncer can park
// the target's queue and the worker is free for other targets.
//
// A request that may have been performed although its answer was lost or
// was a 5xx is retried only when sending it again changes nothing: never
// a POST, nor a request whose context a connector marked with
// NotIdempotent (a write that adds something each time, such as a
// Redmine note sent as PUT /issues/N.json). Those failures come back to
// the caller, which settles what the first attempt left.
package transport

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/backlogd/backlogd/connectors"
	"github.com/hashicorp/go-retryablehttp"
	"golang.org/x/time/rate"
)

// Decision is a tracker-specific reading of one response.
type Decision struct {
	// Limited means the tracker asked us to slow down.
	Limited bool
	// RetryAfter is how long it asked us to wait; 0 lets the client choose
	// (exponential back-off from MinLimitWait).
	RetryAfter time.Duration
	Scope      connectors.Scope
	Reason     string
	// Remaining and Reset report quota headers when the tracker sends
	// them (Remaining < 0: not sent).
	Remaining int
	Reset     time.Time
}

// Classifier reads a response (body readable up to 64 KiB for statuses ≥
// 400) and says whether it is a rate limit. Connectors pass their own.
type Classifier func(resp *http.Response, body []byte) Decision

// Options configure a Client. The zero value of each field is a sensible
// default.
type Options struct {
	// Target names the target in metrics and logs.
	Target string
	// Base is the round tripper to send requests with (tests pass an
	// httptest server's client transport). Defaults to a pooled transport.
	Base http.RoundTripper
	// Classify reads rate-limit signals; defaults to StandardClassifier.
	Classify Classifier
	// Observer receives one call per request attempt.
	Observer connectors.Observer
	Logger   *slog.Logger
	// MaxRetries for 5xx, transport errors and short rate limits (default 3).
	MaxRetries int
	// MaxWait is the longest wait slept through inside a call (default 5s);
	// a longer Retry-After pauses the target and returns a RateLimitError.
	MaxWait time.Duration
	// MinLimitWait is the first wait for a rate limit that gave no
	// Retry-After (GitHub secondary limits: at least a minute). Default 1s.
	MinLimitWait time.Duration
	// ReadsPerSecond and WritesPerSecond pace requests client-side
	// (0 = unlimited). WriteConcurrency > 0 caps writes in flight
	// (GitHub wants writes serialized per token: 1).
	ReadsPerSecond   float64
	WritesPerSecond  float64
	WriteConcurrency int
	// Timeout bounds one attempt (default 30s).
	Timeout time.Duration
}

// Client is a target's HTTP client. Use HTTP for libraries that want an
// *http.Client (go-github, go-jira) or Do directly.
type Client struct {
	HTTP *http.Client

	opts     Options
	reads    *rate.Limiter
	writes   *rate.Limiter
	writeSem chan struct{}

	mu         sync.Mutex
	pauseUntil time.Time
	pauseWhy   string
	strikes    int // limits without Retry-After since the last success, for back-off
}

// New builds a Client.
func New(o Options) *Client {
	if o.MaxRetries == 0 {
		o.MaxRetries = 3
	}
	if o.MaxWait == 0 {
		o.MaxWait = 5 * time.Second
	}
	if o.MinLimitWait == 0 {
		o.MinLimitWait = time.Second
	}
	if o.Timeout == 0 {
		o.Timeout = 30 * time.Second
	}
	if o.Classify == nil {
		o.Classify = StandardClassifier
	}
	if o.Observer == nil {
		o.Observer = connectors.NopObserver{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Base == nil {
		o.Base = http.DefaultTransport.(*http.Transport).Clone()
	}
	c := &Client{opts: o}
	if o.ReadsPerSecond > 0 {
		c.reads = rate.NewLimiter(rate.Limit(o.ReadsPerSecond), max(1, int(o.ReadsPerSecond)))
	}
	if o.WritesPerSecond > 0 {
		c.writes = rate.NewLimiter(rate.Limit(o.WritesPerSecond), 1)
	}
	if o.WriteConcurrency > 0 {
		c.writeSem = make(chan struct{}, o.WriteConcurrency)
	}

	rc := retryablehttp.NewClient()
	rc.HTTPClient = &http.Client{Transport: &meter{c: c, next: o.Base}, Timeout: o.Timeout}
	rc.Logger = nil
	rc.RetryMax = o.MaxRetries
	rc.RetryWaitMin = 200 * time.Millisecond
	rc.RetryWaitMax = o.MaxWait
	rc.CheckRetry = c.checkRetry
	rc.Backoff = c.backoff
	// Hand the last response to the caller instead of a generic "giving
	// up" error, so the connector can map its status (404, 422, 429).
	rc.ErrorHandler = retryablehttp.PassthroughErrorHandler
	c.HTTP = &http.Client{Transport: &gate{c: c, next: &retryablehttp.RoundTripper{Client: rc}}}
	return c
}

// Do sends req through the client.
func (c *Client) Do(req *http.Request) (*http.Response, error) { return c.HTTP.Do(req) }

// PausedUntil returns when the target's pause ends (zero when not paused).
func (c *Client) PausedUntil() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Now().After(c.pauseUntil) {
		return time.Time{}
	}
	return c.pauseUntil
}

// Pause stops requests to the target until t (connectors call it when
// they see quota running low before it runs out).
func (c *Client) Pause(until time.Time, why string) {
	c.mu.Lock()
	if until.After(c.pauseUntil) {
		c.pauseUntil, c.pauseWhy = until, why
	}
	c.mu.Unlock()
	c.opts.Observer.Paused(c.opts.Target, until)
}

// RateLimitFrom turns a rate-limited response the client gave up on into
// a *connectors.RateLimitError (nil when resp is not a rate limit).
func (c *Client) RateLimitFrom(resp *http.Response) error {
	if resp == nil {
		return nil
	}
	body := peekBody(resp)
	d := c.opts.Classify(resp, body)
	if !d.Limited {
		return nil
	}
	wait := c.limitWait(d)
	if d.Scope == "" || d.Scope == connectors.ScopeTarget {
		c.Pause(time.Now().Add(wait), d.Reason)
	}
	return &connectors.RateLimitError{RetryAfter: wait, Scope: scopeOr(d.Scope), Reason: d.Reason}
}

func scopeOr(s connectors.Scope) connectors.Scope {
	if s == "" {
		return connectors.ScopeTarget
	}
	return s
}

// limitWait is the tracker's Retry-After, or exponential back-off from
// MinLimitWait when it gave none.
func (c *Client) limitWait(d Decision) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	if d.RetryAfter > 0 {
		c.strikes = 0
		return d.RetryAfter
	}
	c.strikes++
	w := c.opts.MinLimitWait << min(c.strikes-1, 6)
	return w + time.Duration(rand.Int64N(int64(w)/4+1))
}

func (c *Client) checkRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	var rl *connectors.RateLimitError
	if errors.As(err, &rl) || connectors.IsTerminal(err) {
		return false, err
	}
	// A write may have been performed even though its answer was lost or
	// was a 5xx (GitHub does create issues behind a 502): repeating one
	// that adds something each time (every POST, and what connectors mark
	// NotIdempotent, such as a Redmine note) could duplicate a record or a
	// comment. The syncer retries those itself, after looking up what the
	// first attempt left (the create's marker, a comment with its body).
	unsure := resp == nil && err != nil || resp != nil && resp.StatusCode >= 500
	if unsure && (ctxMethod(ctx) == http.MethodPost || IsNotIdempotent(ctx)) {
		return false, nil
	}
	if err != nil {
		return true, nil // connection refused, reset, timeout
	}
	body := peekBody(resp)
	if d := c.opts.Classify(resp, body); d.Limited {
		if d.RetryAfter > 0 && d.RetryAfter <= c.opts.MaxWait {
			return true, nil
		}
		return false, nil // the connector turns it into a RateLimitError
	}
	if resp.StatusCode >= 500 && resp.StatusCode != http.StatusNotImplemented {
		return true, nil
	}
	return false, nil
}

func (c *Client) backoff(minWait, maxWait time.Duration, attempt int, resp *http.Response) time.Duration {
	if resp != nil {
		if d := c.opts.Classify(resp, peekBody(resp)); d.Limited && d.RetryAfter > 0 {
			return d.RetryAfter
		}
	}
	// Exponential with full jitter: 5xx storms must not synchronise clients.
	w := minWait << min(attempt, 10)
	if w > maxWait || w <= 0 {
		w = maxWait
	}
	return w/2 + time.Duration(rand.Int64N(int64(w)/2+1))
}

type methodKey struct{}

type notIdempotentKey struct{}

// NotIdempotent marks the requests made with the returned context as
// unsafe to repeat: once such a request may have reached the tracker (its
// answer was lost, or was a 5xx a proxy sent after the tracker did the
// work), the client does not send it again, and returns the failure for
// the caller to settle. Every POST is treated so already; connectors mark
// the other writes that add something each time they are sent, such as
// Redmine's PUT /issues/N.json with notes, which adds a note per PUT.
// Writes that set values (a PUT or PATCH of fields) are safe to repeat and
// stay unmarked, so they are retried.
func NotIdempotent(ctx context.Context) context.Context {
	return context.WithValue(ctx, notIdempotentKey{}, true)
}

// IsNotIdempotent reports whether ctx was marked with NotIdempotent.
func IsNotIdempotent(ctx context.Context) bool {
	v, _ := ctx.Value(notIdempotentKey{}).(bool)
	return v
}

// ctxMethod returns the method gate recorded for the retry policy, which
// only sees the request's context.
func ctxMethod(ctx context.Context) string {
	m, _ := ctx.Value(methodKey{}).(string)
	return m
}

// gate runs before the retrying client: it refuses requests while the
// target is paused and paces them client-side.
type gate struct {
	c    *Client
	next http.RoundTripper
}

func (g *gate) RoundTrip(req *http.Request) (*http.Response, error) {
	c := g.c
	if until := c.PausedUntil(); !until.IsZero() {
		c.mu.Lock()
		why := c.pauseWhy
		c.mu.Unlock()
		return nil, &connectors.RateLimitError{RetryAfter: time.Until(until), Scope: connectors.ScopeTarget, Reason: why}
	}
	ctx := req.Context()
	if isWrite(req.Method) {
		if c.writeSem != nil {
			select {
			case c.writeSem <- struct{}{}:
				defer func() { <-c.writeSem }()
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		if c.writes != nil {
			if err := c.writes.Wait(ctx); err != nil {
				return nil, err
			}
		}
	} else if c.reads != nil {
		if err := c.reads.Wait(ctx); err != nil {
			return nil, err
		}
	}
	return g.next.RoundTrip(req.WithContext(context.WithValue(ctx, methodKey{}, req.Method)))
}

// meter wraps each attempt: it reports the request and quota headers.
type meter struct {
	c    *Client
	next http.RoundTripper
}

func (m *meter) RoundTrip(req *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := m.next.RoundTrip(req)
	status := 0
	if resp != nil {
		status = resp.StatusCode
	}
	o := m.c.opts
	o.Observer.Request(o.Target, Class(req.Method), status, time.Since(start))
	if err != nil {
		o.Logger.Debug("tracker request failed", "target", o.Target, "method", req.Method, "path", req.URL.Path, "error", err)
		if certificateRefused(err) {
			// Retrying never fixes a certificate: the target is parked
			// with a message instead of being retried forever.
			return nil, connectors.Terminal(fmt.Errorf("the TLS certificate of %s was refused: %w; the server's certificate is expired, self-signed or for another name, or a proxy intercepts TLS: fix the certificate, or make its authority trusted (SSL_CERT_FILE or SSL_CERT_DIR)", req.URL.Host, err))
		}
		return nil, err
	}
	d := o.Classify(resp, peekBody(resp))
	if d.Remaining >= 0 && !d.Reset.IsZero() {
		o.Observer.RateLimit(o.Target, d.Remaining, d.Reset)
	}
	if resp.StatusCode < 400 {
		// The tracker took a request again: the next limit is a new
		// streak and starts from MinLimitWait. Without this, strikes
		// gathered over the daemon's lifetime made every later limit
		// pause the target for about an hour.
		m.c.mu.Lock()
		m.c.strikes = 0
		m.c.mu.Unlock()
	}
	return resp, nil
}

// certificateRefused reports whether err is the client refusing the
// server's TLS certificate.
func certificateRefused(err error) bool {
	var verify *tls.CertificateVerificationError
	var authority x509.UnknownAuthorityError
	var invalid x509.CertificateInvalidError
	var host x509.HostnameError
	return errors.As(err, &verify) || errors.As(err, &authority) || errors.As(err, &invalid) || errors.As(err, &host)
}

// Class is the method class used in metrics: "read" or "write".
func Class(method string) string {
	if isWrite(method) {
		return "write"
	}
	return "read"
}

func isWrite(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	return true
}

const peekLimit = 64 << 10

// PeekBody returns the start (up to 64 KiB) of an error response's body
// and leaves the body readable from its beginning, for a connector that
// must classify a response before its library reads it.
func PeekBody(resp *http.Response) []byte { return peekBody(resp) }

// peekBody reads the start of an error response's body and puts it back,
// so classifiers and the connector can both read it.
func peekBody(resp *http.Response) []byte {
	if resp == nil || resp.StatusCode < 400 || resp.Body == nil {
		return nil
	}
	if p, ok := resp.Body.(*peeked); ok {
		return p.head
	}
	head, _ := io.ReadAll(io.LimitReader(resp.Body, peekLimit))
	resp.Body = &peeked{head: head, Reader: io.MultiReader(bytes.NewReader(head), resp.Body), closer: resp.Body}
	return head
}

type peeked struct {
	head []byte
	io.Reader
	closer io.Closer
}

func (p *peeked) Close() error { return p.closer.Close() }

// StandardClassifier understands the common signals: 429, and 503 with
// Retry-After (seconds or an HTTP date); X-RateLimit-Remaining and
// X-RateLimit-Reset (epoch seconds) for quota.
func StandardClassifier(resp *http.Response, _ []byte) Decision {
	d := Decision{Remaining: -1}
	if v, err := strconv.Atoi(resp.Header.Get("X-RateLimit-Remaining")); err == nil {
		d.Remaining = v
	}
	if v, err := strconv.ParseInt(resp.Header.Get("X-RateLimit-Reset"), 10, 64); err == nil {
		d.Reset = time.Unix(v, 0)
	}
	ra, hasRA := ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		d.Limited, d.RetryAfter = true, ra
	case resp.StatusCode == http.StatusServiceUnavailable && hasRA:
		d.Limited, d.RetryAfter = true, ra
	}
	if d.Limited && d.RetryAfter == 0 && !d.Reset.IsZero() && d.Remaining == 0 {
		d.RetryAfter = time.Until(d.Reset)
	}
	if d.Limited {
		d.Reason = fmt.Sprintf("HTTP %d", resp.StatusCode)
	}
	return d
}

// ParseRetryAfter reads a Retry-After value: delay seconds or an HTTP date.
func ParseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}
