package syncer

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/backlogd/backlogd/connectors"
)

func TestRequireAPIToken(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) })
	token := connectors.NewSecret("t0ken")
	for _, tc := range []struct {
		name, path, remote, auth string
		token                    connectors.Secret
		want                     int
	}{
		{"the items need the token", "/api/v1/items", "203.0.113.9:5000", "", token, http.StatusUnauthorized},
		{"a wrong token is refused", "/api/v1/items", "203.0.113.9:5000", "Bearer guess", token, http.StatusUnauthorized},
		{"the right token passes", "/api/v1/items", "203.0.113.9:5000", "Bearer t0ken", token, http.StatusTeapot},
		{"reload needs the token", "/-/reload", "203.0.113.9:5000", "", token, http.StatusUnauthorized},
		{"webhooks carry their own signatures", "/webhooks/acme", "203.0.113.9:5000", "", token, http.StatusTeapot},
		{"health is open", "/readyz", "203.0.113.9:5000", "", token, http.StatusTeapot},
		{"metrics are open", "/metrics", "203.0.113.9:5000", "", token, http.StatusTeapot},
		{"without a token the API answers loopback", "/api/v1/status", "127.0.0.1:5000", "", connectors.Secret{}, http.StatusTeapot},
		{"without a token the API answers IPv6 loopback", "/api/v1/status", "[::1]:5000", "", connectors.Secret{}, http.StatusTeapot},
		{"without a token the API refuses other hosts", "/api/v1/items", "203.0.113.9:5000", "", connectors.Secret{}, http.StatusForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, tc.path, nil)
			r.RemoteAddr = tc.remote
			if tc.auth != "" {
				r.Header.Set("Authorization", tc.auth)
			}
			w := httptest.NewRecorder()
			RequireAPIToken(tc.token, ok).ServeHTTP(w, r)
			if w.Code != tc.want {
				t.Errorf("%s from %s: %d, want %d", tc.path, tc.remote, w.Code, tc.want)
			}
		})
	}
}
