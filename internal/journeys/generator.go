package journeys

import (
	"container/heap"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"time"
)

// Topics of the generated records, one per input stream leadscore reads.
const (
	TopicWeb      = "web"      // Segment-spec messages
	TopicEmail    = "email"    // SendGrid Event Webhook events, one per record
	TopicFeedback = "feedback" // sales feedback from the simulated CRM
)

// Record is one message as its sender publishes it to Kafka.
type Record struct {
	// Topic is TopicWeb, TopicEmail or TopicFeedback.
	Topic string
	// Key is the Kafka key the sender uses: for Segment the userId, else the
	// anonymousId; for SendGrid the recipient's address; for feedback the lead id.
	Key []byte
	// Value is the JSON payload, exactly as the sender writes it.
	Value []byte
	// Time is when the sender publishes the record: the event time of the payload,
	// except for a re-send, which comes a few seconds to minutes after the original
	// and carries the original's bytes (and so its event time). Records come in
	// order of Time.
	Time time.Time
	// Resend marks an upstream at-least-once re-send: Value is byte for byte the
	// Value of an earlier record. A processor must count it once. Senders do not say
	// this; it is ground truth for tests.
	Resend bool
}

// Truth is what really happened to one simulated person, for backtests: who they
// were and whether and when they truly became a sales-qualified lead, an opportunity
// and a customer. Times are zero for what did not happen within the history.
type Truth struct {
	// Lead is the lead id leadscore gives the person once the history is replayed:
	// "user:<userId>" for anyone who identified with a userId, else
	// "anon:<anonymousId>".
	Lead        string
	Persona     Persona
	AnonymousID string
	UserID      string // empty when the person never identified with a userId
	Email       string // lower case; empty when the company never learnt the address
	// IdealFit says the person is the kind of buyer the company wants (senior or
	// practitioner title, mid-market company in a target industry and country).
	IdealFit bool
	// First and Last are the event times of the person's first and last records.
	First, Last time.Time
	// Identified is when the person first gave an e-mail address or a userId.
	Identified time.Time
	// SQL is when the person first asked for a demo, trial, quote or call, or was
	// qualified by sales with enough BANT answers.
	SQL time.Time
	// Accepted, Opportunity, Won and Lost are when the CRM said so.
	Accepted, Opportunity, Won, Lost time.Time
	// Records counts the person's records, re-sends excluded.
	Records int
	// Account is the groupId of the person's company; empty when they are
	// alone (bots, anonymous browsers, people without a company, or companies
	// disabled). Their records carry it only once they have identified.
	Account string
	// Role is the person's part in their company's buying group (RoleDecisionMaker,
	// RoleChampion, RoleUser, RoleFinance); empty when alone.
	Role string
}

// Stats counts what a generator has produced so far.
type Stats struct {
	Records  int64 // records returned, re-sends included
	Web      int64 // records on TopicWeb
	Email    int64 // records on TopicEmail
	Feedback int64 // records on TopicFeedback
	Resends  int64 // re-sends among Records
	Leads    int64 // people who have arrived
	// Companies counts the companies that people have joined.
	Companies int64
	Active    int // people whose journey is still in progress
}

// Generator produces a synthetic history, record by record, in order of Record.Time.
// It is deterministic: the same Config gives the same records, byte for byte. Memory
// is bounded by the people whose journey is in progress (each keeps its planned
// actions, a few hundred bytes), not by the number of records. A Generator is not
// safe for concurrent use.
type Generator struct {
	cfg     Config
	start   int64 // ms
	span    int64 // ms
	end     int64 // ms; math.MaxInt64 when endless
	cum     [numPersonas]float64
	rng     *rand.Rand // arrivals
	arr     arrivals
	leads   leadHeap
	resends resendHeap
	seq     uint64
	truths  []Truth
	stats   Stats
	w       jw
	plan    []action      // scratch for planning
	cos     *companyState // nil when companies are disabled
}

// arrivals draws arrival instants in increasing order: the order statistics of
// Leads uniform draws over each span, one at a time.
type arrivals struct {
	cohort int64   // which span
	i      int     // arrivals drawn in this span
	u      float64 // the last one, as a fraction of the span
	at     int64   // the next arrival, valid when ok
	ok     bool
}

// New validates cfg, applies its defaults and returns a generator at the beginning
// of the history.
func New(cfg Config) (*Generator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	cfg.Mix = maps.Clone(cfg.Mix)
	g := &Generator{
		cfg:   cfg,
		start: cfg.Start.UnixMilli(),
		span:  cfg.Span.Milliseconds(),
		rng:   rand.New(rand.NewPCG(uint64(cfg.Seed), 0x6a6f75726e657973)), // "journeys"
		w:     jw{b: make([]byte, 0, 2048)},
	}
	g.end = g.start + g.span
	if cfg.companies() {
		g.cos = newCompanyState(cfg.Seed, cfg.PeoplePerCompany)
	}
	if cfg.Endless {
		g.end = math.MaxInt64
	}
	total, last := 0.0, Persona(0)
	for p := Persona(0); p < numPersonas; p++ {
		total += cfg.Mix[p]
		g.cum[p] = total
		if cfg.Mix[p] > 0 {
			last = p
		}
	}
	for p := range g.cum {
		g.cum[p] /= total
	}
	for p := last; p < numPersonas; p++ {
		g.cum[p] = 1 // no rounding error may pick a persona of weight 0
	}
	g.nextArrival()
	return g, nil
}

// Config returns the configuration in force, defaults applied.
func (g *Generator) Config() Config { return g.cfg }

// End returns the end of the history (Start+Span), or the zero time when Endless.
func (g *Generator) End() time.Time {
	if g.cfg.Endless {
		return time.Time{}
	}
	return time.UnixMilli(g.end).UTC()
}

// Stats returns the counts so far.
func (g *Generator) Stats() Stats {
	s := g.stats
	s.Active = len(g.leads)
	return s
}

// DrainTruth appends to dst the Truth of every person whose journey has ended since
// the last call, in the order their journeys ended, and forgets them. Without
// Config.KeepTruth nothing is kept and dst comes back unchanged. Once Next has
// returned false, every person's journey has ended.
func (g *Generator) DrainTruth(dst []Truth) []Truth {
	dst = append(dst, g.truths...)
	clear(g.truths)
	g.truths = g.truths[:0]
	return dst
}

// Next returns the next record, or false once the history is over (never, when
// Endless). The returned slices are the caller's: the generator does not touch them
// again.
func (g *Generator) Next() (Record, bool) {
	for {
		lt, rt := int64(math.MaxInt64), int64(math.MaxInt64)
		if len(g.leads) > 0 {
			lt = g.leads[0].head().at
		}
		if len(g.resends) > 0 {
			rt = g.resends[0].rec.Time.UnixMilli()
		}
		if g.arr.ok && g.arr.at <= lt && g.arr.at <= rt {
			g.arrive(g.arr.at)
			g.nextArrival()
			continue
		}
		if lt == math.MaxInt64 && rt == math.MaxInt64 {
			return Record{}, false
		}
		var rec Record
		if lt <= rt {
			l := g.leads[0]
			rec = g.render(l, l.head())
			l.next++
			if l.next < len(l.plan) {
				heap.Fix(&g.leads, 0)
			} else {
				heap.Pop(&g.leads)
				g.finish(l)
			}
		} else {
			rec = heap.Pop(&g.resends).(resend).rec
			g.stats.Resends++
		}
		g.stats.Records++
		switch rec.Topic {
		case TopicWeb:
			g.stats.Web++
		case TopicEmail:
			g.stats.Email++
		default:
			g.stats.Feedback++
		}
		return rec, true
	}
}

// nextArrival draws the next arrival instant (the next order statistic of Leads
// uniform draws over the current span).
func (g *Generator) nextArrival() {
	a := &g.arr
	n := g.cfg.Leads
	if a.i == n {
		if !g.cfg.Endless {
			a.ok = false
			return
		}
		a.cohort, a.i, a.u = a.cohort+1, 0, 0
	}
	v := 1 - g.rng.Float64() // (0, 1]
	a.u += (1 - a.u) * (1 - math.Pow(v, 1/float64(n-a.i)))
	a.i++
	a.at = g.start + a.cohort*g.span + int64(a.u*float64(g.span))
	a.ok = true
}

// arrive plans the journey of the person arriving at t and schedules it.
func (g *Generator) arrive(t int64) {
	idx := g.arr.cohort*int64(g.cfg.Leads) + int64(g.arr.i) - 1
	l := g.newLead(idx, t)
	g.stats.Leads++
	if len(l.plan) == 0 {
		g.finish(l)
		return
	}
	heap.Push(&g.leads, l)
}

// finish records a finished journey's truth.
func (g *Generator) finish(l *lead) {
	if !g.cfg.KeepTruth {
		return
	}
	tr := l.truth
	if l.userSent {
		tr.Lead = "user:" + l.p.user
		tr.UserID = l.p.user
	} else {
		tr.Lead = "anon:" + l.p.anon
	}
	if !l.emailSent {
		tr.Email = ""
	}
	if len(l.plan) > 0 {
		tr.First = time.UnixMilli(l.plan[0].at).UTC()
		tr.Last = time.UnixMilli(l.plan[len(l.plan)-1].at).UTC()
	}
	g.truths = append(g.truths, tr)
}

// maybeResend schedules, with probability ResendRate, a verbatim re-send of rec a
// few seconds to minutes later (within the history).
func (g *Generator) maybeResend(l *lead, rec Record) {
	if g.cfg.ResendRate == 0 || l.rng.Float64() >= g.cfg.ResendRate {
		return
	}
	at := rec.Time.UnixMilli() + logBetween(l.rng, 2*second, 10*minute)
	if at >= g.end {
		return
	}
	dup := Record{Topic: rec.Topic, Key: slices.Clone(rec.Key), Value: slices.Clone(rec.Value),
		Time: time.UnixMilli(at).UTC(), Resend: true}
	g.seq++
	heap.Push(&g.resends, resend{rec: dup, seq: g.seq})
}

// leadHeap orders people in progress by their next action (then by arrival), so
// the output order never depends on map order or timing.
type leadHeap []*lead

func (h leadHeap) Len() int { return len(h) }
func (h leadHeap) Less(i, j int) bool {
	a, b := h[i].head().at, h[j].head().at
	if a != b {
		return a < b
	}
	return h[i].idx < h[j].idx
}
func (h leadHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *leadHeap) Push(x any)   { *h = append(*h, x.(*lead)) }
func (h *leadHeap) Pop() any {
	old := *h
	l := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return l
}

type resend struct {
	rec Record
	seq uint64
}

type resendHeap []resend

func (h resendHeap) Len() int { return len(h) }
func (h resendHeap) Less(i, j int) bool {
	a, b := h[i].rec.Time, h[j].rec.Time
	if !a.Equal(b) {
		return a.Before(b)
	}
	return h[i].seq < h[j].seq
}
func (h resendHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *resendHeap) Push(x any)   { *h = append(*h, x.(resend)) }
func (h *resendHeap) Pop() any {
	old := *h
	r := old[len(old)-1]
	old[len(old)-1] = resend{}
	*h = old[:len(old)-1]
	return r
}

// String describes the generator's configuration, for logs.
func (g *Generator) String() string {
	end := "endless"
	if !g.cfg.Endless {
		end = g.End().Format(time.RFC3339)
	}
	return fmt.Sprintf("journeys(seed=%d, leads=%d, %s .. %s)", g.cfg.Seed, g.cfg.Leads,
		g.cfg.Start.Format(time.RFC3339), end)
}
