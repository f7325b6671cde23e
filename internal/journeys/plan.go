package journeys

import (
	"cmp"
	"math"
	"math/rand/v2"
	"slices"
	"time"
)

// Durations in milliseconds, the unit of planning.
const (
	second = int64(1000)
	minute = 60 * second
	hour   = 60 * minute
	day    = 24 * hour
)

// Kinds of planned action.
const (
	actPage     uint8 = iota // Segment page
	actTrack                 // Segment track
	actIdentify              // Segment identify (with traits)
	actAlias                 // Segment alias (previousId = anonymousId)
	actMail                  // one SendGrid event
	actFeedback              // one sales-feedback message
	actGroup                 // Segment group (the company's groupId and traits)
)

// SendGrid events of actMail, in action.what.
const (
	mProcessed uint8 = iota
	mDelivered
	mOpen
	mMachineOpen
	mClick
	mBounce
	mDropped
	mUnsubscribe
	mGroupUnsubscribe
	mSpamReport
)

var mailEvents = [...]string{"processed", "delivered", "open", "open", "click", "bounce", "dropped",
	"unsubscribe", "group_unsubscribe", "spamreport"}

// Action flags.
const (
	flagIdentifies uint8 = 1 << iota // a form that sends the userId and the person's traits
	flagEmailOnly                    // a form that sends the e-mail address (context.traits) but no userId
	flagServer                       // sent by a back-end (no anonymousId, no browser context)
	flagBot                          // sent from a bot (its own user agent)
)

// action is one planned record, kept compact: what is rendered at its time is derived
// from these fields, the person and the lead's random stream.
type action struct {
	at    int64  // event time, ms
	kind  uint8  // act*
	what  uint8  // track event (ev*), SendGrid event (m*) or feedback kind (fb*)
	src   uint8  // traffic source (page, track) or e-mail programme (mail)
	flags uint8  // flag*
	ref   uint16 // page, white paper, video, webinar or reason index
	page  uint16 // page of a track; link of a click
	msg   uint32 // mail: message number within the lead; feedback: BANT bits
}

// lead is one person whose journey is in progress.
type lead struct {
	idx       int64
	rng       *rand.Rand
	p         person
	persona   Persona
	plan      []action
	next      int
	user      bool // a userId has been sent (render time)
	userSent  bool // the plan sends a userId
	emailSent bool // the plan gives the company the e-mail address
	bot       string
	co        *company // the person's company; nil when alone
	grouped   bool     // the group call has been sent (render time)
	truth     Truth
}

func (l *lead) head() *action { return &l.plan[l.next] }

// newLead draws a person and plans their whole journey from t.
func (g *Generator) newLead(idx int64, t int64) *lead {
	r := rand.New(rand.NewPCG(uint64(g.cfg.Seed), mix64(uint64(idx))))
	u := r.Float64()
	persona := Persona(0)
	for persona < numPersonas-1 && u >= g.cum[persona] {
		persona++
	}
	fit := fitPoor
	switch f := r.IntN(100); {
	case persona == Bot:
	case persona == HandRaiser || persona == PricingVisitor || persona == DemoWatcher:
		if f < 55 {
			fit = fitIdeal
		} else if f < 88 {
			fit = fitOK
		}
	default:
		if f < 25 {
			fit = fitIdeal
		} else if f < 70 {
			fit = fitOK
		}
	}
	l := &lead{idx: idx, rng: r, persona: persona, p: newPerson(r, idx, fit)}
	if g.cos != nil && joinsCompany(persona, &l.p) {
		l.co = g.cos.join(&l.p, g.cfg.FreeMailShare)
		if l.co.members == 1 {
			g.stats.Companies++
		}
	}
	l.truth = Truth{Persona: persona, AnonymousID: l.p.anon, Email: l.p.mail, IdealFit: l.p.idealFit(), Role: l.p.role}
	if l.co != nil {
		l.truth.Account = l.co.id
	}
	b := &builder{l: l, r: r, t: t, end: g.end, acts: g.plan[:0], quietTo: -1}
	b.journey()
	slices.SortStableFunc(b.acts, compareActions)
	if l.co != nil {
		b.group()
	}
	l.plan = slices.Clone(b.acts)
	g.plan = b.acts[:0]
	for i := range l.plan {
		a := &l.plan[i]
		if a.flags&flagIdentifies != 0 || a.kind == actIdentify || a.kind == actAlias {
			l.userSent = true
		}
		if a.flags&(flagIdentifies|flagEmailOnly) != 0 || a.kind == actIdentify {
			l.emailSent = true
			if l.truth.Identified.IsZero() {
				l.truth.Identified = time.UnixMilli(a.at).UTC()
			}
		}
	}
	return l
}

func compareActions(x, y action) int { return cmp.Compare(x.at, y.at) }

// group plans, in a sorted plan, the group call analytics.js sends right after
// the person first identifies: the page's script knows the company once the
// form or the login told it who the person is.
func (b *builder) group() {
	i := slices.IndexFunc(b.acts, func(a action) bool { return a.kind == actIdentify || a.flags&flagIdentifies != 0 })
	if i < 0 {
		return
	}
	at := b.acts[i].at + b.between(50, 1500)
	if at >= b.end {
		return
	}
	j := i + 1
	for j < len(b.acts) && b.acts[j].at <= at {
		j++
	}
	b.acts = slices.Insert(b.acts, j, action{at: at, kind: actGroup})
}

// builder plans one journey: a clock that the persona's script moves forward, and
// helpers that add actions at or after it. Actions after the end of the history are
// dropped, so a journey in flight is cut as in a real export.
type builder struct {
	l    *lead
	r    *rand.Rand
	t    int64
	end  int64
	acts []action
	msgs uint32

	user    bool  // a userId has been planned
	email   bool  // the address is known: mail can be sent
	badMail bool  // the address bounces
	bounced bool  // it has bounced: later sends are dropped
	mailTo  int64 // no mail is sent at or after this instant (unsubscribed); 0 = none
	// quietFrom..quietTo is a silence (lapsed): no web visits, no human opens.
	quietFrom, quietTo int64
	depth              int    // sales cycles so far
	last               uint16 // the page the person is on
	lastAt             int64  // when they opened it
}

func (b *builder) add(a action) bool {
	if a.at >= b.end || a.at < 0 {
		return false
	}
	b.acts = append(b.acts, a)
	return true
}

func (b *builder) chance(p float64) bool { return b.r.Float64() < p }

func (b *builder) between(lo, hi int64) int64 {
	if hi <= lo {
		return lo
	}
	return lo + b.r.Int64N(hi-lo+1)
}

// logBetween draws a duration between lo and hi, log-uniformly: short gaps are as
// likely as long ones in relative terms, as in real return-visit data.
func logBetween(r *rand.Rand, lo, hi int64) int64 {
	if lo < 1 {
		lo = 1
	}
	if hi <= lo {
		return lo
	}
	return int64(math.Exp(math.Log(float64(lo)) + r.Float64()*(math.Log(float64(hi))-math.Log(float64(lo)))))
}

// waking moves t into working hours (07:00–22:00 UTC), and most weekend activity to
// the Monday after.
func (b *builder) waking(t int64) int64 {
	d := t - t%day
	switch h := t - d; {
	case h < 7*hour:
		t = d + 7*hour + b.between(0, 4*hour)
	case h >= 22*hour:
		t = d + day + 7*hour + b.between(0, 4*hour)
	}
	wd := (t/day + 4) % 7 // 1970-01-01 was a Thursday; 0 = Sunday
	if (wd == 6 || wd == 0) && b.chance(0.7) {
		t += (8 - wd) % 7 * day
	}
	return t
}

// wait moves the clock forward by lo..hi (log-uniform), into working hours.
func (b *builder) wait(lo, hi time.Duration) {
	b.t = b.waking(b.t + logBetween(b.r, lo.Milliseconds(), hi.Milliseconds()))
}

func (b *builder) quiet(t int64) bool { return t >= b.quietFrom && t < b.quietTo }

// step moves the clock forward a few seconds to minutes, within a session.
func (b *builder) step() { b.t += b.between(8*second, 150*second) }

// page plans a page view at the clock. A direct view less than half an hour after
// the previous one continues that visit: it comes from the site, a little later.
func (b *builder) page(pg uint16, src uint8) {
	if b.quiet(b.t) {
		return
	}
	if gap := b.t - b.lastAt; src == srcDirect && b.lastAt != 0 && gap >= 0 && gap < 30*minute {
		if gap < 5*second {
			b.step()
		}
		src = srcInternal
	}
	if b.add(action{at: b.t, kind: actPage, ref: pg, src: src}) {
		b.last, b.lastAt = pg, b.t
	}
}

// session plans a visit of n pages of the given kinds, the first from src.
func (b *builder) session(src uint8, n int, kinds ...pageKind) {
	for i := 0; i < n; i++ {
		k := kinds[b.r.IntN(len(kinds))]
		pg := pagesOf[k][b.r.IntN(len(pagesOf[k]))]
		if i > 0 {
			b.step()
			src = srcInternal
		}
		b.page(pg, src)
	}
}

// visit plans a session over the given pages, in order.
func (b *builder) visit(src uint8, pgs ...uint16) {
	for i, pg := range pgs {
		if i > 0 {
			b.step()
			src = srcInternal
		}
		b.page(pg, src)
	}
}

// pgLast stands for the page last viewed, in track.
const pgLast = math.MaxUint16

// track plans a track call at the clock, a few seconds after the page it is on (pg,
// or pgLast).
func (b *builder) track(ev uint8, ref, pg uint16, flags uint8) bool {
	if b.quiet(b.t) && flags&flagServer == 0 {
		return false
	}
	if pg == pgLast {
		pg = b.last
	}
	b.t += b.between(2*second, 40*second)
	return b.add(action{at: b.t, kind: actTrack, what: ev, ref: ref, page: pg, flags: flags})
}

// identify plans the identify call that ties the visitor to a userId with traits
// (sometimes preceded by an alias, as older integrations do).
func (b *builder) identify() {
	if b.user {
		return
	}
	b.t += b.between(1*second, 5*second)
	if b.chance(0.06) {
		b.add(action{at: b.t, kind: actAlias})
		b.t += b.between(200, 2000)
	}
	if b.add(action{at: b.t, kind: actIdentify}) {
		b.user, b.email = true, true
	}
}

// form plans a form submission that identifies (userId and traits in the call).
func (b *builder) form(ev uint8, ref, pg uint16) {
	flags := flagIdentifies
	if b.user {
		flags = 0
	}
	if b.track(ev, ref, pg, flags) {
		b.user, b.email = true, true
	}
}

// signup plans a newsletter sign-up; half the time it identifies fully, otherwise it
// only gives the e-mail address.
func (b *builder) signup(src uint16) {
	flags := flagEmailOnly
	if b.user || b.chance(0.5) {
		flags = flagIdentifies
		if b.user {
			flags = 0
		}
	}
	if b.track(evNewsletter, src, pgLast, flags) {
		b.email = true
		if flags == flagIdentifies {
			b.user = true
		}
	}
}

// engagement is how a person treats the company's e-mail.
type engagement struct {
	open, click float64 // P(human open), P(click | open)
}

// mail plans one message of programme prog sent at t (whole seconds): processed,
// delivered, the machine open of Apple Mail, and perhaps a human open, a click and
// the visit the click starts.
func (b *builder) mail(t int64, prog uint8, eng engagement) {
	if !b.email || b.mailTo != 0 && t >= b.mailTo {
		return
	}
	t -= t % second
	msg := b.msgs
	b.msgs++
	m := func(at int64, what uint8, link uint16) {
		b.add(action{at: at - at%second, kind: actMail, what: what, src: prog, msg: msg, page: link})
	}
	m(t, mProcessed, 0)
	if b.bounced {
		m(t+b.between(1, 3)*second, mDropped, 0)
		return
	}
	if b.badMail {
		m(t+b.between(2, 40)*second, mBounce, 0)
		b.bounced = true
		return
	}
	delivered := t + b.between(1, 9)*second
	m(delivered, mDelivered, 0)
	if b.l.p.apple {
		m(delivered+b.between(20, 1500)*second, mMachineOpen, 0)
	}
	if b.quiet(t) || !b.chance(eng.open) {
		return
	}
	open := b.waking(delivered + logBetween(b.r, 2*minute, 2*day))
	m(open, mOpen, 0)
	if b.chance(0.15) {
		m(open+logBetween(b.r, 10*minute, 3*day), mOpen, 0)
	}
	if !b.chance(eng.click) {
		return
	}
	links := programmes[prog].links
	link := links[b.r.IntN(len(links))]
	click := open + b.between(8, 300)*second
	m(click, mClick, link)
	if b.chance(0.8) { // the click opens the page: a visit with the campaign's utm tags
		saved := b.t
		b.t = click + b.between(1, 6)*second
		b.page(link, mailSource(prog))
		if b.chance(0.5) {
			b.step()
			b.session(srcInternal, 1+b.r.IntN(3), pkBlog, pkProduct, pkGeneral)
		}
		b.t = saved
	}
}

// newsletterIssue returns the first monthly issue at or after t: the first Tuesday of
// the month, 09:00 UTC.
func newsletterIssue(t int64) int64 {
	tm := time.UnixMilli(t).UTC()
	for {
		first := time.Date(tm.Year(), tm.Month(), 1, 9, 0, 0, 0, time.UTC)
		d := (int(time.Tuesday) - int(first.Weekday()) + 7) % 7
		issue := first.AddDate(0, 0, d).UnixMilli()
		if issue >= t {
			return issue
		}
		tm = first.AddDate(0, 1, 0)
	}
}

// newsletter plans the monthly issues from the clock until until.
func (b *builder) newsletter(until int64, eng engagement) {
	for at := newsletterIssue(b.t); at < until && at < b.end; at = newsletterIssue(at + day) {
		if b.mailTo != 0 && at >= b.mailTo {
			return
		}
		b.mail(at+b.between(0, 1200)*second, mailNewsletter, eng)
	}
}

// sequence plans n messages of prog, two to eight days apart, from the clock.
func (b *builder) sequence(prog uint8, n int, eng engagement) {
	at := b.t
	for i := 0; i < n; i++ {
		at = b.waking(at + b.between(2*day, 8*day))
		b.mail(at, prog, eng)
	}
}

// feedback plans one sales-feedback message around at (reps work in working hours)
// and returns when it is sent.
func (b *builder) feedback(at int64, kind uint8, reason uint16, bant uint32) int64 {
	at = b.waking(at)
	b.add(action{at: at, kind: actFeedback, what: kind, ref: reason, msg: bant})
	return at
}

// mark records a truth instant if it is within the history.
func (b *builder) mark(field *time.Time, at int64) {
	if at < b.end && field.IsZero() {
		*field = time.UnixMilli(at).UTC()
	}
}

// The reasons a feedback action can carry, in action.ref.
const (
	reasonNone uint16 = iota
	reasonNotAFit
	reasonRecycle // + index into recycleReasons
	reasonLost    = reasonRecycle + 8
)

// handRaise plans a hand-raising form (demo, trial, quote, call) at the clock and
// what sales does about it.
func (b *builder) handRaise() {
	ev := handRaises[b.r.IntN(len(handRaises))]
	pg := handRaisePage[ev]
	b.page(pg, srcDirect)
	b.form(ev, 0, pg)
	if !b.user {
		return
	}
	b.mark(&b.l.truth.SQL, b.t)
	b.sales(b.t)
}

// sales plans the CRM's side after a lead became sales-qualified at t: acceptance or
// rejection some days later, then perhaps an opportunity, a deal won or lost, and a
// referral; or a recycle back to nurture.
func (b *builder) sales(t int64) {
	b.depth++
	saved := b.t
	defer func() { b.t = saved }()
	tr := &b.l.truth
	// The sales sequence: the rep writes; the lead may reply (logged by the CRM).
	b.t = t
	b.sequence(mailSales, 1+b.r.IntN(2), engagement{open: 0.6, click: 0.3})
	if b.chance(0.35) {
		b.t = b.waking(t + b.between(day, 5*day))
		b.track(evEmailReplied, 0, 0, flagServer)
	}
	at := t + b.between(day, 6*day)
	u := b.r.Float64()
	switch {
	case b.l.p.fit == fitPoor && u < 0.6:
		b.feedback(at, fbRejected, reasonNotAFit, 0)
		return
	case u < 0.10: // the CRM never says anything
		return
	case u < 0.27:
		b.feedback(at, fbRejected, reasonRecycle+uint16(b.r.IntN(len(recycleReasons))), 0)
		b.reengage(at)
		return
	case u < 0.35:
		b.feedback(at, fbRecycled, reasonNone, 0)
		b.reengage(at)
		return
	}
	at = b.feedback(at, fbAccepted, reasonNone, 0)
	b.mark(&tr.Accepted, at)
	v := b.r.Float64()
	switch {
	case v < 0.65:
		at += b.between(5*day, 30*day)
		at = b.feedback(at, fbOpportunity, reasonNone, 0)
		b.mark(&tr.Opportunity, at)
		w := b.r.Float64()
		at += b.between(14*day, 90*day)
		switch {
		case w < 0.42:
			at = b.feedback(at, fbWon, reasonNone, 0)
			b.mark(&tr.Won, at)
			b.customer(at)
		case w < 0.80:
			at = b.feedback(at, fbLost, reasonLost+uint16(b.r.IntN(len(lostReasons))), 0)
			b.mark(&tr.Lost, at)
			b.reengage(at)
		}
	case v < 0.80:
		at += b.between(10*day, 40*day)
		b.feedback(at, fbRecycled, reasonNone, 0)
		b.reengage(at)
	}
}

// reengage: some leads sent back to nurture come back months later, and some raise
// their hand again.
func (b *builder) reengage(at int64) {
	if b.depth > 2 || !b.chance(0.3) {
		return
	}
	b.t = b.waking(at + b.between(30*day, 150*day))
	b.session(srcDirect, 1+b.r.IntN(3), pkBlog, pkPricing, pkProduct)
	if b.chance(0.4) {
		b.wait(time.Hour, 10*24*time.Hour)
		b.handRaise()
	}
}

// customer plans life after the deal: product updates, sign-ins, docs, and
// sometimes a referral.
func (b *builder) customer(at int64) {
	b.t = b.waking(at + b.between(day, 7*day))
	b.sequence(mailProduct, 2+b.r.IntN(3), engagement{open: 0.5, click: 0.3})
	for i := 0; i < 2+b.r.IntN(5); i++ {
		b.track(evSignedIn, 0, pgHome, 0)
		b.session(srcDirect, 1+b.r.IntN(3), pkDocs)
		b.wait(2*24*time.Hour, 30*24*time.Hour)
	}
	if b.chance(0.3) {
		b.feedback(at+b.between(30*day, 180*day), fbReferral, reasonNone, 0)
	}
}

// qualify plans an outbound qualification: a rep reaches an engaged lead, who
// replies; the rep records the BANT answers. Three or more yes make it an SQL.
func (b *builder) qualify() {
	if !b.user {
		return
	}
	saved := b.t
	b.t = b.waking(b.t + b.between(2*day, 20*day))
	b.mail(b.t, mailSales, engagement{open: 0.7, click: 0.2})
	b.t = b.waking(b.t + b.between(hour, 3*day))
	b.track(evEmailReplied, 0, 0, flagServer)
	at := b.t + b.between(day, 8*day)
	bant := uint32(0)
	yes := 2
	if b.chance(0.7) {
		yes = 3 + b.r.IntN(2)
	}
	for _, q := range b.r.Perm(4)[:yes] {
		bant |= 1 << q
	}
	if at = b.feedback(at, fbQualified, reasonNone, bant); at < b.end && yes >= 3 {
		b.mark(&b.l.truth.SQL, at)
		b.sales(at)
	}
	b.t = saved
}

// journey plans the persona's script.
func (b *builder) journey() {
	b.t = b.waking(b.t)
	src := firstSources[b.r.IntN(len(firstSources))]
	switch b.l.persona {
	case Anonymous:
		b.anonymous(src)
	case Bot:
		b.bot()
	case Subscriber:
		b.subscriber(src)
	case ContentReader:
		b.contentReader(src)
	case WebinarAttendee:
		b.webinarAttendee(src)
	case DemoWatcher:
		b.demoWatcher(src)
	case PricingVisitor:
		b.pricingVisitor(src)
	case HandRaiser:
		b.handRaiser(src)
	case Lapsed:
		b.lapsed(src)
	case Disengaged:
		b.disengaged(src)
	}
}

func (b *builder) anonymous(src uint8) {
	n := 1
	for n < 4 && b.chance(0.45) {
		n++
	}
	for i := 0; i < n; i++ {
		if i > 0 {
			b.wait(12*time.Hour, 30*24*time.Hour)
			src = srcDirect
		}
		b.session(src, 1+b.r.IntN(5), pkGeneral, pkBlog, pkBlog, pkProduct)
		if b.chance(0.08) {
			b.visit(srcDirect, pgPricing)
		}
		if b.chance(0.05) {
			b.page(pgTour, srcDirect)
			b.track(evVideoStarted, uint16(b.r.IntN(len(videos))), pgTour, 0)
		}
	}
}

func (b *builder) bot() {
	switch u := b.r.IntN(10); {
	case u < 6: // a crawler: a few crawls of many pages, seconds apart
		b.l.bot = pick(b.r, crawlerAgents)
		for c := 0; c < 1+b.r.IntN(3); c++ {
			if c > 0 {
				b.t += b.between(day, 10*day)
			}
			for i := 0; i < 5+b.r.IntN(26); i++ {
				b.t += b.between(1*second, 6*second)
				b.add(action{at: b.t, kind: actPage, ref: uint16(b.r.IntN(len(pages))), flags: flagBot})
			}
		}
	case u < 8: // a script scraping pricing, sometimes spamming the contact form
		b.l.bot = pick(b.r, scriptAgents)
		for _, pg := range []uint16{pgHome, pgPricing, pgPricingEnt, pgPricingFAQ, pgContactSale} {
			b.t += b.between(200, 3000)
			b.add(action{at: b.t, kind: actPage, ref: pg, flags: flagBot})
		}
		if b.chance(0.3) {
			b.t += b.between(1*second, 10*second)
			b.add(action{at: b.t, kind: actTrack, what: evContactSales, page: pgContactSale, flags: flagBot})
		}
	default: // the company's own uptime checker: every four hours for a few days
		b.l.bot = uptimeAgent
		for i := 0; i < 12+b.r.IntN(20); i++ {
			b.add(action{at: b.t, kind: actPage, ref: pgHome, flags: flagBot})
			b.t += 4*hour + b.between(0, 30*second)
		}
	}
}

func (b *builder) subscriber(src uint8) {
	b.session(src, 1+b.r.IntN(3), pkBlog, pkBlog, pkGeneral)
	if b.chance(0.4) {
		b.wait(6*time.Hour, 14*24*time.Hour)
		b.session(srcDirect, 1+b.r.IntN(3), pkBlog, pkGeneral, pkProduct)
	}
	b.signup(uint16(b.r.IntN(3)))
	if b.chance(0.35) {
		b.track(evSocial, uint16(b.r.IntN(2)), pgLast, 0)
	}
	eng := engagement{open: 0.2 + 0.4*b.r.Float64(), click: 0.1 + 0.3*b.r.Float64()}
	horizon := b.t + b.between(60*day, 365*day)
	start := b.t
	b.newsletter(horizon, eng)
	// Some come back on their own, a few become readers, fewer raise their hand.
	b.t = start
	for b.chance(0.5) {
		b.wait(3*24*time.Hour, 60*24*time.Hour)
		b.session(srcDirect, 1+b.r.IntN(3), pkBlog, pkGeneral, pkProduct)
	}
	if b.chance(0.12) {
		b.wait(7*24*time.Hour, 90*24*time.Hour)
		wp := wpBasic[b.r.IntN(len(wpBasic))]
		b.visit(srcDirect, whitepapers[wp].page)
		b.form(evWhitepaper, wp, whitepapers[wp].page)
		if b.chance(0.25) {
			b.wait(7*24*time.Hour, 60*24*time.Hour)
			b.visit(srcDirect, pgPricing)
			b.handRaise()
		}
	}
}

func (b *builder) contentReader(src uint8) {
	sessions := 2 + b.r.IntN(4)
	downloaded := false
	for i := 0; i < sessions; i++ {
		if i > 0 {
			b.wait(12*time.Hour, 14*24*time.Hour)
			src = srcDirect
		}
		b.session(src, 2+b.r.IntN(5), pkBlog, pkBlog, pkBlog, pkGeneral)
		if !downloaded && (i == 1 || i == sessions-1) {
			wp := wpBasic[b.r.IntN(len(wpBasic))]
			b.visit(srcDirect, whitepapers[wp].page)
			if b.chance(0.5) {
				b.identify()
				b.track(evWhitepaper, wp, whitepapers[wp].page, 0)
			} else {
				b.form(evWhitepaper, wp, whitepapers[wp].page)
			}
			downloaded = true
			b.sequence(mailNurture, 3, engagement{open: 0.45, click: 0.3})
		}
	}
	if b.chance(0.4) {
		b.signup(uint16(b.r.IntN(3)))
		b.newsletter(b.t+b.between(60*day, 300*day), engagement{open: 0.35, click: 0.2})
	}
	if b.chance(0.3) {
		b.track(evSocial, uint16(b.r.IntN(2)), pgLast, 0)
	}
	if b.chance(0.5) {
		b.wait(5*24*time.Hour, 30*24*time.Hour)
		wp := wpAdvanced[b.r.IntN(len(wpAdvanced))]
		b.session(srcDirect, 1+b.r.IntN(3), pkBlog)
		b.visit(srcDirect, whitepapers[wp].page)
		b.form(evWhitepaper, wp, whitepapers[wp].page)
		if b.chance(0.4) {
			b.visit(srcDirect, pgPricing)
		}
	}
	switch u := b.r.Float64(); {
	case u < 0.18:
		b.wait(5*24*time.Hour, 60*24*time.Hour)
		b.session(srcDirect, 1+b.r.IntN(2), pkProduct, pkPricing)
		b.handRaise()
	case u < 0.28:
		b.qualify()
	}
}

func (b *builder) webinarAttendee(src uint8) {
	w := uint16(b.r.IntN(len(webinars)))
	pg := pgWebinar0 + w
	if n := b.r.IntN(3); n > 0 {
		b.session(src, n, pkBlog, pkGeneral)
		src = srcDirect
	}
	b.visit(src, pg)
	b.form(evWebinarRegistered, w, pg)
	// The webinar is on the Thursday at least two days away, 16:00 UTC.
	live := b.t + 2*day
	live = live - live%day + 16*hour
	for (live/day+4)%7 != 4 {
		live += day
	}
	b.mail(live-day+b.between(0, 600)*second, mailWebinar, engagement{open: 0.6, click: 0.3})
	b.mail(live-hour, mailWebinar, engagement{open: 0.5, click: 0.4})
	b.t = live + b.between(0, 10*minute)
	attended := b.chance(0.7)
	if attended {
		ev := uint8(evWebinarAttended)
		if b.chance(0.3) {
			ev = evWebinarJoined
		}
		b.track(ev, w, pg, 0)
	}
	b.mail(live+day, mailWebinar, engagement{open: 0.45, click: 0.35}) // the replay
	b.t = b.waking(live + day)
	if b.chance(0.4) {
		b.signup(uint16(b.r.IntN(3)))
		b.newsletter(b.t+b.between(60*day, 300*day), engagement{open: 0.3, click: 0.2})
	}
	if b.chance(0.35) {
		b.wait(1*24*time.Hour, 20*24*time.Hour)
		b.visit(srcDirect, pgPricing, pgCustomers)
	}
	switch u := b.r.Float64(); {
	case u < 0.25 && attended:
		b.wait(2*24*time.Hour, 30*24*time.Hour)
		b.handRaise()
	case u < 0.35:
		b.qualify()
	}
}

func (b *builder) demoWatcher(src uint8) {
	b.session(src, 1+b.r.IntN(2), pkProduct, pkGeneral)
	b.visit(srcDirect, pgTour)
	if b.chance(0.6) { // a gated video
		b.form(evFormSubmitted, 0, pgTour)
	}
	v := uint16(b.r.IntN(2)) // a demo video …
	if b.chance(0.2) {
		v = 2 // … or the customer story, which scores nothing
	}
	b.track(evVideoStarted, v, pgTour, 0)
	if b.chance(0.7) {
		b.t += b.between(2*minute, 6*minute)
		b.track(evVideoCompleted, v, pgTour, 0)
	}
	if !b.user && b.chance(0.6) {
		b.wait(1*time.Hour, 10*24*time.Hour)
		b.session(srcDirect, 1+b.r.IntN(2), pkBlog, pkProduct)
		b.identify()
	}
	if b.chance(0.5) {
		b.wait(1*24*time.Hour, 14*24*time.Hour)
		b.visit(srcDirect, pgPricing, pgPricingFAQ)
	}
	if b.email && b.chance(0.5) {
		b.sequence(mailNurture, 2, engagement{open: 0.4, click: 0.3})
	}
	switch u := b.r.Float64(); {
	case u < 0.30:
		b.wait(1*24*time.Hour, 21*24*time.Hour)
		b.handRaise()
	case u < 0.40:
		b.qualify()
	}
}

func (b *builder) pricingVisitor(src uint8) {
	n := 3 + b.r.IntN(4)
	for i := 0; i < n; i++ {
		if i > 0 {
			b.wait(1*24*time.Hour, 14*24*time.Hour)
			src = srcDirect
		}
		b.visit(src, pgPricing)
		b.session(srcDirect, b.r.IntN(3), pkPricing, pkProduct, pkGeneral)
		if i == 1 && !b.user {
			if b.chance(0.5) {
				b.signup(uint16(b.r.IntN(3)))
				b.newsletter(b.t+b.between(60*day, 200*day), engagement{open: 0.35, click: 0.2})
			} else {
				wp := wpBasic[b.r.IntN(len(wpBasic))]
				b.visit(srcDirect, whitepapers[wp].page)
				b.form(evWhitepaper, wp, whitepapers[wp].page)
			}
		}
	}
	if !b.user && b.chance(0.5) {
		b.identify()
	}
	switch u := b.r.Float64(); {
	case u < 0.35:
		b.wait(1*time.Hour, 14*24*time.Hour)
		b.handRaise()
	case u < 0.50:
		b.qualify()
	}
}

func (b *builder) handRaiser(src uint8) {
	b.session(src, 1+b.r.IntN(3), pkProduct, pkPricing, pkGeneral, pkBlog)
	if b.chance(0.5) {
		b.wait(2*time.Hour, 7*24*time.Hour)
		b.session(srcDirect, 1+b.r.IntN(3), pkProduct, pkPricing, pkGeneral)
	}
	if b.chance(0.4) {
		wp := wpBasic[b.r.IntN(len(wpBasic))]
		b.visit(srcDirect, whitepapers[wp].page)
		b.form(evWhitepaper, wp, whitepapers[wp].page)
	} else if b.chance(0.5) {
		b.identify()
	}
	if b.chance(0.3) {
		b.visit(srcDirect, pgPricing)
	}
	b.wait(1*time.Minute, 14*24*time.Hour)
	b.handRaise()
	if b.chance(0.3) {
		b.signup(uint16(b.r.IntN(3)))
		b.newsletter(b.t+b.between(60*day, 300*day), engagement{open: 0.4, click: 0.2})
	}
}

func (b *builder) lapsed(src uint8) {
	// A few engaged weeks…
	b.session(src, 2+b.r.IntN(3), pkBlog, pkGeneral, pkProduct)
	wp := wpBasic[b.r.IntN(len(wpBasic))]
	b.visit(srcDirect, whitepapers[wp].page)
	b.form(evWhitepaper, wp, whitepapers[wp].page)
	b.signup(uint16(b.r.IntN(3)))
	engaged := b.t
	for i := 0; i < 1+b.r.IntN(3); i++ {
		b.wait(1*24*time.Hour, 10*24*time.Hour)
		b.session(srcDirect, 1+b.r.IntN(4), pkBlog, pkBlog, pkProduct)
	}
	if b.chance(0.6) {
		wp := wpAdvanced[b.r.IntN(len(wpAdvanced))]
		b.visit(srcDirect, whitepapers[wp].page)
		b.form(evWhitepaper, wp, whitepapers[wp].page)
	}
	if b.chance(0.4) {
		b.track(evSocial, uint16(b.r.IntN(2)), pgLast, 0)
	}
	// …then months of silence: the newsletter keeps coming; only Apple opens it.
	b.quietFrom = b.t + b.between(day, 7*day)
	b.quietTo = b.quietFrom + b.between(150*day, 300*day)
	comeback := b.quietTo
	b.t = engaged
	b.newsletter(comeback+b.between(30*day, 120*day), engagement{open: 0.45, click: 0.25})
	// Then, for some, a comeback.
	if !b.chance(0.7) {
		return
	}
	b.t = b.waking(comeback)
	b.session(srcGoogle, 1+b.r.IntN(3), pkBlog, pkPricing, pkProduct)
	b.wait(1*24*time.Hour, 14*24*time.Hour)
	b.visit(srcDirect, pgPricing, pgCustomers)
	if b.chance(0.35) {
		b.wait(1*24*time.Hour, 21*24*time.Hour)
		b.handRaise()
	}
}

func (b *builder) disengaged(src uint8) {
	b.session(src, 1+b.r.IntN(3), pkBlog, pkGeneral)
	if b.chance(0.5) {
		b.signup(uint16(b.r.IntN(3)))
	} else {
		wp := wpBasic[b.r.IntN(len(wpBasic))]
		b.visit(srcDirect, whitepapers[wp].page)
		b.form(evWhitepaper, wp, whitepapers[wp].page)
	}
	if !b.email {
		return // the history ended before they gave their address
	}
	bad := b.chance(0.3)
	b.badMail = bad
	eng := engagement{open: 0.15, click: 0.05}
	at := newsletterIssue(b.t)
	sends := 1 + b.r.IntN(4)
	if bad {
		sends = 2
	}
	for i := 0; i < sends; i++ {
		b.mail(at+b.between(0, 1200)*second, mailNewsletter, eng)
		if i < sends-1 {
			at = newsletterIssue(at + day)
		}
	}
	if bad {
		return
	}
	// The last message is where they opt out.
	out := at + 20*minute + logBetween(b.r, 10*minute, 3*day)
	m := func(at int64, what uint8) {
		b.add(action{at: at - at%second, kind: actMail, what: what, src: mailNewsletter, msg: b.msgs - 1})
	}
	switch u := b.r.IntN(20); {
	case u < 8:
		m(out, mUnsubscribe)
	case u < 13:
		m(out, mGroupUnsubscribe)
	case u < 17:
		m(out, mSpamReport)
	default:
		m(out, mUnsubscribe)
		m(out+b.between(5, 120)*second, mSpamReport)
	}
	b.mailTo = out
	if b.chance(0.2) {
		b.t = b.waking(out + b.between(7*day, 90*day))
		b.session(srcDirect, 1+b.r.IntN(2), pkBlog, pkGeneral)
	}
}
