// Package aggregate folds increments (+1, +2, −1 …) on the same key over a window into one
// write per key per window — the way a live room survives a gift storm: 100 k gifts a second
// to one anchor become one UPDATE of that anchor's score a second.
//
// It has three modes, all with a window, a cap on what waits (reaching it flushes early), a
// flush on Stop, and the same metrics (zhibo_aggregate_*, labelled by Options.Name):
//
//   - Aggregator: in process memory, sharded so that Add takes one small lock. A flush hands
//     the sink one map of deltas; if the sink fails the deltas are kept and offered again,
//     summed with newer ones, next window. What is pending is lost if the process dies, so
//     use it where that is acceptable (view counters) or where the caller can replay.
//   - Redis: several processes HINCRBY into one Redis hash; each window one of them (a lock
//     and a per-window mark decide which) renames the hash to a per-flush key with a unique
//     id, hands the totals to the sink, and deletes it. A flusher that dies mid-flush leaves
//     its flush recorded and the next one offers it again with the same id: exactly once
//     holds only if the sink records the id in the same transaction as the deltas and skips
//     a known id (ClaimFlushID). Increments survive a process crash, and a Redis restart when
//     Redis runs with AOF.
//   - Durable: increments come as events on a JetStream stream through a durable consumer.
//     Each window's events are applied in ONE SQL transaction with the bookkeeping that makes
//     replays harmless, and acknowledged only after the commit. An increment acknowledged to
//     its producer (stored in the stream) is therefore never lost — until the commit its
//     message is unacknowledged and JetStream redelivers it after the ack wait, to this or
//     another process — and never applied twice.
//
// # Why the durable mode claims events by id, not by stream sequence
//
// "Store the last applied sequence and skip anything at or below it" loses events: a message
// delivered before a crash is redelivered only after its ack wait, by which time later
// messages may have been applied and the stored sequence is past it; and a producer that
// re-publishes an event after the stream's duplicate window (an outbox relay) gives it a new,
// higher sequence, so it would be applied twice. So every event carries an idempotency id
// (Event.ID, e.g. the order id) and the sink claims the batch's ids in the flush's transaction:
// it finds those not applied yet, marks them applied, and folds only those. Two ways are
// offered, and the choice belongs to the sink:
//
//   - a flag on a row the event already has (gift orders carry a "scored" column, so the claim
//     costs no extra table and never expires), or
//   - ClaimIDs, a table of applied ids, for increments without a row of their own (likes,
//     experience points). Its rows must outlive every copy of their event — keep them at
//     least the stream's max age — and PruneIDs drops older ones.
//
// Either way a concurrent claim of the same id by two processes makes one transaction fail
// (row lock or primary key) and its flush retry, so several processes may share a consumer.
// The batch's highest sequence (Batch.MaxSeq) may still be stored as the consumer's progress
// for monitoring; it never decides what is skipped.
//
// Writes per key: the in-memory and durable modes write a key at most once per flush, and
// flush once per window unless the cap is reached first; the Redis mode flushes once per
// window across all processes. N processes sharing a durable consumer write a key at most N
// times per window. The sink reports the keys it wrote (Result.Keys), counted in
// zhibo_aggregate_keys_written_total and zhibo_aggregate_keys_per_flush.
package aggregate
