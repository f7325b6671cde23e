package backtest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/leadscore/leadscore/internal/journeys"
	"github.com/leadscore/leadscore/scoring"
)

// OutcomeKind is what the CRM says happened to a lead.
type OutcomeKind uint8

// Outcome kinds, in funnel order.
const (
	SQL         OutcomeKind = iota + 1 // sales-qualified (a hand-raise, or qualified by a rep)
	Opportunity                        // an opportunity was opened
	Won                                // the deal was won
	Lost                               // the deal was lost
)

var outcomeNames = [...]string{"", "sql", "opportunity", "won", "lost"}

// String returns the kind's name in outcomes files ("sql", "opportunity", "won", "lost").
func (k OutcomeKind) String() string {
	if int(k) < len(outcomeNames) && k > 0 {
		return outcomeNames[k]
	}
	return fmt.Sprintf("outcome(%d)", uint8(k))
}

// ParseOutcomeKind is the inverse of String, case-insensitive.
func ParseOutcomeKind(s string) (OutcomeKind, bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	for i, n := range outcomeNames {
		if i > 0 && n == s {
			return OutcomeKind(i), true
		}
	}
	return 0, false
}

// MarshalText writes the kind's name.
func (k OutcomeKind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText reads a kind's name.
func (k *OutcomeKind) UnmarshalText(b []byte) error {
	v, ok := ParseOutcomeKind(string(b))
	if !ok {
		return fmt.Errorf("unknown outcome %q (want sql, opportunity, won or lost)", b)
	}
	*k = v
	return nil
}

// DefaultPositive returns the outcome kinds that count as a conversion unless a
// Config says otherwise: a lead is an "actual positive" when it has any of them.
// Each call returns a new slice, since a Config keeps and may change its own.
func DefaultPositive() []OutcomeKind { return []OutcomeKind{SQL, Opportunity, Won} }

// Outcome is one line of an outcomes file: what the CRM knows happened to a lead,
// and when.
type Outcome struct {
	// Lead names the lead by any of its identities: an identity key ("user:crm-42",
	// "email:ann@example.com", "anon:…") or a bare userId or e-mail address. It is
	// resolved through the replay's identity index, so a stitched lead is found by
	// any of its identities.
	Lead string
	Kind OutcomeKind
	At   time.Time
}

type outcomeLine struct {
	Lead    string      `json:"lead"`
	Outcome OutcomeKind `json:"outcome"`
	At      string      `json:"at"`
}

// ReadOutcomes reads an outcomes file: JSON Lines of
//
//	{"lead": "user:crm-000042", "outcome": "sql", "at": "2026-03-02T09:20:00Z"}
//
// Blank lines are skipped and unknown keys ignored. Any other problem fails the
// whole file with its line number: outcomes are the ground truth of a backtest, so
// a bad line is never skipped silently. The result is sorted by time (stable).
func ReadOutcomes(r io.Reader) ([]Outcome, error) {
	var out []Outcome
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	line := 0
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		var l outcomeLine
		if err := json.Unmarshal(b, &l); err != nil {
			return nil, fmt.Errorf("outcomes line %d: %w", line, err)
		}
		if strings.TrimSpace(l.Lead) == "" {
			return nil, fmt.Errorf("outcomes line %d: lead is required", line)
		}
		if l.Outcome == 0 {
			return nil, fmt.Errorf("outcomes line %d: outcome is required (sql, opportunity, won or lost)", line)
		}
		if l.At == "" {
			return nil, fmt.Errorf("outcomes line %d: at is required (RFC 3339)", line)
		}
		at, err := time.Parse(time.RFC3339Nano, l.At)
		if err != nil {
			return nil, fmt.Errorf("outcomes line %d: at: %w", line, err)
		}
		out = append(out, Outcome{Lead: strings.TrimSpace(l.Lead), Kind: l.Outcome, At: at.UTC()})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading outcomes: line %d: %w", line+1, err)
	}
	SortOutcomes(out)
	return out, nil
}

// SortOutcomes sorts outcomes by time, keeping the given order among equal times.
func SortOutcomes(os []Outcome) {
	sort.SliceStable(os, func(i, j int) bool { return os[i].At.Before(os[j].At) })
}

// WriteOutcomes writes outcomes as JSON Lines, in the form ReadOutcomes reads.
func WriteOutcomes(w io.Writer, os []Outcome) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	for _, o := range os {
		l := outcomeLine{Lead: o.Lead, Outcome: o.Kind, At: o.At.UTC().Format("2006-01-02T15:04:05.000Z07:00")}
		if err := enc.Encode(&l); err != nil {
			return fmt.Errorf("writing outcomes: %w", err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("writing outcomes: %w", err)
	}
	return nil
}

// OutcomesFromTruth turns the ground truth of a journeys history into the outcomes
// a CRM would export: sql, opportunity, won and lost with their times, for every
// person the company could name (by userId, else by e-mail). People who never
// identified have no outcome. The result is sorted by time, then lead.
func OutcomesFromTruth(truths []journeys.Truth) []Outcome {
	var out []Outcome
	for _, t := range truths {
		lead := ""
		switch {
		case t.UserID != "":
			lead = scoring.PrefixUser + t.UserID
		case t.Email != "":
			lead = scoring.PrefixEmail + t.Email
		default:
			continue
		}
		for _, o := range []struct {
			k  OutcomeKind
			at time.Time
		}{{SQL, t.SQL}, {Opportunity, t.Opportunity}, {Won, t.Won}, {Lost, t.Lost}} {
			if !o.at.IsZero() {
				out = append(out, Outcome{Lead: lead, Kind: o.k, At: o.at.UTC()})
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].At.Equal(out[j].At) {
			return out[i].At.Before(out[j].At)
		}
		if out[i].Lead != out[j].Lead {
			return out[i].Lead < out[j].Lead
		}
		return out[i].Kind < out[j].Kind
	})
	return out
}

// IdentityKeys returns the identity keys an outcome's lead may be known by, in the
// order they are tried: an identity key as is (e-mail lower-cased); a bare value
// with an @ as an e-mail, then as a userId; any other bare value as a userId.
func IdentityKeys(lead string) []string {
	lead = strings.TrimSpace(lead)
	switch {
	case strings.HasPrefix(lead, scoring.PrefixUser), strings.HasPrefix(lead, scoring.PrefixAnon):
		return []string{lead}
	case strings.HasPrefix(lead, scoring.PrefixEmail):
		return []string{scoring.PrefixEmail + strings.ToLower(strings.TrimPrefix(lead, scoring.PrefixEmail))}
	case strings.Contains(lead, "@"):
		return []string{scoring.PrefixEmail + strings.ToLower(lead), scoring.PrefixUser + lead}
	}
	return []string{scoring.PrefixUser + lead}
}

// kindSet is a set of outcome kinds.
type kindSet uint8

func (s kindSet) has(k OutcomeKind) bool { return s&(1<<k) != 0 }

func setOf(ks []OutcomeKind) kindSet {
	var s kindSet
	for _, k := range ks {
		s |= 1 << k
	}
	return s
}

// pending is an outcome with its identity keys, waiting for its time in the replay.
type pending struct {
	Outcome
	keys     []string
	at       int64 // Unix ms
	positive bool
	due      bool // its time came during the replay
	settled  bool // took effect on a lead
	late     bool // …but only at an event after its time
	matched  bool // resolved to a lead at the end
}

func schedule(os []Outcome, positive kindSet) []pending {
	ps := make([]pending, len(os))
	for i, o := range os {
		ps[i] = pending{Outcome: o, keys: IdentityKeys(o.Lead), at: o.At.UnixMilli(), positive: positive.has(o.Kind)}
	}
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].at < ps[j].at })
	return ps
}
