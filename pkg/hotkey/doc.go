// Package hotkey finds the hottest keys of a stream in bounded memory and keeps exactly those keys
// in an in-process cache, so a burst of reads on one room or gift is served from memory while
// every other key still reads through to its store.
//
// # Detection
//
// A Detector is HeavyKeeper (Gong et al., ATC 2018): Depth rows of Width buckets, each bucket a
// 32-bit fingerprint and a 32-bit count packed in one word. A key's occurrence grows the count of
// a bucket holding its fingerprint, claims an empty one, or decays the count c of a bucket held by
// another key with probability Decay^-c. Small counts — the long tail — fight over buckets;
// large counts practically never decay, so the hot keys keep exact counts. A min-heap of the K
// largest estimates, indexed by hash, is the top-K.
//
// # Window
//
// A stationary sketch keeps a key that cooled off for millions of events and needs as many to
// admit a new one. The detector ages instead: every WindowEvents/Slots merged events or every
// Window/Slots of wall time, whichever comes first, every count in the sketch and the heap is
// halved (rounding down), and members that fall below MinCount leave the heap. Counts are then an
// exponentially decayed rate with a half-life of one step: a new key competes only with recent
// traffic, and a key that stopped loses half its weight each step, so it is out after about
// log2(its rate / the K-th rate) + 1 steps. Halving was chosen over a ring of sub-window sketches
// because it costs no extra memory and keeps the counts comparable to exact counts halved the
// same way, which is what the accuracy tests measure against. The sketch halves lazily: a step
// advances an epoch, and each bucket, which carries the epoch it was last written in, is shifted
// right by the epochs it missed when it is next read — the same result as halving it each time,
// without a pass over the table. The event clock makes detection fast at high rates, the wall
// clock at low ones.
//
// # Concurrency
//
// Add hashes the key once (xxhash, finished with a per-detector seed) and sums it into a small
// per-P buffer taken from a sync.Pool; only when a buffer holds 192 distinct keys or 4096 events
// is it merged into the sketch. Buffers fold repeats of a key into one update, which for skewed
// traffic — the case this package exists for — removes most sketch work. The sketch is split into
// four shards by hash, each with its own lock and an owner: the buffer of the P that owns a shard
// applies that shard's keys, and other buffers copy their keys of it into the shard's inbox for
// the owner to apply, so a shard's cache lines stay with one core. A full inbox (its owner is not
// adding) is applied by whoever finds it full. No merge parks on a lock another core holds: it
// takes free shards first and yields while the rest are busy, and when the heap is busy its
// candidates wait for its next merge. Only keys whose estimate reaches the heap's minimum (read
// atomically) go on to the heap; estimates are read without locks. There is no lock shared by all
// adds.
//
// A reporter goroutine (Start/Stop) merges idle buffers, ages the time window, publishes the
// immutable hot set that IsHot reads without locking, and calls OnChange callbacks with the keys
// that joined and left it, every ReportInterval.
//
// # Cache
//
// Cache serves a key from memory only while the detector reports it hot (detected or pinned),
// for at most TTL per load, shares one load among concurrent callers of a hot key, evicts keys as
// soon as they stop being hot, and holds at most Size entries.
package hotkey
