package events

import "errors"

// Reason is a stable, machine-readable code saying why a payload was rejected. It is
// written to the dead-letter topic and used as a metric label, so the values never
// change meaning; new codes may be added.
type Reason string

// Reasons. The structural checks (empty payload to duplicate keys) run first, in the
// order listed, except that invalid JSON and excessive depth are found by one scan, so
// whichever comes first in the document wins; the schema checks then run field by
// field. The first failed check decides the reason.
const (
	// ReasonEmptyPayload: the record value is empty or only whitespace (a tombstone,
	// or a sender that published nothing).
	ReasonEmptyPayload Reason = "empty_payload"
	// ReasonTooLarge: the payload is larger than Options.MaxBytes.
	ReasonTooLarge Reason = "too_large"
	// ReasonInvalidUTF8: the payload is not valid UTF-8, or a string escapes an
	// unpaired UTF-16 surrogate (\ud800), which no UTF-8 text can hold.
	ReasonInvalidUTF8 Reason = "invalid_utf8"
	// ReasonInvalidJSON: the payload is not one JSON value (RFC 8259): syntax error,
	// truncated document, trailing data, NaN, single quotes, …
	ReasonInvalidJSON Reason = "invalid_json"
	// ReasonTooDeep: arrays and objects nest deeper than Options.MaxDepth.
	ReasonTooDeep Reason = "too_deep"
	// ReasonNotObject: the payload is valid JSON but not an object (an array — such as
	// a whole SendGrid webhook batch —, a string, a number, …).
	ReasonNotObject Reason = "not_object"
	// ReasonDuplicateKey: an object, at any depth, has the same key twice. Decoders
	// disagree on which one wins, so the meaning is ambiguous.
	ReasonDuplicateKey Reason = "duplicate_key"
	// ReasonUnknownType: the discriminator (Segment type, SendGrid event, feedback
	// kind) is not one the schema lists, or DecodeAny cannot tell the source.
	ReasonUnknownType Reason = "unknown_type"
	// ReasonMissingField: a required field other than an identity is absent or null.
	ReasonMissingField Reason = "missing_field"
	// ReasonWrongType: a field has the wrong JSON type (a number where a string is
	// expected, a float where an integer is, …).
	ReasonWrongType Reason = "wrong_type"
	// ReasonInvalidValue: a field has the right type but a value the schema forbids
	// (an empty track event name, a malformed e-mail address, a negative amount, …).
	ReasonInvalidValue Reason = "invalid_value"
	// ReasonMissingIdentity: the event names nobody: no usable anonymousId/userId
	// (web), previousId and userId (alias), e-mail (SendGrid), or lead_id/user_id/email
	// (feedback).
	ReasonMissingIdentity Reason = "missing_identity"
	// ReasonBadTimestamp: a date-time string is not RFC 3339
	// ("2026-03-02T09:14:05.350Z", "2026-03-02T10:14:05+01:00").
	ReasonBadTimestamp Reason = "bad_timestamp"
	// ReasonTimestampOutOfRange: the event time is outside [Options.MinTime,
	// Options.MaxTime] (by default the years 2000 to 2100): a device clock at 1970, or
	// milliseconds sent where seconds are expected.
	ReasonTimestampOutOfRange Reason = "timestamp_out_of_range"
)

// Reasons returns every reason code, in check order, for callers that
// pre-register metric series. The slice is the caller's own: a shared one could
// be reordered or cut by any importer.
func Reasons() []Reason {
	return []Reason{
		ReasonEmptyPayload, ReasonTooLarge, ReasonInvalidUTF8, ReasonInvalidJSON,
		ReasonTooDeep, ReasonNotObject, ReasonDuplicateKey, ReasonUnknownType,
		ReasonMissingField, ReasonWrongType, ReasonInvalidValue, ReasonMissingIdentity,
		ReasonBadTimestamp, ReasonTimestampOutOfRange,
	}
}

// fastPathOnly reports whether a reason comes from a check that JSON Schema cannot
// express (payload size, UTF-8, duplicate keys, depth, the time window). A payload
// rejected for such a reason may still be valid against the schema files.
func (r Reason) fastPathOnly() bool {
	switch r {
	case ReasonTooLarge, ReasonInvalidUTF8, ReasonDuplicateKey, ReasonTooDeep, ReasonTimestampOutOfRange:
		return true
	}
	return false
}

// Error is the error Decode returns for a payload it rejects. Branch on it with
// errors.As, or use ReasonOf.
type Error struct {
	Reason Reason // why the payload was rejected
	Field  string // the offending field as a dotted path ("context.page.url"); empty when not about one field
	Msg    string // a human-readable explanation
}

// Error returns "reason: message", e.g. "missing_identity: track needs anonymousId or userId".
func (e *Error) Error() string {
	return string(e.Reason) + ": " + e.Msg
}

// ReasonOf returns the reason code of the *Error in err's chain, or "" when err is nil
// or holds no *Error.
func ReasonOf(err error) Reason {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ""
}

func newError(r Reason, field, msg string) *Error {
	return &Error{Reason: r, Field: field, Msg: msg}
}
