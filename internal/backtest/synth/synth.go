// Package synth makes synthetic lead histories whose ground truth is known
// exactly: each kind of action (watching the demo video, visiting pricing, opening
// an e-mail, unsubscribing…) has a true propensity — a weight in log-odds per
// decay-weighted occurrence — and each lead converts (becomes sales-qualified)
// with the probability those weights give it:
//
//	P(convert) = σ(Intercept + Σ_k Weight_k · x_k),  x_k = Σ_occurrences 2^(-age/HalfLife)
//
// where the age of an occurrence is measured at the lead's decision instant, the
// end of its active window. A converting lead requests a demo at that instant and
// its outcome (sql, sometimes opportunity and won later) is dated then.
//
// The records are the raw payloads leadscore reads (Segment track, page and
// identify messages, SendGrid events), in time order, so a history goes through
// the decoders, the replay runner and the engine like real traffic. Tests use it
// to check that calibration recovers the order of the true weights; `leadscore
// backtest generate --model propensity` writes one for demos. The same Config
// gives the same records, byte for byte; memory is bounded by the leads whose
// window is open, not by the number of records.
package synth

import (
	"cmp"
	"container/heap"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/leadscore/leadscore/internal/backtest"
)

// Kind is the kind of payload an action produces.
type Kind uint8

// Action payload kinds.
const (
	Track Kind = iota + 1 // a Segment track call named Event
	Page                  // a Segment page call with path Event
	Email                 // a SendGrid event of type Event (open, click, unsubscribe…)
)

// Action is one kind of thing a lead does, with its true effect on conversion.
type Action struct {
	// Name is the action's rule name in Rules.
	Name string
	Kind Kind
	// Event is the track event name, the page path, or the SendGrid event type.
	Event string
	// Weight is the true log-odds of conversion per decay-weighted occurrence.
	Weight float64
	// Rate is the mean number of occurrences per lead (Poisson, times the lead's
	// engagement, which varies from lead to lead).
	Rate float64
}

// DefaultActions are ten actions of a B2B audience, from the demo video (the
// strongest sign) to unsubscribing (a negative one), with distinct weights.
func DefaultActions() []Action {
	return []Action{
		{"demo_video", Track, "Video Playback Completed", 1.2, 0.4},
		{"pricing_page", Page, "/pricing", 0.8, 0.8},
		{"webinar", Track, "Webinar Attended", 0.6, 0.3},
		{"case_study", Page, "/customers/acme", 0.45, 0.5},
		{"whitepaper", Track, "Whitepaper Downloaded", 0.3, 0.6},
		{"email_click", Email, "click", 0.2, 1.0},
		{"blog", Page, "/blog/lead-scoring", 0.1, 3.0},
		{"email_open", Email, "open", 0.03, 3.0},
		{"careers", Page, "/careers", -0.3, 0.4},
		{"unsubscribe", Email, "unsubscribe", -1.0, 0.15},
	}
}

// Config describes a history. The zero value is usable; New validates it.
type Config struct {
	// Seed makes the history.
	Seed int64
	// Leads is how many people arrive (default 10 000), evenly over Span.
	Leads int
	// Start and Span bound arrivals (default 2026-01-05, 365 days).
	Start time.Time
	Span  time.Duration
	// HalfLife weighs occurrences in the true model (default 45 days), as the
	// rules file's decay does.
	HalfLife time.Duration
	// Intercept is the true log-odds of a lead with no action (default -3.2).
	Intercept float64
	// Actions are the kinds of action and their true weights (default
	// DefaultActions).
	Actions []Action
	// EventScale multiplies every action's rate (default 1): the same leads with
	// more events each.
	EventScale float64
	// Anonymous is the fraction of people who never identify (default 0.15; a
	// negative value means none). They browse pages and never convert.
	Anonymous float64
}

var defaultStart = time.Date(2026, time.January, 5, 0, 0, 0, 0, time.UTC)

func (c *Config) setDefaults() {
	if c.Leads == 0 {
		c.Leads = 10000
	}
	if c.Start.IsZero() {
		c.Start = defaultStart
	}
	c.Start = c.Start.UTC().Truncate(time.Second)
	if c.Span == 0 {
		c.Span = 365 * 24 * time.Hour
	}
	if c.HalfLife == 0 {
		c.HalfLife = 45 * 24 * time.Hour
	}
	if c.Intercept == 0 {
		c.Intercept = -3.2
	}
	if c.Actions == nil {
		c.Actions = DefaultActions()
	}
	if c.EventScale == 0 {
		c.EventScale = 1
	}
	if c.Anonymous == 0 {
		c.Anonymous = 0.15
	}
	if c.Anonymous < 0 {
		c.Anonymous = 0
	}
}

// Validate reports whether the configuration, defaults applied, makes a history.
func (c Config) Validate() error {
	c.setDefaults()
	var errs []error
	if c.Leads < 0 {
		errs = append(errs, fmt.Errorf("synth: Leads %d is negative", c.Leads))
	}
	if c.Span < 24*time.Hour || c.HalfLife < 0 {
		errs = append(errs, fmt.Errorf("synth: Span %s must be at least a day and HalfLife %s not negative", c.Span, c.HalfLife))
	}
	if c.EventScale < 0 || c.Anonymous >= 1 {
		errs = append(errs, fmt.Errorf("synth: EventScale %g must not be negative and Anonymous %g below 1", c.EventScale, c.Anonymous))
	}
	names := map[string]bool{}
	for _, a := range c.Actions {
		if a.Name == "" || names[a.Name] || a.Name == "demo_request" {
			errs = append(errs, fmt.Errorf("synth: action name %q is empty, repeated or reserved", a.Name))
		}
		names[a.Name] = true
		if a.Kind < Track || a.Kind > Email || a.Event == "" || a.Rate < 0 || math.IsNaN(a.Weight) || math.IsInf(a.Weight, 0) {
			errs = append(errs, fmt.Errorf("synth: action %q: bad kind, event, rate or weight", a.Name))
		}
	}
	if len(c.Actions) == 0 {
		errs = append(errs, errors.New("synth: no actions"))
	}
	return errors.Join(errs...)
}

// Weights returns the true weight of each action, by name.
func (c Config) Weights() map[string]float64 {
	c.setDefaults()
	w := make(map[string]float64, len(c.Actions))
	for _, a := range c.Actions {
		w[a.Name] = a.Weight
	}
	return w
}

// Record is one payload, at its event time.
type Record struct {
	Time  time.Time
	Value []byte
}

// Generator yields a history record by record, in time order. It is not safe for
// concurrent use.
type Generator struct {
	cfg      Config
	start    int64
	span     int64
	h        float64
	next     int // next person to arrive
	active   personHeap
	outcomes []backtest.Outcome
	buf      []byte
}

// New validates cfg and returns a generator at the start of the history.
func New(cfg Config) (*Generator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	cfg.Actions = slices.Clone(cfg.Actions)
	return &Generator{cfg: cfg, start: cfg.Start.UnixMilli(), span: cfg.Span.Milliseconds(),
		h: float64(cfg.HalfLife.Milliseconds())}, nil
}

// step is one planned payload of a person.
type step struct {
	at     int64
	action int // index into Actions; -1 identify, -2 anonymous home page, -3 demo request, -4 delivered
	seq    int
}

type person struct {
	idx  int
	anon bool
	plan []step
	pos  int
}

type personHeap []*person

func (h personHeap) Len() int { return len(h) }
func (h personHeap) Less(i, j int) bool {
	a, b := h[i].plan[h[i].pos].at, h[j].plan[h[j].pos].at
	if a != b {
		return a < b
	}
	return h[i].idx < h[j].idx
}
func (h personHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *personHeap) Push(x any)   { *h = append(*h, x.(*person)) }
func (h *personHeap) Pop() any {
	old := *h
	p := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return p
}

const (
	minute = 60 * 1000
	day    = 24 * 60 * minute
)

// arrival is when person i arrives: evenly over the span, jittered within its slot.
func (g *Generator) arrival(i int, rng *rand.Rand) int64 {
	slot := float64(g.span) / float64(g.cfg.Leads)
	return g.start + int64((float64(i)+rng.Float64())*slot)
}

// plan draws person i's actions and whether (and when) they convert.
func (g *Generator) plan(i int) *person {
	rng := rand.New(rand.NewPCG(uint64(g.cfg.Seed), uint64(i)+0x73796e7468)) // "synth"
	p := &person{idx: i}
	t0 := g.arrival(i, rng)
	p.anon = rng.Float64() < g.cfg.Anonymous
	window := int64(14*day) + rng.Int64N(76*day)
	decision := t0 + window
	engagement := math.Exp(0.5 * rng.NormFloat64())
	p.plan = append(p.plan, step{at: t0, action: -2})
	if !p.anon {
		p.plan = append(p.plan, step{at: t0 + minute + rng.Int64N(10*minute), action: -1})
	}
	logit := g.cfg.Intercept
	for k, a := range g.cfg.Actions {
		if p.anon && a.Kind != Page {
			continue
		}
		n := poisson(rng, a.Rate*engagement*g.cfg.EventScale)
		for range n {
			at := t0 + 15*minute + rng.Int64N(window-30*minute)
			if a.Kind == Email {
				at -= at % 1000 // SendGrid timestamps are whole seconds
				p.plan = append(p.plan, step{at: at - 60*1000, action: -4, seq: k})
			}
			p.plan = append(p.plan, step{at: at, action: k})
			logit += a.Weight * math.Exp2(-float64(decision-at)/g.h)
		}
	}
	if !p.anon && rng.Float64() < 1/(1+math.Exp(-logit)) {
		p.plan = append(p.plan, step{at: decision, action: -3})
		lead := g.outcomeLead(i)
		g.outcomes = append(g.outcomes, backtest.Outcome{Lead: lead, Kind: backtest.SQL, At: time.UnixMilli(decision).UTC()})
		if rng.Float64() < 0.5 {
			opp := decision + int64(7*day) + rng.Int64N(23*day)
			g.outcomes = append(g.outcomes, backtest.Outcome{Lead: lead, Kind: backtest.Opportunity, At: time.UnixMilli(opp).UTC()})
			if rng.Float64() < 0.4 {
				g.outcomes = append(g.outcomes, backtest.Outcome{Lead: lead, Kind: backtest.Won,
					At: time.UnixMilli(opp + int64(14*day) + rng.Int64N(60*day)).UTC()})
			}
		}
	}
	slices.SortStableFunc(p.plan, func(a, b step) int { return cmp.Compare(a.at, b.at) })
	for k := range p.plan {
		p.plan[k].seq = k
	}
	return p
}

// outcomeLead names person i the way a CRM export might: by identity key, by bare
// userId or by bare e-mail address, in turn.
func (g *Generator) outcomeLead(i int) string {
	switch i % 3 {
	case 0:
		return "user:" + userID(i)
	case 1:
		return userID(i)
	}
	return email(i)
}

func userID(i int) string { return fmt.Sprintf("syn-%06d", i) }
func email(i int) string  { return fmt.Sprintf("lead%06d@example.com", i) }
func anonID(seed int64, i int) string {
	return fmt.Sprintf("%08x-0000-4000-8000-%012x", uint32(seed), i)
}

// poisson draws a Poisson variate (Knuth's method; means here are small).
func poisson(rng *rand.Rand, mean float64) int {
	if mean <= 0 {
		return 0
	}
	l, k, p := math.Exp(-mean), 0, 1.0
	for {
		p *= rng.Float64()
		if p <= l {
			return k
		}
		k++
	}
}

// Next returns the next record, or false when the history is over.
func (g *Generator) Next() (Record, bool) {
	for {
		var head int64 = math.MaxInt64
		if len(g.active) > 0 {
			h := g.active[0]
			head = h.plan[h.pos].at
		}
		if g.next < g.cfg.Leads {
			// Arrivals are increasing: plan the next person once the heap's head
			// is not earlier than their slot's start.
			slotStart := g.start + int64(float64(g.next)*float64(g.span)/float64(g.cfg.Leads))
			if slotStart <= head {
				heap.Push(&g.active, g.plan(g.next))
				g.next++
				continue
			}
		}
		if len(g.active) == 0 {
			return Record{}, false
		}
		p := g.active[0]
		st := p.plan[p.pos]
		p.pos++
		if p.pos == len(p.plan) {
			heap.Pop(&g.active)
		} else {
			heap.Fix(&g.active, 0)
		}
		return Record{Time: time.UnixMilli(st.at).UTC(), Value: g.render(p, st)}, true
	}
}

// Outcomes returns the outcomes of every lead planned so far, sorted by time;
// after Next has returned false, of the whole history. (Package function Outcomes
// gives them without generating the records.)
func (g *Generator) Outcomes() []backtest.Outcome {
	out := slices.Clone(g.outcomes)
	backtest.SortOutcomes(out)
	return out
}

// Outcomes returns the outcomes of the whole history cfg describes, without
// rendering its records: what a CRM export would hold, for the leads that
// converted.
func Outcomes(cfg Config) ([]backtest.Outcome, error) {
	g, err := New(cfg)
	if err != nil {
		return nil, err
	}
	for i := range g.cfg.Leads {
		g.plan(i)
	}
	return g.Outcomes(), nil
}

func (g *Generator) render(p *person, st step) []byte {
	ts := time.UnixMilli(st.at).UTC().Format("2006-01-02T15:04:05.000Z")
	id := fmt.Sprintf("syn-%d-%d", p.idx, st.seq)
	anon := anonID(g.cfg.Seed, p.idx)
	who := `"anonymousId":"` + anon + `"`
	if !p.anon && st.action != -2 {
		who += `,"userId":"` + userID(p.idx) + `"`
	}
	b := g.buf[:0]
	switch {
	case st.action == -2:
		b = fmt.Appendf(b, `{"type":"page","messageId":"%s",%s,"name":"Home","properties":{"path":"/","url":"https://www.example.com/"},"timestamp":"%s"}`, id, who, ts)
	case st.action == -1:
		b = fmt.Appendf(b, `{"type":"identify","messageId":"%s",%s,"traits":{"email":"%s"},"timestamp":"%s"}`, id, who, email(p.idx), ts)
	case st.action == -3:
		b = fmt.Appendf(b, `{"type":"track","messageId":"%s",%s,"event":"Demo Requested","properties":{"form_id":"demo"},"timestamp":"%s"}`, id, who, ts)
	case st.action == -4:
		b = fmt.Appendf(b, `{"email":"%s","timestamp":%d,"event":"delivered","sg_event_id":"%s","sg_message_id":"m-%d-%d"}`,
			email(p.idx), st.at/1000, id, p.idx, st.seq)
	default:
		a := g.cfg.Actions[st.action]
		switch a.Kind {
		case Track:
			b = fmt.Appendf(b, `{"type":"track","messageId":"%s",%s,"event":%s,"properties":{"video_id":"demo-1"},"timestamp":"%s"}`,
				id, who, strconv.Quote(a.Event), ts)
		case Page:
			b = fmt.Appendf(b, `{"type":"page","messageId":"%s",%s,"properties":{"path":%s,"url":%s},"timestamp":"%s"}`,
				id, who, strconv.Quote(a.Event), strconv.Quote("https://www.example.com"+a.Event), ts)
		default:
			b = fmt.Appendf(b, `{"email":"%s","timestamp":%d,"event":%s,"sg_event_id":"%s","sg_message_id":"m-%d","category":["newsletter"],"url":"https://www.example.com/blog"}`,
				email(p.idx), st.at/1000, strconv.Quote(a.Event), id, p.idx)
		}
	}
	g.buf = b
	return slices.Clone(b)
}

// Rules returns a base rules file for a history: one engagement rule per action,
// every one worth the same 10 points (what a marketer who knows nothing yet would
// write; calibration should find the true order), a demo-request rule that makes
// an SQL, and a funnel visitor → lead → mql (score 40) → sql.
func Rules(cfg Config) []byte {
	cfg.setDefaults()
	var b strings.Builder
	b.WriteString("# Base rules for a synthetic history (package backtest/synth): every action\n")
	b.WriteString("# is worth the same points; `leadscore calibrate` should find their true order.\n")
	fmt.Fprintf(&b, "version: synth-%d\n", cfg.Seed)
	fmt.Fprintf(&b, "decay:\n  half_life: %dh\n", int64(cfg.HalfLife/time.Hour))
	b.WriteString("rules:\n")
	for _, a := range cfg.Actions {
		fmt.Fprintf(&b, "  - name: %s\n    points: 10\n", a.Name)
		switch a.Kind {
		case Track:
			fmt.Fprintf(&b, "    match: {source: web, type: track, event: %s}\n", strconv.Quote(a.Event))
		case Page:
			fmt.Fprintf(&b, "    match: {source: web, type: page, path: %s}\n", strconv.Quote(a.Event))
		default:
			fmt.Fprintf(&b, "    match: {source: email, type: %s}\n", strconv.Quote(a.Event))
		}
	}
	b.WriteString(`  - name: demo_request
    points: 25
    match: {source: web, type: track, event: Demo Requested}
    tags: [hand_raiser]
stages:
  - name: visitor
  - name: lead
    entry:
      - identified: true
  - name: mql
    entry:
      - score: 40
    exit: {below: 30, to: lead}
  - name: sql
    entry:
      - identified: true
        trigger_tag: hand_raiser
`)
	return []byte(b.String())
}
