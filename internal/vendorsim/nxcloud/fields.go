package nxcloud

import (
	"fmt"
	"net/http"
	"regexp"
	"strconv"
)

// Custom field types understood by the simulator. The vendor encodes a type number in the key
// (customize_<type>_<n>) but does not publish the numbering, so the catalogue carries an explicit
// type instead and the key's number is not interpreted.
const (
	FieldText   = "text"   // a JSON string
	FieldNumber = "number" // a JSON number
	FieldDate   = "date"   // a JSON string in yyyy-MM-dd
	FieldSelect = "select" // a JSON string equal to one of Options
)

// CustomField is one customize_<type>_<n> entry of an account's field catalogue.
type CustomField struct {
	// Key is the field key, customize_<type>_<n>.
	Key string
	// Name is the label shown to users.
	Name string
	// Type is FieldText, FieldNumber, FieldDate or FieldSelect.
	Type string
	// Required makes the field mandatory in every batch_create item, like first_name.
	Required bool
	// Options are the allowed values of a FieldSelect field.
	Options []string
}

// DefaultCustomFields returns the catalogue used when Config.CustomFields is nil. customize_1_14
// is the key used by the vendor's own request example.
func DefaultCustomFields() []CustomField {
	return []CustomField{
		{Key: "customize_1_14", Name: "Nickname", Type: FieldText},
		{Key: "customize_2_15", Name: "Loyalty points", Type: FieldNumber},
		{Key: "customize_3_16", Name: "Contract start", Type: FieldDate},
		{Key: "customize_4_17", Name: "Plan", Type: FieldSelect, Options: []string{"free", "pro", "enterprise"}},
	}
}

var customKeyRE = regexp.MustCompile(`^customize_[0-9]+_[0-9]+$`)

// fieldOption is one allowed value in the catalogue answer.
type fieldOption struct {
	Value string `json:"value"`
	Label string `json:"label"`
}

// fieldInfo is one catalogue entry as answered by GET /customers/fields.
type fieldInfo struct {
	Key       string        `json:"key"`
	Name      string        `json:"name"`
	Type      string        `json:"type"`
	IsPreset  bool          `json:"is_preset"`
	Required  bool          `json:"required"`
	MaxLength int           `json:"max_length,omitempty"`
	Format    string        `json:"format,omitempty"`
	Options   []fieldOption `json:"options,omitempty"`
}

// fieldRule is how a custom field's values are validated.
type fieldRule struct {
	typ      string
	required bool
	options  map[string]bool
}

// presetFields is the catalogue of documented customer fields, with the doc's limits.
var presetFields = []fieldInfo{
	{Key: "first_name", Name: "First name", Type: "text", IsPreset: true, Required: true, MaxLength: 128},
	{Key: "last_name", Name: "Last name", Type: "text", IsPreset: true, Required: true, MaxLength: 128},
	{Key: "sms_phone", Name: "Phone number", Type: "phone", IsPreset: true, MaxLength: 30},
	{Key: "whats_app_phone", Name: "WhatsApp", Type: "phone", IsPreset: true, MaxLength: 30},
	{Key: "country", Name: "Country", Type: "text", IsPreset: true, MaxLength: 50},
	{Key: "email", Name: "Email", Type: "email", IsPreset: true, MaxLength: 50},
	{Key: "address", Name: "Street", Type: "text", IsPreset: true, MaxLength: 100},
	{Key: "birthday", Name: "Birthday", Type: "date", IsPreset: true, Format: "yyyy-MM-dd"},
	{Key: "source", Name: "Source", Type: "text", IsPreset: true},
	{Key: "tagStr", Name: "Tags", Type: "tags", IsPreset: true},
	{Key: "remark", Name: "Remark", Type: "text", IsPreset: true, MaxLength: 100},
	{Key: "time_zone", Name: "Time zone", Type: "text", IsPreset: true},
	{Key: "gender", Name: "Gender", Type: "integer", IsPreset: true,
		Options: []fieldOption{{Value: "1", Label: "Male"}, {Value: "0", Label: "Female"}}},
}

// buildCatalog validates the configured custom fields and returns the full catalogue and the
// validation rules by key.
func buildCatalog(custom []CustomField) ([]fieldInfo, map[string]fieldRule, error) {
	catalog := append([]fieldInfo(nil), presetFields...)
	rules := make(map[string]fieldRule, len(custom))
	for _, f := range custom {
		if !customKeyRE.MatchString(f.Key) {
			return nil, nil, fmt.Errorf("custom field key %q does not look like customize_<type>_<n>", f.Key)
		}
		if _, dup := rules[f.Key]; dup {
			return nil, nil, fmt.Errorf("custom field key %q is listed twice", f.Key)
		}
		info := fieldInfo{Key: f.Key, Name: f.Name, Type: f.Type, Required: f.Required}
		rule := fieldRule{typ: f.Type, required: f.Required}
		switch f.Type {
		case FieldText, FieldNumber:
		case FieldDate:
			info.Format = "yyyy-MM-dd"
		case FieldSelect:
			if len(f.Options) == 0 {
				return nil, nil, fmt.Errorf("select field %q has no options", f.Key)
			}
			rule.options = make(map[string]bool, len(f.Options))
			for _, o := range f.Options {
				rule.options[o] = true
				info.Options = append(info.Options, fieldOption{Value: o, Label: o})
			}
		default:
			return nil, nil, fmt.Errorf("custom field %q has unknown type %q", f.Key, f.Type)
		}
		rules[f.Key] = rule
		catalog = append(catalog, info)
	}
	return catalog, rules, nil
}

// fields answers GET /customers/fields?tenant_id&app_key&is_preset.
func (s *Sim) fields(r *http.Request, _ []byte) (any, *apiError) {
	q := r.URL.Query()
	tenant := q.Get("tenant_id")
	if tenant == "" {
		return nil, errParam("tenant_id is required")
	}
	tid, err := strconv.ParseInt(tenant, 10, 64)
	if err != nil {
		return nil, errParam("tenant_id must be an integer, got %q", tenant)
	}
	appKey := q.Get("app_key")
	if appKey == "" {
		return nil, errParam("app_key is required")
	}
	if e := s.checkAccount(tid, appKey); e != nil {
		return nil, e
	}

	var want *bool // nil: both preset and custom fields
	switch p := q.Get("is_preset"); p {
	case "":
	case "1", "true":
		t := true
		want = &t
	case "0", "false":
		f := false
		want = &f
	default:
		return nil, errParam("is_preset must be 1 or 0, got %q", p)
	}
	list := make([]fieldInfo, 0, len(s.catalog))
	for _, f := range s.catalog {
		if want == nil || f.IsPreset == *want {
			list = append(list, f)
		}
	}
	return map[string]any{"list": list}, nil
}

// checkAccount answers 1005 when the request names another tenant or app.
func (s *Sim) checkAccount(tenantID int64, appKey string) *apiError {
	if tenantID != s.cfg.TenantID || appKey != s.cfg.AppKey {
		return &apiError{code: CodeNoPermission, msg: "no permission for this tenant_id / app_key"}
	}
	return nil
}
