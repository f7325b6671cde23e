package output

import (
	"encoding/base64"
	"encoding/json"
)

// DeadLetter is the record written to the dead-letter topic for input leadscore
// could not process: the original bytes, where they came from, and why.
type DeadLetter struct {
	Reason           string         `json:"reason"`
	Message          string         `json:"message"`
	Field            string         `json:"field,omitempty"`
	Source           Source         `json:"source"`
	PayloadBase64    string         `json:"payload_base64"`
	PayloadSize      int            `json:"payload_size"`
	PayloadTruncated bool           `json:"payload_truncated,omitempty"`
	KeyBase64        string         `json:"key_base64,omitempty"`
	Headers          []HeaderBase64 `json:"headers,omitempty"`
	At               string         `json:"at"`
	Processor        string         `json:"processor"`
}

// Source is the input record's position.
type Source struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
}

// HeaderBase64 is an original record header.
type HeaderBase64 struct {
	Key         string  `json:"key"`
	ValueBase64 *string `json:"value_base64"`
}

// MaxDeadLetterPayload bounds the original bytes kept in a dead letter, so a
// too-large input does not make a too-large output; the size is still reported.
const MaxDeadLetterPayload = 512 * 1024

// DeadLetterInfo is what NewDeadLetter needs to know about a rejected record.
type DeadLetterInfo struct {
	Reason  string // stable code, e.g. events.Reason
	Message string // human-readable detail
	Field   string // the offending field's path, or ""
	Source  Source // where the record was read
	Key     []byte // the record's key, nil when it had none
	Value   []byte // the record's payload, kept up to MaxDeadLetterPayload bytes
	// Headers are the record's headers as key/value pairs; a nil value is
	// kept as JSON null, unlike an empty one.
	Headers [][2][]byte
	At      int64  // when the record was rejected (Unix ms)
	Version string // the processor's version, written as "leadscore/<Version>"
}

// NewDeadLetter builds the dead letter of a rejected record.
func NewDeadLetter(in DeadLetterInfo) DeadLetter {
	key, value := in.Key, in.Value
	dl := DeadLetter{Reason: in.Reason, Message: in.Message, Field: in.Field, Source: in.Source, PayloadSize: len(value),
		At: FormatTime(in.At), Processor: "leadscore/" + in.Version}
	if len(value) > MaxDeadLetterPayload {
		value, dl.PayloadTruncated = value[:MaxDeadLetterPayload], true
	}
	dl.PayloadBase64 = base64.StdEncoding.EncodeToString(value)
	if key != nil {
		dl.KeyBase64 = base64.StdEncoding.EncodeToString(key)
	}
	for _, h := range in.Headers {
		hb := HeaderBase64{Key: string(h[0])}
		if h[1] != nil {
			v := base64.StdEncoding.EncodeToString(h[1])
			hb.ValueBase64 = &v
		}
		dl.Headers = append(dl.Headers, hb)
	}
	return dl
}

// Marshal encodes a dead letter as JSON.
func (d *DeadLetter) Marshal() ([]byte, error) { return json.Marshal(d) }
