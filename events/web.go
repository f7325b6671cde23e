package events

import (
	"fmt"

	"github.com/leadscore/leadscore/scoring"
	"github.com/valyala/fastjson"
)

// Web events: Segment Spec messages (schemas/web-event.schema.json).

// webKind returns the Segment message type named by b, or "" for an unknown one.
func webKind(b []byte) string {
	switch string(b) {
	case "track":
		return "track"
	case "page":
		return "page"
	case "screen":
		return "screen"
	case "identify":
		return "identify"
	case "alias":
		return "alias"
	case "group":
		return "group"
	}
	return ""
}

// webTimeFields are the time fields of a Segment message, in order of preference for
// the event time: timestamp is Segment's clock-skew-corrected time.
var webTimeFields = [...]string{"timestamp", "originalTimestamp", "receivedAt", "sentAt"}

// webMessage holds the fields of a Segment message the schema constrains (nil when
// absent), collected in one pass.
type webMessage struct {
	typ, messageID, anonymousID, userID, previousID, groupID, event, name *fastjson.Value
	properties, traits, context                                           *fastjson.Value
	times                                                                 [len(webTimeFields)]*fastjson.Value
	// In context.
	page, userAgent, contextTraits, campaign, sessionID, contextGroupID *fastjson.Value
	// In context.page.
	url, path, referrer, title, search *fastjson.Value
}

func (m *webMessage) collect(o *fastjson.Object) {
	o.Visit(func(k []byte, v *fastjson.Value) {
		switch string(k) {
		case "type":
			m.typ = v
		case "messageId":
			m.messageID = v
		case "anonymousId":
			m.anonymousID = v
		case "userId":
			m.userID = v
		case "previousId":
			m.previousID = v
		case "groupId":
			m.groupID = v
		case "event":
			m.event = v
		case "name":
			m.name = v
		case "properties":
			m.properties = v
		case "traits":
			m.traits = v
		case "context":
			m.context = v
		case "timestamp":
			m.times[0] = v
		case "originalTimestamp":
			m.times[1] = v
		case "receivedAt":
			m.times[2] = v
		case "sentAt":
			m.times[3] = v
		}
	})
}

func (m *webMessage) collectContext(o *fastjson.Object) {
	o.Visit(func(k []byte, v *fastjson.Value) {
		switch string(k) {
		case "page":
			m.page = v
		case "userAgent":
			m.userAgent = v
		case "traits":
			m.contextTraits = v
		case "campaign":
			m.campaign = v
		case "sessionId":
			m.sessionID = v
		case "groupId":
			m.contextGroupID = v
		}
	})
}

func (m *webMessage) collectPage(o *fastjson.Object) {
	o.Visit(func(k []byte, v *fastjson.Value) {
		switch string(k) {
		case "url":
			m.url = v
		case "path":
			m.path = v
		case "referrer":
			m.referrer = v
		case "title":
			m.title = v
		case "search":
			m.search = v
		}
	})
}

func (d *Decoder) web(o *fastjson.Object, payload []byte, ev *scoring.Event) error {
	var m webMessage
	m.collect(o)
	r := reader{d: d}
	kind, err := webType(&r, m.typ)
	if err != nil {
		return err
	}
	// Check every field the schema constrains before deciding anything, so the
	// reason given does not depend on which requirement happens to be tested first.
	var f webFields
	f.read(&r, &m)
	if r.err != nil {
		return r.err
	}
	if err := f.require(kind); err != nil {
		return err
	}
	if err := d.checkTime(f.t, f.timeFrom); err != nil {
		return err
	}
	d.normaliseWeb(&f, kind, payload, ev)
	return nil
}

// webType returns the message's type, normalised by webKind.
func webType(r *reader, v *fastjson.Value) (string, *Error) {
	typ, ok := r.str(v, "type")
	if r.err != nil {
		return "", r.err
	}
	if !ok {
		return "", newError(ReasonMissingField, "type", "type is required: track, page, screen, identify, alias or group")
	}
	kind := webKind(typ)
	if kind == "" {
		return "", newError(ReasonUnknownType, "type", fmt.Sprintf("type %q is not track, page, screen, identify, alias or group", typ))
	}
	return kind, nil
}

// webFields are the values of a webMessage's fields once type-checked. The
// byte slices point into the parsed payload, so they are only valid until the
// next decode.
type webFields struct {
	msgID, anon, user, prev, group, event, name []byte
	ctxGroup                                    []byte // context.groupId
	hasGroup, hasEvent                          bool
	props, traits, ctxTraits, campaign          *fastjson.Object
	pageURL, pagePath, pageRef, ua              []byte
	session                                     string
	t                                           int64  // the event time (Unix ms)
	timeFrom                                    string // the field t came from, "" when none
}

// read type-checks every field of m, in a fixed order so that the first
// failure, the one r keeps, does not change from one release to the next.
func (f *webFields) read(r *reader, m *webMessage) {
	f.msgID, _ = r.str(m.messageID, "messageId")
	f.anon, _ = r.str(m.anonymousID, "anonymousId")
	f.user, _ = r.str(m.userID, "userId")
	f.prev, _ = r.str(m.previousID, "previousId")
	f.group, f.hasGroup = r.str(m.groupID, "groupId")
	f.event, f.hasEvent = r.str(m.event, "event")
	f.name, _ = r.str(m.name, "name")
	f.props = r.obj(m.properties, "properties")
	f.traits = r.obj(m.traits, "traits")
	if ctx := r.obj(m.context, "context"); ctx != nil {
		m.collectContext(ctx)
	}
	if page := r.obj(m.page, "context.page"); page != nil {
		m.collectPage(page)
	}
	f.pageURL, _ = r.str(m.url, "context.page.url")
	f.pagePath, _ = r.str(m.path, "context.page.path")
	f.pageRef, _ = r.str(m.referrer, "context.page.referrer")
	r.str(m.title, "context.page.title")
	r.str(m.search, "context.page.search")
	f.ua, _ = r.str(m.userAgent, "context.userAgent")
	f.session = sessionID(r, m.sessionID)
	f.ctxTraits = r.obj(m.contextTraits, "context.traits")
	f.campaign = r.obj(m.campaign, "context.campaign")
	// Last among the context's fields, so that a payload rejected before
	// context.groupId was read is rejected for the same reason as before.
	f.ctxGroup, _ = r.str(m.contextGroupID, "context.groupId")
	f.t, f.timeFrom = webTime(r, &m.times)
}

// webTime returns the event time from the first time field present, and the
// field's name; every one present must still be a valid date-time, since the
// schema says so whichever is used.
func webTime(r *reader, times *[len(webTimeFields)]*fastjson.Value) (t int64, from string) {
	for i, f := range webTimeFields {
		b, ok := r.str(times[i], f)
		if !ok {
			continue
		}
		ms, err := timeField(b, f)
		if err != nil {
			r.fail(err)
			break
		}
		if from == "" {
			t, from = ms, f
		}
	}
	return t, from
}

// require checks what a message of the given kind cannot do without.
func (f *webFields) require(kind string) *Error {
	switch {
	case len(f.user) > MaxIDBytes:
		return tooLongID("userId")
	case len(f.anon) > MaxIDBytes:
		return tooLongID("anonymousId")
	case len(f.prev) > MaxIDBytes:
		return tooLongID("previousId")
	case len(f.group) > MaxIDBytes:
		return tooLongID("groupId")
	case len(f.ctxGroup) > MaxIDBytes:
		return tooLongID("context.groupId")
	case kind == "alias" && (len(f.prev) == 0 || len(f.user) == 0):
		return newError(ReasonMissingIdentity, "previousId", "alias needs previousId and userId")
	case kind != "alias" && len(f.anon) == 0 && len(f.user) == 0:
		return newError(ReasonMissingIdentity, "userId", kind+" needs anonymousId or userId")
	case kind == "track" && !f.hasEvent:
		return newError(ReasonMissingField, "event", "track needs event, the name of the action")
	case kind == "track" && len(f.event) == 0:
		return newError(ReasonInvalidValue, "event", "event must not be empty")
	case kind == "group" && !f.hasGroup:
		return newError(ReasonMissingField, "groupId", "group needs groupId")
	case kind == "group" && len(f.group) == 0:
		return newError(ReasonInvalidValue, "groupId", "groupId must not be empty")
	case f.timeFrom == "":
		return newError(ReasonMissingField, "timestamp", "the message needs timestamp, originalTimestamp, receivedAt or sentAt")
	}
	return nil
}

// normaliseWeb fills ev from a message that passed every check.
func (d *Decoder) normaliseWeb(f *webFields, kind string, payload []byte, ev *scoring.Event) {
	ev.ID = d.idOrHash(f.msgID, scoring.SourceWeb, payload)
	ev.Source = scoring.SourceWeb
	ev.Kind = kind
	ev.Time = f.t
	ev.Identity.AnonymousID = string(f.anon)
	ev.Identity.UserID = string(f.user)
	if kind == "alias" {
		ev.Identity.PreviousID = string(f.prev)
	}
	switch kind {
	case "track":
		ev.Name = d.intern(f.event)
	case "page", "screen":
		name := f.name
		if len(name) == 0 {
			name = lenientString(f.props, "name")
		}
		ev.Name = d.intern(name)
	}
	d.webPage(f, kind, ev)
	ev.Account = d.webAccount(f, kind)
	ev.UserAgent = d.intern(f.ua)
	ev.SessionID = f.session
	ev.Identity.Email = webEmail(f, kind)
	d.webProps(f, kind, ev)
}

// webPage sets the page fields: a page call carries its page in properties,
// and every call may carry it in context.page.
func (d *Decoder) webPage(f *webFields, kind string, ev *scoring.Event) {
	var url, path, ref []byte
	if kind == "page" {
		url, path, ref = lenientString(f.props, "url"), lenientString(f.props, "path"), lenientString(f.props, "referrer")
	}
	ev.URL = d.intern(orElse(url, f.pageURL))
	ev.Path = d.intern(orElse(path, f.pagePath))
	if ev.Path == "" {
		ev.Path = urlPath(ev.URL)
	}
	ev.Referrer = d.intern(orElse(ref, f.pageRef))
}

// webAccount returns the account the sender says the person belongs to: the
// groupId of a group call, context.groupId on any other call. A group call's
// own groupId wins over its context's, since it is the subject of the call.
// An empty context.groupId names no account, as an absent one. Interned:
// every event of an account carries the same id.
func (d *Decoder) webAccount(f *webFields, kind string) string {
	if kind == "group" {
		return d.intern(f.group)
	}
	return d.intern(f.ctxGroup)
}

// webEmail returns the first valid address among the traits and properties,
// or "". Top-level traits are the person's on identify only: on group they are
// the account's.
func webEmail(f *webFields, kind string) string {
	var personTraits *fastjson.Object
	if kind == "identify" {
		personTraits = f.traits
	}
	for _, src := range [...]*fastjson.Object{personTraits, f.ctxTraits, f.props} {
		if e, ok := emailAddress(lenientString(src, "email")); ok {
			return e
		}
	}
	return ""
}

// webProps flattens the traits and properties into ev. The top-level traits
// of a group call describe the account (name, industry, employees, plan, …),
// not the person, so they go to AccountTraits: in Traits, fit rules would
// grade the person by their company's name and the account's address.
func (d *Decoder) webProps(f *webFields, kind string, ev *scoring.Event) {
	d.path = d.path[:0]
	if kind == "group" {
		d.flattenInto(f.traits, "")
		ev.AccountTraits = d.takeProps()
	}
	if kind == "identify" {
		d.flattenInto(f.traits, "")
	}
	d.flattenInto(f.ctxTraits, "")
	ev.Traits = d.takeProps()

	d.flattenInto(f.props, "")
	if kind == "group" {
		d.props = append(d.props, scoring.Prop{Key: "groupId", Kind: scoring.PropString, Str: string(f.group)})
	}
	d.flattenInto(f.campaign, "context.campaign")
	ev.Properties = d.takeProps()
}

// flattenInto appends the leaves of o, when not nil, to d.props under prefix.
func (d *Decoder) flattenInto(o *fastjson.Object, prefix string) {
	if o == nil {
		return
	}
	d.path = append(d.path[:0], prefix...)
	depth := 0
	if prefix != "" {
		depth = 1
	}
	d.props = d.flattenObject(d.props, o, depth)
	d.path = d.path[:0]
}

// lenientString returns the string under key in a free-form object (properties,
// traits), or nil when it is absent or not a string: free-form values are never a
// reason to reject an event.
func lenientString(o *fastjson.Object, key string) []byte {
	if o == nil {
		return nil
	}
	if v := o.Get(key); v != nil && v.Type() == fastjson.TypeString {
		b, _ := v.StringBytes()
		return b
	}
	return nil
}

func orElse(a, b []byte) []byte {
	if len(a) > 0 {
		return a
	}
	return b
}

// sessionID reads context.sessionId, which senders write as a string (Segment
// libraries, custom tracking) or a number (RudderStack and Amplitude use the
// session's start in milliseconds); null or absent is "".
func sessionID(r *reader, v *fastjson.Value) string {
	if v == nil || r.err != nil {
		return ""
	}
	switch v.Type() {
	case fastjson.TypeNull:
		return ""
	case fastjson.TypeString:
		b, _ := v.StringBytes()
		return string(b)
	case fastjson.TypeNumber:
		return v.String()
	}
	r.fail(wrongType("context.sessionId", "a string, a number or null", v))
	return ""
}

// tooLongID is the error of an id longer than MaxIDBytes.
func tooLongID(field string) *Error {
	return newError(ReasonInvalidValue, field, fmt.Sprintf("%s is longer than %d bytes", field, MaxIDBytes))
}
