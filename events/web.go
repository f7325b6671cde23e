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
	page, userAgent, contextTraits, campaign, sessionID *fastjson.Value
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
	typ, ok := r.str(m.typ, "type")
	if r.err != nil {
		return r.err
	}
	if !ok {
		return newError(ReasonMissingField, "type", "type is required: track, page, screen, identify, alias or group")
	}
	kind := webKind(typ)
	if kind == "" {
		return newError(ReasonUnknownType, "type", fmt.Sprintf("type %q is not track, page, screen, identify, alias or group", typ))
	}

	// Check every field the schema constrains before deciding anything.
	msgID, _ := r.str(m.messageID, "messageId")
	anon, _ := r.str(m.anonymousID, "anonymousId")
	user, _ := r.str(m.userID, "userId")
	prev, _ := r.str(m.previousID, "previousId")
	group, hasGroup := r.str(m.groupID, "groupId")
	event, hasEvent := r.str(m.event, "event")
	name, _ := r.str(m.name, "name")
	props := r.obj(m.properties, "properties")
	traits := r.obj(m.traits, "traits")
	if ctx := r.obj(m.context, "context"); ctx != nil {
		m.collectContext(ctx)
	}
	if page := r.obj(m.page, "context.page"); page != nil {
		m.collectPage(page)
	}
	pageURL, _ := r.str(m.url, "context.page.url")
	pagePath, _ := r.str(m.path, "context.page.path")
	pageRef, _ := r.str(m.referrer, "context.page.referrer")
	r.str(m.title, "context.page.title")
	r.str(m.search, "context.page.search")
	ua, _ := r.str(m.userAgent, "context.userAgent")
	session := sessionID(&r, m.sessionID)
	ctxTraits := r.obj(m.contextTraits, "context.traits")
	campaign := r.obj(m.campaign, "context.campaign")
	var t int64
	timeFrom := ""
	for i, f := range webTimeFields {
		b, ok := r.str(m.times[i], f)
		if !ok {
			continue
		}
		ms, err := timeField(b, f)
		if err != nil {
			r.fail(err)
			break
		}
		if timeFrom == "" {
			t, timeFrom = ms, f
		}
	}
	if r.err != nil {
		return r.err
	}

	switch {
	case kind == "alias" && (len(prev) == 0 || len(user) == 0):
		return newError(ReasonMissingIdentity, "previousId", "alias needs previousId and userId")
	case kind != "alias" && len(anon) == 0 && len(user) == 0:
		return newError(ReasonMissingIdentity, "userId", kind+" needs anonymousId or userId")
	case kind == "track" && !hasEvent:
		return newError(ReasonMissingField, "event", "track needs event, the name of the action")
	case kind == "track" && len(event) == 0:
		return newError(ReasonInvalidValue, "event", "event must not be empty")
	case kind == "group" && !hasGroup:
		return newError(ReasonMissingField, "groupId", "group needs groupId")
	case kind == "group" && len(group) == 0:
		return newError(ReasonInvalidValue, "groupId", "groupId must not be empty")
	case timeFrom == "":
		return newError(ReasonMissingField, "timestamp", "the message needs timestamp, originalTimestamp, receivedAt or sentAt")
	}
	if err := d.checkTime(t, timeFrom); err != nil {
		return err
	}

	// Normalise.
	ev.ID = d.idOrHash(msgID, scoring.SourceWeb, payload)
	ev.Source = scoring.SourceWeb
	ev.Kind = kind
	ev.Time = t
	ev.Identity.AnonymousID = string(anon)
	ev.Identity.UserID = string(user)
	if kind == "alias" {
		ev.Identity.PreviousID = string(prev)
	}
	switch kind {
	case "track":
		ev.Name = d.intern(event)
	case "page", "screen":
		if len(name) == 0 {
			name = lenientString(props, "name")
		}
		ev.Name = d.intern(name)
	}

	// A page call carries its page in properties; every call may carry it in context.page.
	var url, path, ref []byte
	if kind == "page" {
		url, path, ref = lenientString(props, "url"), lenientString(props, "path"), lenientString(props, "referrer")
	}
	ev.URL = d.intern(orElse(url, pageURL))
	ev.Path = d.intern(orElse(path, pagePath))
	if ev.Path == "" {
		ev.Path = urlPath(ev.URL)
	}
	ev.Referrer = d.intern(orElse(ref, pageRef))
	ev.UserAgent = d.intern(ua)
	ev.SessionID = session

	// Top-level traits are the person's on identify, the account's on group.
	var personTraits *fastjson.Object
	if kind == "identify" {
		personTraits = traits
	}
	for _, src := range [...]*fastjson.Object{personTraits, ctxTraits, props} {
		if e, ok := emailAddress(lenientString(src, "email")); ok {
			ev.Identity.Email = e
			break
		}
	}

	d.path = d.path[:0]
	if kind == "identify" || kind == "group" {
		d.flattenInto(traits, "")
	}
	d.flattenInto(ctxTraits, "")
	ev.Traits = d.takeProps()

	d.flattenInto(props, "")
	if kind == "group" {
		d.props = append(d.props, scoring.Prop{Key: "groupId", Kind: scoring.PropString, Str: string(group)})
	}
	d.flattenInto(campaign, "context.campaign")
	ev.Properties = d.takeProps()
	return nil
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
