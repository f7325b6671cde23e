package rules_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/leadscore/leadscore/rules"
)

func TestBadFilesReportPositions(t *testing.T) {
	cases := []struct {
		file string
		want []string // "line:col: fragment", every one must appear
	}{
		{"unknown-key.yaml", []string{`5:5: unknown key "pionts"`}},
		{"bad-regex.yaml", []string{`8:24: properties.title.regex: bad regular expression "(unclosed"`}},
		{"stage-order.yaml", []string{`14:27: stage order: "mql" must regress to an earlier stage, not "sql"`,
			`17:16: stage order: "sql" needs score 20, less than the earlier stage "mql" (30)`}},
		{"threshold-below-exit.yaml", []string{`10:16: stage "mql": entry score threshold 20 is below its exit threshold 25`}},
		{"many-errors.yaml", []string{
			`3:14: decay.half_life: bad duration "30 days"`,
			`6:13: points must be a number, not "five"`,
			`8:11: rule "a" already defined at line 5`,
			`10:21: match.source "pigeon"`,
			`11:10: cap needs hits or points`,
			`15:7: stage "visitor" is the first stage`,
			`18:16: hits: unknown rule "nope"`,
			`20:18: feedback.accepted.to: unknown stage "sal"`,
			`21:3: feedback: unknown kind "hugged"`,
		}},
		// Points so large that scores would overflow to +Inf.
		{"points-out-of-range.yaml", []string{
			`4:13: points 1e308 is out of range: points and score thresholds lie within ±1e+06`,
			`7:13: points 1e308 is out of range`,
			`13:16: score 2000000 is out of range`,
		}},
		// Everything after "---" would be ignored in silence.
		{"second-document.yaml", []string{`9:1: a second YAML document`}},
		// One bad value, one error: the zero it is replaced by does not also fail
		// the hysteresis or step-order checks.
		{"one-error-per-value.yaml", []string{
			`4:14: after: bad duration "30 days"`,
			`16:16: score must be a number, not "30"`,
		}},
		// Calendar periods are whole months or years; a step in days after one in
		// months must be longer than the months can ever be.
		{"calendar.yaml", []string{
			`6:14: inactivity steps must be in increasing order of after`,
			`8:14: after: months and years are whole numbers from 1 ("1.5mo")`,
			`14:25: cap.per: bad duration "3 months" (use e.g. 30d, 12h, 2w, 3mo, 1y)`,
		}},
		{"exit-empty.yaml", []string{`11:11: exit: give below, inactive or both`}},
		{"accounts.yaml", []string{
			`7:15: accounts.membership: nobody could join an account`,
			`8:8: accounts.top`,
			`11:14: account role "signer" defined twice`,
			`11:43: account role signer: bad regular expression`,
			`15:28: account stage "engaged": entry engagement 10 is below its exit threshold 20`,
			`19:19: entry.roles: unknown role "buyer"`,
			`20:11: account stage "mqa": an entry alternative needs at least one condition`,
			`21:28: account stage order: "mqa" must regress to an earlier account stage, not "mqa"`,
		}},
		// account_stage names a stage of the accounts section, read after the
		// lead stages; without one it cannot hold.
		{"account-stage.yaml", []string{
			`10:41: account_stage: unknown account stage "mqa" (account stages: target, engaged)`,
			`11:25: account_stage must be a string`,
		}},
		{"account-stage-no-accounts.yaml", []string{`7:40: stage "sql": account_stage needs an accounts section`}},
		// Syntax errors are reported at the offending character, not at the
		// line of the enclosing block.
		{"yaml-syntax.yaml", []string{`5:4: YAML syntax: value is not allowed in this context`}},
		{"yaml-tab.yaml", []string{`4:1: YAML syntax: a tab character: YAML indents with spaces only`}},
		{"yaml-unclosed-brace.yaml", []string{`5:12: YAML syntax: unclosed "{": no matching "}"`}},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			path := filepath.Join("testdata", "bad", c.file)
			_, err := rules.Load(path)
			var es rules.Errors
			if !errors.As(err, &es) {
				t.Fatalf("Load = %v, want rules.Errors", err)
			}
			text := err.Error()
			for _, w := range c.want {
				if !strings.Contains(text, path+":"+w) {
					t.Errorf("missing %q in:\n%s", path+":"+w, text)
				}
			}
			if len(es) != len(c.want) {
				t.Errorf("%d errors, want %d:\n%s", len(es), len(c.want), text)
			}
		})
	}
}

func TestExampleRulesFilesLoad(t *testing.T) {
	files, _ := filepath.Glob("../examples/rules/*.yaml")
	more, _ := filepath.Glob("../scoring/testdata/*.yaml")
	files = append(files, more...)
	if len(files) < 4 {
		t.Fatalf("found only %v", files)
	}
	for _, f := range files {
		m, err := rules.Load(f)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if m.Version == "" || len(m.Stages) == 0 || len(m.Rules) == 0 {
			t.Errorf("%s: incomplete model", f)
		}
	}
}

// The reference in docs/rules.md and README.md is generated from the parser's key
// table; this keeps the committed copies current.
func TestReferenceIsCurrent(t *testing.T) {
	for _, f := range []string{"../docs/rules.md", "../README.md"} {
		t.Run(filepath.Base(f), func(t *testing.T) { checkReference(t, f) })
	}
}

func checkReference(t *testing.T, file string) {
	doc, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	ref := rules.Reference()
	const begin, end = "<!-- reference:begin -->\n", "<!-- reference:end -->"
	i, j := strings.Index(string(doc), begin), strings.Index(string(doc), end)
	if i < 0 || j < i {
		t.Fatalf("%s lacks the reference markers", file)
	}
	current := string(doc[i+len(begin) : j])
	if current != ref {
		if os.Getenv("UPDATE_REFERENCE") == "1" {
			out := string(doc[:i+len(begin)]) + ref + string(doc[j:])
			if err := os.WriteFile(file, []byte(out), 0o644); err != nil {
				t.Fatal(err)
			}
			return
		}
		t.Fatalf("%s: reference is stale: run UPDATE_REFERENCE=1 go test ./rules", file)
	}
}
