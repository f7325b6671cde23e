// Package output builds leadscore's output records: the stage-change event that
// sales tools consume and the dead letter that keeps bad input. Both follow the JSON
// Schemas in schemas/ (stage-change.schema.json, dead-letter.schema.json); the live
// processor and the offline oracle build them here, so they are byte-compatible.
package output

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/leadscore/leadscore/scoring"
)

// StageChange is the event written to the stage-change topic (key = LeadID).
type StageChange struct {
	ID             string                 `json:"id"`
	Type           string                 `json:"type"`
	LeadID         string                 `json:"lead_id"`
	Identities     Identities             `json:"identities"`
	From           string                 `json:"from"`
	To             string                 `json:"to"`
	Direction      string                 `json:"direction"`
	Score          float64                `json:"score"`
	Fit            float64                `json:"fit"`
	Grade          string                 `json:"grade,omitempty"`
	Cause          Cause                  `json:"cause"`
	TriggerEventID *string                `json:"trigger_event_id"`
	Contributors   []scoring.Contribution `json:"contributors"`
	EventTime      string                 `json:"event_time"`
	ProcessedAt    string                 `json:"processed_at"`
	// Model is the name of the model that decided the change, when the
	// process runs named models (scoring.Model.Name); it is part of the id.
	Model        string `json:"model,omitempty"`
	ModelVersion string `json:"model_version"`
	// Late marks a change caused by a late event (scoring.Transition.Late).
	// It is not part of the id: the same change decided on time or late is
	// the same change.
	Late bool `json:"late,omitempty"`
}

// Identities lists the ids a lead is known by.
type Identities struct {
	UserID       string   `json:"user_id,omitempty"`
	AnonymousIDs []string `json:"anonymous_ids,omitempty"`
	Emails       []string `json:"emails,omitempty"`
}

// Cause says what moved the lead.
type Cause struct {
	Kind     string `json:"kind"`
	Rule     string `json:"rule,omitempty"`
	Feedback string `json:"feedback,omitempty"`
	Reason   string `json:"reason,omitempty"`
}

// IdentitiesFromKeys sorts identity keys ("user:…", "anon:…", "email:…") into an
// Identities value, deterministically.
func IdentitiesFromKeys(keys []string) Identities {
	var id Identities
	sorted := append([]string(nil), keys...)
	sort.Strings(sorted)
	for _, k := range sorted {
		switch {
		case strings.HasPrefix(k, scoring.PrefixUser):
			if id.UserID == "" {
				id.UserID = k[len(scoring.PrefixUser):]
			}
		case strings.HasPrefix(k, scoring.PrefixAnon):
			id.AnonymousIDs = append(id.AnonymousIDs, k[len(scoring.PrefixAnon):])
		case strings.HasPrefix(k, scoring.PrefixEmail):
			id.Emails = append(id.Emails, k[len(scoring.PrefixEmail):])
		}
	}
	return id
}

// TransitionID is the deterministic id of a stage change: the same model,
// lead, move, instant and cause always give the same id, so a re-emitted
// change after a crash or replay is recognisable as a duplicate downstream.
// An unnamed model's ids are those of the time before models had names.
func TransitionID(model, lead string, tr *scoring.Transition) string {
	h := sha256.New()
	if model != "" {
		h.Write([]byte("model\x00"))
		h.Write([]byte(model))
		h.Write([]byte{0})
	}
	for _, s := range []string{lead, tr.From, tr.To, strconv.FormatInt(tr.At, 10), tr.TriggerID,
		tr.Cause.Kind.String(), tr.Cause.Rule, tr.Cause.Feedback, tr.Cause.Reason} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return "sc_" + hex.EncodeToString(h.Sum(nil)[:16])
}

// NewStageChange builds the output event for transition tr of lead. processedAt is
// when the processor produced it (the oracle passes the transition's own instant,
// so its output is reproducible byte for byte).
func NewStageChange(e *scoring.Engine, lead string, ids Identities, tr *scoring.Transition, processedAt int64) StageChange {
	sc := StageChange{
		ID:             TransitionID(e.Model().Name, lead, tr),
		Type:           "stage_change",
		LeadID:         lead,
		Identities:     ids,
		From:           tr.From,
		To:             tr.To,
		Direction:      e.Direction(tr.From, tr.To),
		Score:          Round(tr.Score),
		Fit:            Round(tr.Fit),
		Cause:          Cause{Kind: tr.Cause.Kind.String(), Rule: tr.Cause.Rule, Feedback: tr.Cause.Feedback, Reason: tr.Cause.Reason},
		Contributors:   make([]scoring.Contribution, len(tr.Top)),
		EventTime:      FormatTime(tr.At),
		ProcessedAt:    FormatTime(processedAt),
		Model:          e.Model().Name,
		ModelVersion:   e.Model().Version,
		Late:           tr.Late,
		Grade:          Grade(tr.Grade),
		TriggerEventID: Optional(tr.TriggerID),
	}
	for i, c := range tr.Top {
		sc.Contributors[i] = scoring.Contribution{Rule: c.Rule, Points: Round(c.Points)}
	}
	return sc
}

// Marshal encodes a stage change as JSON: the bytes json.Marshal gives, written
// without reflection (encode.go).
func (sc *StageChange) Marshal() ([]byte, error) { return appendStageChange(make([]byte, 0, 1024), sc) }

// FormatTime renders Unix milliseconds as RFC 3339 UTC with milliseconds.
func FormatTime(ms int64) string {
	return time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z07:00")
}

// Grade is a fit grade as outputs write it: "" when there is none (0).
func Grade(g byte) string {
	if g == 0 {
		return ""
	}
	return string(g)
}

// Optional is s as a nullable JSON string: nil when s is empty (a trigger
// event id, which a time-driven change has not).
func Optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// Round keeps scores in outputs readable (6 decimals); state keeps full precision.
// Stage changes, the API and the oracle's lead lines all round with it.
func Round(f float64) float64 {
	v, _ := strconv.ParseFloat(strconv.FormatFloat(f, 'f', 6, 64), 64)
	return v
}

// AccountStageChange is the output event of an account moving between
// account stages (accounts.stage-changes topic): its engagement, buying
// group and the members that make the engagement, and what moved it.
type AccountStageChange struct {
	ID        string `json:"id"`
	Type      string `json:"type"`
	AccountID string `json:"account_id"`
	From      string `json:"from"`
	To        string `json:"to"`
	Direction string `json:"direction"`
	// Engagement is the sum of the top members' decayed scores; Members
	// are those members (lead id and score), highest first.
	Engagement float64       `json:"engagement"`
	Members    []MemberScore `json:"members"`
	// EngagedMembers and Roles are the buying group: members engaged
	// enough to count, and the roles they hold.
	EngagedMembers int      `json:"engaged_members"`
	Roles          []string `json:"roles"`
	Fit            float64  `json:"fit"`
	Grade          string   `json:"grade,omitempty"`
	Cause          Cause    `json:"cause"`
	// TriggerEventID is the member event that moved the account (null for
	// a decay).
	TriggerEventID *string `json:"trigger_event_id"`
	EventTime      string  `json:"event_time"`
	ProcessedAt    string  `json:"processed_at"`
	Model          string  `json:"model,omitempty"`
	ModelVersion   string  `json:"model_version"`
}

// MemberScore is one member's part of an account's engagement.
type MemberScore struct {
	LeadID string  `json:"lead_id"`
	Score  float64 `json:"score"`
}

// AccountTransitionID is the deterministic id of an account stage change
// ("ac_" and 32 hex digits), from the same parts as TransitionID's.
func AccountTransitionID(model, account string, tr *scoring.Transition) string {
	return "ac_" + TransitionID(model, "account\x00"+account, tr)[3:]
}

// NewAccountStageChange builds the output event of transition tr of
// account a under e's model, as processed at processedAt.
func NewAccountStageChange(e *scoring.Engine, id string, tr *scoring.Transition, processedAt int64) AccountStageChange {
	sc := AccountStageChange{
		ID:             AccountTransitionID(e.Model().Name, id, tr),
		Type:           "account_stage_change",
		AccountID:      id,
		From:           tr.From,
		To:             tr.To,
		Direction:      e.AccountDirection(tr.From, tr.To),
		Engagement:     Round(tr.Score),
		Members:        make([]MemberScore, len(tr.Top)),
		EngagedMembers: tr.EngagedMembers,
		Roles:          slices.Clone(tr.Roles),
		Fit:            Round(tr.Fit),
		Cause:          Cause{Kind: tr.Cause.Kind.String()},
		EventTime:      FormatTime(tr.At),
		ProcessedAt:    FormatTime(processedAt),
		Model:          e.Model().Name,
		ModelVersion:   e.Model().Version,
		Grade:          Grade(tr.Grade),
		TriggerEventID: Optional(tr.TriggerID),
	}
	if sc.Roles == nil {
		sc.Roles = []string{}
	}
	for i, c := range tr.Top {
		sc.Members[i] = MemberScore{LeadID: c.Rule, Score: Round(c.Points)}
	}
	return sc
}

// Marshal encodes an account stage change as JSON.
func (sc *AccountStageChange) Marshal() ([]byte, error) { return json.Marshal(sc) }
