package helpcrunch

import (
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"
)

// pathID parses the {id} path segment; anything but digits names no entity.
func pathID(arg string) (int, bool) {
	id, ok := parseID(arg)
	return id, ok && id > 0
}

func (s *Sim) customerExists(id int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.customers[id]
	return ok
}

// readExisting resolves the {id} of a write and reads its JSON object body.
// The entity is loaded before the body is validated, so an unknown id is a
// 404 even with a bad body. ok is false once an error has been written.
func (s *Sim) readExisting(w http.ResponseWriter, r *http.Request, arg string) (int, map[string]any, bool) {
	id, ok := pathID(arg)
	if !ok || !s.customerExists(id) {
		writeErrors(w, http.StatusNotFound, errEntityNotFound)
		return 0, nil, false
	}
	obj, ok := readObject(w, r)
	return id, obj, ok
}

// modify applies change to customer id under the lock and answers the
// customer as it now is, or 404 if it was deleted concurrently.
func (s *Sim) modify(w http.ResponseWriter, id int, change func(*record)) {
	s.mu.Lock()
	rec, found := s.customers[id]
	if !found {
		s.mu.Unlock()
		writeErrors(w, http.StatusNotFound, errEntityNotFound)
		return
	}
	change(rec)
	out := s.render(rec)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

// createCustomer serves POST /customers: no field is required.
func (s *Sim) createCustomer(w http.ResponseWriter, r *http.Request, _ string) {
	obj, ok := readObject(w, r)
	if !ok {
		return
	}
	var errs violations
	p := s.parsePatch(obj, &errs)
	if len(errs) > 0 {
		writeErrors(w, http.StatusBadRequest, errs...)
		return
	}
	s.mu.Lock()
	now := s.now()
	rec := newRecord(s.nextCustomerID, now)
	s.nextCustomerID++
	s.applyPatch(rec, p, now)
	// The vendor's example answers lastSeen equal to firstSeen without the
	// request sending it: an API-created customer is first and last seen now.
	if !p.firstSeen.set {
		t := time.Unix(now.Unix(), 0).UTC()
		rec.firstSeen = &t
	}
	if !p.lastSeen.set && rec.firstSeen != nil {
		t := *rec.firstSeen
		rec.lastSeen = &t
	}
	s.customers[rec.id] = rec
	out := s.render(rec)
	s.mu.Unlock()
	writeJSON(w, http.StatusCreated, out)
}

// getCustomer serves GET /customers/{id}.
func (s *Sim) getCustomer(w http.ResponseWriter, _ *http.Request, arg string) {
	id, ok := pathID(arg)
	s.mu.Lock()
	rec, found := s.customers[id]
	var out wireCustomer
	if found {
		out = s.render(rec)
	}
	s.mu.Unlock()
	if !ok || !found {
		writeErrors(w, http.StatusNotFound, errEntityNotFound)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// replaceCustomer serves PUT /customers/{id}: omitted fields become null.
func (s *Sim) replaceCustomer(w http.ResponseWriter, r *http.Request, arg string) {
	s.updateCustomer(w, r, arg, true)
}

// mergeCustomer serves PATCH /customers/{id}: only sent fields change.
func (s *Sim) mergeCustomer(w http.ResponseWriter, r *http.Request, arg string) {
	s.updateCustomer(w, r, arg, false)
}

func (s *Sim) updateCustomer(w http.ResponseWriter, r *http.Request, arg string, replace bool) {
	id, obj, ok := s.readExisting(w, r, arg)
	if !ok {
		return
	}
	var errs violations
	p := s.parsePatch(obj, &errs)
	if len(errs) > 0 {
		writeErrors(w, http.StatusBadRequest, errs...)
		return
	}
	s.modify(w, id, func(rec *record) {
		if replace {
			*rec = *newRecord(rec.id, rec.createdAt)
		}
		s.applyPatch(rec, p, s.now())
	})
}

// deleteCustomer serves DELETE /customers/{id}, answering the plain-text
// body "Ok" as documented (not JSON).
func (s *Sim) deleteCustomer(w http.ResponseWriter, _ *http.Request, arg string) {
	id, ok := pathID(arg)
	s.mu.Lock()
	_, found := s.customers[id]
	delete(s.customers, id)
	s.mu.Unlock()
	if !ok || !found {
		writeErrors(w, http.StatusNotFound, errEntityNotFound)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte("Ok"))
}

// tagCustomer serves PUT /customers/{id}/tags.
func (s *Sim) tagCustomer(w http.ResponseWriter, r *http.Request, arg string) {
	s.changeTags(w, r, arg, true)
}

// untagCustomer serves DELETE /customers/{id}/tags (with a JSON body).
func (s *Sim) untagCustomer(w http.ResponseWriter, r *http.Request, arg string) {
	s.changeTags(w, r, arg, false)
}

func (s *Sim) changeTags(w http.ResponseWriter, r *http.Request, arg string, add bool) {
	id, obj, ok := s.readExisting(w, r, arg)
	if !ok {
		return
	}
	var errs violations
	tags := parseTagsField(obj, "tags", &errs)
	if len(errs) == 0 && (!tags.set || tags.null || len(tags.v) == 0) {
		errs.add("tags", msgNotBlank)
	}
	if len(errs) > 0 {
		writeErrors(w, http.StatusBadRequest, errs...)
		return
	}
	s.modify(w, id, func(rec *record) {
		if add {
			s.addTags(rec, tags.v)
		} else {
			// Untagging matches by name; a colour in the body is irrelevant and
			// a tag the customer does not carry is ignored.
			rec.tags = slices.DeleteFunc(slices.Clone(rec.tags), func(name string) bool {
				return slices.ContainsFunc(tags.v, func(t tagInput) bool { return t.name == name })
			})
		}
		rec.updatedAt = s.now()
	})
}

// batchUpdate serves PUT /customers/batch: 1..MaxBatch objects, each naming
// its customer by "customer". The batch is all or nothing.
func (s *Sim) batchUpdate(w http.ResponseWriter, r *http.Request, _ string) {
	v, ok := readJSON(w, r)
	if !ok {
		return
	}
	list, ok := v.([]any)
	if !ok {
		writeErrors(w, http.StatusBadRequest, apiError{Code: "body", Message: msgTypeArray})
		return
	}
	s.addItemsReceived(len(list))
	switch {
	case len(list) == 0:
		writeErrors(w, http.StatusBadRequest, apiError{Code: "body", Message: msgCountMin})
		return
	case len(list) > s.maxBatch:
		writeErrors(w, http.StatusBadRequest, apiError{Code: "body", Message: msgCountMax(s.maxBatch)})
		return
	}
	type item struct {
		id int
		p  *patch
	}
	var errs violations
	items := make([]item, 0, len(list))
	for _, raw := range list {
		obj, ok := raw.(map[string]any)
		if !ok {
			errs.add("body", msgTypeObject)
			continue
		}
		var it item
		switch c, present := obj["customer"]; {
		case !present || c == nil:
			// An item carrying "id" instead of "customer" lands here.
			errs.add("customer", msgNotBlank)
		default:
			id, numeric := parseID(c)
			if !numeric {
				errs.add("customer", msgTypeNumeric)
			}
			it.id = id
		}
		it.p = s.parsePatch(obj, &errs)
		items = append(items, it)
	}
	if len(errs) > 0 {
		writeErrors(w, http.StatusBadRequest, errs...)
		return
	}
	s.mu.Lock()
	for _, it := range items {
		if _, found := s.customers[it.id]; !found {
			s.mu.Unlock()
			writeErrors(w, http.StatusNotFound, errCustomerNotFound)
			return
		}
	}
	now := s.now()
	out := make([]wireCustomer, 0, len(items))
	for _, it := range items {
		rec := s.customers[it.id]
		s.applyPatch(rec, it.p, now)
		out = append(out, s.render(rec))
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

// listCustomers serves GET /customers?sort=&order=&offset=&limit=.
func (s *Sim) listCustomers(w http.ResponseWriter, r *http.Request, _ string) {
	q := r.URL.Query()
	get := func(name string) (any, bool) {
		if !q.Has(name) {
			return nil, false
		}
		return q.Get(name), true
	}
	var errs violations
	pg := parsePage(get, &errs)
	order := parseOrder(get, &errs)
	if len(errs) > 0 {
		writeErrors(w, http.StatusBadRequest, errs...)
		return
	}
	s.writeCustomerPage(w, func(*record) bool { return true }, order, pg)
}

// ordering is a validated sort/order pair; an empty field means by id.
type ordering struct {
	field string // "", "firstSeen" or "lastSeen"
	desc  bool
}

// parseOrder validates sort (customers.firstSeen | customers.lastSeen) and
// order (asc | desc).
func parseOrder(get func(string) (any, bool), errs *violations) ordering {
	var o ordering
	if v, ok := get("sort"); ok && v != nil {
		switch str, _ := v.(string); str {
		case "customers.firstSeen":
			o.field = "firstSeen"
		case "customers.lastSeen":
			o.field = "lastSeen"
		default:
			errs.add("sort", msgInvalidChoice)
		}
	}
	if v, ok := get("order"); ok && v != nil {
		str, _ := v.(string)
		switch strings.ToLower(str) {
		case "asc":
		case "desc":
			o.desc = true
		default:
			errs.add("order", msgInvalidChoice)
		}
	}
	return o
}

// writeCustomerPage answers {"data":[...],"total":N} with the customers
// matching keep, ordered and paged.
func (s *Sim) writeCustomerPage(w http.ResponseWriter, keep func(*record) bool, o ordering, pg page) {
	s.mu.Lock()
	matched := make([]*record, 0, len(s.customers))
	for _, rec := range s.customers {
		if keep(rec) {
			matched = append(matched, rec)
		}
	}
	sortRecords(matched, o)
	from, to := pg.slice(len(matched))
	body := listBody[wireCustomer]{Data: make([]wireCustomer, 0, to-from), Total: len(matched)}
	for _, rec := range matched[from:to] {
		body.Data = append(body.Data, s.render(rec))
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, body)
}

// sortRecords orders by the chosen timestamp (null lowest, so first when
// ascending and last when descending, as MySQL does) or by id, with ties
// broken by ascending id so pages are stable.
func sortRecords(recs []*record, o ordering) {
	key := func(r *record) *time.Time {
		switch o.field {
		case "firstSeen":
			return r.firstSeen
		case "lastSeen":
			return r.lastSeen
		}
		t := time.Unix(int64(r.id), 0)
		return &t
	}
	sort.Slice(recs, func(i, j int) bool {
		a, b := key(recs[i]), key(recs[j])
		c := compareTimes(a, b)
		if o.desc {
			c = -c
		}
		if c != 0 {
			return c < 0
		}
		return recs[i].id < recs[j].id
	})
}

func compareTimes(a, b *time.Time) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return -1
	case b == nil:
		return 1
	}
	return a.Compare(*b)
}
