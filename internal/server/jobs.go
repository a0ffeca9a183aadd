package server

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"math"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/getkin/kin-openapi/routers"
	"github.com/labstack/echo/v4"

	"github.com/crm-gateway/crm-gateway/internal/auth"
	"github.com/crm-gateway/crm-gateway/internal/crm"
	"github.com/crm-gateway/crm-gateway/internal/gateway"
	"github.com/crm-gateway/crm-gateway/internal/jobs"
	"github.com/crm-gateway/crm-gateway/internal/oapi"
)

// Bulk jobs: the batch endpoint's asynchronous side and the /v1/jobs API.

const (
	// maxSyncItems is the most items a synchronous batch answers with; more
	// make a job.
	maxSyncItems = 1000
	// defaultStreamThreshold is the body size above which a batch is
	// streamed into the job store instead of read whole.
	defaultStreamThreshold = 1 << 20
	// defaultJobBodyBytes caps a streamed batch body.
	defaultJobBodyBytes = 256 << 20
	// streamKey marks a batch request whose body the validator left unread.
	streamKey = "crm.stream"
)

// initJobs applies the bulk job options.
func (s *Server) initJobs(opts Options) {
	s.jobs = opts.Jobs
	s.jobBody = opts.JobBodyBytes
	if s.jobBody <= 0 {
		s.jobBody = defaultJobBodyBytes
	}
	s.streamAt = opts.StreamThreshold
	if s.streamAt <= 0 {
		s.streamAt = defaultStreamThreshold
	}
	s.streamAt = min(s.streamAt, s.maxBody)
}

// streamBody reports whether the validator leaves this request's body to
// the handler, to be streamed into the job store item by item: a JSON batch
// larger than the stream threshold. A body of unknown length (chunked) is
// read up to the threshold first: if it ends there it is an ordinary body.
func (s *Server) streamBody(route *routers.Route, req *http.Request) bool {
	if s.jobs == nil || route.Operation.OperationID != "batchCustomers" {
		return false
	}
	if mt, _, _ := mime.ParseMediaType(req.Header.Get(echo.HeaderContentType)); mt != "application/json" {
		return false
	}
	if req.ContentLength >= 0 {
		return req.ContentLength > s.streamAt
	}
	head, err := io.ReadAll(io.LimitReader(req.Body, s.streamAt+1))
	if err != nil || int64(len(head)) <= s.streamAt {
		rest := io.Reader(bytes.NewReader(head))
		if err != nil { // readBody reports it
			rest = io.MultiReader(rest, errReader{err})
		} else {
			req.ContentLength = int64(len(head))
		}
		req.Body = io.NopCloser(rest)
		return false
	}
	req.Body = readCloser{io.MultiReader(bytes.NewReader(head), req.Body), req.Body}
	return true
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

type readCloser struct {
	io.Reader
	io.Closer
}

// batchJob runs a batch as a job when it should be one: when the caller
// prefers respond-async, when its estimated time at the connection's rate
// exceeds the synchronous wait bound, when it holds more items than a
// synchronous answer does, or when its body was streamed. handled reports
// that it answered (err is then the answer).
func (s *Server) batchJob(c echo.Context, conn *gateway.Connection) (handled bool, err error) {
	if streamed, _ := c.Get(streamKey).(bool); streamed {
		return true, s.streamBatch(c, conn)
	}
	body, _ := c.Get(bodyKey).([]byte)
	var b struct {
		Mode       crm.Mode          `json:"mode"`
		OnConflict crm.OnConflict    `json:"on_conflict"`
		Customers  []json.RawMessage `json:"customers"`
	}
	if err := json.Unmarshal(body, &b); err != nil {
		return true, crm.Invalid("the request body cannot be decoded", crm.FieldError{Field: "body", Reason: err.Error()})
	}
	async := preferAsync(c.Request().Header.Values("Prefer"))
	if s.jobs == nil {
		if len(b.Customers) > maxSyncItems {
			return true, crm.Invalid("the batch is too large to answer synchronously and bulk jobs are not enabled",
				crm.FieldError{Field: "customers", Reason: "at most " + strconv.Itoa(maxSyncItems) + " items"})
		}
		return false, nil
	}
	bound := conn.Limits.MaxWait
	if d, ok := preferredWait(c.Request().Header.Values("Prefer")); ok {
		bound = min(bound, d)
	}
	if !async && len(b.Customers) <= maxSyncItems && conn.EstimateDuration(b.Mode, len(b.Customers)) <= bound {
		return false, nil
	}
	if !conn.Supports(crm.BatchCapability(b.Mode)) {
		return true, crm.Unsupported(conn.Vendor(), crm.BatchCapability(b.Mode))
	}
	ctx := c.Request().Context()
	builder := s.jobs.NewBuilder(conn)
	for _, item := range b.Customers {
		if err := builder.Add(ctx, item); err != nil {
			builder.Abort(ctx)
			return true, err
		}
	}
	job, err := builder.Commit(ctx, b.Mode, b.OnConflict)
	if err != nil {
		builder.Abort(ctx)
		return true, err
	}
	return true, s.accepted(c, job, async)
}

// accepted answers 202 with the job and its Location.
func (s *Server) accepted(c echo.Context, job *jobs.Job, async bool) error {
	h := c.Response().Header()
	h.Set(echo.HeaderLocation, jobPath(job.ID))
	if async {
		if applied := h.Get("Preference-Applied"); applied != "" {
			h.Set("Preference-Applied", applied+", respond-async")
		} else {
			h.Set("Preference-Applied", "respond-async")
		}
	}
	return respond(c, http.StatusAccepted, s.jobView(job))
}

// preferAsync reports whether the Prefer headers ask for respond-async
// (RFC 7240).
func preferAsync(values []string) bool {
	for _, v := range values {
		for _, pref := range strings.Split(v, ",") {
			name, _, _ := strings.Cut(strings.TrimSpace(pref), ";")
			if strings.EqualFold(strings.TrimSpace(name), "respond-async") {
				return true
			}
		}
	}
	return false
}

func jobPath(id string) string { return "/v1/jobs/" + id }

// jobView is a job as the API shows it.
type jobView struct {
	ID         string         `json:"id"`
	Connection string         `json:"connection"`
	Vendor     string         `json:"vendor"`
	Mode       crm.Mode       `json:"mode"`
	OnConflict crm.OnConflict `json:"on_conflict,omitempty"`
	State      jobs.State     `json:"state"`
	Counts     jobCounts      `json:"counts"`
	CreatedAt  time.Time      `json:"created_at"`
	StartedAt  *time.Time     `json:"started_at"`
	FinishedAt *time.Time     `json:"finished_at"`
	ETASeconds *float64       `json:"eta_seconds"`
	Links      jobLinks       `json:"links"`
}

type jobCounts struct {
	Total     int `json:"total"`
	Created   int `json:"created"`
	Updated   int `json:"updated"`
	Accepted  int `json:"accepted"`
	Failed    int `json:"failed"`
	Uncertain int `json:"uncertain"`
	Pending   int `json:"pending"`
}

type jobLinks struct {
	Self    string `json:"self"`
	Results string `json:"results"`
}

func (s *Server) jobView(j *jobs.Job) jobView {
	v := jobView{
		ID: j.ID, Connection: j.Connection, Vendor: j.Vendor, Mode: j.Mode, OnConflict: j.OnConflict, State: j.State(),
		Counts: jobCounts{Total: j.Total, Created: j.Created, Updated: j.Updated, Accepted: j.Accepted, Failed: j.Failed,
			Uncertain: j.Uncertain, Pending: j.Pending()},
		CreatedAt: j.CreatedAt.UTC(), StartedAt: timeOrNil(j.StartedAt), FinishedAt: timeOrNil(j.FinishedAt),
		Links: jobLinks{Self: jobPath(j.ID), Results: jobPath(j.ID) + "/results"},
	}
	if eta, ok := s.jobs.ETA(j); ok {
		secs := math.Round(eta.Seconds()*10) / 10
		v.ETASeconds = &secs
	}
	return v
}

func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

// job returns a job the caller's key may see: one of a connection it may
// use. Others are not found, so job ids of other connections leak nothing.
func (s *Server) job(c echo.Context, id string) (*jobs.Job, error) {
	if s.jobs == nil {
		return nil, crm.Errorf(crm.ENotFound, "no job %q: bulk jobs are not enabled", id)
	}
	job, err := s.jobs.Get(c.Request().Context(), id)
	if err != nil {
		return nil, err
	}
	if key, _ := c.Get(apiKeyKey).(*auth.Key); key == nil || !key.Allows(job.Connection) {
		return nil, crm.Errorf(crm.ENotFound, "no job %q", id)
	}
	c.Set(vendorKey, job.Vendor)
	return job, nil
}

// ListJobs implements oapi.ServerInterface.
func (s *Server) ListJobs(c echo.Context, p oapi.ListJobsParams) error {
	key := c.Get(apiKeyKey).(*auth.Key)
	if p.Connection != nil && !key.Allows(*p.Connection) {
		return crm.Errorf(crm.EForbidden, "this API key may not use connection %q", *p.Connection)
	}
	data := []jobView{}
	if s.jobs == nil {
		return c.JSON(http.StatusOK, map[string]any{"data": data, "next_cursor": nil})
	}
	before := ""
	if p.Cursor != nil {
		id, err := openJobCursor(*p.Cursor, "j")
		if err != nil {
			return err
		}
		before = id
	}
	limit := 20
	if p.Limit != nil {
		limit = *p.Limit
	}
	list, next, err := s.jobs.List(c.Request().Context(), before, limit, func(j *jobs.Job) bool {
		return key.Allows(j.Connection) && (p.Connection == nil || j.Connection == *p.Connection)
	})
	if err != nil {
		return err
	}
	for _, j := range list {
		data = append(data, s.jobView(j))
	}
	var nextCursor *string
	if next != "" {
		cur := sealJobCursor("j", next)
		nextCursor = &cur
	}
	return c.JSON(http.StatusOK, map[string]any{"data": data, "next_cursor": nextCursor})
}

// GetJob implements oapi.ServerInterface.
func (s *Server) GetJob(c echo.Context, id string) error {
	job, err := s.job(c, id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, s.jobView(job))
}

// CancelJob implements oapi.ServerInterface.
func (s *Server) CancelJob(c echo.Context, id string) error {
	if _, err := s.job(c, id); err != nil {
		return err
	}
	job, err := s.jobs.Cancel(c.Request().Context(), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, s.jobView(job))
}

// ListJobResults implements oapi.ServerInterface.
func (s *Server) ListJobResults(c echo.Context, id string, p oapi.ListJobResultsParams) error {
	job, err := s.job(c, id)
	if err != nil {
		return err
	}
	from := 0
	if p.Cursor != nil {
		pos, err := openJobCursor(*p.Cursor, "r:"+job.ID)
		if err != nil {
			return err
		}
		if from, err = strconv.Atoi(pos); err != nil || from < 0 || from > job.Total {
			return badCursor()
		}
	}
	limit := 100
	if p.Limit != nil {
		limit = *p.Limit
	}
	results, next, more, err := s.jobs.Results(c.Request().Context(), job, from, limit)
	if err != nil {
		return err
	}
	if results == nil {
		results = []json.RawMessage{}
	}
	var nextCursor *string
	if more {
		cur := sealJobCursor("r:"+job.ID, strconv.Itoa(next))
		nextCursor = &cur
	}
	return c.JSON(http.StatusOK, map[string]any{"job": jobResultsHead{ID: job.ID, State: job.State()},
		"data": results, "next_cursor": nextCursor})
}

type jobResultsHead struct {
	ID    string     `json:"id"`
	State jobs.State `json:"state"`
}

// Job cursors are "<scope>|<position>" in base64url: the scope ties a
// results cursor to its job.
func sealJobCursor(scope, pos string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(scope + "|" + pos))
}

func openJobCursor(cur, scope string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(cur)
	if err != nil {
		return "", badCursor()
	}
	got, pos, ok := strings.Cut(string(b), "|")
	if !ok || got != scope || pos == "" {
		return "", badCursor()
	}
	return pos, nil
}

func badCursor() error {
	return crm.Invalid("the cursor is not valid", crm.FieldError{Field: "cursor", Reason: "is not a cursor this API gave for this listing"})
}
