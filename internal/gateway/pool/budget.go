package pool

import (
	"sync"
	"time"
)

// The retry budget (after Finagle's RetryBudget): over a window of budgetWindow, retries may
// be a fraction of the requests plus budgetMinPerSec a second, so that a failing group sees
// at most that much more load, and a quiet one can still retry.
const (
	budgetBuckets   = 10
	budgetBucket    = time.Second
	budgetWindow    = budgetBuckets * budgetBucket
	budgetMinPerSec = 3
	budgetMin       = budgetMinPerSec * int64(budgetWindow/time.Second)
)

// budget counts requests and retries in one-second buckets over the last budgetWindow.
type budget struct {
	ratio float64

	mu      sync.Mutex
	buckets [budgetBuckets]struct{ sec, requests, retries int64 }
}

func newBudget(ratio float64) *budget { return &budget{ratio: ratio} }

// bucket returns the current second's bucket, emptied if it last held an older second.
func (b *budget) bucket(now time.Time) *struct{ sec, requests, retries int64 } {
	sec := now.UnixNano() / int64(budgetBucket)
	k := &b.buckets[sec%budgetBuckets]
	if k.sec != sec {
		k.sec, k.requests, k.retries = sec, 0, 0
	}
	return k
}

// request counts a request (not its retries).
func (b *budget) request(now time.Time) {
	b.mu.Lock()
	b.bucket(now).requests++
	b.mu.Unlock()
}

// retry reports whether one more retry fits in the budget, and counts it if so.
func (b *budget) retry(now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	cur := b.bucket(now)
	oldest := cur.sec - budgetBuckets + 1
	var requests, retries int64
	for i := range b.buckets {
		if k := &b.buckets[i]; k.sec >= oldest {
			requests += k.requests
			retries += k.retries
		}
	}
	if float64(retries) >= b.ratio*float64(requests)+float64(budgetMin) {
		return false
	}
	cur.retries++
	return true
}
