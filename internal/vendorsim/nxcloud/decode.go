package nxcloud

import (
	"bytes"
	"encoding/json"
	"strconv"
)

// object is a JSON object kept as raw members so that each field's JSON type can be checked and
// reported by name, which encoding/json's struct decoding cannot do for every field at once.
type object map[string]json.RawMessage

// decodeObject decodes raw as a JSON object; path names it in error messages.
func decodeObject(raw []byte, path string) (object, *apiError) {
	var o object
	if err := json.Unmarshal(raw, &o); err != nil || o == nil {
		return nil, errParam("%s: must be a JSON object", path)
	}
	return o, nil
}

func isNull(raw json.RawMessage) bool {
	return len(raw) == 0 || bytes.Equal(raw, []byte("null"))
}

// field joins a parent path and a member name for error messages.
func field(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// str returns the string member key; present is false when it is absent or null.
func (o object) str(path, key string) (v string, present bool, e *apiError) {
	raw, ok := o[key]
	if !ok || isNull(raw) {
		return "", false, nil
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return "", false, errParam("%s: must be a string", field(path, key))
	}
	return v, true, nil
}

// int returns the integer member key; present is false when it is absent or null. Fractions,
// exponents and quoted numbers are refused: the doc types these members as integer.
func (o object) int(path, key string) (v int64, present bool, e *apiError) {
	raw, ok := o[key]
	if !ok || isNull(raw) {
		return 0, false, nil
	}
	v, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil {
		return 0, false, errParam("%s: must be an integer", field(path, key))
	}
	return v, true, nil
}

// array returns the array member key; present is false when it is absent or null.
func (o object) array(path, key string) (v []json.RawMessage, present bool, e *apiError) {
	raw, ok := o[key]
	if !ok || isNull(raw) {
		return nil, false, nil
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, false, errParam("%s: must be an array", field(path, key))
	}
	return v, true, nil
}

// account reads and checks tenant_id and app_key, which every operation's body carries.
func (s *Sim) account(o object) *apiError {
	tid, ok, e := o.int("", "tenant_id")
	if e != nil {
		return e
	}
	if !ok {
		return errParam("tenant_id is required")
	}
	appKey, ok, e := o.str("", "app_key")
	if e != nil {
		return e
	}
	if !ok || appKey == "" {
		return errParam("app_key is required")
	}
	return s.checkAccount(tid, appKey)
}
