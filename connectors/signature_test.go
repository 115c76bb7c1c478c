package connectors

import "testing"

func TestValidSHA256(t *testing.T) {
	body := []byte(`{"action":"edited"}`)
	secret := NewSecret("It's a Secret to Everybody")
	good := SignSHA256(secret.Reveal(), body)
	for _, tc := range []struct {
		name      string
		secret    Secret
		signature string
		body      []byte
		want      bool
	}{
		{"the right signature passes", secret, good, body, true},
		{"a changed body fails", secret, good, []byte(`{"action":"deleted"}`), false},
		{"another secret fails", NewSecret("guess"), good, body, false},
		{"no signature fails", secret, "", body, false},
		{"a signature without its sha256= prefix fails", secret, good[len("sha256="):], body, false},
		{"a signature that is not hex fails", secret, "sha256=zz", body, false},
		{"a receiver without a secret refuses even an empty signature", Secret{}, SignSHA256("", body), body, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ValidSHA256(tc.secret, tc.signature, tc.body); got != tc.want {
				t.Errorf("ValidSHA256 = %v, want %v", got, tc.want)
			}
		})
	}
}
