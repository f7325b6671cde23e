package events

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/valyala/fastjson"

	"github.com/leadscore/leadscore/scoring"
)

// Sales feedback: leadscore's own schema (schemas/sales-feedback.schema.json).

// feedbackKind returns the feedback kind named by b, or "" for an unknown one.
func feedbackKind(b []byte) string {
	switch string(b) {
	case "accepted":
		return "accepted"
	case "rejected":
		return "rejected"
	case "recycled":
		return "recycled"
	case "qualified":
		return "qualified"
	case "opportunity":
		return "opportunity"
	case "won":
		return "won"
	case "lost":
		return "lost"
	case "referral":
		return "referral"
	}
	return ""
}

// bantAnswer returns the BANT question named by b, or "" for another key.
func bantAnswer(b []byte) string {
	switch string(b) {
	case "budget":
		return "budget"
	case "authority":
		return "authority"
	case "need":
		return "need"
	case "timeframe":
		return "timeframe"
	case "timeframe_days":
		return "timeframe_days"
	}
	return ""
}

// maxTimeframeDays is the schema's maximum of bant.timeframe_days (a century).
const maxTimeframeDays = 36500

// maxAmount is the schema's maximum of a feedback amount.
const maxAmount = 1e15

// feedbackMapped reports whether a feedback key is read into a field of
// scoring.Event; every other top-level key (note, opportunity_id, amount, referred and
// unknown keys) that is not null goes to Properties.
func feedbackMapped(key []byte) bool {
	switch string(key) {
	case "feedback_id", "lead_id", "user_id", "email", "kind", "reason", "bant", "by", "at":
		return true
	}
	return false
}

// feedbackMessage holds the fields of a sales feedback the schema constrains (nil when
// absent), collected in one pass.
type feedbackMessage struct {
	kind, feedbackID, leadID, userID, email, reason, bant, by, at *fastjson.Value
	note, opportunityID, amount, referred                         *fastjson.Value
}

func (m *feedbackMessage) collect(o *fastjson.Object) {
	o.Visit(func(k []byte, v *fastjson.Value) {
		switch string(k) {
		case "kind":
			m.kind = v
		case "feedback_id":
			m.feedbackID = v
		case "lead_id":
			m.leadID = v
		case "user_id":
			m.userID = v
		case "email":
			m.email = v
		case "reason":
			m.reason = v
		case "bant":
			m.bant = v
		case "by":
			m.by = v
		case "at":
			m.at = v
		case "note":
			m.note = v
		case "opportunity_id":
			m.opportunityID = v
		case "amount":
			m.amount = v
		case "referred":
			m.referred = v
		}
	})
}

func (d *Decoder) feedback(o *fastjson.Object, payload []byte, ev *scoring.Event) error {
	var m feedbackMessage
	m.collect(o)
	r := reader{d: d}
	k, ok := r.str(m.kind, "kind")
	if r.err != nil {
		return r.err
	}
	if !ok {
		return newError(ReasonMissingField, "kind", "kind is required: accepted, rejected, recycled, qualified, opportunity, won, lost or referral")
	}
	kind := feedbackKind(k)
	if kind == "" {
		return newError(ReasonUnknownType, "kind", fmt.Sprintf("kind %q is not accepted, rejected, recycled, qualified, opportunity, won, lost or referral", k))
	}

	id, _ := r.str(m.feedbackID, "feedback_id")
	lead, _ := r.str(m.leadID, "lead_id")
	user, _ := r.str(m.userID, "user_id")
	addr, hasAddr := r.str(m.email, "email")
	reason, hasReason := r.str(m.reason, "reason")
	by, _ := r.str(m.by, "by")
	r.str(m.note, "note")
	r.str(m.opportunityID, "opportunity_id")
	if amount, ok := r.number(m.amount, "amount"); ok {
		if isNegative(amount) {
			r.fail(newError(ReasonInvalidValue, "amount", fmt.Sprintf("amount %s is negative", amount)))
		} else if f, err := strconv.ParseFloat(string(amount), 64); err != nil || f > maxAmount {
			// Valid JSON and ≥ 0, but 1e400 reads as +Inf: no deal is that big.
			r.fail(newError(ReasonInvalidValue, "amount", fmt.Sprintf("amount %s is above the schema's maximum 1e15", amount)))
		}
	}
	if referred, ok := r.str(m.referred, "referred"); ok {
		if _, valid := emailAddress(referred); !valid {
			r.fail(newError(ReasonInvalidValue, "referred", fmt.Sprintf("referred %q is not an e-mail address", referred)))
		}
	}
	var email string
	if hasAddr {
		var valid bool
		if email, valid = emailAddress(addr); !valid {
			r.fail(newError(ReasonInvalidValue, "email", fmt.Sprintf("email %q is not an e-mail address", addr)))
		}
	}
	bant, days := bantAnswers(&r, r.obj(m.bant, "bant"))
	at, hasAt := r.str(m.at, "at")
	var t int64
	if hasAt && r.err == nil {
		var err *Error
		if t, err = timeField(at, "at"); err != nil {
			return err
		}
	}
	if r.err != nil {
		return r.err
	}

	switch {
	case len(lead) == 0 && len(user) == 0 && !hasAddr:
		return newError(ReasonMissingIdentity, "lead_id", "feedback needs lead_id, user_id or email")
	case len(lead) > MaxIDBytes:
		return tooLongID("lead_id")
	case len(user) > MaxIDBytes:
		return tooLongID("user_id")
	case strings.HasPrefix(string(lead), "account:"):
		// Account records share the store with leads: a lead id naming one
		// would make the processor treat an account as a lead.
		return newError(ReasonInvalidValue, "lead_id", "lead_id names an account record (account:…), not a lead")
	case (kind == "rejected" || kind == "lost") && !hasReason:
		return newError(ReasonMissingField, "reason", kind+" feedback needs a reason")
	case (kind == "rejected" || kind == "lost") && len(reason) == 0:
		return newError(ReasonInvalidValue, "reason", "reason must not be empty")
	case !hasAt:
		return newError(ReasonMissingField, "at", "at, the time of the feedback, is required")
	}
	if err := d.checkTime(t, "at"); err != nil {
		return err
	}

	ev.ID = d.idOrHash(id, scoring.SourceFeedback, payload)
	ev.Source = scoring.SourceFeedback
	ev.Kind = kind
	ev.Time = t
	ev.Identity = scoring.Identity{LeadID: string(lead), UserID: string(user), Email: email}
	ev.Reason = string(reason)
	ev.By = string(by)
	ev.BANT = bant
	ev.TimeframeDays = days
	o.Visit(func(k []byte, v *fastjson.Value) {
		if !feedbackMapped(k) && v.Type() != fastjson.TypeNull {
			d.path = append(d.path[:0], k...)
			d.props = d.flattenValue(d.props, v, 0)
		}
	})
	d.path = d.path[:0]
	ev.Properties = d.takeProps()
	return nil
}

// bantAnswers reads the BANT object: budget, authority, need and timeframe, each true,
// false or null (not answered), and timeframe_days, the buyer's timeline in days
// (a whole number from 1, or null). Any other key is rejected. It returns nil
// answers when no question is answered, 0 days when no timeline is given.
func bantAnswers(r *reader, o *fastjson.Object) (map[string]bool, int) {
	if o == nil || r.err != nil {
		return nil, 0
	}
	var answers map[string]bool
	days := 0
	o.Visit(func(k []byte, v *fastjson.Value) {
		if r.err != nil {
			return
		}
		q := bantAnswer(k)
		if q == "" {
			r.fail(newError(ReasonInvalidValue, "bant."+string(k), fmt.Sprintf("bant has no question %q (budget, authority, need, timeframe, timeframe_days)", k)))
			return
		}
		if q == "timeframe_days" {
			switch v.Type() {
			case fastjson.TypeNull:
			case fastjson.TypeNumber:
				f, err := v.Float64()
				if err != nil || f != math.Trunc(f) || f < 1 || f > maxTimeframeDays {
					r.fail(newError(ReasonInvalidValue, "bant.timeframe_days", fmt.Sprintf("bant.timeframe_days must be a whole number of days from 1 to %d", maxTimeframeDays)))
					return
				}
				days = int(f)
			default:
				r.fail(wrongType("bant.timeframe_days", "a whole number of days or null", v))
			}
			return
		}
		switch v.Type() {
		case fastjson.TypeNull:
		case fastjson.TypeTrue, fastjson.TypeFalse:
			if answers == nil {
				answers = make(map[string]bool, 4)
			}
			answers[q] = v.Type() == fastjson.TypeTrue
		default:
			r.fail(wrongType("bant."+q, "true, false or null", v))
		}
	})
	return answers, days
}
