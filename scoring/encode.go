package scoring

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
)

// stateFormat is the first byte of an encoded State; bump it on incompatible changes.
const stateFormat = 1

// lateBit marks Transition.Late in the byte of the transition's cause kind:
// cause kinds are small, so states written before the flag existed decode
// unchanged.
const lateBit = 0x80

// ErrCorruptState is returned by UnmarshalBinary for bytes that are not an encoded State.
var ErrCorruptState = errors.New("scoring: corrupt state encoding")

// MarshalBinary encodes the state compactly for Redis: names are written once in a
// string table, instants as varint offsets from ScoreAt, integral numbers as
// varints. The encoding is lossless (floats round-trip exactly), so a state read
// back scores exactly like the one written: the live path equals the offline oracle.
func (s *State) MarshalBinary() ([]byte, error) {
	return s.AppendBinary(make([]byte, 0, 128))
}

// AppendBinary appends the encoding of s to b.
func (s *State) AppendBinary(b []byte) ([]byte, error) {
	var w encoder
	w.b = b
	w.b = append(w.b, stateFormat)
	// String table first; references are indexes into it.
	w.tab = w.small[:0]
	s.addStrings(&w)
	w.appendTable()
	w.ref(s.Stage)
	w.ref(s.Model)
	w.varint(s.ScoreAt)
	w.varint(s.ScoreAt - s.StageSince)
	w.varint(s.ScoreAt - s.LastActive)
	w.b = append(w.b, s.StepsDone)
	var flags byte
	if s.Identified {
		flags |= 1
	}
	w.b = append(w.b, flags, s.Grade)
	w.float(s.Fit)
	w.contribs(s.Contribs)
	w.traits(s.Traits)
	w.hits(s.Hits, s.ScoreAt)
	w.uvarint(uint64(len(s.Seen)))
	for _, x := range s.Seen {
		w.b = binary.LittleEndian.AppendUint64(w.b, x.Hash)
		w.varint(s.ScoreAt - x.At)
	}
	w.uvarint(uint64(len(s.Recent)))
	for i := range s.Recent {
		w.transition(&s.Recent[i], s.ScoreAt)
	}
	w.uvarint(uint64(s.Pending))
	w.uvarint(uint64(len(s.Absorbed)))
	for _, a := range s.Absorbed {
		w.ref(a)
	}
	s.appendExtensions(&w)
	return w.b, nil
}

// addStrings puts every string the state refers to in w's table, in the order
// the references are written, so equal states encode to equal bytes.
func (s *State) addStrings(w *encoder) {
	w.add(s.Stage)
	w.add(s.Model)
	for _, c := range s.Contribs {
		w.add(c.Rule)
	}
	for _, p := range s.Traits {
		w.add(p.Key)
		w.add(p.Str)
	}
	for _, h := range s.Hits {
		w.add(h.Rule)
	}
	for _, t := range s.Recent {
		w.add(t.From)
		w.add(t.To)
		w.add(t.Cause.Rule)
		w.add(t.Cause.Feedback)
		w.add(t.Cause.Reason)
		w.add(t.TriggerID)
		for _, c := range t.Top {
			w.add(c.Rule)
		}
	}
	for _, a := range s.Absorbed {
		w.add(a)
	}
}

func (w *encoder) appendTable() {
	w.uvarint(uint64(len(w.tab)))
	for _, v := range w.tab {
		w.uvarint(uint64(len(v)))
		w.b = append(w.b, v...)
	}
}

func (w *encoder) contribs(cs []Contribution) {
	w.uvarint(uint64(len(cs)))
	for _, c := range cs {
		w.ref(c.Rule)
		w.float(c.Points)
	}
}

func (w *encoder) traits(ps Props) {
	w.uvarint(uint64(len(ps)))
	for _, p := range ps {
		w.ref(p.Key)
		w.b = append(w.b, byte(p.Kind))
		w.ref(p.Str)
		if p.Kind == PropNumber {
			w.float(p.Num)
		}
	}
}

// hits writes the hit logs' instants as offsets back from scoreAt: recent hits
// give small varints.
func (w *encoder) hits(hs []HitLog, scoreAt int64) {
	w.uvarint(uint64(len(hs)))
	for _, h := range hs {
		w.ref(h.Rule)
		w.uvarint(uint64(h.Count))
		w.uvarint(uint64(len(h.Times)))
		for _, t := range h.Times {
			w.varint(scoreAt - t)
		}
		w.uvarint(uint64(len(h.Pts)))
		for _, p := range h.Pts {
			w.float(p)
		}
	}
}

func (w *encoder) transition(t *Transition, scoreAt int64) {
	w.ref(t.From)
	w.ref(t.To)
	w.varint(scoreAt - t.At)
	kind := byte(t.Cause.Kind)
	if t.Late {
		kind |= lateBit
	}
	w.b = append(w.b, kind, t.Grade)
	w.ref(t.Cause.Rule)
	w.ref(t.Cause.Feedback)
	w.ref(t.Cause.Reason)
	w.ref(t.TriggerID)
	w.float(t.Score)
	w.float(t.Fit)
	w.contribs(t.Top)
}

// Extensions: sections after the original layout, each a tag, a length and a
// payload, written only when they hold something. A state that uses none of
// them encodes exactly as before they existed, a state written before them
// decodes with them empty, and a decoder skips a tag it does not know.
const (
	extReset   = 1 // ResetAt, then each hit log's Base
	extVisits  = 2 // Visits, LastWebAt, SessionID, VisitStarts
	extBANT    = 3 // Known, Yes, TimeframeBy, At
	extVisit   = 4 // each hit log's Visit
	extAccount = 5 // the lead's account
)

func (s *State) appendExtensions(w *encoder) {
	section := func(tag uint64, body func(e *encoder)) {
		var e encoder
		body(&e)
		w.uvarint(tag)
		w.uvarint(uint64(len(e.b)))
		w.b = append(w.b, e.b...)
	}
	bases, visits := false, false
	for _, h := range s.Hits {
		bases = bases || h.Base != 0
		visits = visits || h.Visit != 0
	}
	if s.ResetAt != 0 || bases {
		section(extReset, func(e *encoder) {
			e.varint(s.ScoreAt - s.ResetAt)
			e.uvarint(uint64(len(s.Hits)))
			for _, h := range s.Hits {
				e.uvarint(uint64(h.Base))
			}
		})
	}
	if s.Visits != 0 || s.LastWebAt != 0 || s.SessionID != "" || len(s.VisitStarts) > 0 {
		section(extVisits, func(e *encoder) {
			e.uvarint(uint64(s.Visits))
			e.varint(s.ScoreAt - s.LastWebAt)
			e.uvarint(uint64(len(s.SessionID)))
			e.b = append(e.b, s.SessionID...)
			e.uvarint(uint64(len(s.VisitStarts)))
			for _, t := range s.VisitStarts {
				e.varint(s.ScoreAt - t)
			}
		})
	}
	if s.BANT != (BANTAnswers{}) {
		section(extBANT, func(e *encoder) {
			e.b = append(e.b, s.BANT.Known, s.BANT.Yes)
			e.varint(s.BANT.TimeframeBy)
			e.varint(s.ScoreAt - s.BANT.At)
		})
	}
	if visits {
		section(extVisit, func(e *encoder) {
			e.uvarint(uint64(len(s.Hits)))
			for _, h := range s.Hits {
				e.uvarint(uint64(h.Visit))
			}
		})
	}
	if s.Account != "" {
		section(extAccount, func(e *encoder) {
			e.uvarint(uint64(len(s.Account)))
			e.b = append(e.b, s.Account...)
		})
	}
}

func (s *State) readExtensions(r *decoder) {
	last := uint64(0)
	for len(r.b) > 0 && r.err == nil {
		tag := r.uvarint()
		n := r.count()
		if r.err != nil {
			return
		}
		if tag <= last {
			r.fail("extensions out of order")
			return
		}
		last = tag
		if n > len(r.b) {
			r.fail("extension overruns")
			return
		}
		sub := decoder{b: r.b[:n], tab: r.tab}
		r.b = r.b[n:]
		switch tag {
		case extReset:
			s.ResetAt = s.ScoreAt - sub.varint()
			if k := sub.count(); k != len(s.Hits) {
				sub.fail("reset bases do not match the hit logs")
			} else {
				for i := range s.Hits {
					s.Hits[i].Base = uint32(sub.uvarint())
				}
			}
			if s.ResetAt == 0 && sub.err == nil && !s.anyBase() {
				sub.fail("empty reset section")
			}
		case extVisits:
			s.Visits = uint32(sub.uvarint())
			s.LastWebAt = s.ScoreAt - sub.varint()
			if l := sub.count(); l > len(sub.b) {
				sub.fail("session id overruns")
			} else {
				s.SessionID = string(sub.b[:l])
				sub.b = sub.b[l:]
			}
			if k := sub.count(); k > 0 {
				s.VisitStarts = make([]int64, k)
				for i := range s.VisitStarts {
					s.VisitStarts[i] = s.ScoreAt - sub.varint()
				}
			}
			if s.Visits == 0 && s.LastWebAt == 0 && s.SessionID == "" && len(s.VisitStarts) == 0 && sub.err == nil {
				sub.fail("empty visits section")
			}
		case extBANT:
			s.BANT.Known, s.BANT.Yes = sub.byte(), sub.byte()
			s.BANT.TimeframeBy = sub.varint()
			s.BANT.At = s.ScoreAt - sub.varint()
			if s.BANT == (BANTAnswers{}) && sub.err == nil {
				sub.fail("empty BANT section")
			}
		case extVisit:
			if k := sub.count(); k != len(s.Hits) {
				sub.fail("visit marks do not match the hit logs")
			} else {
				any := false
				for i := range s.Hits {
					s.Hits[i].Visit = uint32(sub.uvarint())
					any = any || s.Hits[i].Visit != 0
				}
				if !any && sub.err == nil {
					sub.fail("empty visit section")
				}
			}
		case extAccount:
			if l := sub.count(); l > len(sub.b) || l == 0 {
				sub.fail("bad account section")
			} else {
				s.Account = string(sub.b[:l])
				sub.b = sub.b[l:]
			}
		default:
			continue // a later version's section: skipped
		}
		if sub.err == nil && len(sub.b) != 0 {
			sub.fail("trailing bytes in a section")
		}
		if sub.err != nil {
			r.fail(sub.err.Error())
			return
		}
	}
}

func (s *State) anyBase() bool {
	for _, h := range s.Hits {
		if h.Base != 0 {
			return true
		}
	}
	return false
}

type encoder struct {
	b []byte
	// The string table: a typical state has a dozen distinct strings, which
	// a linear search over an array on the stack finds faster than a map
	// that must be allocated for each encoding (a map takes over past
	// smallTable strings, so a big state is not quadratic).
	tab   []string
	small [smallTable]string
	strs  map[string]int
}

const smallTable = 32

// add puts v in the string table (once).
func (w *encoder) add(v string) {
	if w.strs == nil {
		if slices.Contains(w.tab, v) {
			return
		}
		if len(w.tab) < smallTable {
			w.tab = append(w.tab, v)
			return
		}
		w.strs = make(map[string]int, 2*smallTable)
		for i, s := range w.tab {
			w.strs[s] = i
		}
	}
	if _, ok := w.strs[v]; !ok {
		w.strs[v] = len(w.tab)
		w.tab = append(w.tab, v)
	}
}

func (w *encoder) uvarint(v uint64) { w.b = binary.AppendUvarint(w.b, v) }
func (w *encoder) varint(v int64)   { w.b = binary.AppendVarint(w.b, v) }

// ref writes the string table index of s (which add put there).
func (w *encoder) ref(s string) {
	if w.strs != nil {
		w.uvarint(uint64(w.strs[s]))
		return
	}
	w.uvarint(uint64(max(0, slices.Index(w.tab, s))))
}

// float writes 0 as one byte, small integers as a varint, anything else as 8 bytes.
func (w *encoder) float(f float64) {
	switch {
	case f == 0 && !math.Signbit(f):
		w.b = append(w.b, 0)
	case f == math.Trunc(f) && math.Abs(f) < 1<<53 && f != 0: // -0 keeps its 8 bytes
		w.b = append(w.b, 1)
		w.varint(int64(f))
	default:
		w.b = append(w.b, 2)
		w.b = binary.LittleEndian.AppendUint64(w.b, math.Float64bits(f))
	}
}

// UnmarshalBinary decodes what MarshalBinary wrote.
func (s *State) UnmarshalBinary(data []byte) (err error) {
	r := decoder{b: data}
	defer func() {
		if r.err != nil {
			err = fmt.Errorf("%w: %v", ErrCorruptState, r.err)
		}
	}()
	if v := r.byte(); v != stateFormat {
		if r.err == nil {
			r.err = fmt.Errorf("unknown format %d", v)
		}
		return nil
	}
	r.readTable()
	*s = State{}
	s.Stage = r.ref()
	s.Model = r.ref()
	s.ScoreAt = r.varint()
	s.StageSince = s.ScoreAt - r.varint()
	s.LastActive = s.ScoreAt - r.varint()
	s.StepsDone = r.byte()
	flags := r.byte()
	s.Identified = flags&1 != 0
	s.Grade = r.byte()
	s.Fit = r.float()
	s.Contribs = r.contribs()
	s.Traits = r.traits()
	s.Hits = r.hits(s.ScoreAt)
	if n := r.count(); n > 0 {
		s.Seen = make([]Seen, n)
		for i := range s.Seen {
			s.Seen[i] = Seen{Hash: r.uint64(), At: s.ScoreAt - r.varint()}
		}
	}
	if n := r.count(); n > 0 {
		s.Recent = make([]Transition, n)
		for i := range s.Recent {
			r.transition(&s.Recent[i], s.ScoreAt)
		}
	}
	s.Pending = int(r.uvarint())
	if s.Pending > len(s.Recent) {
		r.fail("pending beyond recent")
	}
	if n := r.count(); n > 0 {
		s.Absorbed = make([]string, n)
		for i := range s.Absorbed {
			s.Absorbed[i] = r.ref()
		}
	}
	if r.err == nil {
		s.readExtensions(&r)
	}
	return nil
}

// readTable reads the string table. Its strings are cut from one string
// holding the whole section: one allocation per state instead of one per
// string.
func (r *decoder) readTable() {
	n := r.count()
	section := r.b
	for i := 0; i < n && r.err == nil; i++ {
		l := r.count()
		if l > len(r.b) {
			r.fail("string overruns")
			break
		}
		r.b = r.b[l:]
	}
	if r.err != nil {
		return
	}
	all := string(section[:len(section)-len(r.b)])
	r.tab = make([]string, n)
	pos := 0
	for i := range r.tab {
		l, k := binary.Uvarint(section[pos:]) // validated by the first pass
		pos += k
		r.tab[i] = all[pos : pos+int(l)]
		pos += int(l)
	}
}

// contribs returns nil for none, as the state had before encoding.
func (r *decoder) contribs() []Contribution {
	n := r.count()
	if n == 0 {
		return nil
	}
	cs := make([]Contribution, n)
	for i := range cs {
		cs[i] = Contribution{Rule: r.ref(), Points: r.float()}
	}
	return cs
}

func (r *decoder) traits() Props {
	n := r.count()
	if n == 0 {
		return nil
	}
	ps := make(Props, n)
	for i := range ps {
		p := Prop{Key: r.ref(), Kind: PropKind(r.byte())}
		p.Str = r.ref()
		if p.Kind == PropNumber {
			p.Num = r.float()
		}
		ps[i] = p
	}
	return ps
}

func (r *decoder) hits(scoreAt int64) []HitLog {
	n := r.count()
	if n == 0 {
		return nil
	}
	hs := make([]HitLog, n)
	for i := range hs {
		h := HitLog{Rule: r.ref(), Count: uint32(r.uvarint())}
		if k := r.count(); k > 0 {
			h.Times = make([]int64, k)
			for j := range h.Times {
				h.Times[j] = scoreAt - r.varint()
			}
		}
		if k := r.count(); k > 0 {
			h.Pts = make([]float64, k)
			for j := range h.Pts {
				h.Pts[j] = r.float()
			}
		}
		hs[i] = h
	}
	return hs
}

// transition decodes into *t, which must be zero.
func (r *decoder) transition(t *Transition, scoreAt int64) {
	t.From, t.To = r.ref(), r.ref()
	t.At = scoreAt - r.varint()
	kind := r.byte()
	t.Cause.Kind, t.Late = CauseKind(kind&^lateBit), kind&lateBit != 0
	t.Grade = r.byte()
	t.Cause.Rule, t.Cause.Feedback, t.Cause.Reason = r.ref(), r.ref(), r.ref()
	t.TriggerID = r.ref()
	t.Score, t.Fit = r.float(), r.float()
	t.Top = r.contribs()
}

type decoder struct {
	b   []byte
	tab []string
	err error
}

func (r *decoder) fail(msg string) {
	if r.err == nil {
		r.err = errors.New(msg)
	}
	r.b = nil
}

func (r *decoder) byte() byte {
	if len(r.b) < 1 {
		r.fail("short")
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail("bad uvarint")
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *decoder) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail("bad varint")
		return 0
	}
	r.b = r.b[n:]
	return v
}

// count reads a length and bounds it by the bytes left, so corrupt input cannot ask
// for a huge allocation.
func (r *decoder) count() int {
	v := r.uvarint()
	if v > uint64(len(r.b))+1 {
		r.fail("count overruns")
		return 0
	}
	return int(v)
}

func (r *decoder) uint64() uint64 {
	if len(r.b) < 8 {
		r.fail("short")
		return 0
	}
	v := binary.LittleEndian.Uint64(r.b)
	r.b = r.b[8:]
	return v
}

func (r *decoder) ref() string {
	i := r.uvarint()
	if i >= uint64(len(r.tab)) {
		r.fail("bad string reference")
		return ""
	}
	return r.tab[i]
}

func (r *decoder) float() float64 {
	switch r.byte() {
	case 0:
		return 0
	case 1:
		return float64(r.varint())
	case 2:
		return math.Float64frombits(r.uint64())
	}
	r.fail("bad number tag")
	return 0
}
