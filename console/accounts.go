package console

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/leadscore/leadscore/api"
	"github.com/leadscore/leadscore/scoring"
	"github.com/leadscore/leadscore/state"
)

// The account pages (account-based scoring): the best accounts of an account
// stage and one account, under the first model that scores accounts (the
// one GET /v1/accounts answers for without ?model=).

// errNoAccounts is an account request in a process whose models score no
// accounts.
var errNoAccounts = errors.New("no model in force scores accounts (no accounts section in the rules)")

// accountEngine is the first model that scores accounts, nil if none does.
func (c *Console) accountEngine() *scoring.Engine {
	for _, e := range c.cfg.API.Models().Engines() {
		if e.Model().Accounts != nil {
			return e
		}
	}
	return nil
}

// accountStages names eng's account stages, in order (none for nil).
func accountStages(eng *scoring.Engine) []string {
	if eng == nil {
		return []string{}
	}
	return eng.Model().Accounts.StageNames()
}

// Accounts is the answer of GET /console/api/accounts: the best accounts of
// an account stage, as GET /v1/accounts?stage= ranks them, each with what
// its row shows of GET /v1/accounts/{id}.
type Accounts struct {
	Model    string       `json:"model,omitempty"`
	Stage    string       `json:"stage"`
	At       string       `json:"at"`
	Accounts []AccountRow `json:"accounts"`
}

// AccountRow is one account of the Accounts page. Members is how many
// current members it has (the row does not list them: an account may have
// hundreds).
type AccountRow struct {
	AccountID      string   `json:"account_id"`
	Stage          string   `json:"stage"`
	StageSince     *string  `json:"stage_since"`
	Engagement     float64  `json:"engagement"`
	EngagedMembers int      `json:"engaged_members"`
	Members        int      `json:"members"`
	Roles          []string `json:"roles"`
	Fit            float64  `json:"fit"`
	Grade          string   `json:"grade,omitempty"`
}

// maxAccountRows bounds the Accounts page: each row reads its account's
// record.
const maxAccountRows = 100

func (c *Console) accounts(w http.ResponseWriter, r *http.Request) {
	eng := c.accountEngine()
	if eng == nil {
		writeError(w, http.StatusNotFound, api.CodeNoAccounts, errNoAccounts.Error())
		return
	}
	q := r.URL.Query()
	limit := 25
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxAccountRows {
			writeError(w, http.StatusBadRequest, api.CodeInvalidLimit, fmt.Sprintf("limit %q: want 1 to %d", s, maxAccountRows))
			return
		}
		limit = n
	}
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	model, stage := eng.Model().Name, q.Get("stage")
	if stage == "" {
		var err error
		if stage, err = c.defaultAccountStage(ctx, eng); err != nil {
			c.storeError(w, "the account stages", err)
			return
		}
	}
	if eng.Model().Accounts.StageIndex(stage) < 0 {
		writeError(w, http.StatusBadRequest, api.CodeUnknownStage, fmt.Sprintf("stage %q is not an account stage of the model", stage))
		return
	}
	top, err := c.cfg.API.AccountLeaderboard(ctx, model, stage, limit)
	if err != nil {
		c.storeError(w, "account stage "+strconv.Quote(stage), err)
		return
	}
	out := Accounts{Model: top.Model, Stage: top.Stage, At: top.At, Accounts: make([]AccountRow, 0, len(top.Accounts))}
	for _, ra := range top.Accounts {
		a, _, err := c.cfg.API.LookupAccount(ctx, ra.AccountID, model)
		if errors.Is(err, state.ErrNotFound) {
			continue // erased (its last member) since the ranking was read
		}
		if err != nil {
			c.storeError(w, "account "+strconv.Quote(ra.AccountID), err)
			return
		}
		out.Accounts = append(out.Accounts, AccountRow{AccountID: a.AccountID, Stage: a.Stage, StageSince: a.StageSince,
			Engagement: a.Engagement, EngagedMembers: a.EngagedMembers, Members: len(a.Members), Roles: a.Roles, Fit: a.Fit, Grade: a.Grade})
	}
	writeJSON(w, http.StatusOK, out)
}

// defaultAccountStage is the page's stage when none is asked for: the
// highest account stage that holds an account (the accounts sales wants
// first), or the first stage when there is none at all.
func (c *Console) defaultAccountStage(ctx context.Context, eng *scoring.Engine) (string, error) {
	stages := eng.Model().Accounts.Stages
	for i := len(stages) - 1; i > 0; i-- {
		top, err := c.cfg.API.AccountLeaderboard(ctx, eng.Model().Name, stages[i].Name, 1)
		if err != nil {
			return "", err
		}
		if len(top.Accounts) > 0 {
			return stages[i].Name, nil
		}
	}
	return stages[0].Name, nil
}

// account is GET /console/api/account?id=: the account exactly as GET
// /v1/accounts/{id} answers it.
func (c *Console) account(ctx context.Context, id string) (any, error) {
	eng := c.accountEngine()
	if eng == nil {
		return nil, errNoAccounts
	}
	a, _, err := c.cfg.API.LookupAccount(ctx, id, eng.Model().Name)
	return a, err
}
