package helpcrunch

import (
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"strconv"
	"time"
	"unicode/utf8"
)

// Tag is an account tag as it appears on a customer.
type Tag struct {
	Name  string
	Color string
}

// Location is a customer's location block.
type Location struct {
	RegionCode  string
	CountryCode string
	City        string
}

// Device is a customer's device block. Its id is read-only and rendered as
// the customer's id.
type Device struct {
	IP        string
	Timezone  string
	Platform  string
	UserAgent string
}

// Customer is a snapshot of a stored customer, for test inspection.
type Customer struct {
	// ID is the integer id the simulator assigned (sequential from 1).
	ID int
	// Fields holds the string fields by wire name ("name", "email",
	// "userId", "company", "phone", "source", "referer", "lastPage",
	// "locale", "createdFrom", "integrationId", "notes"); a missing key is
	// null.
	Fields map[string]string
	// FirstSeen and LastSeen are nil when null.
	FirstSeen *time.Time
	LastSeen  *time.Time
	// Unsubscribed and Blocked are false when never set or cleared.
	Unsubscribed bool
	Blocked      bool
	// Location and Device are nil when null.
	Location *Location
	Device   *Device
	// Tags are in the order they were assigned, with the account colour.
	Tags []Tag
	// CustomData holds values as they read back: json.Number, string, bool.
	CustomData map[string]any
	// CreatedAt and UpdatedAt are the simulator's own bookkeeping (not on the
	// wire), for "updated since" style checks.
	CreatedAt time.Time
	UpdatedAt time.Time
}

// stringFields lists the customer's plain string fields with their maximum
// length in characters, in the vendor's field order so that violations come
// out in a stable order.
var stringFields = []struct {
	name string
	max  int
}{
	{"name", MaxFieldLength},
	{"email", MaxFieldLength},
	{"userId", MaxFieldLength},
	{"company", MaxFieldLength},
	{"phone", MaxFieldLength},
	{"source", MaxFieldLength},
	{"referer", MaxFieldLength},
	{"lastPage", MaxFieldLength},
	{"locale", MaxFieldLength},
	{"createdFrom", MaxFieldLength},
	{"integrationId", MaxFieldLength},
	{"notes", MaxNotesLength},
}

var (
	// Symfony's loose e-mail check, the least surprising guess for a
	// Symfony-based API.
	emailRE = regexp.MustCompile(`^.+@\S+\.\S+$`)
	// ISO 639-1 codes are two letters.
	localeRE = regexp.MustCompile(`^[A-Za-z]{2}$`)
)

// record is a stored customer. Tags hold names only: colours belong to the
// account's tag list.
type record struct {
	id           int
	fields       map[string]string
	firstSeen    *time.Time
	lastSeen     *time.Time
	unsubscribed bool
	blocked      bool
	location     *Location
	device       *Device
	tags         []string
	customData   map[string]any
	createdAt    time.Time
	updatedAt    time.Time
}

func newRecord(id int, now time.Time) *record {
	return &record{id: id, fields: map[string]string{}, customData: map[string]any{}, createdAt: now, updatedAt: now}
}

// opt is one field of a write: absent (set false), null, or a value.
type opt[T any] struct {
	set  bool
	null bool
	v    T
}

func value[T any](v T) opt[T] { return opt[T]{set: true, v: v} }

func null[T any]() opt[T] { return opt[T]{set: true, null: true} }

type tagInput struct {
	name, color string
}

// customEntry is one customData write; remove means the value was null.
type customEntry struct {
	property string
	value    any
	remove   bool
}

// patch is a validated customer write, keeping absent apart from null so that
// create, replace and merge can share it.
type patch struct {
	fields       map[string]opt[string]
	firstSeen    opt[time.Time]
	lastSeen     opt[time.Time]
	unsubscribed opt[bool]
	blocked      opt[bool]
	location     opt[Location]
	device       opt[Device]
	tags         opt[[]tagInput]
	customData   opt[[]customEntry]
}

// parsePatch validates a customer object. Unknown keys (including the
// read-only id) are ignored.
func (s *Sim) parsePatch(obj map[string]any, errs *violations) *patch {
	p := &patch{fields: map[string]opt[string]{}}
	for _, f := range stringFields {
		name := f.name
		raw, ok := obj[name]
		if !ok {
			continue
		}
		if raw == nil {
			p.fields[name] = null[string]()
			continue
		}
		str, ok := parseString(name, raw, f.max, errs)
		if !ok {
			continue
		}
		switch {
		case name == "email" && str != "" && !emailRE.MatchString(str):
			errs.add(name, msgInvalidEmail)
			continue
		case name == "locale" && str != "" && !localeRE.MatchString(str):
			errs.add(name, msgInvalidLocale)
			continue
		}
		p.fields[name] = value(str)
	}
	p.firstSeen = parseTimeField(obj, "firstSeen", errs)
	p.lastSeen = parseTimeField(obj, "lastSeen", errs)
	p.unsubscribed = parseBoolField(obj, "unsubscribed", errs)
	p.blocked = parseBoolField(obj, "blocked", errs)
	p.location = parseLocation(obj, errs)
	p.device = parseDevice(obj, errs)
	p.tags = parseTagsField(obj, "tags", errs)
	p.customData = s.parseCustomData(obj, errs)
	return p
}

// parseString checks that raw is a string of at most max characters.
func parseString(code string, raw any, max int, errs *violations) (string, bool) {
	str, ok := raw.(string)
	if !ok {
		errs.add(code, msgTypeString)
		return "", false
	}
	if utf8.RuneCountInString(str) > max {
		errs.add(code, msgTooLong(max))
		return "", false
	}
	return str, true
}

func parseTimeField(obj map[string]any, name string, errs *violations) opt[time.Time] {
	raw, ok := obj[name]
	switch {
	case !ok:
		return opt[time.Time]{}
	case raw == nil:
		return null[time.Time]()
	}
	t, ok := parseTimestamp(raw)
	if !ok {
		errs.add(name, msgInvalidTime)
		return opt[time.Time]{}
	}
	return value(t)
}

func parseBoolField(obj map[string]any, name string, errs *violations) opt[bool] {
	raw, ok := obj[name]
	switch {
	case !ok:
		return opt[bool]{}
	case raw == nil:
		return null[bool]()
	}
	b, ok := raw.(bool)
	if !ok {
		errs.add(name, msgTypeBool)
		return opt[bool]{}
	}
	return value(b)
}

// parseSubObject validates an object of optional string members.
func parseSubObject(obj map[string]any, name string, members []string, errs *violations) (map[string]string, opt[struct{}]) {
	raw, ok := obj[name]
	switch {
	case !ok:
		return nil, opt[struct{}]{}
	case raw == nil:
		return nil, null[struct{}]()
	}
	sub, ok := raw.(map[string]any)
	if !ok {
		errs.add(name, msgTypeObject)
		return nil, opt[struct{}]{}
	}
	out := map[string]string{}
	valid := true
	for _, m := range members {
		v, present := sub[m]
		if !present || v == nil {
			continue
		}
		str, ok := parseString(name+"."+m, v, MaxFieldLength, errs)
		if !ok {
			valid = false
			continue
		}
		out[m] = str
	}
	if !valid {
		return nil, opt[struct{}]{}
	}
	return out, value(struct{}{})
}

func parseLocation(obj map[string]any, errs *violations) opt[Location] {
	m, o := parseSubObject(obj, "location", []string{"regionCode", "countryCode", "city"}, errs)
	if !o.set || o.null {
		return opt[Location]{set: o.set, null: o.null}
	}
	return value(Location{RegionCode: m["regionCode"], CountryCode: m["countryCode"], City: m["city"]})
}

func parseDevice(obj map[string]any, errs *violations) opt[Device] {
	m, o := parseSubObject(obj, "device", []string{"ip", "timezone", "platform", "userAgent"}, errs)
	if !o.set || o.null {
		return opt[Device]{set: o.set, null: o.null}
	}
	return value(Device{IP: m["ip"], Timezone: m["timezone"], Platform: m["platform"], UserAgent: m["userAgent"]})
}

// parseTagsField validates [{"name":..., "color":...}, ...] under key name.
func parseTagsField(obj map[string]any, name string, errs *violations) opt[[]tagInput] {
	raw, ok := obj[name]
	switch {
	case !ok:
		return opt[[]tagInput]{}
	case raw == nil:
		return null[[]tagInput]()
	}
	list, ok := raw.([]any)
	if !ok {
		errs.add(name, msgTypeArray)
		return opt[[]tagInput]{}
	}
	before := len(*errs)
	tags := make([]tagInput, 0, len(list))
	for i, item := range list {
		code := fmt.Sprintf("%s[%d]", name, i)
		t, ok := item.(map[string]any)
		if !ok {
			errs.add(code, msgTypeObject)
			continue
		}
		var in tagInput
		switch n := t["name"].(type) {
		case nil:
			errs.add(code+".name", msgNotBlank)
			continue
		case string:
			if n == "" {
				errs.add(code+".name", msgNotBlank)
				continue
			}
			if utf8.RuneCountInString(n) > MaxFieldLength {
				errs.add(code+".name", msgTooLong(MaxFieldLength))
				continue
			}
			in.name = n
		default:
			errs.add(code+".name", msgTypeString)
			continue
		}
		if c, present := t["color"]; present && c != nil {
			color, ok := parseString(code+".color", c, MaxFieldLength, errs)
			if !ok {
				continue
			}
			in.color = color
		}
		tags = append(tags, in)
	}
	if len(*errs) > before {
		return opt[[]tagInput]{}
	}
	return value(tags)
}

// parseCustomData validates the write form of customData: an array of
// {property, value}. The object form (the read form) is refused, because the
// vendor only documents the array for writes.
func (s *Sim) parseCustomData(obj map[string]any, errs *violations) opt[[]customEntry] {
	raw, ok := obj["customData"]
	switch {
	case !ok:
		return opt[[]customEntry]{}
	case raw == nil:
		return null[[]customEntry]()
	}
	list, ok := raw.([]any)
	if !ok {
		errs.add("customData", msgTypeArray)
		return opt[[]customEntry]{}
	}
	before := len(*errs)
	entries := make([]customEntry, 0, len(list))
	for i, item := range list {
		code := fmt.Sprintf("customData[%d]", i)
		e, ok := item.(map[string]any)
		if !ok {
			errs.add(code, msgTypeObject)
			continue
		}
		prop, ok := e["property"].(string)
		if !ok || prop == "" {
			if e["property"] == nil || ok {
				errs.add(code+".property", msgNotBlank)
			} else {
				errs.add(code+".property", msgTypeString)
			}
			continue
		}
		v := e["value"]
		if v == nil {
			entries = append(entries, customEntry{property: prop, remove: true})
			continue
		}
		converted, msg := convertCustomValue(s.attrs[prop], v)
		if msg != "" {
			errs.add(code+".value", msg)
			continue
		}
		entries = append(entries, customEntry{property: prop, value: converted})
	}
	if len(*errs) > before {
		return opt[[]customEntry]{}
	}
	return value(entries)
}

// convertCustomValue turns a written customData value into its read-back
// form according to the attribute type ("" for an attribute missing from
// the catalogue). It returns a violation message when the value does not fit.
func convertCustomValue(t AttributeType, v any) (any, string) {
	switch t {
	case AttributeString:
		if _, ok := v.(string); !ok {
			return nil, msgTypeString
		}
		return v, ""
	case AttributeNumber:
		switch x := v.(type) {
		case json.Number:
			return x, ""
		case string:
			if _, err := strconv.ParseFloat(x, 64); err != nil || !json.Valid([]byte(x)) {
				return nil, msgTypeNumeric
			}
			return json.Number(x), ""
		}
		return nil, msgTypeNumeric
	case AttributeBoolean:
		if _, ok := v.(bool); !ok {
			return nil, msgTypeBool
		}
		return v, ""
	case AttributeDate:
		// The vendor's example writes "1603885746" and reads 1603885746.
		ts, ok := parseTimestamp(v)
		if !ok {
			return nil, msgInvalidTime
		}
		return json.Number(strconv.FormatInt(ts.Unix(), 10)), ""
	}
	switch v.(type) {
	case string, json.Number, bool:
		return v, ""
	}
	return nil, msgTypeScalar
}

// applyPatch merges p into rec: only the fields p carries change. Callers
// reset rec first for a full replace. s.mu must be held.
func (s *Sim) applyPatch(rec *record, p *patch, now time.Time) {
	for name, o := range p.fields {
		if o.null {
			delete(rec.fields, name)
		} else {
			rec.fields[name] = o.v
		}
	}
	applyTime(&rec.firstSeen, p.firstSeen)
	applyTime(&rec.lastSeen, p.lastSeen)
	if p.unsubscribed.set {
		rec.unsubscribed = p.unsubscribed.v
	}
	if p.blocked.set {
		rec.blocked = p.blocked.v
	}
	if p.location.set {
		rec.location = nil
		if !p.location.null {
			loc := p.location.v
			rec.location = &loc
		}
	}
	if p.device.set {
		rec.device = nil
		if !p.device.null {
			dev := p.device.v
			rec.device = &dev
		}
	}
	if p.tags.set {
		rec.tags = nil
		s.addTags(rec, p.tags.v)
	}
	if p.customData.set {
		if p.customData.null {
			clear(rec.customData)
		}
		for _, e := range p.customData.v {
			if e.remove {
				delete(rec.customData, e.property)
			} else {
				rec.customData[e.property] = e.value
			}
		}
	}
	rec.updatedAt = now
}

func applyTime(dst **time.Time, o opt[time.Time]) {
	switch {
	case !o.set:
	case o.null:
		*dst = nil
	default:
		t := o.v
		*dst = &t
	}
}

// addTags assigns tags to rec, creating unknown ones on the account with the
// given colour or the default. An existing tag keeps its colour. s.mu must be
// held.
func (s *Sim) addTags(rec *record, tags []tagInput) {
	for _, t := range tags {
		if _, ok := s.tagColors[t.name]; !ok {
			color := t.color
			if color == "" {
				color = DefaultTagColor
			}
			s.tagColors[t.name] = color
			s.tagOrder = append(s.tagOrder, t.name)
		}
		if !containsString(rec.tags, t.name) {
			rec.tags = append(rec.tags, t.name)
		}
	}
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Wire shapes of the customer object, in the vendor's field order.
type (
	wireTag struct {
		Name  string `json:"name"`
		Color string `json:"color"`
	}
	wireLocation struct {
		RegionCode  string `json:"regionCode"`
		CountryCode string `json:"countryCode"`
		City        string `json:"city"`
	}
	wireDevice struct {
		ID        int    `json:"id"`
		IP        string `json:"ip"`
		Timezone  string `json:"timezone"`
		Platform  string `json:"platform"`
		UserAgent string `json:"userAgent"`
	}
	wireCustomer struct {
		ID            int            `json:"id"`
		Name          *string        `json:"name"`
		Email         *string        `json:"email"`
		UserID        *string        `json:"userId"`
		Company       *string        `json:"company"`
		Phone         *string        `json:"phone"`
		FirstSeen     *string        `json:"firstSeen"`
		LastSeen      *string        `json:"lastSeen"`
		Location      *wireLocation  `json:"location"`
		Device        *wireDevice    `json:"device"`
		Unsubscribed  bool           `json:"unsubscribed"`
		Blocked       bool           `json:"blocked"`
		Source        *string        `json:"source"`
		Referer       *string        `json:"referer"`
		LastPage      *string        `json:"lastPage"`
		Locale        *string        `json:"locale"`
		CreatedFrom   *string        `json:"createdFrom"`
		IntegrationID *string        `json:"integrationId"`
		Notes         *string        `json:"notes"`
		Tags          []wireTag      `json:"tags"`
		CustomData    map[string]any `json:"customData"`
	}
)

// render builds the wire form of rec. s.mu must be held.
func (s *Sim) render(rec *record) wireCustomer {
	field := func(name string) *string {
		if v, ok := rec.fields[name]; ok {
			return &v
		}
		return nil
	}
	ts := func(t *time.Time) *string {
		if t == nil {
			return nil
		}
		v := formatTimestamp(*t)
		return &v
	}
	wc := wireCustomer{
		ID:            rec.id,
		Name:          field("name"),
		Email:         field("email"),
		UserID:        field("userId"),
		Company:       field("company"),
		Phone:         field("phone"),
		FirstSeen:     ts(rec.firstSeen),
		LastSeen:      ts(rec.lastSeen),
		Unsubscribed:  rec.unsubscribed,
		Blocked:       rec.blocked,
		Source:        field("source"),
		Referer:       field("referer"),
		LastPage:      field("lastPage"),
		Locale:        field("locale"),
		CreatedFrom:   field("createdFrom"),
		IntegrationID: field("integrationId"),
		Notes:         field("notes"),
		Tags:          make([]wireTag, 0, len(rec.tags)),
		CustomData:    maps.Clone(rec.customData),
	}
	if l := rec.location; l != nil {
		wc.Location = &wireLocation{RegionCode: l.RegionCode, CountryCode: l.CountryCode, City: l.City}
	}
	if d := rec.device; d != nil {
		wc.Device = &wireDevice{ID: rec.id, IP: d.IP, Timezone: d.Timezone, Platform: d.Platform, UserAgent: d.UserAgent}
	}
	for _, name := range rec.tags {
		wc.Tags = append(wc.Tags, wireTag{Name: name, Color: s.tagColors[name]})
	}
	return wc
}

// snapshot copies rec for inspection. s.mu must be held.
func (s *Sim) snapshot(rec *record) Customer {
	c := Customer{
		ID:           rec.id,
		Fields:       maps.Clone(rec.fields),
		Unsubscribed: rec.unsubscribed,
		Blocked:      rec.blocked,
		CustomData:   maps.Clone(rec.customData),
		CreatedAt:    rec.createdAt,
		UpdatedAt:    rec.updatedAt,
	}
	if rec.firstSeen != nil {
		t := *rec.firstSeen
		c.FirstSeen = &t
	}
	if rec.lastSeen != nil {
		t := *rec.lastSeen
		c.LastSeen = &t
	}
	if rec.location != nil {
		l := *rec.location
		c.Location = &l
	}
	if rec.device != nil {
		d := *rec.device
		c.Device = &d
	}
	for _, name := range rec.tags {
		c.Tags = append(c.Tags, Tag{Name: name, Color: s.tagColors[name]})
	}
	return c
}
