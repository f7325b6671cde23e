package events

import (
	"fmt"
	"strconv"

	"github.com/leadscore/leadscore/scoring"
	"github.com/valyala/fastjson"
)

// E-mail events: one SendGrid Event Webhook event (schemas/email-event.schema.json).

// emailKind returns the SendGrid event named by b, or "" for an unknown one.
func emailKind(b []byte) string {
	switch string(b) {
	case "processed":
		return "processed"
	case "dropped":
		return "dropped"
	case "delivered":
		return "delivered"
	case "deferred":
		return "deferred"
	case "bounce":
		return "bounce"
	case "blocked":
		return "blocked"
	case "open":
		return "open"
	case "click":
		return "click"
	case "spamreport":
		return "spamreport"
	case "unsubscribe":
		return "unsubscribe"
	case "group_unsubscribe":
		return "group_unsubscribe"
	case "group_resubscribe":
		return "group_resubscribe"
	}
	return ""
}

// emailMapped reports whether a SendGrid key is read into a field of scoring.Event;
// every other top-level key that is not null (custom arguments included) goes to
// Properties.
func emailMapped(key []byte) bool {
	switch string(key) {
	case "event", "email", "timestamp", "sg_event_id", "url", "category", "useragent", "sg_machine_open":
		return true
	}
	return false
}

// maxUnixSeconds keeps seconds*1000 far from int64 overflow; anything larger is out
// of any sane time window anyway.
const maxUnixSeconds = 1e15

// sendgridEvent holds the fields of a SendGrid event the schema constrains (nil when
// absent), collected in one pass.
type sendgridEvent struct {
	event, email, timestamp, eventID, messageID, url, category, useragent *fastjson.Value
	ip, reason, status, typ, machineOpen, asmGroupID, campaignID          *fastjson.Value
}

func (e *sendgridEvent) collect(o *fastjson.Object) {
	o.Visit(func(k []byte, v *fastjson.Value) {
		switch string(k) {
		case "event":
			e.event = v
		case "email":
			e.email = v
		case "timestamp":
			e.timestamp = v
		case "sg_event_id":
			e.eventID = v
		case "sg_message_id":
			e.messageID = v
		case "url":
			e.url = v
		case "category":
			e.category = v
		case "useragent":
			e.useragent = v
		case "ip":
			e.ip = v
		case "reason":
			e.reason = v
		case "status":
			e.status = v
		case "type":
			e.typ = v
		case "sg_machine_open":
			e.machineOpen = v
		case "asm_group_id":
			e.asmGroupID = v
		case "marketing_campaign_id":
			e.campaignID = v
		}
	})
}

func (d *Decoder) email(o *fastjson.Object, payload []byte, ev *scoring.Event) error {
	var f sendgridEvent
	f.collect(o)
	r := reader{d: d}
	evt, ok := r.str(f.event, "event")
	if r.err != nil {
		return r.err
	}
	if !ok {
		return newError(ReasonMissingField, "event", "event is required: processed, delivered, open, click, bounce, …")
	}
	kind := emailKind(evt)
	if kind == "" {
		return newError(ReasonUnknownType, "event", fmt.Sprintf("event %q is not a SendGrid Event Webhook event", evt))
	}

	addr, hasAddr := r.str(f.email, "email")
	var secs float64
	ts, hasTS := r.integer(f.timestamp, "timestamp")
	if hasTS {
		secs, _ = strconv.ParseFloat(string(ts), 64) // ±Inf beyond float64: out of range below
	}
	id, _ := r.str(f.eventID, "sg_event_id")
	r.str(f.messageID, "sg_message_id")
	url, _ := r.str(f.url, "url")
	ua, _ := r.str(f.useragent, "useragent")
	r.str(f.ip, "ip")
	r.str(f.reason, "reason")
	r.str(f.status, "status")
	r.str(f.typ, "type")
	machine, _ := r.boolean(f.machineOpen, "sg_machine_open")
	r.integer(f.asmGroupID, "asm_group_id")
	switch v := r.present(f.campaignID); {
	case v == nil || v.Type() == fastjson.TypeString:
	case v.Type() == fastjson.TypeNumber:
		r.integer(v, "marketing_campaign_id")
	default:
		r.fail(wrongType("marketing_campaign_id", "an integer or a string", v))
	}
	cats := categories(&r, f.category)
	if r.err != nil {
		return r.err
	}

	if !hasAddr {
		return newError(ReasonMissingIdentity, "email", "a SendGrid event needs email")
	}
	email, valid := emailAddress(addr)
	if !valid {
		return newError(ReasonInvalidValue, "email", fmt.Sprintf("email %q is not an e-mail address", addr))
	}
	if !hasTS {
		return newError(ReasonMissingField, "timestamp", "timestamp (Unix seconds) is required")
	}
	if secs > maxUnixSeconds || secs < -maxUnixSeconds {
		return newError(ReasonTimestampOutOfRange, "timestamp", fmt.Sprintf("timestamp %g is not a plausible Unix time in seconds", secs))
	}
	t := int64(secs) * 1000
	if err := d.checkTime(t, "timestamp"); err != nil {
		return err
	}

	ev.ID = d.idOrHash(id, scoring.SourceEmail, payload)
	ev.Source = scoring.SourceEmail
	ev.Kind = kind
	ev.Time = t
	ev.Identity.Email = email
	ev.URL = d.intern(url)
	ev.Path = urlPath(ev.URL)
	ev.UserAgent = d.intern(ua)
	ev.Categories = cats
	ev.MachineOpen = machine

	o.Visit(func(k []byte, v *fastjson.Value) {
		if !emailMapped(k) && v.Type() != fastjson.TypeNull {
			d.path = append(d.path[:0], k...)
			d.props = d.flattenValue(d.props, v, 0)
		}
	})
	d.path = d.path[:0]
	ev.Properties = d.takeProps()
	return nil
}

// categories reads SendGrid's category: one string, or an array of strings.
func categories(r *reader, v *fastjson.Value) []string {
	if v = r.present(v); v == nil {
		return nil
	}
	switch v.Type() {
	case fastjson.TypeString:
		b, _ := v.StringBytes()
		return []string{string(b)}
	case fastjson.TypeArray:
		a, _ := v.Array()
		for i, e := range a {
			if e.Type() != fastjson.TypeString {
				r.fail(wrongType(fmt.Sprintf("category[%d]", i), "a string", e))
				return nil
			}
		}
		if len(a) == 0 {
			return nil
		}
		cats := make([]string, len(a))
		for i, e := range a {
			b, _ := e.StringBytes()
			cats[i] = string(b)
		}
		return cats
	}
	r.fail(wrongType("category", "a string or an array of strings", v))
	return nil
}
