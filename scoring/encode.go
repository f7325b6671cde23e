package scoring

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
)

// stateFormat is the first byte of an encoded State; bump it on incompatible
// changes. Format 1 (stateFormat1) still decodes: records written before
// format 3 stay readable. 2 is taken by an encoded Lead (leadFormat).
// stateFormatNames is format 3 with names written as ids of a NameTable
// (AppendBinaryNames): only a state encoded with a table, and naming at
// least one of its names, takes it, so that a state encoded without one is
// byte for byte what it was before tables existed.
const (
	stateFormat      = 3
	stateFormat1     = 1
	stateFormatNames = 4
)

// Flags of the header byte (format 3). flagSeconds: every instant is written
// in seconds instead of milliseconds — events timed to the second (most
// senders) save a byte or so per instant.
const (
	flagIdentified = 1 << iota
	flagSeconds
)

// lateBit marks Transition.Late in the byte of the transition's cause kind:
// cause kinds are small, so states written before the flag existed decode
// unchanged.
const lateBit = 0x80

// ErrCorruptState is returned by UnmarshalBinary for bytes that are not an encoded State.
var ErrCorruptState = errors.New("scoring: corrupt state encoding")

// NameTable is a dictionary of the names a state draws from its rules (rule,
// stage and trait names, the model version, feedback kinds), kept once
// outside the state — the store keeps one in Redis — so that each encoded
// state refers to them by id instead of carrying them. Ids are positive,
// and a table never changes the name of an id it knows: a state encoded
// with one decodes with any later copy of it.
type NameTable interface {
	// NameID returns the id of name, false when the table has none.
	NameID(name string) (uint64, bool)
	// Name returns the name of id, false when the table does not know it
	// (yet: another process may have added it since this copy was taken).
	Name(id uint64) (string, bool)
}

// ErrUnknownName is returned (wrapped) by UnmarshalBinaryNames and
// Set.DecodeNames for a state that names an id the table does not know, or
// that names ids and was decoded without a table. A reader that meets it
// may load a newer copy of the table (MaxNameID says how far it must
// reach) and decode again.
var ErrUnknownName = errors.New("scoring: state names an id the name table does not know")

// MarshalBinary encodes the state compactly for Redis: names are written once in a
// string table, instants as varint offsets (from ScoreAt, or between the
// entries of a time-ordered list), in seconds when they all fall on whole
// seconds, and integral numbers as varints. The encoding is lossless (floats
// round-trip exactly), so a state read back scores exactly like the one
// written: the live path equals the offline oracle.
func (s *State) MarshalBinary() ([]byte, error) {
	return s.AppendBinary(make([]byte, 0, 128))
}

// AppendBinary appends the encoding of s to b, every string in the state's
// own table (as AppendBinaryNames without a table).
func (s *State) AppendBinary(b []byte) ([]byte, error) {
	return s.AppendBinaryNames(b, nil)
}

// AppendBinaryNames appends the encoding of s to b, the names the state
// draws from its rules that names knows written as their ids (format 4);
// the other strings (event data: trigger ids, trait values, absorbed lead
// ids, feedback reasons; names the table lacks) go to the state's own table
// as AppendBinary writes them. With a nil table, or none of the state's
// names in it, the encoding is AppendBinary's (format 3). Decode the result
// with UnmarshalBinaryNames and a copy of names as recent as the one given.
func (s *State) AppendBinaryNames(b []byte, names NameTable) ([]byte, error) {
	var w encoder
	w.b = b
	w.names = names
	// String table first; references are indexes into it.
	w.tab, w.ids = w.small[:0], w.smallIDs[:0]
	s.addStrings(&w)
	if w.maxID == 0 {
		w.b = append(w.b, stateFormat)
	} else {
		// The largest id comes first, so that a reader can tell from the
		// header alone whether its copy of the table is recent enough.
		w.b = append(w.b, stateFormatNames)
		w.uvarint(w.maxID)
	}
	w.appendTable()
	w.scoreAt, w.unit = s.ScoreAt, 1
	var flags byte
	if s.Identified {
		flags |= flagIdentified
	}
	if s.inSeconds() {
		flags |= flagSeconds
		w.unit = 1000
	}
	w.b = append(w.b, flags)
	w.ref(s.Stage)
	w.ref(s.Model)
	w.varint(s.ScoreAt / w.unit)
	w.time(s.StageSince)
	w.time(s.LastActive)
	w.b = append(w.b, s.StepsDone, s.Grade)
	w.float(s.Fit)
	w.contribs(s.Contribs)
	w.traits(s.Traits)
	w.hits(s.Hits)
	// Seen is kept in event-time order: newest first, each entry's instant
	// is a short step back from the one before.
	w.uvarint(uint64(len(s.Seen)))
	prev := s.ScoreAt
	for i := len(s.Seen) - 1; i >= 0; i-- {
		w.b = binary.LittleEndian.AppendUint64(w.b, s.Seen[i].Hash)
		w.step(&prev, s.Seen[i].At)
	}
	w.uvarint(uint64(len(s.Recent)))
	for i := range s.Recent {
		w.transition(&s.Recent[i])
	}
	w.uvarint(uint64(s.Pending))
	w.uvarint(uint64(len(s.Absorbed)))
	for _, a := range s.Absorbed {
		w.ref(a)
	}
	s.appendExtensions(&w)
	return w.b, nil
}

// inSeconds reports whether every instant the encoding writes is a whole
// second, and small enough that no offset between two of them overflows:
// then the offsets are written divided by 1000, exactly.
func (s *State) inSeconds() bool {
	ok := func(t int64) bool { return t%1000 == 0 && t < 1<<61 && t > -1<<61 }
	if !ok(s.ScoreAt) || !ok(s.StageSince) || !ok(s.LastActive) || !ok(s.ResetAt) ||
		!ok(s.LastWebAt) || !ok(s.BANT.At) {
		return false
	}
	for i := range s.Hits {
		for _, t := range s.Hits[i].Times {
			if !ok(t) {
				return false
			}
		}
	}
	for _, x := range s.Seen {
		if !ok(x.At) {
			return false
		}
	}
	for i := range s.Recent {
		if !ok(s.Recent[i].At) {
			return false
		}
	}
	for _, t := range s.VisitStarts {
		if !ok(t) {
			return false
		}
	}
	return true
}

// addStrings puts every string the state refers to in w's table, in the order
// the references are written, so equal states encode to equal bytes. Names
// drawn from the rules (addName) may be written as name table ids; the
// others are event data, whose values no table bounds.
func (s *State) addStrings(w *encoder) {
	w.addName(s.Stage)
	w.addName(s.Model)
	for _, c := range s.Contribs {
		w.addName(c.Rule)
	}
	for _, p := range s.Traits {
		w.addName(p.Key) // a trait path a fit rule reads
		w.add(p.Str)
	}
	for _, h := range s.Hits {
		w.addName(h.Rule)
	}
	for _, t := range s.Recent {
		w.addName(t.From)
		w.addName(t.To)
		if t.Cause.Kind == CauseMerge {
			w.add(t.Cause.Rule) // the id of the lead merged in
		} else {
			w.addName(t.Cause.Rule)
		}
		w.addName(t.Cause.Feedback) // one of the few feedback kinds
		w.add(t.Cause.Reason)
		w.add(t.TriggerID)
		for _, c := range t.Top {
			w.addName(c.Rule)
		}
	}
	for _, a := range s.Absorbed {
		w.add(a)
	}
}

// appendTable writes the string table: each string as its length shifted
// left by one, the low bit set when it is packed (packName). Names written
// as ids are not in it. It turns w.ids into each string's reference: 1 +
// its index among the strings written, or, for a name, the number of
// strings written + its id.
func (w *encoder) appendTable() {
	n := uint64(0)
	for _, id := range w.ids {
		if id == 0 {
			n++
		}
	}
	w.uvarint(n)
	k := uint64(0)
	for i, v := range w.tab {
		if w.ids[i] != 0 {
			w.ids[i] += n
			continue
		}
		k++
		w.ids[i] = k
		if !packable(v) {
			w.uvarint(uint64(len(v)) << 1)
			w.b = append(w.b, v...)
			continue
		}
		w.uvarint(uint64(len(v))<<1 | 1)
		for i := 0; i < len(v); i += 3 {
			g := 0
			for j := i; j < i+3; j++ {
				g *= len(nameAlphabet)
				if j < len(v) {
					g += int(nameCode[v[j]] - 1)
				}
			}
			w.b = binary.LittleEndian.AppendUint16(w.b, uint16(g))
		}
	}
}

// nameAlphabet holds the characters of most names a state refers to: rule
// and stage names, model versions, event and lead ids. A string made of them
// only is packed three characters to two bytes (40³ < 2¹⁶): a third off
// the string table, which is most of a typical state.
const nameAlphabet = "-.0123456789:_abcdefghijklmnopqrstuvwxyz"

// nameCode maps a byte to 1 + its index in nameAlphabet, 0 if not in it.
var nameCode = func() (c [256]byte) {
	for i := range len(nameAlphabet) {
		c[nameAlphabet[i]] = byte(i + 1)
	}
	return c
}()

// packable reports whether v is packed: made of nameAlphabet, and shorter
// so (a string of 1, 2 or 4 characters is not).
func packable(v string) bool {
	if n := len(v); n < 3 || n == 4 {
		return false
	}
	for i := range len(v) {
		if nameCode[v[i]] == 0 {
			return false
		}
	}
	return true
}

// packedLen is the number of bytes of a packed string of n characters.
func packedLen(n int) int { return (n + 2) / 3 * 2 }

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

// hits writes each hit log's instants newest first, each a step back from
// the one before (from ScoreAt for the newest). Points per hit are most
// often the same for every hit: then one number stands for all.
func (w *encoder) hits(hs []HitLog) {
	w.uvarint(uint64(len(hs)))
	for _, h := range hs {
		w.ref(h.Rule)
		w.uvarint(uint64(h.Count))
		w.uvarint(uint64(len(h.Times)))
		prev := w.scoreAt
		for j := len(h.Times) - 1; j >= 0; j-- {
			w.step(&prev, h.Times[j])
		}
		switch {
		case len(h.Pts) == 0:
			w.uvarint(ptsNone)
		case len(h.Pts) == len(h.Times) && allSame(h.Pts):
			w.uvarint(ptsSame)
			w.float(h.Pts[0])
		default:
			w.uvarint(uint64(len(h.Pts)) + ptsSame)
			for _, p := range h.Pts {
				w.float(p)
			}
		}
	}
}

// The header of a hit log's points: none, one number for each of its hit
// times, or ptsSame plus the count of the numbers that follow.
const (
	ptsNone = 0
	ptsSame = 1
)

// allSame reports whether every number of ps has the same bits (so -0 and
// +0 stay apart).
func allSame(ps []float64) bool {
	for _, p := range ps[1:] {
		if math.Float64bits(p) != math.Float64bits(ps[0]) {
			return false
		}
	}
	return true
}

func (w *encoder) transition(t *Transition) {
	w.ref(t.From)
	w.ref(t.To)
	w.time(t.At)
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
	extPast    = 6 // the accounts the lead belonged to before
)

func (s *State) appendExtensions(w *encoder) {
	section := func(tag uint64, body func(e *encoder)) {
		e := encoder{scoreAt: w.scoreAt, unit: w.unit}
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
			e.time(s.ResetAt)
			e.uvarint(uint64(len(s.Hits)))
			for _, h := range s.Hits {
				e.uvarint(uint64(h.Base))
			}
		})
	}
	if s.Visits != 0 || s.LastWebAt != 0 || s.SessionID != "" || len(s.VisitStarts) > 0 {
		section(extVisits, func(e *encoder) {
			e.uvarint(uint64(s.Visits))
			e.time(s.LastWebAt)
			e.uvarint(uint64(len(s.SessionID)))
			e.b = append(e.b, s.SessionID...)
			e.uvarint(uint64(len(s.VisitStarts)))
			for _, t := range s.VisitStarts {
				e.time(t)
			}
		})
	}
	if s.BANT != (BANTAnswers{}) {
		section(extBANT, func(e *encoder) {
			e.b = append(e.b, s.BANT.Known, s.BANT.Yes)
			e.varint(s.BANT.TimeframeBy)
			e.time(s.BANT.At)
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
	if len(s.PastAccounts) > 0 {
		section(extPast, func(e *encoder) {
			e.uvarint(uint64(len(s.PastAccounts)))
			for _, a := range s.PastAccounts {
				e.uvarint(uint64(len(a)))
				e.b = append(e.b, a...)
			}
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
		sub := decoder{b: r.b[:n], tab: r.tab, v1: r.v1, scoreAt: r.scoreAt, unit: r.unit, names: r.names, maxID: r.maxID}
		r.b = r.b[n:]
		switch tag {
		case extReset:
			s.ResetAt = sub.time()
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
			s.LastWebAt = sub.time()
			if l := sub.count(); l > len(sub.b) {
				sub.fail("session id overruns")
			} else {
				s.SessionID = string(sub.b[:l])
				sub.b = sub.b[l:]
			}
			if k := sub.count(); k > 0 {
				s.VisitStarts = make([]int64, k)
				for i := range s.VisitStarts {
					s.VisitStarts[i] = sub.time()
				}
			}
			if s.Visits == 0 && s.LastWebAt == 0 && s.SessionID == "" && len(s.VisitStarts) == 0 && sub.err == nil {
				sub.fail("empty visits section")
			}
		case extBANT:
			s.BANT.Known, s.BANT.Yes = sub.byte(), sub.byte()
			s.BANT.TimeframeBy = sub.varint()
			s.BANT.At = sub.time()
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
		case extPast:
			n := sub.count()
			for range n {
				if l := sub.count(); l > len(sub.b) || l == 0 {
					sub.fail("bad past accounts section")
					break
				} else {
					s.PastAccounts = append(s.PastAccounts, string(sub.b[:l]))
					sub.b = sub.b[l:]
				}
			}
			if n == 0 && sub.err == nil {
				sub.fail("empty past accounts section")
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
	// ids holds, for each string of tab, its name table id (0: the string
	// is written in the state's table) until appendTable turns it into the
	// string's reference. maxID is the largest id of a name in tab.
	ids      []uint64
	smallIDs [smallTable]uint64
	names    NameTable
	maxID    uint64
	// Instants are written as offsets in units of unit ms (1 or 1000).
	scoreAt, unit int64
}

const smallTable = 32

// add puts v in the string table (once), to be written there. The empty
// string is never in it: reference 0 stands for it.
func (w *encoder) add(v string) { w.put(v, false) }

// addName puts v in the string table (once), to be written as its name
// table id when the table has one. A string already in the table keeps
// the way it is written there: both ways decode to the same string.
func (w *encoder) addName(v string) { w.put(v, w.names != nil) }

func (w *encoder) put(v string, name bool) {
	if v == "" {
		return
	}
	if w.strs == nil {
		if slices.Contains(w.tab, v) {
			return
		}
		if len(w.tab) < smallTable {
			w.tab = append(w.tab, v)
			w.ids = append(w.ids, w.nameID(v, name))
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
		w.ids = append(w.ids, w.nameID(v, name))
	}
}

// nameID is v's name table id, when v is a name the table knows; else 0.
func (w *encoder) nameID(v string, name bool) uint64 {
	if !name {
		return 0
	}
	id, ok := w.names.NameID(v)
	if !ok || id == 0 {
		return 0
	}
	w.maxID = max(w.maxID, id)
	return id
}

func (w *encoder) uvarint(v uint64) { w.b = binary.AppendUvarint(w.b, v) }
func (w *encoder) varint(v int64)   { w.b = binary.AppendVarint(w.b, v) }

// ref writes 0 for the empty string, else the reference appendTable gave
// s (which add or addName put in the table).
func (w *encoder) ref(s string) {
	switch {
	case s == "":
		w.b = append(w.b, 0)
	case w.strs != nil:
		w.uvarint(w.ids[w.strs[s]])
	default:
		w.uvarint(w.ids[slices.Index(w.tab, s)])
	}
}

// time writes instant t as its offset back from ScoreAt.
func (w *encoder) time(t int64) { w.varint((w.scoreAt - t) / w.unit) }

// step writes instant t as its offset back from *prev, and moves *prev to t.
func (w *encoder) step(prev *int64, t int64) {
	w.varint((*prev - t) / w.unit)
	*prev = t
}

// float writes an integral number (±2⁵³, not -0) as a uvarint of its
// zigzag value shifted left by one — 0 and small counts of points take one
// byte — and anything else as floatRaw and its 8 bytes.
func (w *encoder) float(f float64) {
	if f == math.Trunc(f) && math.Abs(f) < 1<<53 && (f != 0 || !math.Signbit(f)) {
		n := int64(f)
		w.uvarint(uint64(n<<1^n>>63) << 1)
		return
	}
	w.b = append(w.b, floatRaw)
	w.b = binary.LittleEndian.AppendUint64(w.b, math.Float64bits(f))
}

// floatRaw marks a number written as its IEEE 754 bits (format 3).
const floatRaw = 1

// UnmarshalBinary decodes what MarshalBinary wrote, in the current format or
// in format 1. A state whose names are name table ids (AppendBinaryNames)
// needs UnmarshalBinaryNames: here it fails with ErrUnknownName.
func (s *State) UnmarshalBinary(data []byte) error {
	return s.UnmarshalBinaryNames(data, nil)
}

// UnmarshalBinaryNames decodes what AppendBinaryNames or MarshalBinary
// wrote, in any format, names written as ids looked up in names. It fails
// with an error wrapping ErrUnknownName when the state names an id names
// does not know, and with one wrapping ErrCorruptState for bytes that are
// not an encoded State.
func (s *State) UnmarshalBinaryNames(data []byte, names NameTable) (err error) {
	r := decoder{b: data, unit: 1, names: names}
	defer func() {
		switch {
		case r.unknown != 0:
			err = fmt.Errorf("%w: id %d", ErrUnknownName, r.unknown)
		case r.err != nil:
			err = fmt.Errorf("%w: %v", ErrCorruptState, r.err)
		}
	}()
	switch v := r.byte(); {
	case r.err != nil:
		return nil
	case v == stateFormat1:
		r.v1 = true
	case v == stateFormatNames:
		if r.maxID = r.uvarint(); r.maxID == 0 && r.err == nil {
			r.fail("format 4 without names")
		}
	case v != stateFormat:
		r.err = fmt.Errorf("unknown format %d", v)
		return nil
	}
	r.readTable()
	*s = State{}
	var flags byte
	if !r.v1 {
		flags = r.byte()
		if flags&^(flagIdentified|flagSeconds) != 0 {
			r.fail("unknown flags")
		}
		if flags&flagSeconds != 0 {
			r.unit = 1000
		}
	}
	s.Stage = r.ref()
	s.Model = r.ref()
	s.ScoreAt = r.varint() * r.unit
	r.scoreAt = s.ScoreAt
	s.StageSince = r.time()
	s.LastActive = r.time()
	s.StepsDone = r.byte()
	if r.v1 {
		flags = r.byte()
	}
	s.Identified = flags&flagIdentified != 0
	s.Grade = r.byte()
	s.Fit = r.float()
	s.Contribs = r.contribs()
	s.Traits = r.traits()
	s.Hits = r.hits()
	if n := r.count(); n > 0 {
		s.Seen = make([]Seen, n)
		if r.v1 {
			for i := range s.Seen {
				s.Seen[i] = Seen{Hash: r.uint64(), At: r.time()}
			}
		} else {
			prev := s.ScoreAt
			for i := n - 1; i >= 0; i-- {
				s.Seen[i] = Seen{Hash: r.uint64(), At: r.step(&prev)}
			}
		}
	}
	if n := r.count(); n > 0 {
		s.Recent = make([]Transition, n)
		for i := range s.Recent {
			r.transition(&s.Recent[i])
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
// holding them all: one allocation per state instead of one per string.
func (r *decoder) readTable() {
	n := r.count()
	section := r.b
	total := 0
	for i := 0; i < n && r.err == nil; i++ {
		var l uint64
		if r.v1 {
			l = uint64(r.count()) << 1 // format 1: no packing bit
		} else {
			l = r.uvarint()
		}
		size := l >> 1
		if l&1 != 0 {
			size = uint64(packedLen(int(min(size, 1<<40))))
		}
		if size > uint64(len(r.b)) {
			r.fail("string overruns")
			break
		}
		r.b = r.b[size:]
		total += int(l >> 1)
	}
	if r.err != nil {
		return
	}
	buf := make([]byte, 0, total)
	var small [smallTable]int // a typical table's ends stay on the stack
	ends := small[:0]
	if n > smallTable {
		ends = make([]int, 0, n)
	}
	ends = ends[:n]
	for i := range ends {
		l, k := binary.Uvarint(section) // validated by the first pass
		section = section[k:]
		if r.v1 {
			l <<= 1
		}
		if l&1 == 0 {
			buf = append(buf, section[:l>>1]...)
			section = section[l>>1:]
		} else if buf = unpackName(buf, section, int(l>>1)); buf == nil {
			r.fail("bad packed string")
			return
		} else {
			section = section[packedLen(int(l>>1)):]
		}
		ends[i] = len(buf)
	}
	all := string(buf)
	r.tab = make([]string, n)
	start := 0
	for i, end := range ends {
		r.tab[i] = all[start:end]
		start = end
	}
}

// unpackName appends the n characters packed in p to buf, or returns nil
// when p is not a packing appendTable writes.
func unpackName(buf, p []byte, n int) []byte {
	const a = len(nameAlphabet)
	for i := 0; i < n; i += 3 {
		g := int(binary.LittleEndian.Uint16(p[i/3*2:]))
		if g >= a*a*a {
			return nil
		}
		cs := [3]byte{nameAlphabet[g/(a*a)], nameAlphabet[g/a%a], nameAlphabet[g%a]}
		k := min(3, n-i)
		pad := 1
		for range 3 - k {
			pad *= a
		}
		if g%pad != 0 {
			return nil // the padding is code 0, so that equal strings have equal bytes
		}
		buf = append(buf, cs[:k]...)
	}
	return buf
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

func (r *decoder) hits() []HitLog {
	n := r.count()
	if n == 0 {
		return nil
	}
	hs := make([]HitLog, n)
	for i := range hs {
		h := HitLog{Rule: r.ref(), Count: uint32(r.uvarint())}
		if k := r.count(); k > 0 {
			h.Times = make([]int64, k)
			if r.v1 {
				for j := range h.Times {
					h.Times[j] = r.time()
				}
			} else {
				prev := r.scoreAt
				for j := k - 1; j >= 0; j-- {
					h.Times[j] = r.step(&prev)
				}
			}
		}
		h.Pts = r.pts(len(h.Times))
		hs[i] = h
	}
	return hs
}

// pts reads a hit log of times hit times' points.
func (r *decoder) pts(times int) []float64 {
	if r.v1 {
		k := r.count()
		if k == 0 {
			return nil
		}
		ps := make([]float64, k)
		for j := range ps {
			ps[j] = r.float()
		}
		return ps
	}
	h := r.uvarint()
	switch {
	case h == ptsNone:
		return nil
	case h == ptsSame:
		if times == 0 {
			r.fail("points for no hits")
			return nil
		}
		ps := make([]float64, times)
		p := r.float()
		for j := range ps {
			ps[j] = p
		}
		return ps
	case h-ptsSame > uint64(len(r.b)):
		r.fail("count overruns")
		return nil
	}
	ps := make([]float64, h-ptsSame)
	for j := range ps {
		ps[j] = r.float()
	}
	return ps
}

// transition decodes into *t, which must be zero.
func (r *decoder) transition(t *Transition) {
	t.From, t.To = r.ref(), r.ref()
	t.At = r.time()
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
	// v1: the bytes are format 1. Instants are offsets in units of unit ms.
	v1            bool
	scoreAt, unit int64
	// names looks up names written as ids (format 4), none above maxID;
	// unknown is the first id it did not know.
	names   NameTable
	maxID   uint64
	unknown uint64
}

// time reads an instant written as its offset back from ScoreAt.
func (r *decoder) time() int64 { return r.scoreAt - r.varint()*r.unit }

// step reads an instant written as its offset back from *prev, and moves
// *prev to it.
func (r *decoder) step(prev *int64) int64 {
	*prev -= r.varint() * r.unit
	return *prev
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
	if !r.v1 {
		if i == 0 {
			return ""
		}
		i--
	}
	if i < uint64(len(r.tab)) {
		return r.tab[i]
	}
	// Format 4: past the table, the reference is the table's length + a
	// name's id.
	id := i + 1 - uint64(len(r.tab))
	if id == 0 || id > r.maxID {
		r.fail("bad string reference")
		return ""
	}
	if r.names != nil {
		if n, ok := r.names.Name(id); ok {
			return n
		}
	}
	if r.unknown == 0 {
		r.unknown = id
	}
	r.fail("unknown name id")
	return ""
}

func (r *decoder) float() float64 {
	if !r.v1 {
		switch u := r.uvarint(); {
		case u&1 == 0:
			z := u >> 1
			return float64(int64(z>>1) ^ -int64(z&1))
		case u == floatRaw:
			return math.Float64frombits(r.uint64())
		}
		r.fail("bad number tag")
		return 0
	}
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
