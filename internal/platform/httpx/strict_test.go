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

type inner struct {
	ID  int64  `json:"id"`
	Tag string `json:"tag"`
}

type Embedded struct {
	Promoted string `json:"promoted"`
}

type nested struct {
	Embedded
	Name  string           `json:"name"`
	Items []inner          `json:"items"`
	One   *inner           `json:"one"`
	Attrs map[string]int   `json:"attrs"`
	Raw   json.RawMessage  `json:"raw"`
	Any   any              `json:"any"`
	Plain string           // no tag: the field name itself
	Skip  string           `json:"-"`
	Opts  map[string]inner `json:"opts"`
}

func decodeBody(body string, dst any) error {
	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
	return Decode(httptest.NewRecorder(), r, dst)
}

// The docs promise strict JSON: field names match exactly (encoding/json matches any case) and
// a name given twice in one object is refused (encoding/json keeps the last).
func TestDecodeIsStrict(t *testing.T) {
	for _, ok := range []string{
		`{"name":"a","items":[{"id":1,"tag":"x"},{"id":2}],"one":{"id":3},"attrs":{"a":1,"A":2},"promoted":"p"}`,
		`{"raw":{"Whatever":1},"any":{"X":1,"x":2},"Plain":"p","opts":{"k":{"id":1}}}`,
		`{}`,
	} {
		var v nested
		require.NoError(t, decodeBody(ok, &v), ok)
	}
	for body, want := range map[string]string{
		`{"Name":"a"}`:                      `"Name"`,
		`{"NAME":"a"}`:                      `"name"`,
		`{"items":[{"id":1},{"ID":2}]}`:     `"items[1].ID": field names are case-sensitive, did you mean "id"?`,
		`{"one":{"Tag":"x"}}`:               `"one.Tag"`,
		`{"opts":{"k":{"Id":1}}}`:           `"opts.k.Id"`,
		`{"Promoted":"p"}`:                  `"Promoted"`,
		`{"plain":"p"}`:                     `"plain"`,
		`{"name":"a","name":"b"}`:           `duplicate`,
		`{"items":[{"id":1,"id":1}]}`:       `duplicate field "items[0].id"`,
		`{"attrs":{"a":1,"a":2}}`:           `duplicate`,
		`{"raw":{"k":1,"k":2}}`:             `duplicate`,
		`{"any":[{"k":1,"k":2}]}`:           `duplicate`,
		`{"name":"a","tag":"unknown here"}`: `unknown field "tag"`,
	} {
		var v nested
		err := decodeBody(body, &v)
		require.Error(t, err, body)
		e := apierr.From(err)
		require.Equal(t, http.StatusBadRequest, e.Status, body)
		require.Contains(t, e.Message, want, body)
	}
}
