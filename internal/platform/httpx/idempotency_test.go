package httpx

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestValidIdempotencyKey(t *testing.T) {
	for _, k := range []string{"a", "order-1", "A_b:c.d-9", strings.Repeat("k", MaxIdempotencyKey)} {
		require.True(t, ValidIdempotencyKey(k), k)
	}
	for _, k := range []string{"", strings.Repeat("k", MaxIdempotencyKey+1), "a b", "ключ", "a/b", "a\n"} {
		require.False(t, ValidIdempotencyKey(k), k)
	}
}
