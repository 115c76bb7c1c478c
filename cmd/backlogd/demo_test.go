package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestDemo runs the README's first command in process: every check of
// every step must hold, and the report must say so.
func TestDemo(t *testing.T) {
	var out bytes.Buffer
	if err := cmdDemo(context.Background(), nil, &out); err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	report := out.String()
	if strings.Contains(report, "[FAIL]") || !strings.Contains(report, " 0 failed") {
		t.Errorf("the demo reported failures:\n%s", report)
	}
	for _, step := range []string{"1. Initial projection", "2. Acme edits", "3. The product owner edits", "4. Feedback", "5. Conflicting edits", "6. A client files a bug", "7. Everything converged"} {
		if !strings.Contains(report, "== "+step) {
			t.Errorf("the report has no step %q", step)
		}
	}
}
