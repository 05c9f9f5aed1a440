package table

import (
	"net/http"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
)

// An answer's headers land in the writer's header as net/http would put them: canonical names,
// every value in order, what a handler set before kept; lists that share a backing array stay
// apart when one grows; a repeated value of a repeating name is the string made before.
func TestCopyHeader(t *testing.T) {
	lines := [][2]string{{"content-type", "application/json"}, {"X-A", "1"}, {"x-b", "2"},
		{"X-A", "3"}, {"Date", "Mon, 07 Dec 2026 09:00:00 GMT"}, {"ETag", `"abc"`}}
	each := func(fn func(name, value []byte)) {
		for _, l := range lines {
			fn([]byte(l[0]), []byte(l[1]))
		}
	}
	h := http.Header{"X-B": {"before"}}
	copyHeader(h, each)
	require.Equal(t, http.Header{
		"Content-Type": {"application/json"},
		"X-A":          {"1", "3"},
		"X-B":          {"before", "2"},
		"Date":         {"Mon, 07 Dec 2026 09:00:00 GMT"},
		"Etag":         {`"abc"`},
	}, h)
	h["Content-Type"] = append(h["Content-Type"], "text/plain") // grows into a copy
	require.Equal(t, []string{"1", "3"}, h["X-A"])
	require.Equal(t, []string{"Mon, 07 Dec 2026 09:00:00 GMT"}, h["Date"])

	again := http.Header{}
	copyHeader(again, each)
	require.Equal(t, unsafe.StringData(h["Date"][0]), unsafe.StringData(again["Date"][0]), "the date of the same second is not made again")
	require.Equal(t, `"abc"`, again.Get("Etag"))
}

func TestInternerKeepsTheLastValueOfASlot(t *testing.T) {
	in := newInterner()
	a := in.intern([]byte("text/html"))
	require.Equal(t, "text/html", a)
	require.Equal(t, unsafe.StringData(a), unsafe.StringData(in.intern([]byte("text/html"))))
	for i := range 5000 { // every slot taken over many times: each answer is still its own value
		v := []byte{byte('a' + i%26), byte('a' + i/26%26), byte('a' + i/676%26)}
		require.Equal(t, string(v), in.intern(v))
	}
	long := make([]byte, 100)
	require.Equal(t, string(long), in.intern(long))
}
