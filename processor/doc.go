// Package processor is leadscore's stream processor: it consumes web, e-mail and
// sales-feedback topics, scores events with the engine, keeps lead state in Redis
// and emits stage changes and dead letters — committing input offsets only after the
// state write and the output produce have succeeded.
package processor
