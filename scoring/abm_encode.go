package scoring

import (
	"encoding/binary"
	"math"
)

// accountFormat is the first byte of an encoded Account; bump it on
// incompatible changes.
const accountFormat = 1

// MarshalBinary encodes the account for the state store: strings inline
// (length, bytes), instants as varints, floats as their 8 bytes, so that an
// account read back is exactly the one written.
func (a *Account) MarshalBinary() ([]byte, error) {
	w := accountWriter{b: make([]byte, 0, 64+48*len(a.Members))}
	w.b = append(w.b, accountFormat)
	w.str(a.Stage)
	w.varint(a.StageSince)
	w.varint(a.At)
	w.float(a.Fit)
	w.b = append(w.b, a.Grade)
	w.uvarint(uint64(len(a.Traits)))
	for _, p := range a.Traits {
		w.str(p.Key)
		w.b = append(w.b, byte(p.Kind))
		w.str(p.Str)
		w.float(p.Num)
	}
	w.uvarint(uint64(len(a.Members)))
	for _, m := range a.Members {
		w.str(m.Lead)
		w.float(m.Score)
		w.varint(m.At)
		w.str(m.EventID)
		w.str(m.Role)
		var flags byte
		if m.Left {
			flags = 1
		}
		w.b = append(w.b, flags)
	}
	w.uvarint(uint64(len(a.Recent)))
	for i := range a.Recent {
		t := &a.Recent[i]
		w.str(t.From)
		w.str(t.To)
		w.varint(t.At)
		w.b = append(w.b, byte(t.Cause.Kind))
		w.str(t.TriggerID)
		w.float(t.Score)
		w.float(t.Fit)
		w.b = append(w.b, t.Grade)
		w.uvarint(uint64(len(t.Top)))
		for _, c := range t.Top {
			w.str(c.Rule)
			w.float(c.Points)
		}
		w.uvarint(uint64(t.EngagedMembers))
		w.uvarint(uint64(len(t.Roles)))
		for _, r := range t.Roles {
			w.str(r)
		}
	}
	w.uvarint(uint64(a.Pending))
	return w.b, nil
}

// UnmarshalBinary decodes an account encoded by MarshalBinary. An account
// written before erasures were pseudonymous (ApplyMember with
// MemberUpdate.Erase) still names its erased members by their lead id: it is
// decoded with those replaced as an erasure now leaves them, so that no
// reader shows them and the next write of the account drops them. The
// format did not change for it, so that a binary rolled back still reads
// what this one writes.
func (a *Account) UnmarshalBinary(data []byte) error {
	r := decoder{b: data}
	if r.byte() != accountFormat {
		return ErrCorruptState
	}
	*a = Account{}
	a.Stage = r.inline()
	a.StageSince = r.varint()
	a.At = r.varint()
	a.Fit = r.float64bits()
	a.Grade = r.byte()
	if n := r.count(); n > 0 {
		a.Traits = make(Props, n)
		for i := range a.Traits {
			p := &a.Traits[i]
			p.Key = r.inline()
			p.Kind = PropKind(r.byte())
			p.Str = r.inline()
			p.Num = r.float64bits()
		}
	}
	if n := r.count(); n > 0 {
		a.Members = make([]Member, n)
		for i := range a.Members {
			m := &a.Members[i]
			m.Lead = r.inline()
			m.Score = r.float64bits()
			m.At = r.varint()
			m.EventID = r.inline()
			m.Role = r.inline()
			m.Left = r.byte() == 1
		}
	}
	if n := r.count(); n > 0 {
		a.Recent = make([]Transition, n)
		for i := range a.Recent {
			t := &a.Recent[i]
			t.From = r.inline()
			t.To = r.inline()
			t.At = r.varint()
			t.Cause.Kind = CauseKind(r.byte())
			t.TriggerID = r.inline()
			t.Score = r.float64bits()
			t.Fit = r.float64bits()
			t.Grade = r.byte()
			if k := r.count(); k > 0 {
				t.Top = make([]Contribution, k)
				for j := range t.Top {
					t.Top[j].Rule = r.inline()
					t.Top[j].Points = r.float64bits()
				}
			}
			t.EngagedMembers = r.count()
			if k := r.count(); k > 0 {
				t.Roles = make([]string, k)
				for j := range t.Roles {
					t.Roles[j] = r.inline()
				}
			}
		}
	}
	a.Pending = int(min(r.uvarint(), uint64(len(a.Recent))+1))
	if r.err == nil && len(r.b) != 0 {
		r.fail("trailing bytes")
	}
	if r.err != nil || a.Pending > len(a.Recent) {
		return ErrCorruptState
	}
	a.scrubLegacyErasures()
	return nil
}

type accountWriter struct{ b []byte }

func (w *accountWriter) uvarint(v uint64) { w.b = binary.AppendUvarint(w.b, v) }
func (w *accountWriter) varint(v int64)   { w.b = binary.AppendVarint(w.b, v) }
func (w *accountWriter) float(f float64) {
	w.b = binary.LittleEndian.AppendUint64(w.b, math.Float64bits(f))
}
func (w *accountWriter) str(s string) {
	w.uvarint(uint64(len(s)))
	w.b = append(w.b, s...)
}

// inline reads a string written inline (length, bytes).
func (r *decoder) inline() string {
	n := r.count()
	if r.err != nil || n > len(r.b) {
		r.fail("string overruns")
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

// float64bits reads a float written as its 8 little-endian bytes.
func (r *decoder) float64bits() float64 { return math.Float64frombits(r.uint64()) }
