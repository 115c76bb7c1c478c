package mapping

import (
	"testing"

	"github.com/backlogd/backlogd/backlog"
)

func TestExprMatch(t *testing.T) {
	item := backlog.Item{
		Kind: backlog.Story, Title: "Checkout", Status: backlog.InProgress, Phase: backlog.Build,
		Teams: []string{"web", "mobile"}, Labels: []string{"needs design"}, Clients: []string{"acme"},
		Estimate: backlog.Estimate{Points: 3},
	}
	f := item.Project()
	tests := []struct {
		expr string
		want bool
	}{
		{`all`, true},
		{`clients has acme`, true},
		{`clients has "globex"`, false},
		{`kind = story`, true},
		{`kind != story`, false},
		{`kind in [story, bug]`, true},
		{`kind in [epic]`, false},
		{`clients has acme and kind != epic`, true},
		{`clients has globex or teams has web`, true},
		{`not phase = launch`, true},
		{`not (phase = build or phase = launch)`, false},
		{`labels has "needs design"`, true},
		{`phase in [build, test_feedback] and clients has acme`, true},
		{`clients has acme and (kind = bug or status = in_progress)`, true},
		{`status = done or all`, true},
		{`estimate.points = 3.0`, true},
		{`priority = ""`, true},
		{`due = ""`, true},
		{`teams has web and not teams has backend`, true},
		{`clients has globex or clients has acme and kind = bug`, false},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			e, err := ParseExpr(tt.expr)
			if err != nil {
				t.Fatal(err)
			}
			if got := e.Match(f); got != tt.want {
				t.Errorf("Match = %v; want %v", got, tt.want)
			}
			if e.String() != tt.expr {
				t.Errorf("String = %q; want the source", e.String())
			}
		})
	}
	t.Run("the zero expression matches nothing", func(t *testing.T) {
		var e *Expr
		if e.Match(f) || (&Expr{}).Match(f) {
			t.Error("a missing scope matched an item")
		}
	})
}

func TestParseExprErrors(t *testing.T) {
	tests := []struct {
		expr, want string
	}{
		{``, "column 1: the expression is empty; write `all` to match every item"},
		{`clinets has acme`, `column 1: unknown field "clinets"; did you mean "clients"? (canonical fields are kind, title, description, status, phase, teams, estimate.effort, estimate.points, estimate.cost, priority, labels, assignee, parent, due, clients, acceptance)`},
		{`teams = web`, "column 7: teams holds a list; write `teams has VALUE` instead of `=`"},
		{`status has done`, "column 8: status holds one value; write `status = VALUE` or `status in [A, B]` instead of `has`"},
		{`teams in [a]`, "column 7: teams holds a list; write `teams has A or teams has B` instead of `in`"},
		{`status = doing`, `column 10: "doing" is not a status; use one of todo, in_progress, in_review, done, cancelled`},
		{`kind in [story bug]`, "column 16: expected `,` or `]` in the list, found `bug`"},
		{`kind in story`, "column 9: expected `[` after `in`, found `story`; write `kind in [A, B]`"},
		{`(kind = bug`, "column 12: expected `)` to close the `(` at column 1, found end of expression"},
		{`kind = bug phase = build`, "column 12: unexpected `phase` after a complete condition; join conditions with `and` or `or`"},
		{`kind ! bug`, "column 6: `!` on its own is not an operator; write `!=` to compare or `not` to negate"},
		{`labels has "open`, "column 12: the string starting here is not closed; add a closing \""},
		{`kind = and`, "column 8: \"and\" is a keyword; quote it (\"and\") to use it as a value of kind"},
		{`kind bug`, "column 6: expected =, !=, has or in after kind, found `bug`"},
		{`estimate.points = many`, `column 19: estimate.points: "many" is not a number`},
		{`and`, "column 1: expected a field name such as status or clients, found `and`"},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			_, err := ParseExpr(tt.expr)
			if err == nil {
				t.Fatalf("parsed; want error %q", tt.want)
			}
			if err.Error() != tt.want {
				t.Errorf("error\n got %s\nwant %s", err, tt.want)
			}
		})
	}
}

func FuzzParseExpr(f *testing.F) {
	for _, s := range []string{
		`all`, `clients has "acme" and kind in [story, bug] and not phase = launch`,
		`(a`, `status != done or (teams has "a b" and not labels has 'x\'y')`, `kind in [`, `"`, `!`, "\xff",
	} {
		f.Add(s)
	}
	fields := backlog.Item{Kind: backlog.Bug, Teams: []string{"web"}, Clients: []string{"acme"}}.Project()
	f.Fuzz(func(t *testing.T, src string) {
		e, err := ParseExpr(src)
		if err != nil {
			if e != nil {
				t.Fatalf("ParseExpr(%q) returned an expression and an error", src)
			}
			return
		}
		e.Match(fields)
		e.Match(nil)
		// A valid expression stays valid and means the same when parsed again.
		again, err := ParseExpr(e.String())
		if err != nil || again.Match(fields) != e.Match(fields) {
			t.Fatalf("re-parsing %q: %v", src, err)
		}
	})
}
