package nxcloud_test

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/crm-gateway/crm-gateway/internal/vendorsim/nxcloud"
)

type fieldOption struct {
	Value string `json:"value"`
	Label string `json:"label"`
}

type fieldInfo struct {
	Key       string        `json:"key"`
	Name      string        `json:"name"`
	Type      string        `json:"type"`
	IsPreset  bool          `json:"is_preset"`
	Required  bool          `json:"required"`
	MaxLength int           `json:"max_length"`
	Format    string        `json:"format"`
	Options   []fieldOption `json:"options"`
}

var presetKeys = []string{
	"first_name", "last_name", "sms_phone", "whats_app_phone", "country", "email", "address",
	"birthday", "source", "tagStr", "remark", "time_zone", "gender",
}

func (h *harness) fields(query string) (answer, []fieldInfo) {
	h.t.Helper()
	a := h.do(call{method: http.MethodGet, path: nxcloud.PathFields, query: query})
	if a.Code != 0 {
		return a, nil
	}
	var data struct {
		List []fieldInfo `json:"list"`
	}
	if err := json.Unmarshal(a.Data, &data); err != nil {
		h.t.Fatalf("fields data: %v: %s", err, a.Data)
	}
	return a, data.List
}

func fieldKeys(list []fieldInfo) []string {
	out := []string{}
	for _, f := range list {
		out = append(out, f.Key)
	}
	return out
}

func TestFieldsCatalogue(t *testing.T) {
	h := newHarness(t, nxcloud.Config{})
	defaultCustom := []string{"customize_1_14", "customize_2_15", "customize_3_16", "customize_4_17"}
	tests := []struct {
		isPreset string
		want     []string
	}{
		{"", append(append([]string{}, presetKeys...), defaultCustom...)},
		{"1", presetKeys},
		{"true", presetKeys},
		{"0", defaultCustom},
		{"false", defaultCustom},
	}
	for _, tt := range tests {
		t.Run("is_preset="+tt.isPreset, func(t *testing.T) {
			q := "tenant_id=144&app_key=sandbox-app"
			if tt.isPreset != "" {
				q += "&is_preset=" + tt.isPreset
			}
			a, list := h.fields(q)
			assertEnvelope(t, a)
			if a.Code != 0 {
				t.Fatalf("code = %d (%s)", a.Code, a.Message)
			}
			if got := fieldKeys(list); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("keys = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestFieldsEntries checks that catalogue entries state the documented rules.
func TestFieldsEntries(t *testing.T) {
	h := newHarness(t, nxcloud.Config{})
	_, list := h.fields("tenant_id=144&app_key=sandbox-app")
	byKey := map[string]fieldInfo{}
	for _, f := range list {
		byKey[f.Key] = f
	}
	tests := []fieldInfo{
		{Key: "first_name", Name: "First name", Type: "text", IsPreset: true, Required: true, MaxLength: 128},
		{Key: "last_name", Name: "Last name", Type: "text", IsPreset: true, Required: true, MaxLength: 128},
		{Key: "sms_phone", Name: "Phone number", Type: "phone", IsPreset: true, MaxLength: 30},
		{Key: "email", Name: "Email", Type: "email", IsPreset: true, MaxLength: 50},
		{Key: "birthday", Name: "Birthday", Type: "date", IsPreset: true, Format: "yyyy-MM-dd"},
		{Key: "gender", Name: "Gender", Type: "integer", IsPreset: true,
			Options: []fieldOption{{"1", "Male"}, {"0", "Female"}}},
		{Key: "customize_1_14", Name: "Nickname", Type: "text"},
		{Key: "customize_3_16", Name: "Contract start", Type: "date", Format: "yyyy-MM-dd"},
		{Key: "customize_4_17", Name: "Plan", Type: "select",
			Options: []fieldOption{{"free", "free"}, {"pro", "pro"}, {"enterprise", "enterprise"}}},
	}
	for _, want := range tests {
		t.Run(want.Key, func(t *testing.T) {
			if got := byKey[want.Key]; !reflect.DeepEqual(got, want) {
				t.Errorf("entry = %+v, want %+v", got, want)
			}
		})
	}
}

func TestFieldsConfiguredCatalogue(t *testing.T) {
	h := newHarness(t, nxcloud.Config{TenantID: 7, AppKey: "app-7", CustomFields: []nxcloud.CustomField{
		{Key: "customize_1_3", Name: "Member no.", Type: nxcloud.FieldText, Required: true},
	}})
	a, list := h.fields("tenant_id=7&app_key=app-7&is_preset=0")
	if a.Code != 0 {
		t.Fatalf("code = %d (%s)", a.Code, a.Message)
	}
	want := []fieldInfo{{Key: "customize_1_3", Name: "Member no.", Type: "text", Required: true}}
	if !reflect.DeepEqual(list, want) {
		t.Errorf("custom fields = %+v, want %+v", list, want)
	}
}

func TestFieldsValidation(t *testing.T) {
	h := newHarness(t, nxcloud.Config{})
	tests := []struct {
		name     string
		query    string
		wantCode int
		wantMsg  string
	}{
		{"tenant_id missing", "app_key=sandbox-app", 1002, "tenant_id"},
		{"tenant_id not a number", "tenant_id=abc&app_key=sandbox-app", 1002, "tenant_id"},
		{"app_key missing", "tenant_id=144", 1002, "app_key"},
		{"tenant of another", "tenant_id=145&app_key=sandbox-app", 1005, ""},
		{"app of another", "tenant_id=144&app_key=other", 1005, ""},
		{"is_preset unknown", "tenant_id=144&app_key=sandbox-app&is_preset=yes", 1002, "is_preset"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, _ := h.fields(tt.query)
			assertEnvelope(t, a)
			if a.Code != tt.wantCode || !strings.Contains(a.Message, tt.wantMsg) {
				t.Errorf("code %d (%s), want %d naming %q", a.Code, a.Message, tt.wantCode, tt.wantMsg)
			}
		})
	}
}

// TestNewRejectsBadConfig checks that configuration mistakes fail loudly at start-up.
func TestNewRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  nxcloud.Config
	}{
		{"malformed key", nxcloud.Config{CustomFields: []nxcloud.CustomField{{Key: "nickname", Type: nxcloud.FieldText}}}},
		{"duplicate key", nxcloud.Config{CustomFields: []nxcloud.CustomField{
			{Key: "customize_1_1", Type: nxcloud.FieldText}, {Key: "customize_1_1", Type: nxcloud.FieldText}}}},
		{"unknown type", nxcloud.Config{CustomFields: []nxcloud.CustomField{{Key: "customize_9_1", Type: "blob"}}}},
		{"select without options", nxcloud.Config{CustomFields: []nxcloud.CustomField{{Key: "customize_4_1", Type: nxcloud.FieldSelect}}}},
		{"error status out of range", nxcloud.Config{ErrorHTTPStatus: 99}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("New did not panic")
				}
			}()
			nxcloud.New(tt.cfg)
		})
	}
}
