package processor

import (
	"github.com/leadscore/leadscore/state"
)

// The outbox acknowledged by the commit (Config.CommitAck).
//
// A lead's stage changes wait in its outbox (the engine state's pending
// transitions) from the write that makes them until they are produced. The
// outbox used to be cleared by a second write of every such lead after the
// batch's commit: a round trip and a record rewrite for ~15 % of the leads
// of a batch. A sole owner knows better: it wrote the lead, produced the
// outbox and then committed the offsets of the events that made it. So a
// lead written by an event batch carries a mark (state.Update.CommitAck),
// and when the lead is next read, its outbox counts as produced if every
// offset the record holds lies below its partition's committed offset: the
// batch that wrote it has committed, and a batch produces before it
// commits. If it did not commit (a crash, a lost partition), those events
// are delivered again, the lead recognises them as applied, and the outbox
// is produced again with the same ids — as it always was.
//
// Writes of the timer sweep are not marked (time-driven changes have no
// offsets of their own) and are still acknowledged by a second write, as
// are tombstones and accounts.

// committedReporter is implemented by Kafka clients that know the group's
// committed offset of each owned partition from the moment they join (the
// franz-go client does). Without it the processor learns them from its own
// commits, and until then counts an outbox as not produced (produced again,
// with the same ids, after a restart).
type committedReporter interface {
	Committed() map[TopicPartition]int64
}

// learnCommitted merges the client's committed offsets into p.committed.
func (p *Processor) learnCommitted() {
	cr, ok := p.client.(committedReporter)
	if !ok || !p.cfg.CommitAck {
		return
	}
	for tp, off := range cr.Committed() {
		p.raiseCommitted(state.SourceKey(p.cfg.source(tp.Topic), tp.Partition), off)
	}
}

// raiseCommitted records that the group's committed offset of a source
// partition is at least off. Committed offsets only move forward here: an
// offset reset that re-reads history finds the records already applied.
func (p *Processor) raiseCommitted(src string, off int64) {
	if p.committed == nil {
		p.committed = map[string]int64{}
	}
	if c, ok := p.committed[src]; !ok || off > c {
		p.committed[src] = off
	}
}

// committedBatch records the commit of a batch's records: applied items and
// dead letters (records kept for a later batch were not committed).
func (b *batch) committedBatch() {
	if !b.p.cfg.CommitAck {
		return
	}
	for _, it := range b.items {
		b.p.raiseCommitted(it.src, it.rec.Offset+1)
	}
	for _, d := range b.dead {
		b.p.raiseCommitted(state.SourceKey(b.p.cfg.source(d.rec.Topic), d.rec.Partition), d.rec.Offset+1)
	}
}

// produced reports whether the outbox of a lead record marked CommitAck was
// produced: every offset of the record is below its partition's committed
// offset.
func (b *batch) produced(r state.Record) bool {
	if !b.p.cfg.CommitAck || !r.CommitAck() {
		return false
	}
	return r.OffsetsBelow(func(src string, off int64) bool {
		c, ok := b.p.committed[src]
		return ok && off < c
	})
}
