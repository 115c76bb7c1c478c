package connectors

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// Trackers sign webhook deliveries the same way (GitHub's
// X-Hub-Signature-256, Jira's X-Hub-Signature): "sha256=" and the hex
// HMAC-SHA256 of the body under the webhook's secret. Checking lives here
// once, so every connector compares in constant time.

// SignSHA256 returns the "sha256=<hex>" signature of body under secret,
// for fakes and tests that send deliveries.
func SignSHA256(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// ValidSHA256 reports whether signature is body's "sha256=<hex>"
// signature under secret, in constant time. An empty secret never
// validates: a receiver without a secret refuses every delivery.
func ValidSHA256(secret Secret, signature string, body []byte) bool {
	if secret.IsZero() {
		return false
	}
	hexSum, ok := strings.CutPrefix(signature, "sha256=")
	if !ok {
		return false
	}
	got, err := hex.DecodeString(hexSum)
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, []byte(secret.Reveal()))
	mac.Write(body)
	return hmac.Equal(got, mac.Sum(nil))
}
