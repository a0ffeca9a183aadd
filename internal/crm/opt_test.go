package crm

import (
	"encoding/json"
	"testing"
)

// TestOptStringDecodesAsJSON checks the fast path for plain strings against
// json.Unmarshal, on inputs on both sides of what it takes.
func TestOptStringDecodesAsJSON(t *testing.T) {
	for _, in := range []string{
		`"Ana Souza"`, `""`, `"a/b"`, `"tab\there"`, `"quote\"d"`, `"back\\slash"`, `"\u00e9t\u00e9"`,
		`"été"`, `"emoji 😀"`, "\"bad \xff utf8\"", `"</script>"`, `"~ !#$%&'()*+,-.:;<=>?@[]^_{|}"`,
	} {
		var got Opt[string]
		if err := json.Unmarshal([]byte(`{"v":`+in+`}`), &struct {
			V *Opt[string] `json:"v"`
		}{&got}); err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		var want string
		if err := json.Unmarshal([]byte(in), &want); err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		if v, ok := got.Get(); !ok || v != want {
			t.Errorf("%s decoded as %q (set %v), want %q", in, v, ok, want)
		}
	}
	var null Opt[string]
	if err := json.Unmarshal([]byte(`null`), &null); err != nil || !null.IsNull() {
		t.Errorf("null decoded as %+v, %v; want a null Opt", null, err)
	}
}
