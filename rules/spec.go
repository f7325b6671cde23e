package rules

import (
	"fmt"
	"sort"
	"strings"
)

// key documents one key of the rules file. The same table drives the parser (a key
// not listed is an error) and the reference printed by `leadscore rules reference`
// and kept in docs/rules.md, so the two cannot drift apart.
type key struct {
	name string
	typ  string
	def  string
	doc  string
	sub  []key // keys of a nested mapping, or of each item of a list of mappings
}

var (
	boundsDoc   = "Points and score thresholds (every `points`, `cap.points`, `fit.grades`, `entry[].score` and `entry[].fit`, `exit.below`) lie within ±1 000 000; a larger value is refused with its line. A rules file is one YAML document: a second one after `---` is refused too."
	durationDoc = "Durations: a number followed by ms, s, m, h, d (days) or w (weeks), e.g. `30d`, `12h`; or a whole number of calendar months `mo` or years `y`, e.g. `3mo`, `1y`. A calendar period that starts on a day of the month ends on the same day that many months later (UTC, same time of day), or on the month's last day when it is shorter: windows, caps, inactivity steps and `inactive` criteria follow the calendar. A half-life or dedup window in months uses the average Gregorian month (30.436875 days)."

	matchKeys = []key{
		{"source", "string or list", "any", "Input stream: `web`, `email` or `feedback`.", nil},
		{"type", "string or list", "any", "Event type within the source: Segment `type` (track, page, screen, identify, alias, group), SendGrid `event` (open, click, bounce, unsubscribe, spamreport, …) or feedback kind. Case-insensitive.", nil},
		{"event", "glob or list", "any", "Segment track event name or page/screen name (`Whitepaper Downloaded`, `Pricing`). Case-insensitive glob.", nil},
		{"path", "glob or list", "any", "Page path, e.g. `/pricing`, `/blog/*`. `*` matches any run of characters, slashes included; `?` one character.", nil},
		{"url", "glob or list", "any", "Full URL (page URL, or the link clicked in an e-mail), e.g. `https://*.example.com/webinars/*`.", nil},
		{"category", "string or list", "any", "E-mail category (SendGrid `category`); matches when any of the event's categories is listed.", nil},
		{"properties", "mapping", "", "Property tests, by (dotted) property name. A scalar or list value means equals / one of (case-insensitive); or a mapping with one of `in`, `regex`, `min`/`max`, `exists`.", nil},
	}
	valueKeys = []key{
		{"in", "list", "", "The value equals one of these (case-insensitive).", nil},
		{"equals", "scalar", "", "The value equals this (case-insensitive).", nil},
		{"regex", "string", "", "The value matches this regular expression (RE2 syntax; `(?i)` for case-insensitive).", nil},
		{"min", "number", "", "Numeric value ≥ min.", nil},
		{"max", "number", "", "Numeric value ≤ max.", nil},
		{"range", "[min, max]", "", "Numeric value within [min, max]; either bound may be null.", nil},
		{"exists", "bool", "", "The value is present (true) or absent (false).", nil},
	}
	capKeys = []key{
		{"hits", "int", "", "At most this many scoring hits per window; further hits still count for stage criteria.", nil},
		{"points", "number", "", "At most this many points per window.", nil},
		{"per", "duration", "", "The rolling window, in event time.", nil},
	}
	ruleKeys = []key{
		{"name", "identifier", "required", "Unique rule name, used in explanations, criteria and output events. Letters, digits, `_`, `-`, `.`.", nil},
		{"points", "number", "required", "Points added (negative to remove) at each scoring hit.", nil},
		{"match", "mapping", "required", "Which events the rule scores; every key given must match.", matchKeys},
		{"once", "bool", "false", "Score at most once in the lead's life.", nil},
		{"once_per_visit", "bool", "false", "Score at most once per visit (session): the pricing page read five times in one visit scores once.", nil},
		{"cap", "mapping", "none", "Limit hits or points per rolling window (HubSpot-style score limits).", capKeys},
		{"tags", "list", "[]", "Labels for criteria, e.g. `high_intent` content for HMQL.", nil},
		{"activity", "bool", "points > 0", "Whether a hit counts as activity (resets the inactivity clock).", nil},
	}
	stepKeys = []key{
		{"after", "duration", "required", "Time without activity after which the step applies.", nil},
		{"points", "number", "required", "Points added (usually negative) when it applies.", nil},
		{"name", "identifier", "inactive_<after>", "Name shown in explanations and output events.", nil},
	}
	decayKeys = []key{
		{"half_life", "duration", "none", "Continuous exponential decay: every point is worth half after this long.", nil},
		{"inactivity", "list", "[]", "Steps applied once per period without activity, in order of `after`.", stepKeys},
	}
	fitRuleKeys = append([]key{
		{"name", "identifier", "required", "Unique fit rule name.", nil},
		{"trait", "path or list", "required", "Trait path(s), dotted for nested traits (`company.employee_count`); the first present is tested.", nil},
		{"points", "number", "required", "Fit points when the test passes.", nil},
	}, valueKeys...)
	gradeKeys = []key{
		{"A", "number", "required", "Minimum fit score for grade A.", nil},
		{"B", "number", "required", "Minimum fit score for grade B.", nil},
		{"C", "number", "required", "Minimum fit score for grade C; below is D.", nil},
	}
	fitKeys = []key{
		{"rules", "list", "[]", "Fit rules on traits.", fitRuleKeys},
		{"grades", "mapping", "A: 40, B: 25, C: 10", "Grade thresholds on the fit score.", gradeKeys},
	}
	countKeys = []key{
		{"count", "int", "1", "How many (hits, or visits).", nil},
		{"within", "duration", "ever", "Counted over this rolling window of event time.", nil},
	}
	entryKeys = []key{
		{"score", "number", "", "Engagement score (decayed) ≥ this.", nil},
		{"fit", "number", "", "Fit score ≥ this.", nil},
		{"grade", "A|B|C|D", "", "Fit grade at least this good.", nil},
		{"identified", "bool", "", "The lead is identified (a userId or e-mail is known).", nil},
		{"hits", "mapping", "", "Rule name → count, or → {count, within}: rule hits so far (or within the window).", countKeys},
		{"tags", "mapping", "", "Tag → count or {count, within}: hits of rules with that tag.", countKeys},
		{"trigger", "rule or list", "", "The current event hit one of these rules (demo request → SQL).", nil},
		{"trigger_tag", "tag or list", "", "The current event hit a rule with one of these tags.", nil},
		{"min_stage", "stage", "", "The lead is already at this (earlier) stage or later.", nil},
		{"account_stage", "account stage", "", "The lead's account is at this account stage or later (`accounts:` section), e.g. an MQL whose account is MQA → SQL. Gates entry only: it does not prolong a stay. When the account rises, its members are reconsidered at once (cause `account`).", nil},
		{"bant", "list", "", "BANT questions (budget, authority, need, timeframe) the lead's latest sales answers have true, e.g. `[budget, authority]`.", nil},
		{"timeframe_within", "duration", "", "The buyer's timeline (feedback `bant.timeframe_days`) ends within this period of now.", nil},
		{"visits", "int or mapping", "", "Visits (sessions) so far, or `{count, within}`: e.g. `{count: 3, within: 30d}` — three visits, not three page views.", countKeys},
	}
	exitKeys = []key{
		{"below", "number", "none", "Regress when the decayed score is below this and no entry alternative holds any more. Must not exceed any entry score threshold (hysteresis). Give `below`, `inactive` or both.", nil},
		{"inactive", "duration", "none", "Regress after this long without activity (a hit of a rule whose `activity` is true), counted from the later of the last activity and the stage's entry, whatever the score: \"no activity for 30 days → lapsed\".", nil},
		{"to", "stage", "required", "The earlier stage to regress to.", nil},
	}
	stageKeys = []key{
		{"name", "identifier", "required", "Stage name (visitor, lead, mql, …), unique.", nil},
		{"entry", "list", "none", "Alternatives: the stage is entered when every condition of any one holds. Without entry, a stage is reached only by feedback or regression.", entryKeys},
		{"exit", "mapping", "none", "Regression with hysteresis. Without exit, the stage never regresses by score (customer).", exitKeys},
		{"terminal", "bool", "false", "Left only by sales feedback (disqualified).", nil},
		{"description", "string", "", "Free text for people.", nil},
	}
	membershipKeys = []key{
		{"group", "bool", "true", "A Segment `group` call's `groupId`, or `context.groupId` on any call, puts the person in that account.", nil},
		{"email_domain", "bool", "false", "A person no group names joins the account of their e-mail's domain (`domain:acme.example`, subdomains folded), free-mail domains excluded.", nil},
		{"free_mail", "list", "built-in list", "More free-mail domains to exclude (`example.org`, or `provider.*` for every suffix).", nil},
	}
	roleKeys = []key{
		{"name", "identifier", "required", "Role name (decision_maker, champion, finance, …), used in stage criteria.", nil},
		{"trait", "path", "required", "The person's trait it reads, e.g. `title`.", nil},
		{"regex", "string", "required", "A member whose trait matches (RE2; `(?i)` for case-insensitive) holds the role. The first matching role is the member's.", nil},
	}
	accountEntryKeys = []key{
		{"engagement", "number", "", "Account engagement (the sum of the top members' decayed scores) ≥ this.", nil},
		{"engaged_members", "int", "", "At least this many members are engaged (score ≥ `engaged_score`): the buying group.", nil},
		{"roles", "list", "", "Engaged members hold each of these roles, e.g. `[decision_maker]`.", nil},
		{"fit", "number", "", "Account fit score ≥ this.", nil},
	}
	accountExitKeys = []key{
		{"below", "number", "required", "Regress when the engagement (decaying with the model's half-life) is below this; must not exceed the stage's entry engagement thresholds.", nil},
		{"to", "stage", "required", "The earlier account stage to regress to.", nil},
	}
	accountStageKeys = []key{
		{"name", "identifier", "required", "Account stage name (target, engaged, mqa, …), unique.", nil},
		{"entry", "list", "none", "Alternatives: the account enters the stage when every condition of any one holds.", accountEntryKeys},
		{"exit", "mapping", "none", "Regression when the engagement decays below a threshold.", accountExitKeys},
		{"description", "string", "", "Free text for people.", nil},
	}
	accountKeys = []key{
		{"membership", "mapping", "group", "How people join accounts.", membershipKeys},
		{"top", "int", "3", "Engagement is the sum of this many highest member scores (decayed).", nil},
		{"engaged_score", "number", "0 (any positive score)", "A member with at least this score counts in the buying group.", nil},
		{"roles", "list", "[]", "Buying-group roles, read from each person's traits.", roleKeys},
		{"fit", "mapping", "none", "Account fit on the account's traits (a `group` call's: industry, employees, …), with the syntax of lead fit.", fitKeys},
		{"stages", "list", "required", "The account funnel in order; the first is where every account starts.", accountStageKeys},
	}
	feedbackRuleKeys = []key{
		{"to", "stage", "required", "Target stage.", nil},
		{"from", "stage or list", "any", "Apply only when the lead is at one of these stages.", nil},
		{"reasons", "mapping", "", "Reason code → stage, overriding `to` (rejected: not_a_fit → disqualified).", nil},
		{"min_bant", "int 0–4", "0", "qualified: how many BANT answers (budget, authority, need, timeframe) of this feedback must be true.", nil},
		{"bant", "list", "[]", "BANT questions the lead's answers (this feedback's over earlier ones) must have true for the feedback to apply, e.g. `[budget, authority]`.", nil},
		{"timeframe_within", "duration", "none", "The buyer's timeline (`bant.timeframe_days`) must end within this period of the feedback.", nil},
		{"reset_score", "bool", "false", "Recycling: clear the engagement points, and count every stage criterion (hits, tags, visits) only from this feedback on, so the lead re-earns its way up. `once` stays for life.", nil},
	}
	feedbackKinds = []string{"accepted", "rejected", "recycled", "qualified", "opportunity", "won", "lost", "referral"}
	ignoreKeys    = []key{
		{"bots", "bool", "true", "Web events whose user agent is on the maintained crawler list (crawlerdetect: crawlers, headless browsers, HTTP libraries, monitors) score nothing.", nil},
		{"bot_user_agents", "list of regex", "[]", "Extra bot user-agent patterns.", nil},
		{"machine_opens", "bool", "true", "E-mail opens with `sg_machine_open: true` (Apple Mail Privacy Protection) score nothing.", nil},
		{"types", "list", "[]", "Event types that never score.", nil},
	}
	dedupKeys = []key{
		{"window", "duration", "48h", "Upstream re-sends (same messageId / sg_event_id) within this window of the lead's newest event count once.", nil},
		{"max", "int", "32", "At most this many recent event ids kept per lead.", nil},
	}
	visitKeys = []key{
		{"timeout", "duration", "30m", "A visit ends after this long without a page, screen or track call of the visitor (web analytics' session timeout); a change of the sender's session id (`context.sessionId`, `properties.session_id`) starts a new one whatever the gap.", nil},
	}
	topKeys = []key{
		{"version", "string", "required", "Model version, carried on every output event.", nil},
		{"name", "string", "none (one model); the file name when a process runs several", "Model name: which model a stage change, a leaderboard and a lead's score belong to when a process runs several rules files (letters, digits, _, - and .).", nil},
		{"description", "string", "", "Free text for people.", nil},
		{"decay", "mapping", "no decay", "How scores fade with time.", decayKeys},
		{"rules", "list", "required", "Engagement rules.", ruleKeys},
		{"fit", "mapping", "none", "Fit scoring on traits.", fitKeys},
		{"stages", "list", "required", "Funnel stages in order; the first is where every lead starts.", stageKeys},
		{"accounts", "mapping", "none", "Account-based scoring: people grouped into accounts (companies), scored from their members, with stages of their own (docs/models.md).", accountKeys},
		{"feedback", "mapping", "none", "Sales feedback kind → transition. Kinds: " + strings.Join(feedbackKinds, ", ") + ".", feedbackRuleKeys},
		{"ignore", "mapping", "", "Inputs that score nothing.", ignoreKeys},
		{"dedup", "mapping", "", "Recognising upstream re-sends.", dedupKeys},
		{"visits", "mapping", "", "How visits (sessions) are delimited.", visitKeys},
		{"recent_transitions", "int", "6", "Transitions kept per lead (API, re-emission after a crash).", nil},
	}
)

func keyNames(keys []key) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = k.name
	}
	sort.Strings(out)
	return out
}

// Reference returns the rules-file reference in Markdown, generated from the same
// key table the parser validates against.
func Reference() string {
	var b strings.Builder
	b.WriteString("| key | type | default | meaning |\n|---|---|---|---|\n")
	var walk func(prefix string, keys []key)
	walk = func(prefix string, keys []key) {
		for _, k := range keys {
			path := prefix + k.name
			fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", path, k.typ, k.def, k.doc)
			if len(k.sub) > 0 {
				sep := "."
				if strings.HasPrefix(k.typ, "list") {
					sep = "[]."
				}
				if k.name == "feedback" {
					sep = ".<kind>."
				}
				if k.name == "hits" || k.name == "tags" {
					sep = ".<name>."
				}
				if k.name == "visits" {
					sep = "."
				}
				walk(path+sep, k.sub)
			}
		}
	}
	walk("", topKeys)
	b.WriteString("\n" + durationDoc + "\n\n" + boundsDoc + "\n")
	return b.String()
}
