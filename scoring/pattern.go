package scoring

import (
	"regexp"
	"regexp/syntax"
	"strings"
	"unicode/utf8"
)

// Pattern is a compiled regular expression from a rules file. Patterns that are
// plain words — "(?i)acme-uptime", "Head of" — are matched as substrings without
// the regexp engine, which is an order of magnitude faster on the hot path where
// every web event meets every bot pattern.
type Pattern struct {
	re    *regexp.Regexp
	lit   string // the literal, lower-cased when fold
	fold  bool
	isLit bool
}

// CompilePattern compiles an RE2 expression.
func CompilePattern(expr string) (*Pattern, error) {
	re, err := regexp.Compile(expr)
	if err != nil {
		return nil, err
	}
	p := &Pattern{re: re}
	if ast, err := syntax.Parse(expr, syntax.Perl); err == nil {
		ast = ast.Simplify()
		if ast.Op == syntax.OpLiteral && isASCII(ast.Rune) {
			p.isLit = true
			p.fold = ast.Flags&syntax.FoldCase != 0
			p.lit = string(ast.Rune)
			if p.fold {
				p.lit = strings.ToLower(p.lit)
			}
		}
	}
	return p, nil
}

func isASCII(rs []rune) bool {
	for _, r := range rs {
		if r >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// String returns the source expression.
func (p *Pattern) String() string { return p.re.String() }

// MatchString reports whether s contains a match.
func (p *Pattern) MatchString(s string) bool {
	if !p.isLit {
		return p.re.MatchString(s)
	}
	if !p.fold {
		return strings.Contains(s, p.lit)
	}
	return containsFoldASCII(s, p.lit)
}

// containsFoldASCII reports whether s contains lowerSub, ignoring ASCII case,
// without allocating.
func containsFoldASCII(s, lowerSub string) bool {
	n := len(lowerSub)
	if n == 0 {
		return true
	}
	first := lowerSub[0]
	for i := 0; i+n <= len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != first {
			continue
		}
		j := 1
		for ; j < n; j++ {
			d := s[i+j]
			if 'A' <= d && d <= 'Z' {
				d += 'a' - 'A'
			}
			if d != lowerSub[j] {
				break
			}
		}
		if j == n {
			return true
		}
	}
	return false
}
