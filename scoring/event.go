package scoring

// Source says which input stream an event came from. Rules match on it.
type Source uint8

// The three input sources: web, e-mail and sales feedback.
const (
	SourceUnknown  Source = iota
	SourceWeb             // Segment-spec web events
	SourceEmail           // ESP (SendGrid Event Webhook) e-mail events
	SourceFeedback        // sales feedback from CRM / sales tools
)

var sourceNames = [...]string{"unknown", "web", "email", "feedback"}

// String returns the name used in rules files and outputs ("web", "email", "feedback").
func (s Source) String() string {
	if int(s) < len(sourceNames) {
		return sourceNames[s]
	}
	return "unknown"
}

// ParseSource is the inverse of Source.String; ok is false for an unknown name.
func ParseSource(name string) (Source, bool) {
	for i, n := range sourceNames {
		if i > 0 && n == name {
			return Source(i), true
		}
	}
	return SourceUnknown, false
}

// Identity is how the senders name a person. A decoded event carries every identity
// its payload holds; the engine's resolver turns them into one lead id.
type Identity struct {
	AnonymousID string // Segment anonymousId (cookie id of a visitor)
	UserID      string // Segment userId (the customer's own id, usually a CRM id)
	Email       string // lower-cased, trimmed e-mail address
	PreviousID  string // Segment alias: the id being merged into UserID
	LeadID      string // sales feedback: the leadscore lead id echoed by the CRM
}

// Prop is one flattened property or trait. Nested objects are flattened with dotted
// keys ("company.employee_count"); an array of scalars yields one Prop per element
// under the same key, so "equals" matches any element.
type Prop struct {
	Key  string
	Kind PropKind
	Str  string  // the value as text (numbers in their shortest form, bools "true"/"false")
	Num  float64 // set when Kind is PropNumber
}

// PropKind is the JSON kind of a flattened property value.
type PropKind uint8

// Kinds of flattened values.
const (
	PropString PropKind = iota
	PropNumber
	PropBool
	PropNull
)

// Props is a flattened property bag, in document order.
type Props []Prop

// Get returns the first value stored under key.
func (p Props) Get(key string) (Prop, bool) {
	for i := range p {
		if p[i].Key == key {
			return p[i], true
		}
	}
	return Prop{}, false
}

// Event is one input, normalised from any of the three sources. It is what the engine
// scores; decoding and validation (package events) produce it.
type Event struct {
	// ID identifies the event at its sender: Segment messageId, SendGrid sg_event_id,
	// feedback id. Upstream re-sends carry the same ID and count once. When a sender
	// gives none, the decoder derives one from the payload bytes.
	ID     string
	Source Source
	// Kind is the event's type within its source: Segment type (track, page, identify,
	// alias, group, screen), SendGrid event (open, click, bounce, …) or feedback kind
	// (accepted, rejected, recycled, qualified, opportunity, won, lost, referral).
	Kind string
	// Name is the Segment track event name or page/screen name; empty otherwise.
	Name string
	// Time is the event time in Unix milliseconds (Segment timestamp, SendGrid
	// timestamp, feedback "at"): points decay from it.
	Time int64

	Identity Identity

	URL       string // page URL (web: properties.url or context.page.url) or clicked URL (email)
	Path      string // page path (web: properties.path or context.page.path, else from URL)
	Referrer  string // page referrer
	UserAgent string // web context.userAgent or email useragent
	// SessionID is the sender's session id (web context.sessionId), which
	// delimits visits when present; properties.session_id is read too.
	SessionID  string   `json:",omitempty"`
	Categories []string // e-mail categories (SendGrid category as string or array)
	// MachineOpen is SendGrid sg_machine_open: an open by a mail privacy proxy, not a person.
	MachineOpen bool

	Properties Props // Segment properties; SendGrid custom arguments and other extra keys
	// Traits are the person's: Segment traits of an identify call, and
	// context.traits on any web call. A group call's traits are AccountTraits.
	Traits Props

	// Account is the account (company) the person belongs to, as the sender
	// says: the Segment groupId of a group call, or context.groupId on any
	// other web call; empty when not given. Nothing is inferred here (see
	// AccountFromEmail for the e-mail-domain fallback).
	Account string `json:",omitempty"`
	// AccountTraits are the traits of a group call: Segment's reserved group
	// traits (name, industry, employees, plan, website, address, …) and any
	// others, flattened as Traits are. They describe the company, not the
	// person, so they never feed the person's fit or identity.
	AccountTraits Props `json:",omitempty"`

	// Sales feedback only.
	Reason string          // rejected/lost reason code
	By     string          // who gave the feedback
	BANT   map[string]bool // qualified: budget, authority, need, timeframe answers
	// TimeframeDays is the buyer's timeline (bant.timeframe_days): a purchase
	// planned within this many days of the feedback; 0 when not given.
	TimeframeDays int `json:",omitempty"`
}

// CompareEvents is the canonical order in which a lead's events are applied:
// by event time, then by source (web, e-mail, feedback). Events equal in both
// keep their order in the log — in Kafka, their partition's order — so callers
// sort stably: one sender's events at the same millisecond (a page view and the
// track call it fired) stay in the order the sender emitted them, which no
// field of theirs records. The live processor and the offline oracle both sort
// by it, so the result does not depend on how a log was interleaved or fetched.
func CompareEvents(a, b *Event) int {
	switch {
	case a.Time < b.Time:
		return -1
	case a.Time > b.Time:
		return 1
	}
	return int(a.Source) - int(b.Source)
}
