package scoring

import "sync/atomic"

// updateTraits keeps the trait values the fit rules read (later identify calls send
// only what changed, so values accumulate) and recomputes fit and grade.
func (e *Engine) updateTraits(st *State, traits Props) {
	changed := false
	for _, path := range e.m.fitPaths {
		vals := 0
		for _, p := range traits {
			if p.Key != path {
				continue
			}
			if vals == 0 {
				st.Traits = removeKey(st.Traits, path)
			}
			st.Traits = append(st.Traits, p)
			vals++
			changed = true
		}
	}
	if changed {
		st.Fit, st.Grade = e.fit(st.Traits)
	}
}

func removeKey(ps Props, key string) Props {
	out := ps[:0]
	for _, p := range ps {
		if p.Key != key {
			out = append(out, p)
		}
	}
	return out
}

// fit scores traits: each fit rule adds its points when the first of its trait
// paths that is present passes its test.
func (e *Engine) fit(traits Props) (float64, byte) {
	fm := &e.m.Fit
	if len(fm.Rules) == 0 {
		return 0, 0
	}
	score := 0.0
	for i := range fm.Rules {
		r := &fm.Rules[i]
		for _, path := range r.Traits {
			if _, ok := traits.Get(path); !ok {
				continue
			}
			if r.Cond.matchProps(traits, path) {
				score += r.Points
			}
			break
		}
	}
	return score, fm.Grades.grade(score)
}

func (g Grades) grade(score float64) byte {
	switch {
	case score >= g.A:
		return 'A'
	case score >= g.B:
		return 'B'
	case score >= g.C:
		return 'C'
	}
	return 'D'
}

// botTokens are lower-case fragments of crawler, monitoring and scripted-client user
// agents. They are matched as substrings, so "Googlebot/2.1" hits "bot".
var botTokens = []string{
	"bot", "crawl", "spider", "slurp", "headless", "phantomjs", "lighthouse",
	"python-requests", "python-urllib", "curl/", "wget/", "go-http-client", "java/",
	"okhttp", "facebookexternalhit", "preview", "scanner", "monitor", "pingdom",
}

// botMatcher finds any of a set of lower-case tokens in a user agent, ignoring
// ASCII case, in one pass: first maps a byte to the tokens that start with it.
// The built-in tokens and a model's plain-word bot patterns share one matcher;
// real regular expressions are tried after it.
type botMatcher struct {
	starts  *[256]bool // bytes (lower-cased) that start some token: a small, hot table
	first   *[256][]string
	regexps []*Pattern
	// seen remembers recent verdicts: a visitor's browser sends the same user
	// agent on every event, and a handful of browser builds cover most traffic,
	// so comparing against a remembered string beats scanning it again.
	seen *[uaSlots]atomic.Pointer[uaVerdict]
}

const uaSlots = 256

type uaVerdict struct {
	ua  string
	bot bool
}

func newBotMatcher(ig IgnorePolicy) botMatcher {
	var toks []string
	if ig.Bots {
		toks = append(toks, botTokens...)
	}
	var res []*Pattern
	for _, p := range ig.BotAgents {
		if p.isLit && p.fold && p.lit != "" {
			toks = append(toks, p.lit) // "(?i)word": joins the one-pass scan
		} else {
			res = append(res, p)
		}
	}
	var first [256][]string
	var starts [256]bool
	for _, t := range toks {
		first[t[0]] = append(first[t[0]], t)
		starts[t[0]] = true
	}
	return botMatcher{starts: &starts, first: &first, regexps: res, seen: new([uaSlots]atomic.Pointer[uaVerdict])}
}

func (b *botMatcher) match(ua string) bool {
	// A cheap slot index from the length and a few bytes; the full string is
	// compared on a hit, so a collision costs a scan, never a wrong verdict.
	n := len(ua)
	slot := &b.seen[(uint(n)*31+uint(ua[n/2])*7+uint(ua[n-1]))%uaSlots]
	if v := slot.Load(); v != nil && v.ua == ua {
		return v.bot
	}
	bot := b.scan(ua)
	slot.Store(&uaVerdict{ua: ua, bot: bot})
	return bot
}

func (b *botMatcher) scan(ua string) bool {
	for i := 0; i < len(ua); i++ {
		c := ua[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if !b.starts[c] {
			continue
		}
		for _, tok := range b.first[c] {
			if len(ua)-i >= len(tok) && hasPrefixFoldASCII(ua[i:], tok) {
				return true
			}
		}
	}
	for _, re := range b.regexps {
		if re.MatchString(ua) {
			return true
		}
	}
	return false
}

var builtinBots = newBotMatcher(IgnorePolicy{Bots: true})

// IsBot reports whether a user agent belongs to a crawler or scripted client
// (the built-in list).
func IsBot(ua string) bool { return builtinBots.match(ua) }

// hasPrefixFoldASCII reports whether s starts with lowerPrefix, ignoring ASCII case.
func hasPrefixFoldASCII(s, lowerPrefix string) bool {
	for j := 0; j < len(lowerPrefix); j++ {
		d := s[j]
		if 'A' <= d && d <= 'Z' {
			d += 'a' - 'A'
		}
		if d != lowerPrefix[j] {
			return false
		}
	}
	return true
}

func (e *Engine) ignoreReason(ev *Event) string {
	ig := &e.m.Ignore
	if ev.Source == SourceEmail && ig.MachineOpens && ev.MachineOpen {
		return "machine_open"
	}
	if ev.Source == SourceWeb && ev.UserAgent != "" && e.m.bots.match(ev.UserAgent) {
		return "bot"
	}
	if containsFold(ig.ExtraSkipKind, ev.Kind) {
		return "skipped_kind"
	}
	return ""
}
