package events

import (
	"errors"
	"fmt"
)

// Defaults applied by NewDecoder to zero fields of Options.
const (
	DefaultMaxBytes = 1 << 20 // 1 MiB, Kafka's default max.message.bytes
	DefaultMaxDepth = 32

	// MaxIDBytes bounds every id a person or account is known by (userId,
	// anonymousId, previousId, groupId, feedback lead_id and user_id): the
	// processor keys leads and accounts by them, and the state store keys
	// records by at most 1 024 bytes. A longer id is invalid_value.
	MaxIDBytes = 1000
	// DefaultMinTime is 2000-01-01T00:00:00Z in Unix milliseconds.
	DefaultMinTime int64 = 946_684_800_000
	// DefaultMaxTime is 2100-12-31T23:59:59.999Z in Unix milliseconds.
	DefaultMaxTime int64 = 4_133_980_799_999

	// maxBytesLimit keeps payload offsets within int32 (1 GiB is far beyond any
	// Kafka record anyway).
	maxBytesLimit = 1 << 30
	// maxDepthLimit keeps the structural scan well below fastjson's own nesting
	// limit (300), so a payload that passes the scan always parses.
	maxDepthLimit = 256
)

// Options configure a Decoder. The zero value is ready to use: every zero field takes
// its default.
type Options struct {
	// MaxBytes is the largest payload accepted (default 1 MiB, at most 1 GiB); larger
	// ones are rejected with ReasonTooLarge before any parsing.
	MaxBytes int
	// MaxDepth is the deepest nesting of objects and arrays accepted (default 32, at
	// most 256); the top-level object is depth 1.
	MaxDepth int
	// MinTime and MaxTime bound the event time, inclusive, in Unix milliseconds
	// (0 = default: 2000-01-01T00:00:00Z and 2100-12-31T23:59:59.999Z). Events
	// outside are rejected with ReasonTimestampOutOfRange.
	MinTime, MaxTime int64
}

func (o *Options) setDefaults() {
	if o.MaxBytes == 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.MaxDepth == 0 {
		o.MaxDepth = DefaultMaxDepth
	}
	if o.MinTime == 0 {
		o.MinTime = DefaultMinTime
	}
	if o.MaxTime == 0 {
		o.MaxTime = DefaultMaxTime
	}
}

// Validate reports whether the options, once defaults are applied, are usable.
func (o Options) Validate() error {
	o.setDefaults()
	var errs []error
	if o.MaxBytes < 0 || o.MaxBytes > maxBytesLimit {
		errs = append(errs, fmt.Errorf("MaxBytes %d is outside 1..%d", o.MaxBytes, maxBytesLimit))
	}
	if o.MaxDepth < 0 || o.MaxDepth > maxDepthLimit {
		errs = append(errs, fmt.Errorf("MaxDepth %d is outside 1..%d", o.MaxDepth, maxDepthLimit))
	}
	if o.MinTime > o.MaxTime {
		errs = append(errs, fmt.Errorf("MinTime %d is after MaxTime %d", o.MinTime, o.MaxTime))
	}
	return errors.Join(errs...)
}
