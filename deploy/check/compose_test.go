package check

import (
	"bytes"
	"encoding/json"
	"os"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// composeSchema compiles the Compose Specification's JSON Schema (testdata/compose-spec).
func composeSchema(t *testing.T) *jsonschema.Schema {
	f, err := os.Open("testdata/compose-spec/compose-spec.json")
	require.NoError(t, err)
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	require.NoError(t, err)
	c := jsonschema.NewCompiler()
	require.NoError(t, c.AddResource("compose_spec.json", doc))
	s, err := c.Compile("compose_spec.json")
	require.NoError(t, err)
	return s
}

// composeDoc reads a compose file as the JSON value the schema describes (YAML anchors and
// merge keys resolved).
func composeDoc(t *testing.T, raw []byte) any {
	var v any
	require.NoError(t, yaml.Unmarshal(raw, &v))
	b, err := json.Marshal(v)
	require.NoError(t, err)
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	require.NoError(t, err)
	return doc
}

// deploy/compose/compose.yaml is a valid Compose file by the Compose Specification's schema,
// checked offline. Its ${…} references all stand in string values, which the schema checks
// as strings before interpolation; test/e2e TestComposeFileChecks interpolates them.
func TestComposeSchema(t *testing.T) {
	s := composeSchema(t)
	raw, err := os.ReadFile("../compose/compose.yaml")
	require.NoError(t, err)
	require.NoError(t, s.Validate(composeDoc(t, raw)))

	// The schema bites: a misspelt key of a service is refused.
	bad := bytes.Replace(raw, []byte("\n    healthcheck:\n"), []byte("\n    healthchek:\n"), 1)
	require.NotEqual(t, raw, bad)
	require.Error(t, s.Validate(composeDoc(t, bad)))
}
