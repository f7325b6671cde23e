package scoring

import (
	"strconv"
	"strings"
)

// Matcher selects the events an engagement rule scores. Every set field must match;
// within a field, any listed value matches. Globs use * (any run of characters,
// including /) and ? (one character).
type Matcher struct {
	Sources    uint8    // bit per Source (1<<SourceWeb | …); 0 = any source
	Kinds      []string // Segment type, SendGrid event or feedback kind
	Names      []string // track event or page name globs, case-insensitive
	Paths      []string // page path globs
	URLs       []string // URL globs (page URL or clicked link)
	Categories []string // e-mail categories, case-insensitive
	Props      []PropCond
	names      []string // lower-cased Names
}

// PropCond tests one flattened property (Key is dotted for nested values).
type PropCond struct {
	Key  string
	Cond ValueCond
}

func (m *Matcher) compile() {
	m.names = make([]string, len(m.Names))
	for i, n := range m.Names {
		m.names[i] = strings.ToLower(n)
	}
}

// Matches reports whether ev satisfies every condition of m.
func (m *Matcher) Matches(ev *Event) bool {
	if m.Sources != 0 && m.Sources&(1<<ev.Source) == 0 {
		return false
	}
	if len(m.Kinds) > 0 && !containsFold(m.Kinds, ev.Kind) {
		return false
	}
	if len(m.names) > 0 {
		ok := false
		for _, g := range m.names {
			if globFold(g, ev.Name) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	if len(m.Paths) > 0 && !anyGlob(m.Paths, ev.Path) {
		return false
	}
	if len(m.URLs) > 0 && !anyGlob(m.URLs, ev.URL) {
		return false
	}
	if len(m.Categories) > 0 {
		ok := false
		for _, c := range ev.Categories {
			if containsFold(m.Categories, c) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	for i := range m.Props {
		if !m.Props[i].Cond.matchProps(ev.Properties, m.Props[i].Key) {
			return false
		}
	}
	return true
}

// matchProps applies the condition to every value stored under key (arrays give
// several): any value that passes is enough.
func (c *ValueCond) matchProps(props Props, key string) bool {
	found := false
	for i := range props {
		if props[i].Key != key {
			continue
		}
		found = true
		if c.Match(props[i]) {
			return true
		}
	}
	if !found && c.Exists != nil {
		return !*c.Exists
	}
	return false
}

// Match tests one present value.
func (c *ValueCond) Match(p Prop) bool {
	switch {
	case c.Exists != nil:
		return *c.Exists && p.Kind != PropNull
	case len(c.Equals) > 0:
		return containsFold(c.Equals, p.Str)
	case c.Pattern != nil:
		return c.Pattern.MatchString(p.Str)
	case c.Min != nil || c.Max != nil:
		v := p.Num
		if p.Kind != PropNumber {
			f, err := strconv.ParseFloat(strings.TrimSpace(p.Str), 64)
			if err != nil {
				return false
			}
			v = f
		}
		return (c.Min == nil || v >= *c.Min) && (c.Max == nil || v <= *c.Max)
	}
	return false
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

func anyGlob(globs []string, s string) bool {
	for _, g := range globs {
		if glob(g, s, false) {
			return true
		}
	}
	return false
}

// globFold is glob with an already lower-cased pattern, ignoring the case of s.
func globFold(lowerPattern, s string) bool {
	return glob(lowerPattern, s, true)
}

// glob reports whether s matches p, where * matches any run of characters
// (slashes included) and ? matches exactly one byte; fold ignores the case of s.
func glob(p, s string, fold bool) bool {
	// Iterative matcher with single-star backtracking: linear in practice and no
	// allocation, which matters because every event meets every rule's globs.
	px, sx := 0, 0
	starP, starS := -1, 0
	for sx < len(s) {
		if px < len(p) {
			c := s[sx]
			if fold && 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			switch p[px] {
			case '*':
				starP, starS = px, sx
				px++
				continue
			case '?':
				px++
				sx++
				continue
			default:
				if p[px] == c {
					px++
					sx++
					continue
				}
			}
		}
		if starP < 0 {
			return false
		}
		starS++
		px, sx = starP+1, starS
	}
	for px < len(p) && p[px] == '*' {
		px++
	}
	return px == len(p)
}
