package httpx

// MaxIdempotencyKey is the longest idempotency key a write accepts.
const MaxIdempotencyKey = 64

// ValidIdempotencyKey reports whether k is 1..MaxIdempotencyKey characters of
// [A-Za-z0-9_-:.], the form every retryable write takes its idempotency key in.
func ValidIdempotencyKey(k string) bool {
	if len(k) == 0 || len(k) > MaxIdempotencyKey {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9',
			c == '_', c == '-', c == ':', c == '.':
		default:
			return false
		}
	}
	return true
}
