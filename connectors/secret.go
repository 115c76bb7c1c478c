package connectors

import (
	"fmt"
	"os"
	"strings"
)

// Secret holds a credential. It prints as <secret> in every format, so a
// log line, an error or a status page can never show it; Reveal is the
// one way to read it, at the point of use.
type Secret struct{ value string }

// NewSecret wraps a credential value.
func NewSecret(v string) Secret { return Secret{value: v} }

// Reveal returns the credential, for an Authorization header and nothing else.
func (s Secret) Reveal() string { return s.value }

// IsZero reports whether the secret is empty.
func (s Secret) IsZero() bool { return s.value == "" }

func (s Secret) String() string   { return "<secret>" }
func (s Secret) GoString() string { return "<secret>" }

// MarshalText keeps the secret out of JSON and YAML output.
func (s Secret) MarshalText() ([]byte, error) { return []byte("<secret>"), nil }

// EnvSecrets resolves references of the forms env:NAME and file:/path
// (trailing newline trimmed). Any other form is an error: config files
// hold references, never credentials.
type EnvSecrets struct {
	// LookupEnv defaults to os.LookupEnv.
	LookupEnv func(string) (string, bool)
	// ReadFile defaults to os.ReadFile.
	ReadFile func(string) ([]byte, error)
}

// Resolve implements SecretResolver.
func (r EnvSecrets) Resolve(ref string) (Secret, error) {
	lookup, read := r.LookupEnv, r.ReadFile
	if lookup == nil {
		lookup = os.LookupEnv
	}
	if read == nil {
		read = os.ReadFile
	}
	kind, name, err := parseRef(ref)
	if err != nil {
		return Secret{}, err
	}
	switch kind {
	case "env":
		v, found := lookup(name)
		if !found || v == "" {
			return Secret{}, fmt.Errorf("secret %s: environment variable %s is not set; export it before starting backlogd", ref, name)
		}
		return NewSecret(v), nil
	default:
		b, err := read(name)
		if err != nil {
			return Secret{}, fmt.Errorf("secret %s: %v; mount the secret file or fix the path", ref, err)
		}
		return NewSecret(strings.TrimRight(string(b), "\r\n")), nil
	}
}

// parseRef splits env:NAME or file:/path.
func parseRef(ref string) (kind, name string, err error) {
	kind, name, ok := strings.Cut(ref, ":")
	if ok && (kind == "env" || kind == "file") && name != "" {
		return kind, name, nil
	}
	return "", "", fmt.Errorf("secret reference %q: want env:NAME or file:/path (credentials never go in config files)", redactRef(ref))
}

// RefChecker checks the form of secret references without reading the
// environment or any file, and answers a placeholder: the resolver of
// offline checks (backlogd validate on a machine without the secrets).
type RefChecker struct{}

// Resolve implements SecretResolver.
func (RefChecker) Resolve(ref string) (Secret, error) {
	if _, _, err := parseRef(ref); err != nil {
		return Secret{}, err
	}
	return NewSecret("offline-placeholder"), nil
}

// redactRef shows the shape of a malformed reference without echoing what
// may be a pasted credential.
func redactRef(ref string) string {
	if len(ref) <= 4 {
		return ref
	}
	return ref[:2] + strings.Repeat("*", min(len(ref)-2, 8))
}
