package journeys

import (
	"strconv"
	"time"
)

// render turns a planned action into the record its sender would publish. It draws
// ids and delivery delays from the lead's own random stream, so a lead's records do
// not depend on other leads.
func (g *Generator) render(l *lead, a *action) Record {
	w := &g.w
	w.reset()
	var topic, key string
	switch a.kind {
	case actPage, actTrack, actIdentify, actAlias, actGroup:
		topic = TopicWeb
		key = g.segment(w, l, a)
	case actMail:
		topic = TopicEmail
		key = g.sendgrid(w, l, a)
	default:
		topic = TopicFeedback
		key = g.crm(w, l, a)
	}
	w.end()
	rec := Record{Topic: topic, Key: []byte(key), Value: append([]byte(nil), w.b...),
		Time: time.UnixMilli(a.at).UTC()}
	l.truth.Records++
	g.maybeResend(l, rec)
	return rec
}

// segment writes a Segment-spec message as analytics.js (or a server library, for
// back-end events) sends it, and returns its Kafka key.
func (g *Generator) segment(w *jw, l *lead, a *action) string {
	p := &l.p
	r := l.rng
	server := a.flags&flagServer != 0
	bot := a.flags&flagBot != 0
	if a.flags&flagIdentifies != 0 || a.kind == actIdentify {
		l.user = true
	}
	typ := [...]string{actPage: "page", actTrack: "track", actIdentify: "identify", actAlias: "alias", actGroup: "group"}[a.kind]
	w.str("type", typ)
	w.key("messageId")
	if server {
		w.raw(`"api-`)
		w.b = append(w.b, uuid(r)...)
		w.raw(`"`)
	} else {
		w.raw(`"ajs-next-`)
		w.b = appendHex(w.b, r.Uint64(), 16)
		w.b = appendHex(w.b, r.Uint64()>>48, 4)
		w.raw(`"`)
	}
	if a.kind == actAlias {
		w.str("previousId", p.anon)
		w.str("userId", p.user)
		w.time("timestamp", a.at)
		return p.user
	}
	key := p.anon
	if !server {
		w.str("anonymousId", p.anon)
	}
	if l.user && !bot {
		w.str("userId", p.user)
		key = p.user
	}

	var pg *page
	src := sources[a.src]
	switch a.kind {
	case actPage:
		pg = &pages[a.ref]
		w.str("name", pg.name)
		w.open("properties")
		g.pageFields(w, pg, src)
		w.close()
	case actTrack:
		pg = &pages[a.page]
		w.str("event", trackNames[a.what])
		w.open("properties")
		g.trackProperties(w, l, a)
		w.close()
	case actIdentify:
		w.open("traits")
		traits(w, p, true)
		w.close()
	case actGroup:
		w.str("groupId", l.co.id)
		w.open("traits")
		groupTraits(w, l.co)
		w.close()
	}

	w.open("context")
	switch {
	case server:
		w.open("library")
		w.str("name", "analytics-node")
		w.str("version", "2.1.2")
		w.close()
	case a.kind == actIdentify || a.kind == actGroup:
		w.str("ip", p.ip)
		w.str("userAgent", p.browser)
	default:
		w.str("ip", p.ip)
		if a.kind == actPage {
			w.open("library")
			w.str("name", "analytics.js")
			w.str("version", "next-1.72.0")
			w.close()
			if p.locale != "" && !bot {
				w.str("locale", p.locale)
			}
			w.open("page")
			g.pageFields(w, pg, src)
			w.close()
		} else {
			w.open("page")
			w.str("path", pg.path)
			w.str("url", site+pg.path)
			w.close()
		}
		if bot {
			w.str("userAgent", l.bot)
		} else {
			w.str("userAgent", p.browser)
		}
		switch {
		case a.flags&flagIdentifies != 0:
			w.open("traits")
			traits(w, p, false)
			w.close()
		case a.flags&flagEmailOnly != 0:
			w.open("traits")
			w.str("email", p.email)
			w.close()
		}
		if src.campaign != "" && a.kind == actPage {
			w.open("campaign")
			w.str("name", src.campaign)
			w.str("source", src.origin)
			w.str("medium", src.medium)
			w.close()
		}
	}
	if l.grouped {
		// Segment attributes every call after group to the account when the
		// source is set to; account scoring reads it from here.
		w.str("groupId", l.co.id)
	}
	if a.kind == actGroup {
		l.grouped = true
	}
	w.close() // context
	if a.kind == actPage {
		w.key("integrations")
		w.raw("{}")
	}
	// Segment's clocks: the device stamps originalTimestamp and sentAt with its own
	// (possibly wrong) clock; the API stamps receivedAt; timestamp is corrected for the
	// skew and is the event time.
	skew, batch := p.skew, int64(20+r.IntN(900))
	if server {
		skew, batch = 0, int64(5+r.IntN(60))
	}
	w.time("originalTimestamp", a.at+skew)
	w.time("sentAt", a.at+skew+batch)
	w.time("receivedAt", a.at+batch)
	w.time("timestamp", a.at)
	w.int("version", 2)
	return key
}

// pageFields writes a page's path, referrer, search, title and url (page
// properties and context.page carry the same).
func (g *Generator) pageFields(w *jw, pg *page, src source) {
	search := utmQuery(src)
	w.str("path", pg.path)
	w.str("referrer", src.referrer)
	w.str("search", search)
	w.str("title", pg.name+" — "+siteName)
	w.str("url", site+pg.path+search)
}

// traits writes the person as identify (top level) or a form (context.traits) sends it.
func traits(w *jw, p *person, names bool) {
	w.str("email", p.email)
	if names {
		w.str("firstName", p.first)
		w.str("lastName", p.last)
	} else {
		w.str("name", p.first+" "+p.last)
	}
	w.str("title", p.title)
	if p.company != "" {
		w.open("company")
		w.str("name", p.company)
		w.str("industry", p.industry)
		w.int("employee_count", int64(p.employees))
		w.close()
	}
	w.open("address")
	w.str("country", p.country)
	w.close()
}

// groupTraits writes a company as a group call's traits, with Segment's
// reserved names (name, industry, employees, plan, website, address) and the
// annual revenue CRMs sync.
func groupTraits(w *jw, c *company) {
	w.str("name", c.name)
	w.str("industry", c.industry)
	w.int("employees", int64(c.employees))
	w.int("annual_revenue", c.revenue)
	w.str("plan", c.plan)
	w.str("website", c.website)
	w.open("address")
	w.str("country", c.country)
	w.close()
}

var videoLengths = [len(videos)]int64{372, 845, 214, 2710}

// trackProperties writes the properties of a track call.
func (g *Generator) trackProperties(w *jw, l *lead, a *action) {
	r := l.rng
	switch a.what {
	case evNewsletter:
		w.str("list", "monthly")
		w.str("source", [...]string{"footer", "blog-inline", "popup"}[a.ref%3])
	case evWhitepaper:
		wp := &whitepapers[a.ref]
		w.str("title", wp.title)
		w.str("level", wp.level)
		w.str("content_id", wp.id)
	case evWebinarRegistered, evWebinarJoined:
		w.str("webinar_id", webinars[a.ref].id)
		w.str("title", webinars[a.ref].title)
	case evWebinarAttended:
		w.str("webinar_id", webinars[a.ref].id)
		w.str("title", webinars[a.ref].title)
		w.int("duration_minutes", int64(15+r.IntN(46)))
	case evVideoStarted, evVideoCompleted:
		v := &videos[a.ref]
		w.str("video_id", v.id)
		w.str("title", v.title)
		pos := int64(0)
		if a.what == evVideoCompleted {
			pos = videoLengths[a.ref]
		}
		w.int("position", pos)
		w.int("total_length", videoLengths[a.ref])
		w.str("video_player", "wistia")
	case evSocial:
		w.str("network", [...]string{"linkedin", "x"}[a.ref%2])
	case evEmailReplied:
		w.key("thread_id")
		w.raw(`"thr_`)
		w.b = appendHex(w.b, r.Uint64(), 16)
		w.raw(`"`)
		w.str("sequence", "sales sequence")
	case evDemo:
		w.str("form_id", "demo-request")
		w.str("preferred_slot", [...]string{"morning", "afternoon", "any"}[r.IntN(3)])
		w.int("team_size", int64(2+r.IntN(40)))
	case evTrialStarted:
		w.str("plan", "team")
		w.int("trial_days", 14)
	case evTrialRequested:
		w.str("plan", "enterprise")
	case evQuote:
		w.str("plan", "enterprise")
		w.int("seats", int64(10+r.IntN(490)))
	case evCall:
		w.str("topic", [...]string{"pricing", "security review", "integration"}[r.IntN(3)])
	case evContactSales:
		w.str("form_id", "contact-sales")
		if a.flags&flagBot != 0 {
			w.str("email", "seo.offers"+strconv.FormatInt(l.idx+1, 10)+"@spam.example")
			w.str("message", "We can get you to page 1 of Google, guaranteed!")
		} else {
			w.str("topic", "pricing")
		}
	case evSignedIn:
		w.str("method", [...]string{"password", "sso", "sso"}[r.IntN(3)])
	case evFormSubmitted:
		w.str("form_id", "video-gate")
	}
}

var months = [...]string{"January", "February", "March", "April", "May", "June", "July",
	"August", "September", "October", "November", "December"}

// sendgrid writes one SendGrid Event Webhook event and returns its Kafka key (the
// recipient).
func (g *Generator) sendgrid(w *jw, l *lead, a *action) string {
	p := &l.p
	r := l.rng
	prog := &programmes[a.src]
	addr := p.mail
	// The message id is a function of the lead and the message number, so every
	// event of one message carries the same.
	h := mix64(uint64(l.idx)<<20 ^ uint64(a.msg) ^ uint64(g.cfg.Seed)<<40)
	h2 := mix64(h)
	w.str("email", addr)
	w.int("timestamp", a.at/1000)
	if a.what == mProcessed || a.what == mDelivered || a.what == mDropped {
		w.key("smtp-id")
		w.raw(`"<`)
		w.b = appendHex(w.b, h>>20, 11)
		w.raw(".")
		w.b = appendHex(w.b, h2>>52, 3)
		w.raw("@ismtpd-")
		w.b = strconv.AppendUint(w.b, h2%900+100, 10)
		w.raw(`>"`)
	}
	w.str("event", mailEvents[a.what])
	w.key("category")
	if prog.asString {
		w.b = appendJSONString(w.b, prog.categories[0])
	} else {
		w.strs(prog.categories)
	}
	w.key("sg_event_id")
	w.raw(`"`)
	w.b = appendEventID(w.b, r.Uint64(), r.Uint64())
	w.raw(`"`)
	w.key("sg_message_id")
	w.raw(`"`)
	w.b = appendHex(w.b, h>>20, 11)
	w.raw(".filter")
	w.b = strconv.AppendUint(w.b, h2%9000+1000, 10)
	w.raw(".")
	w.b = strconv.AppendUint(w.b, h2>>20%90000+10000, 10)
	w.raw(".")
	w.b = appendHex(w.b, h2>>32, 8)
	w.raw(`.0"`)
	switch a.what {
	case mDelivered:
		w.str("response", "250 OK")
		w.str("ip", sendgridIPs[h%uint64(len(sendgridIPs))])
		w.int("tls", 1)
	case mOpen:
		w.str("useragent", p.mailAgent)
		w.str("ip", p.ip)
		w.boolean("sg_machine_open", false)
	case mMachineOpen:
		w.str("useragent", machineOpenAgent)
		w.str("ip", appleProxyBlock+strconv.Itoa(r.IntN(256))+"."+strconv.Itoa(1+r.IntN(254)))
		w.boolean("sg_machine_open", true)
	case mClick:
		w.str("url", site+pages[a.page].path+utmQuery(sources[mailSource(a.src)]))
		w.open("url_offset")
		w.int("index", int64(r.IntN(6)))
		w.str("type", "html")
		w.close()
		w.str("useragent", p.mailAgent)
		w.str("ip", p.ip)
	case mBounce:
		w.str("reason", "550 5.1.1 The email account that you tried to reach does not exist")
		w.str("status", "5.1.1")
		w.str("type", "bounce")
		w.str("bounce_classification", "Invalid Address")
	case mDropped:
		w.str("reason", "Bounced Address")
		w.str("status", "5.0.0")
	case mGroupUnsubscribe:
		w.int("asm_group_id", int64(prog.group))
		w.str("useragent", p.mailAgent)
		w.str("ip", p.ip)
	}
	// Custom arguments appear as extra top-level keys.
	if a.src == mailNewsletter {
		tm := time.UnixMilli(a.at).UTC()
		w.int("marketing_campaign_id", int64(tm.Year()*100+int(tm.Month())))
		w.str("marketing_campaign_name", months[tm.Month()-1]+" "+strconv.Itoa(tm.Year())+" newsletter")
	} else {
		w.str("journey", prog.name)
	}
	return addr
}

// mailSource is the traffic source of a visit that starts with a click in a message
// of programme prog: its links carry these utm tags.
func mailSource(prog uint8) uint8 {
	if prog == mailNewsletter {
		return srcNewsletter
	}
	return srcNurture
}

// utmQuery returns the query string a source's links carry ("" for none).
func utmQuery(src source) string {
	if src.campaign == "" {
		return ""
	}
	return "?utm_source=" + src.origin + "&utm_medium=" + src.medium + "&utm_campaign=" + src.campaign
}

// crm writes one sales-feedback message (schemas/sales-feedback.schema.json) and
// returns its Kafka key, the lead id.
func (g *Generator) crm(w *jw, l *lead, a *action) string {
	p := &l.p
	r := l.rng
	lead := "user:" + p.user
	w.key("feedback_id")
	w.raw(`"fb_`)
	w.b = appendHex(w.b, r.Uint64(), 16)
	w.raw(`"`)
	w.str("lead_id", lead)
	w.str("user_id", p.user)
	w.str("kind", feedbackKinds[a.what])
	switch {
	case a.ref == reasonNotAFit:
		w.str("reason", notAFit)
	case a.ref >= reasonLost:
		w.str("reason", lostReasons[a.ref-reasonLost])
	case a.ref >= reasonRecycle:
		w.str("reason", recycleReasons[a.ref-reasonRecycle])
	}
	if a.what == fbQualified {
		// a.msg has a bit per yes; of the other questions, the first is answered
		// no and the next left unanswered (null), alternately.
		w.open("bant")
		no := true
		for q, name := range bantQuestions {
			switch {
			case a.msg&(1<<q) != 0:
				w.boolean(name, true)
			case no:
				w.boolean(name, false)
				no = false
			default:
				w.key(name)
				w.raw("null")
				no = true
			}
		}
		w.close()
	}
	w.str("by", salesReps[l.idx%int64(len(salesReps))])
	w.time("at", a.at)
	switch a.what {
	case fbOpportunity, fbWon, fbLost:
		h := mix64(uint64(l.idx) ^ uint64(g.cfg.Seed)<<32)
		w.key("opportunity_id")
		w.raw(`"006`)
		w.b = appendBase62(w.b, h, 12)
		w.raw(`"`)
		seats := min(max(p.employees/20, 5), 500)
		w.int("amount", int64(seats*600))
	case fbReferral:
		w.str("referred", ascii(firstNames[r.IntN(len(firstNames))])+"."+ascii(lastNames[r.IntN(len(lastNames))])+"@"+
			ascii(companyHeads[r.IntN(len(companyHeads))])+"-group.example")
	case fbRecycled:
		w.str("note", "Not now: follow up next quarter")
	}
	return lead
}

// jw writes one JSON object; fields are added in order, nesting with open/close.
type jw struct {
	b     []byte
	first [8]bool // per nesting level: no member written yet
	depth int
}

func (w *jw) reset() {
	w.b = append(w.b[:0], '{')
	w.depth = 0
	w.first[0] = true
}

func (w *jw) end() { w.b = append(w.b, '}') }

// key starts a member.
func (w *jw) key(k string) {
	if !w.first[w.depth] {
		w.b = append(w.b, ',')
	}
	w.first[w.depth] = false
	w.b = appendJSONString(w.b, k)
	w.b = append(w.b, ':')
}

func (w *jw) raw(s string) { w.b = append(w.b, s...) }

func (w *jw) str(k, v string) {
	w.key(k)
	w.b = appendJSONString(w.b, v)
}

func (w *jw) int(k string, v int64) {
	w.key(k)
	w.b = strconv.AppendInt(w.b, v, 10)
}

func (w *jw) boolean(k string, v bool) {
	w.key(k)
	w.b = strconv.AppendBool(w.b, v)
}

// time writes an RFC 3339 UTC time with milliseconds, as Segment does
// ("2026-03-02T09:14:05.350Z").
func (w *jw) time(k string, ms int64) {
	w.key(k)
	t := time.UnixMilli(ms).UTC()
	y, mo, d := t.Date()
	h, mi, sec := t.Clock()
	b := append(w.b, '"')
	b = appendDigits(b, y, 4)
	b = append(b, '-')
	b = appendDigits(b, int(mo), 2)
	b = append(b, '-')
	b = appendDigits(b, d, 2)
	b = append(b, 'T')
	b = appendDigits(b, h, 2)
	b = append(b, ':')
	b = appendDigits(b, mi, 2)
	b = append(b, ':')
	b = appendDigits(b, sec, 2)
	b = append(b, '.')
	b = appendDigits(b, int(ms-ms/1000*1000+1000)%1000, 3)
	w.b = append(b, 'Z', '"')
}

// appendDigits appends v (0 ≤ v < 10^n) as exactly n decimal digits.
func appendDigits(b []byte, v, n int) []byte {
	var buf [8]byte
	for i := n - 1; i >= 0; i-- {
		buf[i] = byte('0' + v%10)
		v /= 10
	}
	return append(b, buf[:n]...)
}

func (w *jw) strs(vs []string) {
	w.b = append(w.b, '[')
	for i, v := range vs {
		if i > 0 {
			w.b = append(w.b, ',')
		}
		w.b = appendJSONString(w.b, v)
	}
	w.b = append(w.b, ']')
}

func (w *jw) open(k string) {
	w.key(k)
	w.b = append(w.b, '{')
	w.depth++
	w.first[w.depth] = true
}

func (w *jw) close() {
	w.b = append(w.b, '}')
	w.depth--
}

// appendJSONString appends s as a JSON string. Non-ASCII text is kept as UTF-8, as
// browsers send it; only quotes, backslashes and control characters are escaped.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendHex appends the low 4·n bits of v as n lower-case hex digits.
func appendHex(b []byte, v uint64, n int) []byte {
	for i := n - 1; i >= 0; i-- {
		b = append(b, hexDigits[v>>(4*uint(i))&0xf])
	}
	return b
}

const b64url = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// appendEventID appends a 22-character URL-safe base64 id, like SendGrid's
// sg_event_id (128 random bits).
func appendEventID(b []byte, hi, lo uint64) []byte {
	for i := 0; i < 11; i++ {
		b = append(b, b64url[hi&63])
		hi >>= 6
	}
	for i := 0; i < 11; i++ {
		b = append(b, b64url[lo&63])
		lo >>= 6
	}
	return b
}

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

func appendBase62(b []byte, v uint64, n int) []byte {
	for i := 0; i < n; i++ {
		b = append(b, base62[v%62])
		v /= 62
	}
	return b
}
