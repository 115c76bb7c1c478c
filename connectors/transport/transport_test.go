package transport

import (
	"context"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/backlogd/backlogd/connectors"
)

// loseAnswer performs each request on the server and then fails the
// first lose answers (a dropped connection, or a 502 from a proxy whose
// upstream did the work), as happens when a tracker saves a write and
// the answer never arrives.
type loseAnswer struct {
	next   http.RoundTripper
	lose   atomic.Int32
	status int // 0: drop the connection; else answer this status
}

func (l *loseAnswer) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := l.next.RoundTrip(r)
	if err != nil || l.lose.Add(-1) < 0 {
		return resp, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if l.status == 0 {
		return nil, io.ErrUnexpectedEOF
	}
	return &http.Response{StatusCode: l.status, Status: http.StatusText(l.status), Header: http.Header{}, Body: http.NoBody, Request: r}, nil
}

func TestWritesThatMustNotBeRepeatedAreNotRetried(t *testing.T) {
	tests := []struct {
		name   string
		method string
		mark   bool
		status int
		// want is how many times the server performs the request.
		want int32
	}{
		{"a PUT marked not idempotent whose answer was lost", http.MethodPut, true, 0, 1},
		{"a PUT marked not idempotent answered 502 after the work", http.MethodPut, true, http.StatusBadGateway, 1},
		{"a POST whose answer was lost", http.MethodPost, false, 0, 1},
		{"a POST answered 502", http.MethodPost, false, http.StatusBadGateway, 1},
		{"an idempotent PUT whose answer was lost is retried", http.MethodPut, false, 0, 2},
		{"an idempotent PUT answered 502 is retried", http.MethodPut, false, http.StatusBadGateway, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var performed atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.Copy(io.Discard, r.Body)
				performed.Add(1)
				w.WriteHeader(http.StatusNoContent)
			}))
			defer srv.Close()
			base := &loseAnswer{next: srv.Client().Transport, status: tt.status}
			base.lose.Store(1)
			c := New(Options{Target: "test", Base: base, MaxWait: 10 * time.Millisecond})
			ctx := context.Background()
			if tt.mark {
				ctx = NotIdempotent(ctx)
			}
			req, _ := http.NewRequestWithContext(ctx, tt.method, srv.URL+"/issues/1.json", strings.NewReader(`{"issue":{"notes":"hello"}}`))
			req.Header.Set("Content-Type", "application/json")
			resp, err := c.Do(req)
			if err == nil {
				resp.Body.Close()
			}
			if got := performed.Load(); got != tt.want {
				t.Errorf("the server performed the %s %d times, want %d", tt.method, got, tt.want)
			}
			if tt.want == 1 && err == nil && resp.StatusCode < 500 {
				t.Errorf("the lost answer came back as a success (%d)", resp.StatusCode)
			}
		})
	}
}

func TestNotIdempotentMarksOnlyItsContext(t *testing.T) {
	ctx := context.Background()
	if IsNotIdempotent(ctx) {
		t.Error("a plain context is marked")
	}
	marked := NotIdempotent(ctx)
	if !IsNotIdempotent(marked) || IsNotIdempotent(ctx) {
		t.Error("NotIdempotent did not mark only the context it returned")
	}
	child, cancel := context.WithCancel(marked)
	defer cancel()
	if !IsNotIdempotent(child) {
		t.Error("a context derived from a marked one lost the mark")
	}
}

func TestBackOffAfterLimitsStartsOverOnceARequestSucceeds(t *testing.T) {
	var limited atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if limited.Load() {
			w.WriteHeader(http.StatusTooManyRequests) // no Retry-After: the client backs off
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	const first = 20 * time.Millisecond
	c := New(Options{Target: "test", Base: srv.Client().Transport, MinLimitWait: first})
	get := func() time.Duration {
		t.Helper()
		// Wait out the pause the last limit set.
		for until := c.PausedUntil(); !until.IsZero(); until = c.PausedUntil() {
			time.Sleep(time.Until(until) + time.Millisecond)
		}
		req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		wait, _ := connectors.RetryAfter(c.RateLimitFrom(resp))
		return wait
	}
	limited.Store(true)
	var last time.Duration
	for range 4 {
		last = get()
	}
	if last < 4*first {
		t.Fatalf("after four limits in a row the wait is %v; want it to have grown from %v", last, first)
	}
	limited.Store(false)
	if w := get(); w != 0 {
		t.Fatalf("a request that succeeded came back limited (%v)", w)
	}
	limited.Store(true)
	if w := get(); w > 2*first {
		t.Errorf("the first limit after a success waits %v; want about %v again, not the back-off of the earlier streak", w, first)
	}
}

func TestACertificateTheClientRefusesIsTerminalAndNotRetried(t *testing.T) {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes
	srv.StartTLS()
	defer srv.Close()
	// The default transport trusts the system's roots, not the test
	// server's own certificate: as a server with an expired or
	// self-signed certificate, or a proxy intercepting TLS.
	c := New(Options{Target: "test", MaxWait: 10 * time.Millisecond})
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	resp, err := c.Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatal("a certificate no root vouches for was accepted")
	}
	if !connectors.IsTerminal(err) {
		t.Errorf("err = %v; want a terminal error: retrying never fixes a certificate", err)
	}
	if !strings.Contains(err.Error(), "certificate") {
		t.Errorf("err = %v; want it to say the certificate was refused", err)
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d connections; a refused certificate must not be retried", n)
	}
}
