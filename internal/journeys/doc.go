// Package journeys generates realistic, deterministic histories of B2B visitor
// journeys: the records that a Segment-spec tracking pipeline, the SendGrid Event
// Webhook and a CRM would publish to leadscore's three input topics, with ground
// truth about every simulated person.
//
// A Generator yields records one at a time, in order of publication time, from a
// Config (seed, number of people, start and span of the history, persona mix). The
// same Config gives the same records, byte for byte, so a history can be replayed
// in tests, fed to a real Kafka, used as a crash-test workload, or scored by
// backtests against its Truth. Memory is bounded by the people whose journey is in
// progress, not by the number of records; with Config.Endless the history never ends.
//
// People arrive uniformly over the span. Each is given a persona (anonymous browser,
// bot, newsletter subscriber, content reader, webinar attendee, demo watcher,
// pricing visitor, hand-raiser, lapsed lead, disengaged recipient) and a journey that
// mixes the three sources: anonymous page views, an identify or an identifying form,
// white papers, webinars and videos, monthly newsletters and nurture sequences
// (with Apple Mail Privacy Protection machine opens, clicks that lead back to the
// site, unsubscribes, bounces and spam reports), hand-raising forms, and the CRM's
// feedback days later (accepted, rejected with a reason, recycled, qualified with
// BANT answers, opportunity, won, lost, referral). About 0.5 % of records are
// re-sent verbatim, as at-least-once pipelines do.
//
// People who may identify belong to companies, several to one (a buying group
// of Config.PeoplePerCompany at most): once identified, each sends a Segment
// group call with the company's groupId and traits, and context.groupId on
// every later web call, so account-level scoring has accounts to score.
//
// Event names, page paths, e-mail categories and feedback kinds are those of
// examples/rules/b2b-saas.yaml (embedded as B2BRules), so replayed through those
// rules the simulated leads move through every stage of its funnel. Payload shapes
// are documented in docs/journeys.md.
package journeys
