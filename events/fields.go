package events

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"github.com/leadscore/leadscore/scoring"
	"github.com/valyala/fastjson"
)

// Typed access to the fields of a parsed object. Every schema in schemas/ treats an
// optional field that is null exactly like an absent one, and so does reader. The hot
// paths collect the fields of an object in one pass (Object.Visit and a switch)
// rather than with Object.Get, which scans an object twice for every absent key.

// reader checks the types of field values and remembers the first failed check:
// after a failure every read returns zero values, and err is the error to report. A
// nil value is an absent field.
type reader struct {
	d   *Decoder
	err *Error
}

func (r *reader) fail(e *Error) {
	if r.err == nil {
		r.err = e
	}
}

// present returns v, or nil when v is null or an earlier check failed.
func (r *reader) present(v *fastjson.Value) *fastjson.Value {
	if v == nil || r.err != nil || v.Type() == fastjson.TypeNull {
		return nil
	}
	return v
}

func wrongType(path, want string, v *fastjson.Value) *Error {
	return newError(ReasonWrongType, path, fmt.Sprintf("%s must be %s, not %s", path, want, v.Type()))
}

// str returns the string v holds; ok is false when v is absent or null.
func (r *reader) str(v *fastjson.Value, path string) (s []byte, ok bool) {
	if v = r.present(v); v == nil {
		return nil, false
	}
	b, err := v.StringBytes()
	if err != nil {
		r.fail(wrongType(path, "a string", v))
		return nil, false
	}
	return b, true
}

// obj returns the object v holds, or nil when v is absent or null.
func (r *reader) obj(v *fastjson.Value, path string) *fastjson.Object {
	if v = r.present(v); v == nil {
		return nil
	}
	o, err := v.Object()
	if err != nil {
		r.fail(wrongType(path, "an object", v))
		return nil
	}
	return o
}

// boolean returns the boolean v holds; ok is false when v is absent or null.
func (r *reader) boolean(v *fastjson.Value, path string) (b, ok bool) {
	if v = r.present(v); v == nil {
		return false, false
	}
	b, err := v.Bool()
	if err != nil {
		r.fail(wrongType(path, "true or false", v))
		return false, false
	}
	return b, true
}

// number returns the text of the number v holds, valid until the next read of a
// number; ok is false when v is absent or null.
func (r *reader) number(v *fastjson.Value, path string) (raw []byte, ok bool) {
	if v = r.present(v); v == nil {
		return nil, false
	}
	if v.Type() != fastjson.TypeNumber {
		r.fail(wrongType(path, "a number", v))
		return nil, false
	}
	r.d.num = v.MarshalTo(r.d.num[:0])
	return r.d.num, true
}

// integer is number for a JSON Schema "integer": a number with no fractional part,
// whatever its spelling (1772615400, 1772615400.0 and 1.7726154e9 are one integer).
func (r *reader) integer(v *fastjson.Value, path string) (raw []byte, ok bool) {
	if v = r.present(v); v == nil {
		return nil, false
	}
	if v.Type() != fastjson.TypeNumber {
		r.fail(wrongType(path, "an integer", v))
		return nil, false
	}
	r.d.num = v.MarshalTo(r.d.num[:0])
	if !isInteger(r.d.num) {
		r.fail(newError(ReasonWrongType, path, fmt.Sprintf("%s must be an integer, not %s", path, r.d.num)))
		return nil, false
	}
	return r.d.num, true
}

// isInteger reports whether the JSON number text n (already checked against the JSON
// grammar) has no fractional part, exactly as the JSON Schema validator decides it with
// math/big — including its refusal of exponents that overflow an int64 and of
// powers of ten beyond ±1e6 (except for zero).
func isInteger(n []byte) bool {
	mant, exp := n, int64(0)
	if i := indexExp(n); i >= 0 {
		mant = n[:i]
		e, err := strconv.ParseInt(string(n[i+1:]), 10, 64)
		if err != nil {
			return false
		}
		exp = e
	}
	if isZero(mant) { // whatever the exponent
		return true
	}
	var frac []byte
	if dot := bytes.IndexByte(mant, '.'); dot >= 0 {
		mant, frac = mant[:dot], mant[dot+1:]
	}
	if e5 := exp - int64(len(frac)); e5 > 1e6 || e5 < -1e6 {
		return false
	}
	for len(frac) > 0 && frac[len(frac)-1] == '0' {
		frac = frac[:len(frac)-1]
	}
	if len(frac) > 0 {
		return exp >= int64(len(frac))
	}
	if exp >= 0 {
		return true
	}
	// A negative exponent: the integer part must end in at least -exp zeros.
	zeros := int64(0)
	for i := len(mant) - 1; i >= 0 && mant[i] == '0'; i-- {
		zeros++
	}
	return zeros >= -exp
}

func indexExp(n []byte) int {
	for i, c := range n {
		if c == 'e' || c == 'E' {
			return i
		}
	}
	return -1
}

// isZero reports whether a JSON mantissa ("-0.000") has only zero digits.
func isZero(mant []byte) bool {
	for _, c := range mant {
		if c >= '1' && c <= '9' {
			return false
		}
	}
	return true
}

// isNegative reports whether JSON number text is below zero ("-0.0" is not).
func isNegative(n []byte) bool {
	if len(n) == 0 || n[0] != '-' {
		return false
	}
	if i := indexExp(n); i >= 0 {
		n = n[:i]
	}
	return !isZero(n)
}

// emailAddress checks b against the schemas' e-mail pattern
// ^[ \t\n\f\r]*[^@ \t\n\f\r]+@[^@ \t\n\f\r]+[ \t\n\f\r]*$ and returns it trimmed and
// lower-cased.
func emailAddress(b []byte) (string, bool) {
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	at := -1
	for i, c := range b {
		switch {
		case isSpace(c):
			return "", false
		case c == '@':
			if at >= 0 {
				return "", false
			}
			at = i
		}
	}
	if at <= 0 || at == len(b)-1 {
		return "", false
	}
	return strings.ToLower(string(b)), true
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r'
}

// urlPath returns the path of an absolute or root-relative URL ("/pricing" for
// "https://www.example.com/pricing?x=1#top"), "/" for a bare origin, "" otherwise.
func urlPath(u string) string {
	if i := strings.IndexAny(u, "?#"); i >= 0 {
		u = u[:i]
	}
	if i := strings.Index(u, "://"); i >= 0 {
		u = u[i+3:]
	} else if strings.HasPrefix(u, "//") {
		u = u[2:]
	} else if strings.HasPrefix(u, "/") {
		return u
	} else {
		return ""
	}
	if i := strings.IndexByte(u, '/'); i >= 0 {
		return u[i:]
	}
	return "/"
}

// hashID derives an event id from the payload bytes, for senders that give none: "h:"
// and the first 16 bytes of SHA-256 over the source name, a zero byte and the payload,
// in hex. A re-send of the same bytes gets the same id.
func (d *Decoder) hashID(src scoring.Source, payload []byte) string {
	d.hashBuf = append(append(append(d.hashBuf[:0], src.String()...), 0), payload...)
	sum := sha256.Sum256(d.hashBuf)
	var id [2 + 32]byte
	copy(id[:], "h:")
	hex.Encode(id[2:], sum[:16])
	return string(id[:])
}
