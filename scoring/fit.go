package scoring

import (
	"hash/maphash"
	"sync/atomic"

	"github.com/x-way/crawlerdetect"
)

// updateTraits keeps the trait values the fit rules read (later identify calls send
// only what changed, so values accumulate) and recomputes fit and grade.
func (e *Engine) updateTraits(st *State, traits Props) {
	var changed bool
	if st.Traits, changed = keepTraits(st.Traits, traits, e.m.fitPaths); changed {
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

// fit scores a lead's traits under the model's fit rules.
func (e *Engine) fit(traits Props) (float64, byte) { return e.m.Fit.score(traits) }

// score scores traits: each fit rule adds its points when the first of its
// trait paths that is present passes its test.
func (fm *FitModel) score(traits Props) (float64, byte) {
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

// botMatcher recognises crawler, monitoring and scripted-client user agents: the
// maintained crawler list of package crawlerdetect (a Go port of the
// Crawler-Detect patterns, with their exclusions of human agents such as phones
// whose model name contains "bot"), after a model's own patterns (plain words
// among them are substring tests, see Pattern).
type botMatcher struct {
	builtin  bool
	patterns []*Pattern
	// seen remembers recent verdicts: a visitor's browser sends the same user
	// agent on every event, and a handful of browser builds cover most traffic,
	// so comparing against a remembered string beats running the crawler list's
	// large regular expression again.
	seen *[uaSlots]atomic.Pointer[uaVerdict]
	seed maphash.Seed
}

// uaSlots is sized for the distinct user agents of a busy site's recent
// visitors: a verdict the cache lacks costs ~170 µs of regular expression on this
// machine, a remembered one a hash and a string comparison.
const uaSlots = 4096

type uaVerdict struct {
	ua  string
	bot bool
}

func newBotMatcher(ig IgnorePolicy) botMatcher {
	b := botMatcher{builtin: ig.Bots, seen: new([uaSlots]atomic.Pointer[uaVerdict]), seed: maphash.MakeSeed()}
	b.patterns = ig.BotAgents
	return b
}

func (b *botMatcher) match(ua string) bool {
	// The full string is compared on a hit, so a collision costs a scan, never
	// a wrong verdict.
	slot := &b.seen[maphash.String(b.seed, ua)%uaSlots]
	if v := slot.Load(); v != nil && v.ua == ua {
		return v.bot
	}
	bot := b.scan(ua)
	slot.Store(&uaVerdict{ua: ua, bot: bot})
	return bot
}

func (b *botMatcher) scan(ua string) bool {
	for _, re := range b.patterns {
		if re.MatchString(ua) {
			return true
		}
	}
	return b.builtin && crawlerdetect.IsCrawler(ua)
}

var builtinBots = newBotMatcher(IgnorePolicy{Bots: true})

// IsBot reports whether a user agent belongs to a crawler or scripted client
// (the built-in list).
func IsBot(ua string) bool { return builtinBots.match(ua) }

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
