// Package processor is leadscore's stream processor: it consumes web, e-mail and
// sales-feedback topics, scores events with the engine, keeps lead state in Redis
// and emits stage changes and dead letters — committing input offsets only after the
// state write and the output produce have succeeded.
//
// Order and time: each batch is merged by event time across its partitions and
// applied only as far as every partition the broker still holds records of is
// covered (merge.go; the rest is kept with Client.Keep and polled again), in the
// canonical order the offline oracle uses (scoring.CompareEvents); timers fire on
// the event-time watermark of the owned partitions (clock.go). With one processor
// owning every input partition, a backlog gives the oracle's stage changes and lead
// states; see docs/processing.md, "Order and time".
package processor
