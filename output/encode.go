package output

import (
	"errors"
	"math"
	"strconv"
	"unicode/utf8"
)

// A stage change is encoded once per transition on the processor's hot path;
// appendStageChange writes the bytes encoding/json writes for it (field order,
// omitempty, HTML-safe string escapes, float format), without reflection.
// TestStageChangeEncodingMatchesJSON and FuzzStageChangeEncoding hold it to
// json.Marshal.

// errUnsupportedFloat is json.Marshal's refusal of NaN and infinities.
var errUnsupportedFloat = errors.New("output: stage change holds a NaN or infinite number")

func appendStageChange(b []byte, sc *StageChange) ([]byte, error) {
	b = append(b, `{"id":`...)
	b = appendString(b, sc.ID)
	b = append(b, `,"type":`...)
	b = appendString(b, sc.Type)
	b = append(b, `,"lead_id":`...)
	b = appendString(b, sc.LeadID)
	b = append(b, `,"identities":{`...)
	b = appendIdentities(b, &sc.Identities)
	b = append(b, `},"from":`...)
	b = appendString(b, sc.From)
	b = append(b, `,"to":`...)
	b = appendString(b, sc.To)
	b = append(b, `,"direction":`...)
	b = appendString(b, sc.Direction)
	b = append(b, `,"score":`...)
	var err error
	if b, err = appendFloat(b, sc.Score); err != nil {
		return nil, err
	}
	b = append(b, `,"fit":`...)
	if b, err = appendFloat(b, sc.Fit); err != nil {
		return nil, err
	}
	if sc.Grade != "" {
		b = append(b, `,"grade":`...)
		b = appendString(b, sc.Grade)
	}
	b = append(b, `,"cause":{"kind":`...)
	b = appendString(b, sc.Cause.Kind)
	b = appendOptional(b, `,"rule":`, sc.Cause.Rule)
	b = appendOptional(b, `,"feedback":`, sc.Cause.Feedback)
	b = appendOptional(b, `,"reason":`, sc.Cause.Reason)
	b = append(b, `},"trigger_event_id":`...)
	if sc.TriggerEventID == nil {
		b = append(b, "null"...)
	} else {
		b = appendString(b, *sc.TriggerEventID)
	}
	b = append(b, `,"contributors":`...)
	if sc.Contributors == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i := range sc.Contributors {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"rule":`...)
			b = appendString(b, sc.Contributors[i].Rule)
			b = append(b, `,"points":`...)
			if b, err = appendFloat(b, sc.Contributors[i].Points); err != nil {
				return nil, err
			}
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	b = append(b, `,"event_time":`...)
	b = appendString(b, sc.EventTime)
	b = append(b, `,"processed_at":`...)
	b = appendString(b, sc.ProcessedAt)
	if sc.Model != "" {
		b = append(b, `,"model":`...)
		b = appendString(b, sc.Model)
	}
	b = append(b, `,"model_version":`...)
	b = appendString(b, sc.ModelVersion)
	if sc.Late {
		b = append(b, `,"late":true`...)
	}
	return append(b, '}'), nil
}

// appendIdentities writes the members of an Identities object, each omitted
// when empty, as its omitempty tags say.
func appendIdentities(b []byte, id *Identities) []byte {
	first := true
	sep := func() {
		if !first {
			b = append(b, ',')
		}
		first = false
	}
	if id.UserID != "" {
		sep()
		b = append(b, `"user_id":`...)
		b = appendString(b, id.UserID)
	}
	for _, f := range [...]struct {
		name string
		list []string
	}{{`"anonymous_ids":[`, id.AnonymousIDs}, {`"emails":[`, id.Emails}} {
		if len(f.list) == 0 {
			continue
		}
		sep()
		b = append(b, f.name...)
		for i, s := range f.list {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, s)
		}
		b = append(b, ']')
	}
	return b
}

// appendOptional writes key and s unless s is empty (omitempty).
func appendOptional(b []byte, key, s string) []byte {
	if s == "" {
		return b
	}
	return appendString(append(b, key...), s)
}

// appendFloat formats f as encoding/json does: the shortest representation,
// in exponent form only below 1e-6 or from 1e21 on, with a one- or
// two-digit exponent.
func appendFloat(b []byte, f float64) ([]byte, error) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return nil, errUnsupportedFloat
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// clean up e-09 to e-9
		n := len(b)
		if n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b, nil
}

const hexDigits = "0123456789abcdef"

// appendString writes s as a JSON string the way encoding/json does by
// default: <, > and & escaped for HTML, invalid UTF-8 replaced by U+FFFD,
// U+2028 and U+2029 escaped for JavaScript.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
