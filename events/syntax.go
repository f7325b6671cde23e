package events

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/valyala/fastjson"
)

// scanner checks that a payload is exactly one JSON value as RFC 8259 defines it,
// nested no deeper than maxDepth, whose string escapes never encode an unpaired UTF-16
// surrogate. It is the strict gate in front of fastjson, whose parser is lenient
// (it accepts NaN, raw control characters in strings and unknown escapes), so that the
// fast path accepts exactly the documents encoding/json — and so the JSON Schema
// validator — accepts.
//
// On the way it looks for duplicate keys: the keys of an object are compared as raw
// bytes, in an array on the stack. An object with an escaped key or more than
// smallObject keys is left to Decoder.checkKeys, which compares unescaped keys on the
// parsed tree. The scanner allocates nothing unless it fails.
type scanner struct {
	data     []byte
	pos      int
	maxDepth int
	escaped  bool // the last string scanned holds an escape sequence

	dup       *Error // the first duplicate key seen, reported after the syntax is known good
	treeCheck bool   // some object needs Decoder.checkKeys
	// path holds, for each depth, the key (its span in data) or the array index being
	// scanned, to name the field of a duplicate key.
	path [maxDepthLimit]span
}

// span is a key's position in the payload, or, with from = -1, an array index in to.
type span struct{ from, to int32 }

// smallObject is the number of keys up to which the scanner compares the keys of an
// object itself.
const smallObject = 32

// plain[c] is true for the bytes that may appear in a JSON string as themselves.
var plain = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// scan checks data and returns the first syntax, depth or surrogate error. It leaves
// in s.dup the first duplicate key it found, and sets s.treeCheck when the parsed tree
// must be checked for duplicates too.
func (s *scanner) scan(data []byte, maxDepth int) *Error {
	*s = scanner{data: data, maxDepth: maxDepth}
	defer func() { s.data = nil }()
	if err := s.value(0); err != nil {
		return err
	}
	s.skipWS()
	if s.pos != len(s.data) {
		return s.syntaxError("after the top-level value")
	}
	return nil
}

// checkSyntax is scan for one-off use (tests).
func checkSyntax(data []byte, maxDepth int) *Error {
	var s scanner
	return s.scan(data, maxDepth)
}

func (s *scanner) skipWS() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// peek returns the byte at the current position, or 0 at the end of the input.
func (s *scanner) peek() byte {
	if s.pos < len(s.data) {
		return s.data[s.pos]
	}
	return 0
}

func (s *scanner) syntaxError(where string) *Error {
	if s.pos >= len(s.data) {
		return newError(ReasonInvalidJSON, "", "unexpected end of input "+where)
	}
	return newError(ReasonInvalidJSON, "", fmt.Sprintf("unexpected %q at offset %d %s", s.data[s.pos], s.pos, where))
}

func (s *scanner) value(depth int) *Error {
	s.skipWS()
	switch c := s.peek(); {
	case c == '{' || c == '[':
		if depth+1 > s.maxDepth {
			return newError(ReasonTooDeep, "", fmt.Sprintf("nesting deeper than %d levels at offset %d", s.maxDepth, s.pos))
		}
		if c == '{' {
			return s.object(depth + 1)
		}
		return s.array(depth + 1)
	case c == '"':
		return s.str()
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	case c == '-' || c >= '0' && c <= '9':
		return s.number()
	}
	return s.syntaxError("where a value is expected")
}

func (s *scanner) object(depth int) *Error {
	var keys [smallObject]span
	n := 0
	s.pos++ // '{'
	s.skipWS()
	if s.peek() == '}' {
		s.pos++
		return nil
	}
	for {
		s.skipWS()
		if s.peek() != '"' {
			return s.syntaxError("where an object key is expected")
		}
		from := s.pos + 1
		if err := s.str(); err != nil {
			return err
		}
		key := span{int32(from), int32(s.pos - 1)}
		s.path[depth-1] = key
		if s.dup == nil && !s.treeCheck {
			if s.escaped || n == smallObject {
				s.treeCheck = true
			} else {
				k := s.data[key.from:key.to]
				for _, o := range keys[:n] {
					if bytes.Equal(s.data[o.from:o.to], k) {
						s.dup = newError(ReasonDuplicateKey, s.pathTo(depth), "")
						break
					}
				}
				keys[n] = key
				n++
			}
		}
		s.skipWS()
		if s.peek() != ':' {
			return s.syntaxError("where ':' is expected")
		}
		s.pos++
		if closed, err := s.valueThen(depth, '}'); closed || err != nil {
			return err
		}
	}
}

func (s *scanner) array(depth int) *Error {
	s.pos++ // '['
	s.skipWS()
	if s.peek() == ']' {
		s.pos++
		return nil
	}
	for i := int32(0); ; i++ {
		s.path[depth-1] = span{-1, i}
		if closed, err := s.valueThen(depth, ']'); closed || err != nil {
			return err
		}
	}
}

// valueThen scans an object member's or array element's value and what must
// follow it: a ',' before the next one, or close, which ends the object or
// array (closed).
func (s *scanner) valueThen(depth int, close byte) (closed bool, err *Error) {
	if err := s.value(depth); err != nil {
		return false, err
	}
	s.skipWS()
	switch s.peek() {
	case ',':
		s.pos++
		return false, nil
	case close:
		s.pos++
		return true, nil
	}
	return false, s.syntaxError("where ',' or '" + string(close) + "' is expected")
}

// pathTo names the field being scanned at depth ("context.page.url", "products[1].id").
func (s *scanner) pathTo(depth int) string {
	var b strings.Builder
	for _, e := range s.path[:depth] {
		if e.from < 0 {
			b.WriteByte('[')
			b.WriteString(strconv.Itoa(int(e.to)))
			b.WriteByte(']')
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.Write(s.data[e.from:e.to])
	}
	return b.String()
}

func (s *scanner) literal(word string) *Error {
	if !bytes.HasPrefix(s.data[s.pos:], []byte(word)) {
		return s.syntaxError("where a value is expected")
	}
	s.pos += len(word)
	return nil
}

func (s *scanner) number() *Error {
	d, i := s.data, s.pos
	digits := func() bool {
		start := i
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
		return i > start
	}
	if d[i] == '-' {
		i++
	}
	switch {
	case i < len(d) && d[i] == '0':
		i++
	case !digits():
		s.pos = i
		return s.syntaxError("in a number")
	}
	if i < len(d) && d[i] == '.' {
		i++
		if !digits() {
			s.pos = i
			return s.syntaxError("in the fraction of a number")
		}
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		if !digits() {
			s.pos = i
			return s.syntaxError("in the exponent of a number")
		}
	}
	s.pos = i
	return nil
}

// str scans a string starting at its opening quote. Plain runs are skipped eight
// bytes at a time.
func (s *scanner) str() *Error {
	d := s.data
	i := s.pos + 1
	s.escaped = false
	for {
		for i+8 <= len(d) && !special(binary.LittleEndian.Uint64(d[i:])) {
			i += 8
		}
		for i < len(d) && plain[d[i]] {
			i++
		}
		if i >= len(d) {
			s.pos = i
			return s.syntaxError("in a string")
		}
		switch d[i] {
		case '"':
			s.pos = i + 1
			return nil
		case '\\':
			s.escaped = true
			if i+1 >= len(d) {
				s.pos = i + 1
				return s.syntaxError("in a string escape")
			}
			switch d[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				r, ok := hex4(d[i+2:])
				if !ok {
					s.pos = i
					return newError(ReasonInvalidJSON, "", fmt.Sprintf("invalid \\u escape at offset %d", i))
				}
				start := i
				i += 6
				switch {
				case r >= 0xDC00 && r <= 0xDFFF:
					return unpairedSurrogate(start)
				case r >= 0xD800 && r <= 0xDBFF:
					if i+1 >= len(d) || d[i] != '\\' || d[i+1] != 'u' {
						return unpairedSurrogate(start)
					}
					low, ok := hex4(d[i+2:])
					if !ok {
						s.pos = i
						return newError(ReasonInvalidJSON, "", fmt.Sprintf("invalid \\u escape at offset %d", i))
					}
					if low < 0xDC00 || low > 0xDFFF {
						return unpairedSurrogate(start)
					}
					i += 6
				}
			default:
				s.pos = i
				return newError(ReasonInvalidJSON, "", fmt.Sprintf("invalid escape %q at offset %d", d[i:i+2], i))
			}
		default: // a control character
			s.pos = i
			return newError(ReasonInvalidJSON, "", fmt.Sprintf("control character 0x%02x in a string at offset %d", d[i], i))
		}
	}
}

// special reports whether any of the eight bytes packed in x is a quote, a backslash
// or a control character (SWAR: each term is non-zero exactly when some byte matches).
func special(x uint64) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	q := x ^ (ones * '"')
	b := x ^ (ones * '\\')
	return ((q-ones)&^q|(b-ones)&^b|(x-ones*0x20)&^x)&highs != 0
}

func unpairedSurrogate(offset int) *Error {
	return newError(ReasonInvalidUTF8, "", fmt.Sprintf("string escapes an unpaired UTF-16 surrogate at offset %d", offset))
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// checkKeys walks the parsed document and reports the first object, at any depth,
// that holds a key twice (after unescaping: "type" and "typ\u0065" are the same key).
// The error's Field is the path of the repeated key; its Msg is left to the caller.
func (d *Decoder) checkKeys(v *fastjson.Value) *Error {
	switch v.Type() {
	case fastjson.TypeObject:
		o, _ := v.Object()
		base := len(d.keys)
		o.Visit(func(k []byte, c *fastjson.Value) {
			d.keys = append(d.keys, k)
			d.vals = append(d.vals, c)
		})
		end := len(d.keys)
		defer func() {
			clear(d.vals[base:end])
			d.keys, d.vals = d.keys[:base], d.vals[:base]
		}()
		if k := d.duplicate(d.keys[base:end]); k != nil {
			return newError(ReasonDuplicateKey, string(k), "")
		}
		for i := base; i < end; i++ {
			if err := d.checkKeys(d.vals[i]); err != nil {
				err.Field = joinPath(string(d.keys[i]), err.Field)
				return err
			}
		}
	case fastjson.TypeArray:
		a, _ := v.Array()
		for i, c := range a {
			if err := d.checkKeys(c); err != nil {
				err.Field = joinPath("["+strconv.Itoa(i)+"]", err.Field)
				return err
			}
		}
	}
	return nil
}

// joinPath prefixes a dotted path ("page.url", "[2].id") with a parent segment.
func joinPath(parent, path string) string {
	if strings.HasPrefix(path, "[") {
		return parent + path
	}
	return parent + "." + path
}

// duplicate returns a key that occurs twice in keys, or nil: pairwise for small
// objects, by sorting for larger ones.
func (d *Decoder) duplicate(keys [][]byte) []byte {
	if len(keys) <= smallObject {
		for i := 1; i < len(keys); i++ {
			for j := range i {
				if bytes.Equal(keys[i], keys[j]) {
					return keys[i]
				}
			}
		}
		return nil
	}
	d.sorted = append(d.sorted[:0], keys...)
	slices.SortFunc(d.sorted, bytes.Compare)
	defer clear(d.sorted)
	for i := 1; i < len(d.sorted); i++ {
		if bytes.Equal(d.sorted[i], d.sorted[i-1]) {
			return d.sorted[i]
		}
	}
	return nil
}
