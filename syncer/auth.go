package syncer

import (
	"crypto/subtle"
	"net"
	"net/http"
	"strings"

	"github.com/backlogd/backlogd/connectors"
)

// The daemon's one listener faces trackers for webhooks, so it is often
// reachable from the internet. The read API serves every client's items
// with their private fields and internal comments, and resync and reload
// can make the daemon spend every tracker's quota: those need the API
// token. Webhooks carry their own signatures; health and metrics carry
// nothing private.

// RequireAPIToken wraps h so that /api/ and /-/reload answer only
// requests bearing token ("Authorization: Bearer …"), or, when token is
// empty, only requests from loopback addresses.
func RequireAPIToken(token connectors.Secret, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !guarded(r.URL.Path) {
			h.ServeHTTP(w, r)
			return
		}
		if token.IsZero() {
			if !fromLoopback(r) {
				writeJSON(w, http.StatusForbidden, map[string]string{"error": "the API answers loopback clients only; set api_token in the daemon config to use it from other hosts"})
				return
			}
			h.ServeHTTP(w, r)
			return
		}
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(token.Reveal())) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="backlogd"`)
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "send Authorization: Bearer <the daemon's api_token>"})
			return
		}
		h.ServeHTTP(w, r)
	})
}

func guarded(path string) bool {
	return strings.HasPrefix(path, "/api/") || path == "/-/reload"
}

func fromLoopback(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
