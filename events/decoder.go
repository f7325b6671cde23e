// Package events turns raw input records into scoring.Event values: it decodes the
// JSON of the three input streams (Segment-spec web events, SendGrid
// Event Webhook e-mail events, sales feedback), validates it against the contract in
// schemas/, and normalises it.
//
// Validation is a hand-written fast path that implements the semantics of the JSON
// Schema files in schemas/ (a test holds the two in agreement), plus checks JSON Schema
// cannot express: payload size, UTF-8, nesting depth, duplicate keys and the window of
// acceptable event times. A rejected payload yields an *Error whose Reason is a stable
// code meant for the dead-letter topic and for metrics; nothing is ever dropped
// silently by this package.
//
// See docs/schemas.md for every field read, ignored or required.
package events

import (
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/leadscore/leadscore/scoring"
	"github.com/valyala/fastjson"
)

// Decoder decodes, validates and normalises input payloads. It keeps a parser and
// scratch buffers between calls, so decoding allocates little more than the returned
// Event; the buffers grow to the largest payload decoded (at most Options.MaxBytes).
// A Decoder must be used by one goroutine at a time; give each partition consumer its
// own.
type Decoder struct {
	opts   Options
	scan   scanner
	parser fastjson.Parser

	// Scratch space, reused between calls.
	keys     [][]byte          // object keys during the duplicate-key tree walk
	vals     []*fastjson.Value // and their values
	sorted   [][]byte          // keys of a large object, sorted
	path     []byte            // dotted key of the property being flattened
	num      []byte            // number text
	hashBuf  []byte            // input of the payload hash
	props    scoring.Props     // properties or traits being built
	interned map[string]string // flattened property keys shared between events
	common   map[string]string // field and property values shared between events (intern)
}

// NewDecoder returns a Decoder with opts; zero fields take their defaults. It fails
// when the options are not usable (see Options.Validate).
func NewDecoder(opts Options) (*Decoder, error) {
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("events: invalid options: %w", err)
	}
	opts.setDefaults()
	return &Decoder{opts: opts, interned: make(map[string]string), common: make(map[string]string)}, nil
}

// Options returns the options in force, defaults applied.
func (d *Decoder) Options() Options { return d.opts }

// Decode decodes one record of the input stream src. It returns the normalised event,
// or an *Error saying why the payload was rejected. With scoring.SourceUnknown it
// works as DecodeAny. Any other value outside the three sources is a programming
// error and yields an error that is not an *Error.
//
// The returned Event shares no memory with payload or with the Decoder's buffers (only
// immutable strings shared between events, such as property keys and common values
// seen before): the caller may reuse payload at once and keep the Event as long as it
// likes.
func (d *Decoder) Decode(src scoring.Source, payload []byte) (scoring.Event, error) {
	var ev scoring.Event
	if err := d.DecodeInto(src, payload, &ev); err != nil {
		return scoring.Event{}, err
	}
	return ev, nil
}

// DecodeInto is Decode writing into *ev, which it resets first: a caller that
// keeps events in a slice of larger records decodes in place instead of
// copying each Event (over 300 bytes) out and in again. On error *ev is left
// partly written.
func (d *Decoder) DecodeInto(src scoring.Source, payload []byte, ev *scoring.Event) error {
	if src > scoring.SourceFeedback {
		return fmt.Errorf("events: cannot decode source %d", src)
	}
	*ev = scoring.Event{}
	root, err := d.parse(payload)
	if err != nil {
		return err
	}
	if src == scoring.SourceUnknown {
		if src, err = detect(root); err != nil {
			return err
		}
	}
	switch src {
	case scoring.SourceWeb:
		err = d.web(root, payload, ev)
	case scoring.SourceEmail:
		err = d.email(root, payload, ev)
	default:
		err = d.feedback(root, payload, ev)
	}
	return err
}

// DecodeAny decodes a record whose source is not known, such as a line of a mixed
// JSONL log, telling the source from the shape of the object: a SendGrid event has
// sg_event_id, or event and email and a numeric timestamp; sales feedback has kind
// and at; a Segment message has type. The returned Event's Source says which it was.
// A payload of none of these shapes is rejected with ReasonUnknownType.
func (d *Decoder) DecodeAny(payload []byte) (scoring.Event, error) {
	return d.Decode(scoring.SourceUnknown, payload)
}

// parse runs the structural checks and returns the top-level object. The returned
// error, when not nil, is always an *Error.
func (d *Decoder) parse(payload []byte) (*fastjson.Object, error) {
	if isBlank(payload) {
		return nil, newError(ReasonEmptyPayload, "", "the payload is empty")
	}
	if len(payload) > d.opts.MaxBytes {
		return nil, newError(ReasonTooLarge, "", fmt.Sprintf("the payload has %d bytes, more than the %d allowed", len(payload), d.opts.MaxBytes))
	}
	if !utf8.Valid(payload) {
		return nil, newError(ReasonInvalidUTF8, "", "the payload is not valid UTF-8")
	}
	if err := d.scan.scan(payload, d.opts.MaxDepth); err != nil {
		return nil, err
	}
	v, err := d.parser.ParseBytes(payload)
	if err != nil { // cannot happen after the scan, but never trust it blindly
		return nil, newError(ReasonInvalidJSON, "", err.Error())
	}
	root, err := v.Object()
	if err != nil {
		msg := fmt.Sprintf("the payload is a JSON %s, not an object", v.Type())
		if v.Type() == fastjson.TypeArray {
			msg += " (publish one event per record)"
		}
		return nil, newError(ReasonNotObject, "", msg)
	}
	dup := d.scan.dup
	if dup == nil && d.scan.treeCheck {
		dup = d.checkKeys(v)
	}
	if dup != nil {
		dup.Msg = fmt.Sprintf("key %q appears twice in one object", dup.Field)
		return nil, dup
	}
	return root, nil
}

func isBlank(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			return false
		}
	}
	return true
}

// detect tells the source of a payload from its shape (see DecodeAny).
func detect(o *fastjson.Object) (scoring.Source, error) {
	if o.Get("sg_event_id") != nil {
		return scoring.SourceEmail, nil
	}
	if o.Get("event") != nil && o.Get("email") != nil {
		if ts := o.Get("timestamp"); ts != nil && ts.Type() == fastjson.TypeNumber {
			return scoring.SourceEmail, nil
		}
	}
	if o.Get("kind") != nil && o.Get("at") != nil {
		return scoring.SourceFeedback, nil
	}
	if o.Get("type") != nil {
		return scoring.SourceWeb, nil
	}
	return scoring.SourceUnknown, newError(ReasonUnknownType, "",
		"cannot tell the source: neither a Segment message (type), a SendGrid event (sg_event_id, or event, email and timestamp) nor sales feedback (kind and at)")
}

// checkTime rejects an event time outside the configured window.
func (d *Decoder) checkTime(ms int64, path string) *Error {
	if ms >= d.opts.MinTime && ms <= d.opts.MaxTime {
		return nil
	}
	return newError(ReasonTimestampOutOfRange, path, fmt.Sprintf("%s %s is outside %s .. %s",
		path, formatMillis(ms), formatMillis(d.opts.MinTime), formatMillis(d.opts.MaxTime)))
}

func formatMillis(ms int64) string {
	return time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z07:00")
}

// idOrHash returns the sender's id, or one derived from the payload when it has none.
func (d *Decoder) idOrHash(id []byte, src scoring.Source, payload []byte) string {
	if len(id) > 0 {
		return string(id)
	}
	return d.hashID(src, payload)
}

// takeProps returns the scratch properties in a slice of their own, and clears the
// scratch so it keeps no strings alive.
func (d *Decoder) takeProps() scoring.Props {
	p := copyProps(d.props)
	clear(d.props)
	d.props = d.props[:0]
	return p
}
