package backtest

import (
	"strings"

	"github.com/leadscore/leadscore/replay"
	"github.com/leadscore/leadscore/scoring"
)

// maxKinds bounds the distinct event kinds tracked without a rules file; events of
// further kinds are not features.
const maxKinds = 1000

// kind is a kind of event that can be a feature without a rules file, and the
// match of the rule that would score it.
type kind struct {
	name   string // "track:Demo Requested", "page:/blog/*", "email:click"
	source string // match.source
	typ    string // match.type
	event  string // match.event, for track and screen
	path   string // match.path, for page
}

// kindOf returns an event's kind: a track event by name, a screen by name, a page
// by its path's first segment ("/pricing", "/blog/*"), an e-mail event by type.
// Identifies, aliases, groups, sales feedback and e-mail delivery notices
// (processed, delivered, deferred) are not engagement and have no kind.
func kindOf(ev *scoring.Event) (kind, bool) {
	switch ev.Source {
	case scoring.SourceWeb:
		switch ev.Kind {
		case "track":
			if ev.Name == "" {
				return kind{}, false
			}
			return kind{name: "track:" + ev.Name, source: "web", typ: "track", event: ev.Name}, true
		case "screen":
			if ev.Name == "" {
				return kind{}, false
			}
			return kind{name: "screen:" + ev.Name, source: "web", typ: "screen", event: ev.Name}, true
		case "page":
			p := pathKind(ev.Path)
			return kind{name: "page:" + p, source: "web", typ: "page", path: p}, true
		}
	case scoring.SourceEmail:
		switch ev.Kind {
		case "", "processed", "delivered", "deferred":
			return kind{}, false
		}
		return kind{name: "email:" + ev.Kind, source: "email", typ: ev.Kind}, true
	}
	return kind{}, false
}

// pathKind groups page paths by their first segment: "/" stays, "/pricing" stays,
// "/blog/decay" becomes "/blog/*".
func pathKind(p string) string {
	p = strings.Trim(p, "/")
	if p == "" {
		return "/"
	}
	seg, rest, _ := strings.Cut(p, "/")
	if rest == "" {
		return "/" + seg
	}
	return "/" + seg + "/*"
}

// kindFeatures keeps, per lead, decay-weighted hits per event kind, expressed at
// one instant per lead (like a scoring state's contributions). Leads stitched
// together by the replay runner are merged as it happens.
type kindFeatures struct {
	h     int64
	index map[string]int // kind name → feature
	kinds []kind
	leads map[string]*kindVec
}

type kindVec struct {
	at   int64
	vals []featureValue
}

func newKindFeatures(h int64) *kindFeatures {
	return &kindFeatures{h: h, index: map[string]int{}, leads: map[string]*kindVec{}}
}

// candidates returns the leads an event's identities point at before it is
// applied: the leads the runner may absorb into the event's lead.
func (k *kindFeatures) candidates(run *replay.Runner, ev *scoring.Event) []string {
	id := &ev.Identity
	n := 0
	for _, v := range []string{id.UserID, id.Email, id.AnonymousID} {
		if v != "" {
			n++
		}
	}
	if n < 2 && !(ev.Kind == "alias" && id.PreviousID != "") {
		return nil // one identity cannot stitch anything
	}
	var out []string
	for _, key := range eventKeys(ev) {
		if l, ok := run.Lookup(key); ok {
			out = append(out, l)
		}
	}
	return out
}

// absorb merges the features of leads the runner absorbed into lead.
func (k *kindFeatures) absorb(run *replay.Runner, lead string, before []string) {
	for _, old := range before {
		if old == lead || run.Lead(old) != nil {
			continue
		}
		from := k.leads[old]
		if from == nil {
			continue
		}
		delete(k.leads, old)
		to := k.vec(lead, from.at)
		at := max(to.at, from.at)
		to.bring(at, k.h)
		f := decay(at-from.at, k.h)
		for _, fv := range from.vals {
			to.add(fv.j, fv.v*f)
		}
	}
}

func (k *kindFeatures) vec(lead string, t int64) *kindVec {
	v := k.leads[lead]
	if v == nil {
		v = &kindVec{at: t}
		k.leads[lead] = v
	}
	return v
}

// hit records one event of its kind for lead.
func (k *kindFeatures) hit(lead string, ev *scoring.Event) {
	kd, ok := kindOf(ev)
	if !ok {
		return
	}
	j, ok := k.index[kd.name]
	if !ok {
		if len(k.kinds) >= maxKinds {
			return
		}
		j = len(k.kinds)
		k.index[kd.name] = j
		k.kinds = append(k.kinds, kd)
	}
	v := k.vec(lead, ev.Time)
	if ev.Time >= v.at {
		v.bring(ev.Time, k.h)
		v.add(j, 1)
	} else { // a late event: its hit has already decayed by the time of the vector
		v.add(j, decay(v.at-ev.Time, k.h))
	}
}

func (v *kindVec) bring(t, h int64) {
	if t <= v.at {
		return
	}
	f := decay(t-v.at, h)
	for i := range v.vals {
		v.vals[i].v *= f
	}
	v.at = t
}

func (v *kindVec) add(j int, x float64) {
	for i := range v.vals {
		if v.vals[i].j == j {
			v.vals[i].v += x
			return
		}
	}
	v.vals = append(v.vals, featureValue{j, x})
}

func (k *kindFeatures) snapshot(lead string, t int64) snapshot {
	v := k.leads[lead]
	if v == nil {
		return snapshot{}
	}
	f := decay(t-v.at, k.h)
	out := make(snapshot, 0, len(v.vals))
	for _, fv := range v.vals {
		out = append(out, featureValue{fv.j, fv.v * f})
	}
	return out
}
