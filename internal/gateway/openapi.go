package gateway

import (
	"encoding/json"
	"fmt"
)

// MergeOpenAPI builds the served API description from each component's fragment
// ({"paths":…, "components":{…}}); a path or schema declared twice is an error.
func MergeOpenAPI(fragments ...[]byte) ([]byte, error) {
	paths := map[string]json.RawMessage{}
	comps := map[string]map[string]json.RawMessage{
		"securitySchemes": {"bearer": json.RawMessage(`{"type":"http","scheme":"bearer","description":"token from /api/auth/login"}`)},
	}
	for i, f := range fragments {
		var frag struct {
			Paths      map[string]json.RawMessage            `json:"paths"`
			Components map[string]map[string]json.RawMessage `json:"components"`
		}
		if err := json.Unmarshal(f, &frag); err != nil {
			return nil, fmt.Errorf("openapi fragment %d: %w", i, err)
		}
		for p, v := range frag.Paths {
			if _, dup := paths[p]; dup {
				return nil, fmt.Errorf("openapi: path %s declared twice", p)
			}
			paths[p] = v
		}
		for kind, items := range frag.Components {
			if comps[kind] == nil {
				comps[kind] = map[string]json.RawMessage{}
			}
			for name, v := range items {
				if old, dup := comps[kind][name]; dup && string(old) != string(v) {
					return nil, fmt.Errorf("openapi: components.%s.%s declared twice, differently", kind, name)
				}
				comps[kind][name] = v
			}
		}
	}
	doc := map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{
			"title":       "zhibo API",
			"version":     "1",
			"description": "Every response is an envelope {code, message, data}; code 0 is success, any other code comes with the matching HTTP status.",
		},
		"paths":      paths,
		"components": comps,
	}
	return json.MarshalIndent(doc, "", "  ")
}
