package httpx

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/platform/apierr"
)

// FuzzDecode feeds arbitrary bodies to the strict decoder: it must either fill the target or
// answer a 400/413 kind — never panic, never accept trailing data or unknown fields.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{`{"name":"a","num":1}`, `{"name":"a"} {}`, `{"x":1}`, `[]`, `{"name":`, ``, `null`,
		`{"num":1e309}`, `{"name":"\ud800"}`, strings.Repeat("[", 1000)} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(string(body)))
		w := httptest.NewRecorder()
		var dst req
		err := Decode(w, r, &dst)
		if err == nil {
			require.True(t, json.Valid(body), "accepted invalid JSON %q", body)
			return
		}
		e := apierr.From(err)
		require.Contains(t, []int{http.StatusBadRequest, http.StatusRequestEntityTooLarge}, e.Status, "%v", err)
		require.NotEmpty(t, e.Message)
	})
}
