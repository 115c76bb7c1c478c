package connectors

import (
	"bytes"
	"fmt"
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
		return fmt.Errorf("%s", shiftLines(err.Error(), n.Line-1))
	}
	return nil
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
