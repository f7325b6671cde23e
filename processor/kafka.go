package processor

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"time"
)

// Record is one Kafka record as the processor sees it, whichever client read it.
type Record struct {
	Topic     string
	Partition int32
	Offset    int64
	Key       []byte
	Value     []byte
	Headers   []Header
	Timestamp time.Time
}

// Header is a Kafka record header.
type Header struct {
	Key   string
	Value []byte
}

// TopicPartition names one partition.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// CompareTopicPartitions orders partitions by topic, then by number (for
// slices.SortFunc).
func CompareTopicPartitions(a, b TopicPartition) int {
	return cmp.Or(cmp.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
}

// Client is the Kafka side of the processor: a consumer-group member that reads
// input topics and a producer for the output topics. The franz-go and kafka-go
// backends implement it and pass the same conformance suite (processor/kafkatest).
//
// The processor drives it in a strict cycle, one batch at a time:
//
//	Poll → (process, write state) → Produce → Commit → Poll …
//
// Between Poll and Commit the client must not hand this member's partitions to
// another member without telling the processor: a rebalance that revokes
// partitions waits until Commit (or Close) returns, so a commit never covers
// records of a partition the member no longer owns, and offsets past an unprocessed
// record are never committed. Partitions lost without a clean revoke (session
// timeout) make Commit fail with ErrNotOwner; the processor then drops the batch and
// relies on state fencing and idempotency.
type Client interface {
	// Poll blocks until records are available on owned partitions, the context ends,
	// or the client is closed. Records of one partition are in offset order.
	Poll(ctx context.Context) ([]Record, error)
	// Produce writes records and returns once every one is acknowledged (acks=all).
	// The partition comes from the key (murmur2, as Kafka's Java client and
	// franz-go partition); Record.Partition and Offset are ignored. In
	// exactly-once mode the records join the transaction of the current batch; with
	// no batch open (outputs of timers) they are a transaction of their own.
	Produce(ctx context.Context, recs []Record) error
	// Commit marks every record returned by the last Poll as processed: it commits
	// offsets (exactly-once mode: commits the transaction with the offsets) and then
	// lets pending rebalances proceed. With no batch open it does nothing. Any
	// error closes the batch: its records will be polled again (by this member or
	// the partition's new owner), so the caller must not retry the commit.
	Commit(ctx context.Context) error
	// Keep marks records of the open batch that the processor did not process
	// (it keeps them for a later batch: the event-time merge): per partition,
	// every record from the offset given on. Commit then commits each such
	// partition up to that offset only (exactly-once: in the transaction), and
	// the next Poll delivers those records again. Calling it with no batch
	// open, or for a partition not in the batch, does nothing.
	Keep(from map[TopicPartition]int64)
	// Abort gives up the current batch without committing (exactly-once: aborts the
	// transaction); its records will be delivered again.
	Abort(ctx context.Context) error
	// Assigned returns the input partitions this member owns now.
	Assigned() []TopicPartition
	// Ready reports whether the client currently reaches the cluster.
	Ready(ctx context.Context) error
	// Close leaves the group cleanly (after Commit) and releases the client.
	Close(ctx context.Context) error
}

// ErrNotOwner means the batch could not be committed because the group moved on:
// the member lost partitions of the batch, or (exactly-once) a rebalance completed
// while the transaction was open. The batch must be dropped, not retried; its
// records are redelivered.
var ErrNotOwner = errors.New("processor: partitions lost before commit")

// ErrClosed is returned by Poll once the client is closed.
var ErrClosed = errors.New("processor: client closed")

// SoleOwnerProtocol is the consumer-group protocol (assignment strategy) under
// which every input partition goes to one member and the others stand by
// (docs/processing.md, "One owner"). Both Kafka clients implement it; members
// of one group must all use it.
const SoleOwnerProtocol = "leadscore-sole-owner"

// SoleOwner picks the member that gets every partition: the one that owned
// them in the latest generation, so that a member joining or leaving does not
// move them, else the first by id. owned[i] is the generation in which member
// i last owned partitions (-1: never, or not in the generation it leaves); a
// member evicted while it worked rejoins claiming an older generation than
// the member that took over, which wins. Ties go to the first by id. ids and
// owned are parallel; the result is an index into them, -1 without members.
func SoleOwner(ids []string, owned []int32) int {
	best := -1
	for i, id := range ids {
		switch {
		case best < 0,
			owned[i] > owned[best],
			owned[i] == owned[best] && id < ids[best]:
			best = i
		}
	}
	return best
}

// SoleOwnerClaim encodes a member's claim for the SoleOwnerProtocol user
// data: the generation in which it last owned partitions, -1 for none.
func SoleOwnerClaim(generation int32) []byte {
	return binary.BigEndian.AppendUint32([]byte{1}, uint32(generation))
}

// ParseSoleOwnerClaim decodes SoleOwnerClaim's encoding; anything else (an
// older member's user data) is no claim.
func ParseSoleOwnerClaim(b []byte) int32 {
	if len(b) != 5 || b[0] != 1 {
		return -1
	}
	return int32(binary.BigEndian.Uint32(b[1:]))
}
