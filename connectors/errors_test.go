package connectors

import (
	"errors"
	"fmt"
	"testing"
)

func TestTerminalScope(t *testing.T) {
	credentials := ScopedTerminalf(ScopeTarget, "github acme/webshop: update #3: GitHub refused the token (HTTP 401)")
	tests := []struct {
		name     string
		err      error
		want     Scope
		terminal bool
	}{
		{"a plain error is not terminal", errors.New("502 bad gateway"), "", false},
		{"an unscoped refusal is the record's", Terminalf("title is empty"), ScopeRecord, true},
		{"refused credentials cover the target", credentials, ScopeTarget, true},
		{"a refusal keeps its scope when wrapped", fmt.Errorf("update BL-3 on acme: %w", credentials), ScopeTarget, true},
		{"a refusal keeps its scope when made terminal again", Terminal(fmt.Errorf("adopt: %w", credentials)), ScopeTarget, true},
		{"a missing permission covers the endpoint", ScopedTerminalf(ScopeEndpoint, "HTTP 403"), ScopeEndpoint, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := TerminalScope(tt.err)
			if got != tt.want || ok != tt.terminal {
				t.Errorf("TerminalScope(%v) = %q, %v; want %q, %v", tt.err, got, ok, tt.want, tt.terminal)
			}
			if IsTerminal(tt.err) != tt.terminal {
				t.Errorf("IsTerminal(%v) = %v, want %v", tt.err, !tt.terminal, tt.terminal)
			}
		})
	}
}
