// Package backtest tests scoring rules on history before they are deployed, and
// suggests points from it.
//
// A backtest streams an event log (the JSON Lines `leadscore score` reads) through
// the replay runner — the same engine and identity stitching as the live path — under
// one rules file, or two to compare them, and measures the result against outcomes
// the CRM knows (sql, opportunity, won, lost, with their times): funnel counts per
// stage, MQLs per week, the conversion rate by score band (a calibration table),
// precision and recall of the MQL and SQL definitions, and the time from a lead's
// first identified event to MQL and SQL. With two rules files it lists the leads
// whose stage differs and why. Reports are written as text, JSON, or one
// self-contained HTML page with SVG charts.
//
// Calibrate fits an L2-regularised logistic regression of conversion on each lead's
// decay-weighted rule hits (or event kinds, without a rules file), measured before
// the lead's outcome, reports each rule's lift among converting leads, and proposes
// points: a rules file and a diff against the base.
//
// Memory is bounded by the number of leads, not of events. Definitions and formulas
// are in docs/backtest.md; package synth makes histories with known ground truth.
package backtest
