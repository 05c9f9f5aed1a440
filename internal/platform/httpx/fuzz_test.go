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
// answer a 400/413 kind — never panic, never accept trailing data, unknown fields, names in
// another case or a name twice.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{`{"name":"a","num":1}`, `{"name":"a"} {}`, `{"x":1}`, `[]`, `{"name":`, ``, `null`,
		`{"num":1e309}`, `{"name":"\ud800"}`, strings.Repeat("[", 1000),
		`{"name":"a","name":"b"}`, `{"Name":"a"}`, `{"NUM":1}`, `{"name":"a","num":1,"num":1}`, `{"nam\u0065":"a","name":"b"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(string(body)))
		w := httptest.NewRecorder()
		var dst req
		err := Decode(w, r, &dst)
		if err == nil {
			require.True(t, json.Valid(body), "accepted invalid JSON %q", body)
			dec := json.NewDecoder(strings.NewReader(string(body)))
			if tok, _ := dec.Token(); tok == json.Delim('{') {
				seen := map[string]bool{}
				for dec.More() {
					k, err := dec.Token()
					require.NoError(t, err)
					key, _ := k.(string)
					require.Contains(t, []string{"name", "num"}, key, "accepted key %q in %q", key, body)
					require.False(t, seen[key], "accepted %q twice in %q", key, body)
					seen[key] = true
					var skip json.RawMessage
					require.NoError(t, dec.Decode(&skip))
				}
			}
			return
		}
		e := apierr.From(err)
		require.Contains(t, []int{http.StatusBadRequest, http.StatusRequestEntityTooLarge}, e.Status, "%v", err)
		require.NotEmpty(t, e.Message)
	})
}
