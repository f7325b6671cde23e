package scoring

import "bytes"

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

var botTokenBytes = func() [][]byte {
	out := make([][]byte, len(botTokens))
	for i, t := range botTokens {
		out[i] = []byte(t)
	}
	return out
}()

// IsBot reports whether a user agent belongs to a crawler or scripted client.
func IsBot(ua string) bool {
	if ua == "" {
		return false
	}
	// Lower-case into a stack buffer once, then let bytes.Contains (vectorised)
	// look for each token: no allocation, one pass per token.
	var buf [512]byte
	n := copy(buf[:], ua)
	b := buf[:n]
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	for _, tok := range botTokenBytes {
		if bytes.Contains(b, tok) {
			return true
		}
	}
	return false
}

func (e *Engine) ignoreReason(ev *Event) string {
	ig := &e.m.Ignore
	if ev.Source == SourceEmail && ig.MachineOpens && ev.MachineOpen {
		return "machine_open"
	}
	if ev.Source == SourceWeb && ev.UserAgent != "" {
		if ig.Bots && IsBot(ev.UserAgent) {
			return "bot"
		}
		for _, re := range ig.BotAgents {
			if re.MatchString(ev.UserAgent) {
				return "bot"
			}
		}
	}
	if containsFold(ig.ExtraSkipKind, ev.Kind) {
		return "skipped_kind"
	}
	return ""
}
