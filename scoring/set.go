package scoring

import (
	"encoding/binary"
	"fmt"
	"slices"
)

// Set is the models one process runs side by side — one per product line or
// region, say — over the same leads and the same input: every event is
// applied under each model, to that model's own state of the lead (score,
// stage, fit, timers). Identity is shared: a stitch merges every model's
// state of the absorbed lead into the same model's state of the survivor.
//
// A Set is immutable and safe for concurrent use.
type Set struct {
	engines []*Engine
}

// NewSet returns the set of the given engines, in that order. With more than
// one, every model needs a distinct, non-empty Name: it tells their stage
// changes, leaderboards and states apart.
func NewSet(engines ...*Engine) (*Set, error) {
	if len(engines) == 0 {
		return nil, fmt.Errorf("scoring: a set needs at least one model")
	}
	seen := map[string]bool{}
	for _, e := range engines {
		name := e.Model().Name
		if len(engines) > 1 && name == "" {
			return nil, fmt.Errorf("scoring: model %s has no name; with several models each needs one", e.Model().Version)
		}
		if seen[name] {
			return nil, fmt.Errorf("scoring: two models are named %q", name)
		}
		seen[name] = true
	}
	return &Set{engines: slices.Clone(engines)}, nil
}

// SingleSet is the set of one engine, for callers that run one model.
func SingleSet(e *Engine) *Set { return &Set{engines: []*Engine{e}} }

// Engines returns the set's engines in order. The slice must not be modified.
func (s *Set) Engines() []*Engine { return s.engines }

// HasAccounts reports whether a model of the set scores accounts.
func (s *Set) HasAccounts() bool {
	for _, e := range s.engines {
		if e.m.Accounts != nil {
			return true
		}
	}
	return false
}

// Len is the number of models.
func (s *Set) Len() int { return len(s.engines) }

// Find returns the index of the model named name.
func (s *Set) Find(name string) (int, bool) {
	for i, e := range s.engines {
		if e.Model().Name == name {
			return i, true
		}
	}
	return 0, false
}

// Names lists the models' names in order.
func (s *Set) Names() []string {
	names := make([]string, len(s.engines))
	for i, e := range s.engines {
		names[i] = e.Model().Name
	}
	return names
}

// Lead is one lead's state under every model of a Set: States[i] belongs to
// the set's i-th model.
type Lead struct {
	States []State
	// kept holds, as stored, the states of models the lead has but the set
	// does not run (a model taken out, or not deployed on this process yet),
	// so that writing the lead does not lose them.
	kept []keptState
}

type keptState struct {
	name string
	data []byte
}

// NewLead returns the state of a lead never seen before under every model.
func (s *Set) NewLead() Lead {
	l := Lead{States: make([]State, len(s.engines))}
	for i, e := range s.engines {
		l.States[i] = e.NewState()
	}
	return l
}

// AbsorbedLead is a lead being stitched into another (see Absorbed); Lead is
// nil when it has no state.
type AbsorbedLead struct {
	ID   string
	Lead *Lead
}

// ApplyStitched applies ev, after the stitches absorbed asks for, under every
// model (Engine.ApplyStitched), and returns each model's outcome in set order.
// outs is reused when it has room.
func (s *Set) ApplyStitched(l *Lead, absorbed []AbsorbedLead, ev *Event, outs []Outcome) []Outcome {
	return s.ApplyStitchedViewing(l, absorbed, ev, outs, nil)
}

// UsesAccountStages reports whether a model of the set has account_stage
// conditions (Model.UsesAccountStages).
func (s *Set) UsesAccountStages() bool {
	for _, e := range s.engines {
		if e.m.accountConds {
			return true
		}
	}
	return false
}

// ApplyStitchedViewing is ApplyStitched with a view of the accounts for the
// models whose criteria read the lead's account (AccountView); view may be
// nil when no model does.
func (s *Set) ApplyStitchedViewing(l *Lead, absorbed []AbsorbedLead, ev *Event, outs []Outcome, view AccountView) []Outcome {
	outs = outs[:0]
	var buf [4]Absorbed
	for i, e := range s.engines {
		abs := buf[:0]
		for _, a := range absorbed {
			var st *State
			if a.Lead != nil {
				st = &a.Lead.States[i]
			}
			abs = append(abs, Absorbed{ID: a.ID, State: st})
		}
		outs = append(outs, e.applyStitched(&l.States[i], abs, ev, accountRead{view: view, model: i}))
	}
	return outs
}

// Summary folds the models' outcomes of one event into one, for counting:
// applied when any model applied it, a duplicate when every model had seen
// it, otherwise ignored (with the first model's reason); late when any model
// found it late. Its Transitions are nil: they belong to their models.
func Summary(outs []Outcome) Outcome {
	if len(outs) == 1 {
		o := outs[0]
		o.Transitions = nil
		return o
	}
	var sum Outcome
	dup := true
	for _, o := range outs {
		sum.Late = sum.Late || o.Late
		sum.Points += o.Points
		sum.Hits += o.Hits
		switch o.Status {
		case Applied:
			sum.Status = Applied
		case Ignored:
			if sum.Why == "" {
				sum.Why = o.Why
			}
		}
		dup = dup && o.Status == Duplicate
	}
	switch {
	case sum.Status == Applied:
		sum.Why = ""
	case dup:
		sum.Status = Duplicate
	default:
		sum.Status = Ignored
	}
	return sum
}

// NextChange is the earliest time-driven change of any model.
func (s *Set) NextChange(l *Lead) (int64, bool) {
	var next int64
	found := false
	for i, e := range s.engines {
		if t, ok := e.NextChange(&l.States[i]); ok && (!found || t < next) {
			next, found = t, true
		}
	}
	return next, found
}

// Advance brings every model's state to t (Engine.Advance) and returns the
// number of stage changes it fired.
func (s *Set) Advance(l *Lead, t int64) int {
	n := 0
	for i, e := range s.engines {
		n += len(e.Advance(&l.States[i], t))
	}
	return n
}

// AdvanceEach is Advance returning each model's transitions, in set order.
func (s *Set) AdvanceEach(l *Lead, t int64) [][]Transition {
	out := make([][]Transition, len(s.engines))
	for i, e := range s.engines {
		out[i] = e.Advance(&l.States[i], t)
	}
	return out
}

// Pending is the number of transitions in the lead's outboxes (State.Pending)
// over every model.
func (l *Lead) Pending() int {
	n := 0
	for i := range l.States {
		n += l.States[i].Pending
	}
	return n
}

// ClearPending marks every model's outbox as produced.
func (l *Lead) ClearPending() {
	for i := range l.States {
		l.States[i].Pending = 0
	}
}

// leadFormat is the first byte of an encoded Lead holding several models'
// states; a lead of one model is encoded as that State alone (stateFormat),
// byte for byte as before models had names.
const leadFormat = 2

// AppendBinary appends the encoding of l to b: with one state and nothing
// kept, the state's own encoding; otherwise leadFormat, the number of
// states, then each as its model's name and its encoding, both
// length-prefixed. names are the set's model names (Set.Names).
func (l *Lead) AppendBinary(b []byte, names []string) ([]byte, error) {
	return l.AppendBinaryNames(b, names, nil)
}

// AppendBinaryNames is AppendBinary with each state encoded by
// State.AppendBinaryNames and table: the names its state draws from the
// rules are written as table ids. Decode it with Set.DecodeNames.
func (l *Lead) AppendBinaryNames(b []byte, names []string, table NameTable) ([]byte, error) {
	if len(l.States) == 1 && len(l.kept) == 0 {
		return l.States[0].AppendBinaryNames(b, table)
	}
	b = append(b, leadFormat)
	b = binary.AppendUvarint(b, uint64(len(l.States)+len(l.kept)))
	for i := range l.States {
		b = binary.AppendUvarint(b, uint64(len(names[i])))
		b = append(b, names[i]...)
		// The state's length is not known before it is encoded: reserve the
		// most a uvarint of it can take and close the gap after.
		at := len(b)
		b = append(b, make([]byte, binary.MaxVarintLen32)...)
		var err error
		if b, err = l.States[i].AppendBinaryNames(b, table); err != nil {
			return nil, err
		}
		n := len(b) - at - binary.MaxVarintLen32
		var hdr [binary.MaxVarintLen32]byte
		k := binary.PutUvarint(hdr[:], uint64(n))
		copy(b[at+k:], b[at+binary.MaxVarintLen32:])
		copy(b[at:], hdr[:k])
		b = b[:len(b)-(binary.MaxVarintLen32-k)]
	}
	for _, k := range l.kept {
		b = binary.AppendUvarint(b, uint64(len(k.name)))
		b = append(b, k.name...)
		b = binary.AppendUvarint(b, uint64(len(k.data)))
		b = append(b, k.data...)
	}
	return b, nil
}

// Decode decodes a lead encoded by Lead.AppendBinary. A state encoded alone
// (a lead written while the process ran one model) is the set's first
// model's; a model of the set the lead has no state for starts new; states
// of models the set does not run are kept as they are.
func (s *Set) Decode(data []byte) (Lead, error) {
	return s.DecodeNames(data, nil)
}

// DecodeNames is Decode for a lead encoded by Lead.AppendBinaryNames: names
// written as ids are looked up in table. Its error wraps ErrUnknownName
// when a state names an id table does not know (see MaxNameID).
func (s *Set) DecodeNames(data []byte, table NameTable) (Lead, error) {
	l := Lead{States: make([]State, len(s.engines))}
	if len(data) == 0 || data[0] != leadFormat {
		if err := l.States[0].UnmarshalBinaryNames(data, table); err != nil {
			return l, err
		}
		for i := 1; i < len(s.engines); i++ {
			l.States[i] = s.engines[i].NewState()
		}
		return l, nil
	}
	have := make([]bool, len(s.engines))
	r := data[1:]
	n, k := binary.Uvarint(r)
	if k <= 0 || n > uint64(len(r)) {
		return l, ErrCorruptState
	}
	r = r[k:]
	for range n {
		name, ok1 := nextField(&r)
		st, ok2 := nextField(&r)
		if !ok1 || !ok2 {
			return l, ErrCorruptState
		}
		i, ok := s.Find(string(name))
		if !ok || have[i] {
			l.kept = append(l.kept, keptState{name: string(name), data: slices.Clone(st)})
			continue
		}
		if err := l.States[i].UnmarshalBinaryNames(st, table); err != nil {
			return l, fmt.Errorf("model %s: %w", name, err)
		}
		have[i] = true
	}
	if len(r) != 0 {
		return l, ErrCorruptState
	}
	for i, ok := range have {
		if !ok {
			l.States[i] = s.engines[i].NewState()
		}
	}
	return l, nil
}

// MaxNameID returns the largest name table id that an encoded lead or
// state (Lead.AppendBinaryNames, State.AppendBinaryNames) names, 0 when it
// names none, reading only the header of each state. A reader whose copy
// of the table knows every id up to it decodes the lead without meeting
// ErrUnknownName; one whose copy is older can load a newer one first. For
// bytes that are not an encoded lead it returns 0: decoding them reports
// the error.
func MaxNameID(data []byte) uint64 {
	header := func(st []byte) uint64 {
		if len(st) < 2 || st[0] != stateFormatNames {
			return 0
		}
		id, k := binary.Uvarint(st[1:])
		if k <= 0 {
			return 0
		}
		return id
	}
	if len(data) == 0 || data[0] != leadFormat {
		return header(data)
	}
	r := data[1:]
	n, k := binary.Uvarint(r)
	if k <= 0 {
		return 0
	}
	r = r[k:]
	top := uint64(0)
	for range min(n, uint64(len(r))) {
		_, ok1 := nextField(&r)
		st, ok2 := nextField(&r)
		if !ok1 || !ok2 {
			break
		}
		top = max(top, header(st))
	}
	return top
}

// nextField cuts the next length-prefixed field of an encoded Lead off *r.
func nextField(r *[]byte) ([]byte, bool) {
	n, k := binary.Uvarint(*r)
	if k <= 0 || n > uint64(len(*r)-k) {
		return nil, false
	}
	v := (*r)[k : k+int(n)]
	*r = (*r)[k+int(n):]
	return v, true
}

// Membership is, under one model, the account of a lead and of each lead an
// event is about to stitch into it (by lead id), as they were before the
// event: what the event's member updates need to say who left which account.
type Membership struct {
	Lead     string
	Absorbed map[string]string
}

// Memberships returns the lead's memberships before an event under every
// model (zero for a model without accounts), or nil when no model of the set
// scores accounts.
func (s *Set) Memberships(l *Lead, absorbed []AbsorbedLead) []Membership {
	if !s.HasAccounts() {
		return nil
	}
	out := make([]Membership, len(s.engines))
	for i, e := range s.engines {
		if e.m.Accounts == nil {
			continue
		}
		out[i].Lead = l.States[i].Account
		for _, a := range absorbed {
			if a.Lead != nil && a.Lead.States[i].Account != "" {
				if out[i].Absorbed == nil {
					out[i].Absorbed = map[string]string{}
				}
				out[i].Absorbed[a.ID] = a.Lead.States[i].Account
			}
		}
	}
	return out
}

// MemberUpdates passes to emit, model by model, what ev — just applied to
// lead (now l) with outcomes outs, the lead's memberships before it being
// before (Memberships) — tells the accounts (Engine.MemberUpdates). The live
// processor and the oracle both call it, so they update accounts alike.
func (s *Set) MemberUpdates(lead string, l *Lead, before []Membership, outs []Outcome, ev *Event, emit func(model int, u *MemberUpdate)) {
	if before == nil {
		return
	}
	for i, e := range s.engines {
		if e.m.Accounts == nil || outs[i].Status != Applied {
			continue
		}
		ups := e.MemberUpdates(lead, &l.States[i], before[i].Lead, before[i].Absorbed, ev)
		for j := range ups {
			emit(i, &ups[j])
		}
	}
}
