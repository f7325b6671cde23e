package events

import (
	"math"
	"strconv"

	"github.com/leadscore/leadscore/scoring"
	"github.com/valyala/fastjson"
)

// Flattening of property bags into scoring.Props.

// maxFlattenDepth bounds how deep below a property bag values are kept; deeper
// objects and arrays are left out.
const maxFlattenDepth = 8

// maxInterned bounds the decoder's table of property keys shared between events.
const maxInterned = 4096

// flattenObject appends the leaves of o to dst, keyed by the dotted path from d.path.
func (d *Decoder) flattenObject(dst scoring.Props, o *fastjson.Object, depth int) scoring.Props {
	o.Visit(func(k []byte, v *fastjson.Value) {
		n := len(d.path)
		if n > 0 {
			d.path = append(d.path, '.')
		}
		d.path = append(d.path, k...)
		dst = d.flattenValue(dst, v, depth)
		d.path = d.path[:n]
	})
	return dst
}

// flattenValue appends v under the key d.path: an object adds a path segment per
// key, an array adds one entry per element under the same key.
func (d *Decoder) flattenValue(dst scoring.Props, v *fastjson.Value, depth int) scoring.Props {
	switch v.Type() {
	case fastjson.TypeObject:
		if depth < maxFlattenDepth {
			o, _ := v.Object()
			dst = d.flattenObject(dst, o, depth+1)
		}
	case fastjson.TypeArray:
		if depth < maxFlattenDepth {
			a, _ := v.Array()
			for _, e := range a {
				dst = d.flattenValue(dst, e, depth+1)
			}
		}
	case fastjson.TypeString:
		b, _ := v.StringBytes()
		dst = append(dst, scoring.Prop{Key: d.key(), Kind: scoring.PropString, Str: d.intern(b)})
	case fastjson.TypeNumber:
		dst = append(dst, d.number(v))
	case fastjson.TypeTrue:
		dst = append(dst, scoring.Prop{Key: d.key(), Kind: scoring.PropBool, Str: "true"})
	case fastjson.TypeFalse:
		dst = append(dst, scoring.Prop{Key: d.key(), Kind: scoring.PropBool, Str: "false"})
	case fastjson.TypeNull:
		dst = append(dst, scoring.Prop{Key: d.key(), Kind: scoring.PropNull})
	}
	return dst
}

// key returns d.path as a string, shared with earlier events when it was seen before.
func (d *Decoder) key() string {
	if s, ok := d.interned[string(d.path)]; ok {
		return s
	}
	s := string(d.path)
	if len(d.interned) < maxInterned && len(s) <= 64 {
		d.interned[s] = s
	}
	return s
}

// maxCommon bounds the table of field values shared between events, and
// maxCommonLen the length of a value it keeps.
const (
	maxCommon    = 4096
	maxCommonLen = 256
)

// intern returns b as a string, shared with earlier events that carried the same
// value: event names, pages, user agents and property values repeat across a
// site's visitors, and a string per field per event was a fifth of a processor's
// allocations. Unlike the table of property keys (key), which a site's fixed set
// fills once, this one starts over when full, so values that stop recurring make
// room for new ones.
func (d *Decoder) intern(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if s, ok := d.common[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(s) <= maxCommonLen {
		if len(d.common) >= maxCommon {
			clear(d.common)
		}
		d.common[s] = s
	}
	return s
}

// number converts a JSON number into a Prop. Its text is the shortest decimal form
// that reads back as the same float64, without an exponent between 1e-6 and 1e21
// (as JavaScript prints numbers), so 420, 420.0 and 4.2e2 all read "420".
func (d *Decoder) number(v *fastjson.Value) scoring.Prop {
	p := scoring.Prop{Key: d.key(), Kind: scoring.PropNumber}
	d.num = v.MarshalTo(d.num[:0])
	f, err := strconv.ParseFloat(string(d.num), 64)
	if err != nil || math.IsInf(f, 0) { // out of float64 range: keep the text
		p.Num, p.Str = f, string(d.num)
		return p
	}
	p.Num = f
	if a := math.Abs(f); a == 0 || (a >= 1e-6 && a < 1e21) {
		d.num = strconv.AppendFloat(d.num[:0], f, 'f', -1, 64)
	} else {
		d.num = strconv.AppendFloat(d.num[:0], f, 'g', -1, 64)
	}
	p.Str = d.intern(d.num)
	return p
}

// copyProps returns props in a slice of their own (nil when empty).
func copyProps(props scoring.Props) scoring.Props {
	if len(props) == 0 {
		return nil
	}
	return append(scoring.Props(nil), props...)
}
