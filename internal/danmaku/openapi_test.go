package danmaku_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/danmaku"
	"github.com/zhibo-live/zhibo/internal/platform/sqlstore/sqltest"
)

// TestOpenAPIMatchesRoutes: the fragment is valid JSON, every schema it references exists,
// and it describes exactly the routes Register adds.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	raw := danmaku.OpenAPI()
	var doc struct {
		Paths      map[string]map[string]json.RawMessage `json:"paths"`
		Components struct {
			Schemas map[string]json.RawMessage `json:"schemas"`
		} `json:"components"`
	}
	require.NoError(t, json.Unmarshal(raw, &doc))
	var documented []string
	for path, ops := range doc.Paths {
		for method := range ops {
			documented = append(documented, strings.ToUpper(method)+" "+path)
		}
	}
	require.ElementsMatch(t, []string{
		"POST /api/rooms/{id}/danmaku", "GET /api/rooms/{id}/danmaku",
		"POST /api/rooms/{id}/mutes", "GET /api/rooms/{id}/mutes", "DELETE /api/rooms/{id}/mutes/{uid}",
	}, documented)
	for _, ref := range strings.Split(string(raw), `"$ref": "#/components/schemas/`)[1:] {
		name := ref[:strings.IndexByte(ref, '"')]
		require.Contains(t, doc.Components.Schemas, name)
	}
	// Each documented route is the pattern Register added for it.
	h := newHarness(t, sqltest.OpenSQLite(t), nil)
	mux := http.NewServeMux()
	h.svc.Register(mux)
	for _, route := range documented {
		method, path, _ := strings.Cut(route, " ")
		concrete := strings.NewReplacer("{id}", "1", "{uid}", "2").Replace(path)
		_, pattern := mux.Handler(httptest.NewRequest(method, concrete, nil))
		require.Equal(t, route, pattern)
	}
}
