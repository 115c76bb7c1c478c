package connectors

import (
	"bytes"
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// DecodeSettings decodes a target's settings block into v, refusing
// unknown keys. Errors carry the YAML line of the offending key; the
// caller adds the file name.
func DecodeSettings(n *yaml.Node, v any) error {
	if n == nil {
		return nil
	}
	b, err := yaml.Marshal(n)
	if err != nil {
		return err
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		// Re-encoding shifts line numbers; point back into the real file.
		msg := shiftLines(err.Error(), n.Line-1)
		msg = strings.TrimPrefix(msg, "yaml: unmarshal errors:\n")
		msg = unknownFieldRE.ReplaceAllString(msg, "unknown setting $1; this kind takes "+strings.Join(settingNames(v), ", "))
		return fmt.Errorf("%s", strings.Join(strings.Fields(msg), " "))
	}
	return nil
}

// unknownFieldRE matches yaml.v3's message for a key with no field.
var unknownFieldRE = regexp.MustCompile(`(?m)field (\S+) not found in type .*$`)

// settingNames lists the yaml keys of the settings struct v points to.
func settingNames(v any) []string {
	t := reflect.TypeOf(v)
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() != reflect.Struct {
		return nil
	}
	var names []string
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if name != "" && name != "-" {
			names = append(names, name)
		}
	}
	return names
}

func shiftLines(msg string, by int) string {
	if by <= 0 {
		return msg
	}
	var out strings.Builder
	for {
		i := strings.Index(msg, "line ")
		if i < 0 {
			out.WriteString(msg)
			return out.String()
		}
		out.WriteString(msg[:i+5])
		msg = msg[i+5:]
		j := 0
		for j < len(msg) && msg[j] >= '0' && msg[j] <= '9' {
			j++
		}
		var n int
		fmt.Sscanf(msg[:j], "%d", &n)
		if j > 0 {
			fmt.Fprintf(&out, "%d", n+by)
		}
		msg = msg[j:]
	}
}

// Duration is a time.Duration that reads "30s" or "5m" from YAML.
type Duration time.Duration

// UnmarshalYAML parses a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration; write it like 30s or 5m", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the duration as "30s".
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// Validator is a settings block that checks itself and fills in its
// defaults.
type Validator interface{ Validate() error }

// LoadSettings decodes a target's settings block strictly into s and
// validates it. Errors name the connector kind and the target, for the
// factories of every connector.
func LoadSettings(kind string, env Env, s Validator) error {
	if err := DecodeSettings(env.Settings, s); err != nil {
		return fmt.Errorf("%s target %s: settings: %w", kind, env.Target, err)
	}
	if err := s.Validate(); err != nil {
		return fmt.Errorf("%s target %s: settings: %w", kind, env.Target, err)
	}
	return nil
}

// SecretSetting is one secret reference of a settings block and where
// its value goes.
type SecretSetting struct {
	// Name is the setting's key, for errors ("token").
	Name string
	// Ref is the reference as written (env:NAME); empty skips it (an
	// optional secret left out; Validate refuses a required one).
	Ref  string
	Into *Secret
}

// ResolveSecrets resolves a target's secret references through
// env.Secrets (the process environment and files when nil). Errors name
// the kind, the target and the setting, never the value.
func ResolveSecrets(kind string, env Env, secrets ...SecretSetting) error {
	r := env.Secrets
	if r == nil {
		r = EnvSecrets{}
	}
	for _, s := range secrets {
		if s.Ref == "" {
			continue
		}
		v, err := r.Resolve(s.Ref)
		if err != nil {
			return fmt.Errorf("%s target %s: %s: %w", kind, env.Target, s.Name, err)
		}
		*s.Into = v
	}
	return nil
}
