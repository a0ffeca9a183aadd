package nxcloud

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// MaxQueryLimit is the documented upper bound of query's limit.
const MaxQueryLimit = 50

// cursorPrefix versions the opaque cursor so that a foreign string is refused, not misread.
const cursorPrefix = "nxc1:"

func encodeCursor(seq int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(cursorPrefix + strconv.FormatInt(seq, 10)))
}

func decodeCursor(path, c string) (int64, *apiError) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err == nil && strings.HasPrefix(string(b), cursorPrefix) {
		if seq, err := strconv.ParseInt(strings.TrimPrefix(string(b), cursorPrefix), 10, 64); err == nil && seq > 0 {
			return seq, nil
		}
	}
	return 0, errParam("%s: invalid cursor", path)
}

// queryFilter is a validated query body.
type queryFilter struct {
	name, smsPhone, whatsAppPhone, email string
	tags                                 []string
	// Unix-millisecond bounds, [start, end); nil when not given.
	createStart, createEnd, updateStart, updateEnd *int64
}

func (f *queryFilter) matches(c *Customer) bool {
	if f.name != "" {
		first, last := strings.ToLower(c.FirstName), strings.ToLower(c.LastName)
		// Names are matched whichever way round and with or without a space, since Chinese names
		// (as in the doc's example) are written without one.
		if !slices.ContainsFunc([]string{first + " " + last, first + last, last + " " + first, last + first},
			func(full string) bool { return strings.Contains(full, f.name) }) {
			return false
		}
	}
	if f.smsPhone != "" && strings.TrimSpace(c.SMSPhone) != f.smsPhone {
		return false
	}
	if f.whatsAppPhone != "" && strings.TrimSpace(c.WhatsAppPhone) != f.whatsAppPhone {
		return false
	}
	if f.email != "" && strings.ToLower(strings.TrimSpace(c.Email)) != f.email {
		return false
	}
	for _, t := range f.tags {
		if !slices.Contains(c.Tags, t) {
			return false
		}
	}
	return inRange(c.CreatedAt.UnixMilli(), f.createStart, f.createEnd) &&
		inRange(c.UpdatedAt.UnixMilli(), f.updateStart, f.updateEnd)
}

func inRange(ms int64, start, end *int64) bool {
	return (start == nil || ms >= *start) && (end == nil || ms < *end)
}

// customerOut is a customer as the query answer shows it: the batch_create member names plus id
// and times, so that what was written can be read back under the same names.
type customerOut struct {
	ID             string `json:"id"`
	FirstName      string `json:"first_name"`
	LastName       string `json:"last_name"`
	SMSPhone       string `json:"sms_phone"`
	WhatsAppPhone  string `json:"whats_app_phone"`
	Country        string `json:"country"`
	Email          string `json:"email"`
	Address        string `json:"address"`
	Birthday       string `json:"birthday"`
	Source         string `json:"source"`
	Remark         string `json:"remark"`
	TimeZone       string `json:"time_zone"`
	Gender         *int   `json:"gender"`
	TagStr         string `json:"tagStr"`
	CustomizeField string `json:"customize_field"`
	CreateTime     int64  `json:"create_time"`
	UpdateTime     int64  `json:"update_time"`
}

type queryPage struct {
	List    []customerOut `json:"list"`
	After   string        `json:"after"`
	Before  string        `json:"before"`
	HasMore bool          `json:"has_more"`
}

func (s *Sim) output(c *Customer) customerOut {
	custom := make(map[string]any, len(c.CustomFields))
	for k, v := range c.CustomFields {
		if s.custom[k].typ == FieldNumber {
			custom[k] = json.Number(v)
		} else {
			custom[k] = v
		}
	}
	cf, err := json.Marshal(custom)
	if err != nil {
		// Values were validated on the way in; failing to re-encode them is a simulator bug.
		panic("nxcloud: encoding customize_field: " + err.Error())
	}
	out := customerOut{
		ID: c.ID, FirstName: c.FirstName, LastName: c.LastName, SMSPhone: c.SMSPhone,
		WhatsAppPhone: c.WhatsAppPhone, Country: c.Country, Email: c.Email, Address: c.Address,
		Birthday: c.Birthday, Source: c.Source, Remark: c.Remark, TimeZone: c.TimeZone,
		TagStr: strings.Join(c.Tags, ","), CustomizeField: string(cf),
		CreateTime: c.CreatedAt.UnixMilli(), UpdateTime: c.UpdatedAt.UnixMilli(),
	}
	if c.Gender != nil {
		g := *c.Gender
		out.Gender = &g
	}
	return out
}

// query answers POST /customers/query.
func (s *Sim) query(_ *http.Request, body []byte) (any, *apiError) {
	o, e := decodeObject(body, "request body")
	if e != nil {
		return nil, e
	}
	if e := s.account(o); e != nil {
		return nil, e
	}
	limit, ok, e := o.int("", "limit")
	if e != nil {
		return nil, e
	}
	if !ok {
		return nil, errParam("limit is required")
	}
	if limit < 1 || limit > MaxQueryLimit {
		return nil, errParam("limit must be between 1 and %d, got %d", MaxQueryLimit, limit)
	}
	after, hasAfter, e := o.str("", "after")
	if e != nil {
		return nil, e
	}
	before, hasBefore, e := o.str("", "before")
	if e != nil {
		return nil, e
	}
	hasAfter, hasBefore = hasAfter && after != "", hasBefore && before != ""
	if hasAfter && hasBefore {
		return nil, errParam("after and before cannot be used together")
	}
	var cursor int64
	if hasAfter {
		if cursor, e = decodeCursor("after", after); e != nil {
			return nil, e
		}
	}
	if hasBefore {
		if cursor, e = decodeCursor("before", before); e != nil {
			return nil, e
		}
	}
	f, e := parseFilter(o)
	if e != nil {
		return nil, e
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	list := s.store.list
	var hits []*Customer
	if hasBefore {
		for i := min(cursor-1, int64(len(list))) - 1; i >= 0 && len(hits) <= int(limit); i-- {
			if f.matches(list[i]) {
				hits = append(hits, list[i])
			}
		}
	} else {
		for i := cursor; i < int64(len(list)) && len(hits) <= int(limit); i++ {
			if f.matches(list[i]) {
				hits = append(hits, list[i])
			}
		}
	}
	page := queryPage{List: []customerOut{}, HasMore: len(hits) > int(limit)}
	hits = hits[:min(len(hits), int(limit))]
	if hasBefore {
		slices.Reverse(hits)
	}
	for _, c := range hits {
		page.List = append(page.List, s.output(c))
	}
	if len(hits) > 0 {
		first, _ := strconv.ParseInt(hits[0].ID, 10, 64)
		last, _ := strconv.ParseInt(hits[len(hits)-1].ID, 10, 64)
		page.Before, page.After = encodeCursor(first), encodeCursor(last)
	}
	return page, nil
}

// parseFilter reads the optional filter members of a query body.
func parseFilter(o object) (*queryFilter, *apiError) {
	f := &queryFilter{}
	for _, m := range []struct {
		key string
		dst *string
	}{{"name", &f.name}, {"sms_phone", &f.smsPhone}, {"whats_app_phone", &f.whatsAppPhone}, {"email", &f.email}} {
		v, _, e := o.str("", m.key)
		if e != nil {
			return nil, e
		}
		*m.dst = strings.TrimSpace(v)
	}
	f.name = strings.ToLower(f.name)
	f.email = strings.ToLower(f.email)

	tags, _, e := o.array("", "tags")
	if e != nil {
		return nil, e
	}
	for i, raw := range tags {
		var t string
		if err := json.Unmarshal(raw, &t); err != nil {
			return nil, errParam("tags[%d]: must be a string", i)
		}
		if t = strings.TrimSpace(t); t != "" {
			f.tags = append(f.tags, t)
		}
	}

	for _, r := range []struct {
		start, end string
		dstStart   **int64
		dstEnd     **int64
	}{
		{"create_time_start", "create_time_end", &f.createStart, &f.createEnd},
		{"update_time_start", "update_time_end", &f.updateStart, &f.updateEnd},
	} {
		start, hasStart, e := o.int("", r.start)
		if e != nil {
			return nil, e
		}
		end, hasEnd, e := o.int("", r.end)
		if e != nil {
			return nil, e
		}
		if hasStart && hasEnd && start > end {
			return nil, errParam("%s must not be after %s", r.start, r.end)
		}
		if hasStart {
			*r.dstStart = &start
		}
		if hasEnd {
			*r.dstEnd = &end
		}
	}
	return f, nil
}
