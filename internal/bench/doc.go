// Package bench is the benchmark harness behind `leadscore bench`: it generates a
// realistic event history (journeys) or a uniform one (each event a random
// lead's track), feeds it through Kafka (an in-process kfake broker, or outside
// brokers) and a real Redis, and measures, one scenario after the other on the
// same data:
//
//   - ceiling: consume → produce the same bytes, no decoding and no state — what
//     Kafka alone allows in this process;
//   - naive: decode, a Redis read and a Redis write per event, and a synchronous
//     produce per stage change — what a quick implementation does;
//   - franz-go and kafka-go: the leadscore processor with each Kafka backend;
//   - goka: a scorer built on github.com/lovoo/goka with leadscore's scoring
//     engine, state in a goka group table — the peer a Go team would build. It
//     is a module of its own (internal/bench/goka), built with the go command and run
//     as a process, so that goka stays out of the leadscore binary.
//
// For each it reports events per second (consuming a backlog), ratios to the
// ceiling, to the naive design and to goka, the latency from an event's produce to its
// stage change being readable on the output topic at a fixed offered rate of half
// the scenario's measured maximum, CPU seconds per million events (this process
// and the Redis server), peak RSS, Redis memory per lead and Redis commands per
// event. Run returns a Result, printed as a table (WriteTable) or JSON.
//
// Every scenario reads its own copy of the input on its own topics and writes
// under its own Redis key prefix, which it deletes afterwards. The processing
// clock stands at the history's start and moves with the wall clock, so timer
// sweeps run as in production but time-driven stage changes, which the naive
// design does not implement, do not fall due, and the naive and leadscore
// scenarios can be compared stage change by stage change (Result.Agreement).
//
// Config.Models runs the leadscore scenarios with several models side by side
// (the rules N times, named m1..mN, their points varied), to measure what each
// extra model costs; naive and goka run m1 alone, and agreement counts the
// models both sides ran.
package bench
