package helpcrunch

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// readJSON reads the request body as exactly one JSON value, numbers kept as
// json.Number so that integers and decimals read back as sent. On failure it
// has already written the error answer and returns false.
func readJSON(w http.ResponseWriter, r *http.Request) (any, bool) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
		writeErrors(w, http.StatusUnsupportedMediaType, errUnsupportedMedia)
		return nil, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			writeErrors(w, http.StatusRequestEntityTooLarge, errBodyTooLarge)
			return nil, false
		}
		writeErrors(w, http.StatusBadRequest, apiError{Code: "body", Message: msgInvalidJSON})
		return nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		writeErrors(w, http.StatusBadRequest, apiError{Code: "body", Message: msgInvalidJSON})
		return nil, false
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		// Trailing data after the value: not one JSON document.
		writeErrors(w, http.StatusBadRequest, apiError{Code: "body", Message: msgInvalidJSON})
		return nil, false
	}
	return v, true
}

// readObject reads a body that must be a JSON object.
func readObject(w http.ResponseWriter, r *http.Request) (map[string]any, bool) {
	v, ok := readJSON(w, r)
	if !ok {
		return nil, false
	}
	obj, isObj := v.(map[string]any)
	if !isObj {
		writeErrors(w, http.StatusBadRequest, apiError{Code: "body", Message: msgTypeObject})
		return nil, false
	}
	return obj, true
}

var digitsRE = regexp.MustCompile(`^[0-9]+$`)

// numberText is the text of a value sent as a JSON number or as a string,
// the two forms the vendor accepts for numbers; ok is false for any other.
func numberText(v any) (s string, ok bool) {
	switch x := v.(type) {
	case json.Number:
		return x.String(), true
	case string:
		return x, true
	}
	return "", false
}

// parseID parses an identifier sent as a JSON integer or a string of digits
// (the vendor's "numeric" type, after PHP's is_numeric). ok is false for
// anything else. A numeric value too large for an int yields 0, which no
// entity has, so it reads as "not found" rather than "not numeric".
func parseID(v any) (id int, ok bool) {
	s, ok := numberText(v)
	if !ok || !digitsRE.MatchString(s) {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, true
	}
	return n, true
}

// parseInt parses a paging parameter: a JSON integer or a string of an
// optionally signed integer (query strings arrive as strings).
func parseInt(v any) (int, bool) {
	s, ok := numberText(v)
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	return n, err == nil
}

var timestampRE = regexp.MustCompile(`^([0-9]{1,12})(?:\.([0-9]+))?$`)

// parseTimestamp parses a UNIX timestamp in any of the forms the vendor
// uses: a string of seconds, an integer, or a fractional string (or number).
// The fraction is parsed as decimal digits, not through a float, so
// "1603885746.123" keeps exactly 123 ms.
func parseTimestamp(v any) (time.Time, bool) {
	s, ok := numberText(v)
	if !ok {
		return time.Time{}, false
	}
	m := timestampRE.FindStringSubmatch(s)
	if m == nil {
		return time.Time{}, false
	}
	sec, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	frac := m[2]
	if len(frac) > 9 {
		frac = frac[:9]
	}
	var nsec int64
	if frac != "" {
		nsec, _ = strconv.ParseInt(frac+strings.Repeat("0", 9-len(frac)), 10, 64)
	}
	return time.Unix(sec, nsec).UTC(), true
}

// formatTimestamp renders t as a UNIX-second string, with a fraction only
// when t has one (the documented form is whole seconds).
func formatTimestamp(t time.Time) string {
	sec, ns := t.Unix(), t.Nanosecond()
	if ns == 0 {
		return strconv.FormatInt(sec, 10)
	}
	return strings.TrimRight(fmt.Sprintf("%d.%09d", sec, ns), "0")
}

// formatFractional renders t as a fractional UNIX-second string with
// microseconds, always with the fraction.
func formatFractional(t time.Time) string {
	return fmt.Sprintf("%d.%06d", t.Unix(), t.Nanosecond()/1000)
}

// page is a validated offset/limit pair.
type page struct {
	offset, limit int
}

// parsePage validates offset and limit fetched by get, reporting errors under
// the parameter names.
func parsePage(get func(name string) (any, bool), errs *violations) page {
	p := page{offset: 0, limit: MaxPageLimit}
	if v, ok := get("offset"); ok {
		n, isInt := parseInt(v)
		switch {
		case !isInt:
			errs.add("offset", msgTypeNumeric)
		case n < 0:
			errs.add("offset", msgNotNegative)
		default:
			p.offset = n
		}
	}
	if v, ok := get("limit"); ok {
		n, isInt := parseInt(v)
		switch {
		case !isInt:
			errs.add("limit", msgTypeNumeric)
		case n < 1 || n > MaxPageLimit:
			errs.add("limit", msgRange(1, MaxPageLimit))
		default:
			p.limit = n
		}
	}
	return p
}

// slice returns the page's window of n items as [from, to).
func (p page) slice(n int) (from, to int) {
	from = min(p.offset, n)
	to = min(from+p.limit, n)
	return from, to
}

// listBody is the list/search answer shape.
type listBody[T any] struct {
	Data  []T `json:"data"`
	Total int `json:"total"`
}
