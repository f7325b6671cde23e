package state

import "strings"

// Account records (account-based scoring, scoring/abm.go) live in the store
// beside the lead records, with the same compare-and-set, leaderboards,
// timers and outbox. Their ids and leaderboard names are defined here, with
// BoardName, because two packages write them: the processor, which applies
// member updates, and the API, which removes an erased person from their
// accounts.

// AccountRecordPrefix starts the record id of every account in the state
// store ("account:acme", "account:b2b-abm/acme" for a named model): no lead
// id does, lead ids being identity keys ("user:…", "anon:…", "email:…").
const AccountRecordPrefix = "account:"

// AccountRecordID is the state-store record id of an account under a model
// (its name; "" for a process's one unnamed model).
func AccountRecordID(model, account string) string {
	if model == "" {
		return AccountRecordPrefix + account
	}
	return AccountRecordPrefix + model + "/" + account
}

// AccountBoard is the leaderboard of a model's account stage.
func AccountBoard(model, stage string) string {
	return AccountRecordPrefix + BoardName(model, stage)
}

// IsAccountRecord reports whether a state-store record id is an account's.
func IsAccountRecord(id string) bool { return strings.HasPrefix(id, AccountRecordPrefix) }

// ValidRecordID reports why the store cannot hold a record under id (empty,
// too long, a reserved first byte), or nil. Account ids are free-form
// (Segment groupIds), so an account record id can be one the store refuses:
// such an account has no record.
func ValidRecordID(id string) error { return validLeadID(id) }
