package journeys

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Persona is the kind of visitor a simulated person is; it decides the shape of
// their journey. Truth records each lead's persona for backtests.
type Persona uint8

// The personas, from the bottom of the funnel's audience to the top.
const (
	// Anonymous browses a few pages over a few weeks and never says who they are.
	Anonymous Persona = iota
	// Bot is a crawler, a scripted client or an uptime checker. It never scores.
	Bot
	// Subscriber signs up to the newsletter, then opens (or has Apple Mail open
	// by machine) and sometimes clicks the monthly issue; some follow on social.
	Subscriber
	// ContentReader reads the blog and downloads white papers (basic, then
	// sometimes advanced) and receives a content-nurture sequence.
	ContentReader
	// WebinarAttendee registers for a webinar, gets reminders, attends (or not)
	// and gets the replay.
	WebinarAttendee
	// DemoWatcher watches the product demo video, often after a gated form.
	DemoWatcher
	// PricingVisitor comes back to the pricing pages again and again.
	PricingVisitor
	// HandRaiser asks for a demo, a trial, a quote or a call within days, and the
	// CRM then gives sales feedback.
	HandRaiser
	// Lapsed engages for a few weeks, goes quiet for months (only machine opens),
	// then may come back.
	Lapsed
	// Disengaged unsubscribes, reports spam or has an address that bounces.
	Disengaged

	numPersonas
)

var personaNames = [numPersonas]string{
	"anonymous", "bot", "subscriber", "content_reader", "webinar_attendee",
	"demo_watcher", "pricing_visitor", "hand_raiser", "lapsed", "disengaged",
}

// String returns the persona's name ("content_reader").
func (p Persona) String() string {
	if p < numPersonas {
		return personaNames[p]
	}
	return fmt.Sprintf("persona(%d)", uint8(p))
}

// parsePersona is the inverse of String.
func parsePersona(name string) (Persona, bool) {
	for i, n := range personaNames {
		if n == name {
			return Persona(i), true
		}
	}
	return 0, false
}

// personas returns every persona, in declaration order.
func personas() []Persona {
	ps := make([]Persona, numPersonas)
	for i := range ps {
		ps[i] = Persona(i)
	}
	return ps
}

// Mix weighs personas: a lead's persona is drawn with probability proportional to
// its weight. Weights need not sum to 1; missing personas have weight 0.
type Mix map[Persona]float64

// DefaultMix is a plausible inbound B2B audience: a third anonymous, a few bots,
// newsletter subscribers and content readers, and about one in twelve a
// hand-raiser.
func DefaultMix() Mix {
	return Mix{
		Anonymous:       0.30,
		Bot:             0.05,
		Subscriber:      0.17,
		ContentReader:   0.12,
		WebinarAttendee: 0.07,
		DemoWatcher:     0.05,
		PricingVisitor:  0.06,
		HandRaiser:      0.08,
		Lapsed:          0.05,
		Disengaged:      0.05,
	}
}

// Defaults applied by New to zero fields of Config.
const (
	DefaultLeads      = 2000
	DefaultSpan       = 365 * 24 * time.Hour
	DefaultResendRate = 0.005
	// DefaultPeoplePerCompany is the largest buying group by default: enough
	// for accounts with a decision maker, a champion, users and finance.
	DefaultPeoplePerCompany = 6
	// DefaultFreeMailShare is the share of a company's people who use a
	// free-mail address by default.
	DefaultFreeMailShare = 0.10
	// maxPeoplePerCompany bounds PeoplePerCompany: a buying group, not a
	// company's whole staff.
	maxPeoplePerCompany = 50
)

// defaultStart is the default start of the history, a Monday so that weekly
// reports begin on a full week.
var defaultStart = time.Date(2026, time.January, 5, 0, 0, 0, 0, time.UTC)

// Bounds on the history, so every generated time is inside the decoder's window of
// plausible event times (events.DefaultMinTime .. events.DefaultMaxTime).
var (
	minStart = time.Date(2001, time.January, 1, 0, 0, 0, 0, time.UTC)
	maxEnd   = time.Date(2099, time.January, 1, 0, 0, 0, 0, time.UTC)
)

// Config describes a synthetic history. The zero value is usable: every zero field
// takes its default. It is validated once, by New.
type Config struct {
	// Seed makes the history: the same Config gives the same records, byte for byte.
	Seed int64
	// Leads is how many people arrive (default 2000). With Endless, it is how many
	// arrive in each Span.
	Leads int
	// Start is the event time of the history's beginning (default Monday 5 January 2026, 00:00 UTC). It
	// is used at millisecond precision.
	Start time.Time
	// Span is the event-time span of the history (default 365 days). People arrive
	// uniformly over it; records that would fall after Start+Span are not generated
	// (journeys still in flight are cut, as in a real export), unless Endless.
	Span time.Duration
	// Mix weighs the personas (default DefaultMix()).
	Mix Mix
	// ResendRate is the fraction of records that the upstream sender re-sends
	// verbatim a few seconds to minutes later, as at-least-once pipelines do
	// (default 0.005; a negative value disables re-sends).
	ResendRate float64
	// Endless makes the history go on forever: after the first Span, another Leads
	// people arrive in the next Span, and so on, and nothing is cut. Next then never
	// returns false; the caller decides when to stop.
	Endless bool
	// KeepTruth makes the generator keep each lead's Truth once its journey is over,
	// until DrainTruth takes it. Without it, no truth is kept (an endless demo must
	// not accumulate it).
	KeepTruth bool
	// PeoplePerCompany is the size of the largest buying group: every person
	// who may identify (not bots, not anonymous browsers) belongs to a company
	// of 1 to PeoplePerCompany simulated people, smaller groups more likely
	// (default 6, at most 50). Each member sends a Segment group call with the
	// company's groupId and traits once identified, and context.groupId on
	// every later web call. 1 or a negative value disables companies: every
	// person is alone, no group call or groupId is sent, and the records are
	// those of a generator without companies.
	PeoplePerCompany int
	// FreeMailShare is the fraction of a company's people who give a free-mail
	// address rather than one at the company's domain, so that only their
	// groupId ties them to it (default 0.10; a negative value: none).
	FreeMailShare float64
}

func (c *Config) setDefaults() {
	if c.Leads == 0 {
		c.Leads = DefaultLeads
	}
	if c.Start.IsZero() {
		c.Start = defaultStart
	}
	c.Start = c.Start.UTC().Truncate(time.Millisecond)
	if c.Span == 0 {
		c.Span = DefaultSpan
	}
	if c.Mix == nil {
		c.Mix = DefaultMix()
	}
	if c.ResendRate == 0 {
		c.ResendRate = DefaultResendRate
	}
	if c.ResendRate < 0 {
		c.ResendRate = 0
	}
	if c.PeoplePerCompany == 0 {
		c.PeoplePerCompany = DefaultPeoplePerCompany
	}
	if c.PeoplePerCompany < 0 {
		c.PeoplePerCompany = 1
	}
	if c.FreeMailShare == 0 {
		c.FreeMailShare = DefaultFreeMailShare
	}
	if c.FreeMailShare < 0 {
		c.FreeMailShare = 0
	}
}

// companies reports whether people are grouped into companies.
func (c *Config) companies() bool { return c.PeoplePerCompany > 1 }

// Validate reports whether the configuration, once defaults are applied, describes a
// history the generator can make: a positive number of leads, a span of at least a
// day that stays within 2001..2099 (the decoder's window of plausible event
// times), finite non-negative weights with at least one positive, a re-send rate
// of at most 0.5, at most 50 people per company and a free-mail share of at
// most 1.
func (c Config) Validate() error {
	c.setDefaults()
	var errs []error
	if c.Leads < 0 {
		errs = append(errs, fmt.Errorf("journeys: Leads %d is negative", c.Leads))
	}
	if c.Span < 24*time.Hour {
		errs = append(errs, fmt.Errorf("journeys: Span %s is shorter than a day", c.Span))
	}
	if c.Start.Before(minStart) {
		errs = append(errs, fmt.Errorf("journeys: Start %s is before %s", c.Start.Format(time.RFC3339), minStart.Format(time.RFC3339)))
	}
	if !c.Endless && c.Start.Add(c.Span).After(maxEnd) || c.Start.After(maxEnd) {
		errs = append(errs, fmt.Errorf("journeys: the history %s + %s ends after %s", c.Start.Format(time.RFC3339), c.Span, maxEnd.Format(time.RFC3339)))
	}
	if c.ResendRate > 0.5 || math.IsNaN(c.ResendRate) {
		errs = append(errs, fmt.Errorf("journeys: ResendRate %g is above 0.5", c.ResendRate))
	}
	if c.PeoplePerCompany > maxPeoplePerCompany {
		errs = append(errs, fmt.Errorf("journeys: PeoplePerCompany %d is above %d", c.PeoplePerCompany, maxPeoplePerCompany))
	}
	if c.FreeMailShare > 1 || math.IsNaN(c.FreeMailShare) {
		errs = append(errs, fmt.Errorf("journeys: FreeMailShare %g is above 1", c.FreeMailShare))
	}
	total := 0.0
	for p := Persona(0); p < numPersonas; p++ {
		w := c.Mix[p]
		if w < 0 || math.IsNaN(w) || math.IsInf(w, 0) {
			errs = append(errs, fmt.Errorf("journeys: Mix weight of %s is %g, not a finite non-negative number", p, w))
			continue
		}
		total += w
	}
	for p := range c.Mix {
		if p >= numPersonas {
			errs = append(errs, fmt.Errorf("journeys: Mix has an unknown %s", p))
			break // one is enough, and map order would make the message vary
		}
	}
	if total <= 0 && len(errs) == 0 {
		errs = append(errs, errors.New("journeys: Mix has no positive weight"))
	}
	return errors.Join(errs...)
}
