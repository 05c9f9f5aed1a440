package httpx

import (
	"bytes"
	"encoding"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
)

// checkStrict walks a body that encoding/json has already accepted, alongside the type it was
// decoded into, and refuses what encoding/json lets through: a key given twice in one object
// (encoding/json keeps the last) and a key that names a struct field in another case
// (encoding/json matches names case-insensitively). Keys of maps and of values that decode
// themselves (json.RawMessage, json.Unmarshaler, any) are free, but not twice in one object.
func checkStrict(body []byte, t reflect.Type) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	return strictValue(dec, t, "")
}

var (
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// strictValue reads one value; t is its Go type, nil where any shape goes.
func strictValue(dec *json.Decoder, t reflect.Type, path string) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t != nil && (reflect.PointerTo(t).Implements(jsonUnmarshaler) || t.Kind() == reflect.Interface) {
		t = nil
	}
	switch tok {
	case json.Delim('{'):
		return strictObject(dec, t, path)
	case json.Delim('['):
		var elem reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			elem = t.Elem()
		}
		for i := 0; dec.More(); i++ {
			if err := strictValue(dec, elem, fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		_, err = dec.Token() // ]
		return err
	}
	return nil
}

func strictObject(dec *json.Decoder, t reflect.Type, path string) error {
	var fields map[string]reflect.Type // nil: any key
	var elem reflect.Type
	switch {
	case t == nil:
	case t.Kind() == reflect.Struct:
		fields = map[string]reflect.Type{}
		structFields(t, fields, map[reflect.Type]bool{})
	case t.Kind() == reflect.Map:
		elem = t.Elem()
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		key, _ := tok.(string)
		at := strings.TrimPrefix(path+"."+key, ".")
		if seen[key] {
			return Errorf("duplicate field %q: each name may appear once per object", at)
		}
		seen[key] = true
		vt := elem
		if fields != nil {
			ft, ok := fields[key]
			if !ok {
				for name := range fields {
					if strings.EqualFold(name, key) {
						return Errorf("unknown field %q: field names are case-sensitive, did you mean %q?", at, name)
					}
				}
				return Errorf("unknown field %q", at)
			}
			vt = ft
		}
		if err := strictValue(dec, vt, at); err != nil {
			return err
		}
	}
	_, err := dec.Token() // }
	return err
}

// structFields collects the JSON names of t's fields as encoding/json sees them: the tag's
// name, else the field's; "-" skipped; untagged embedded structs promote their fields.
func structFields(t reflect.Type, out map[string]reflect.Type, visiting map[reflect.Type]bool) {
	if visiting[t] {
		return
	}
	visiting[t] = true
	defer delete(visiting, t)
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct && !reflect.PointerTo(ft).Implements(jsonUnmarshaler) &&
				!reflect.PointerTo(ft).Implements(textUnmarshaler) {
				structFields(ft, out, visiting)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		if _, dup := out[name]; !dup { // the shallower field wins, as in encoding/json
			out[name] = f.Type
		}
	}
}
