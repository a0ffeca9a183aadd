package crm

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"
)

// Opt is a field of a partial write. Its zero value is "absent" (leave the
// vendor's value unchanged); a JSON null makes it "null" (clear the value);
// anything else sets it. Three states are needed because HelpCrunch, like
// JSON Merge Patch, gives absent and null different meanings.
type Opt[T any] struct {
	set   bool
	null  bool
	value T
}

// Some returns an Opt holding v.
func Some[T any](v T) Opt[T] { return Opt[T]{set: true, value: v} }

// Null returns an Opt that clears the field.
func Null[T any]() Opt[T] { return Opt[T]{set: true, null: true} }

// Present reports whether the field was sent at all (as a value or null).
func (o Opt[T]) Present() bool { return o.set }

// IsNull reports whether the field was sent as null.
func (o Opt[T]) IsNull() bool { return o.set && o.null }

// Get returns the value and whether there is one (present and not null).
func (o Opt[T]) Get() (T, bool) { return o.value, o.set && !o.null }

// Value returns the value, or the zero value when absent or null.
func (o Opt[T]) Value() T { return o.value }

// UnmarshalJSON records null as "clear" instead of ignoring it.
func (o *Opt[T]) UnmarshalJSON(b []byte) error {
	o.set = true
	if bytes.Equal(bytes.TrimSpace(b), []byte("null")) {
		o.null = true
		var zero T
		o.value = zero
		return nil
	}
	o.null = false
	if s, ok := any(&o.value).(*string); ok {
		if v, ok := plainString(b); ok {
			*s = v
			return nil
		}
	}
	return json.Unmarshal(b, &o.value)
}

// plainString decodes a JSON string of printable ASCII without escapes,
// which most customer fields are, without a second pass of json.Unmarshal
// over bytes the decoder calling UnmarshalJSON has already checked; anything
// else is left to json.Unmarshal.
func plainString(b []byte) (string, bool) {
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' {
		return "", false
	}
	in := b[1 : len(b)-1]
	for _, c := range in {
		if c < 0x20 || c == '"' || c == '\\' || c >= utf8.RuneSelf {
			return "", false
		}
	}
	return string(in), true
}

// MarshalJSON writes null for absent and null fields; use `omitzero` on the
// struct field to drop absent ones.
func (o Opt[T]) MarshalJSON() ([]byte, error) {
	if !o.set || o.null {
		return []byte("null"), nil
	}
	return json.Marshal(o.value)
}

// IsZero reports absence, so `omitzero` drops absent fields.
func (o Opt[T]) IsZero() bool { return !o.set }
