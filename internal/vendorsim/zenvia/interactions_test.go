package zenvia_test

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/crm-gateway/crm-gateway/internal/vendorsim/zenvia"
)

const startPath = "/core/api/v1/interactions"

func TestStartDocumentedExample(t *testing.T) {
	h := newHarness(t, zenvia.Config{})
	// The vendor's example body, minus external_history (covered in the
	// webhook tests, since it needs a reachable URL).
	body := `{
	  "token": "` + token + `",
	  "media_type": "TEXT",
	  "department_id": 1,
	  "customer": {"name": "Name Surname", "email": "name@example.com", "phone": "11991417777", "cpf": "12345678900"},
	  "extra" : {"clientId": "any", "botId": "any"}
	}`
	status, out := h.call(http.MethodPost, startPath, body)
	if status != http.StatusOK {
		t.Fatalf("status %d: %v", status, out)
	}
	// The documented answer has no status member, unlike the other calls.
	wantKeys(t, out, "message", "data")
	if out["message"] != "Interaction created successfully" {
		t.Fatalf("message %v", out["message"])
	}
	data := out["data"].(map[string]any)
	wantKeys(t, data, "interaction_hash")
	hash := data["interaction_hash"].(string)
	if _, err := uuid.Parse(hash); err != nil {
		t.Fatalf("interaction_hash %q is not a UUID: %v", hash, err)
	}

	it, ok := h.sim.Interaction(hash)
	if !ok {
		t.Fatal("Interaction not found")
	}
	want := zenvia.Interaction{
		Hash:         hash,
		State:        zenvia.StateAccepted,
		States:       []string{zenvia.StateQueued, zenvia.StateAccepted},
		DepartmentID: 1,
		MediaType:    "TEXT",
		Customer:     map[string]string{"name": "Name Surname", "email": "name@example.com", "phone": "11991417777", "cpf": "12345678900"},
		Extra:        it.Extra,
		Started:      t0,
	}
	if !reflect.DeepEqual(it, want) {
		t.Fatalf("interaction\n got %+v\nwant %+v", it, want)
	}
	var extra map[string]any
	if err := json.Unmarshal(it.Extra, &extra); err != nil || !reflect.DeepEqual(extra, map[string]any{"clientId": "any", "botId": "any"}) {
		t.Fatalf("extra %s: %v", it.Extra, err)
	}
	if h.sim.InteractionCount() != 1 {
		t.Fatalf("InteractionCount %d", h.sim.InteractionCount())
	}
	if _, ok := h.sim.Interaction(uuid.NewString()); ok {
		t.Fatal("unknown hash found")
	}
}

func TestStartValidation(t *testing.T) {
	tests := []struct {
		name    string
		body    string // members after the token
		status  int
		message string
		media   string
	}{
		{"minimal", `,"department_id":1`, 200, "", "TEXT"},
		{"second active department", `,"department_id":5`, 200, "", "TEXT"},
		{"null media type saved as TEXT", `,"department_id":1,"media_type":null`, 200, "", "TEXT"},
		{"SMS", `,"department_id":1,"media_type":"SMS"`, 200, "", "SMS"},
		{"WHATSAPP", `,"department_id":1,"media_type":"WHATSAPP"`, 200, "", "WHATSAPP"},
		{"partial customer", `,"department_id":1,"customer":{"phone":"11","name":null}`, 200, "", "TEXT"},
		{"null extra", `,"department_id":1,"extra":null`, 200, "", "TEXT"},
		{"missing department", ``, 422, "department_id: is required", ""},
		{"null department", `,"department_id":null`, 422, "department_id: is required", ""},
		{"quoted department", `,"department_id":"1"`, 422, "department_id: must be an integer", ""},
		{"inactive department", `,"department_id":7`, 422, "department_id: 7 is not an active department", ""},
		{"lower-case media type", `,"department_id":1,"media_type":"text"`, 422, "media_type: must be one of TEXT, SMS, WHATSAPP", ""},
		{"unknown media type", `,"department_id":1,"media_type":"EMAIL"`, 422, "media_type: must be one of TEXT, SMS, WHATSAPP", ""},
		{"customer not an object", `,"department_id":1,"customer":"Ana"`, 422, "customer: must be an object", ""},
		{"numeric customer phone", `,"department_id":1,"customer":{"phone":11}`, 422, "customer.phone: must be a string", ""},
		{"unknown customer attribute", `,"department_id":1,"customer":{"mobile":"11"}`, 422, "customer.mobile: unknown attribute", ""},
		{"extra not an object", `,"department_id":1,"extra":["a"]`, 422, "extra: must be an object", ""},
		{"relative history URL", `,"department_id":1,"external_history":"/history"`, 422, "external_history: must be an http(s) URL", ""},
		{"non-http history URL", `,"department_id":1,"external_history":"ftp://host/h"`, 422, "external_history: must be an http(s) URL", ""},
		{"unknown parameter", `,"department_id":1,"channel":"web"`, 422, "channel: unknown parameter", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, zenvia.Config{Departments: []int{1, 5}})
			status, out := h.call(http.MethodPost, startPath, `{"token":"`+token+`"`+tc.body+`}`)
			if tc.status != 200 {
				wantError(t, status, out, tc.status, tc.message)
				if h.sim.InteractionCount() != 0 {
					t.Fatal("a refused start created an interaction")
				}
				return
			}
			if status != 200 {
				t.Fatalf("status %d: %v", status, out)
			}
			it, _ := h.sim.Interaction(out["data"].(map[string]any)["interaction_hash"].(string))
			if it.MediaType != tc.media {
				t.Fatalf("media type %q, want %q", it.MediaType, tc.media)
			}
			if string(it.Extra) != "{}" {
				t.Fatalf("extra %s, want {}", it.Extra)
			}
		})
	}
}

func TestNoActiveDepartment(t *testing.T) {
	h := newHarness(t, zenvia.Config{Departments: []int{}})
	status, out := h.call(http.MethodPost, startPath, map[string]any{"token": token, "department_id": 1})
	wantError(t, status, out, 422, "department_id: 1 is not an active department")
}

func TestUpdateInteraction(t *testing.T) {
	tests := []struct {
		name    string
		body    string // members after the token
		status  int
		message string
		check   func(t *testing.T, it zenvia.Interaction, customerKey string)
	}{
		{
			name: "documented example", body: `,"mood":"POSITIVE","tag_ids":["1","999"],"customer_key":"%KEY%","note":"any note here"`, status: 200,
			check: func(t *testing.T, it zenvia.Interaction, key string) {
				if it.Mood != "POSITIVE" || !reflect.DeepEqual(it.TagIDs, []string{"1", "999"}) || it.CustomerKey != key || it.Note != "any note here" {
					t.Fatalf("interaction %+v", it)
				}
			},
		},
		{
			name: "token only changes nothing", body: ``, status: 200,
			check: func(t *testing.T, it zenvia.Interaction, _ string) {
				if it.Mood != "NEGATIVE" || !reflect.DeepEqual(it.TagIDs, []string{"7"}) || it.Note != "first" {
					t.Fatalf("interaction %+v", it)
				}
			},
		},
		{
			name: "tags are replaced, nulls are ignored", body: `,"tag_ids":["8","9"],"mood":null,"note":null`, status: 200,
			check: func(t *testing.T, it zenvia.Interaction, _ string) {
				if it.Mood != "NEGATIVE" || !reflect.DeepEqual(it.TagIDs, []string{"8", "9"}) || it.Note != "first" {
					t.Fatalf("interaction %+v", it)
				}
			},
		},
		{
			name: "empty tag list clears", body: `,"tag_ids":[]`, status: 200,
			check: func(t *testing.T, it zenvia.Interaction, _ string) {
				if len(it.TagIDs) != 0 {
					t.Fatalf("tags %v", it.TagIDs)
				}
			},
		},
		{name: "unknown mood", body: `,"mood":"HAPPY"`, status: 422, message: "mood: must be POSITIVE or NEGATIVE"},
		{name: "lower-case mood", body: `,"mood":"positive"`, status: 422, message: "mood: must be POSITIVE or NEGATIVE"},
		{name: "numeric tag ids", body: `,"tag_ids":[1,999]`, status: 422, message: "tag_ids: must be an array of strings"},
		{name: "tag ids not an array", body: `,"tag_ids":"1"`, status: 422, message: "tag_ids: must be an array of strings"},
		{name: "unknown customer key", body: `,"customer_key":"0010-abcd-efgh-ijkd-1c422e49fdff"`, status: 422, message: "customer_key: 0010-abcd-efgh-ijkd-1c422e49fdff not found"},
		{name: "numeric note", body: `,"note":5`, status: 422, message: "note: must be a string"},
		{name: "unknown parameter", body: `,"tags":["1"]`, status: 422, message: "tags: unknown parameter"},
		// A refused update is atomic: the valid mood is not applied either.
		{
			name: "refused update changes nothing", body: `,"mood":"POSITIVE","tag_ids":[1]`, status: 422, message: "tag_ids: must be an array of strings",
			check: func(t *testing.T, it zenvia.Interaction, _ string) {
				if it.Mood != "NEGATIVE" {
					t.Fatalf("mood %q changed by a refused update", it.Mood)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, zenvia.Config{})
			key := h.upsert(map[string]any{"fields": map[string]any{"main_identifier": "A"}})["customers"].([]any)[0].(map[string]any)["customer_key"].(string)
			hash := h.start(nil)
			path := startPath + "/" + hash
			status, out := h.call(http.MethodPut, path, map[string]any{"token": token, "mood": "NEGATIVE", "tag_ids": []string{"7"}, "note": "first"})
			if status != 200 {
				t.Fatalf("setup update: %d %v", status, out)
			}
			body := `{"token":"` + token + `"` + strings.ReplaceAll(tc.body, "%KEY%", key) + `}`
			status, out = h.call(http.MethodPut, path, body)
			if tc.status == 200 {
				if status != 200 || !reflect.DeepEqual(out, map[string]any{"message": "Interaction updated successfully", "status": float64(200)}) {
					t.Fatalf("status %d body %v", status, out)
				}
			} else {
				wantError(t, status, out, tc.status, tc.message)
			}
			if tc.check != nil {
				it, _ := h.sim.Interaction(hash)
				tc.check(t, it, key)
			}
		})
	}
}

func TestSendMessage(t *testing.T) {
	tests := []struct {
		name    string
		body    string // members after the token
		status  int
		message string
		want    zenvia.Message // the client message stored (Hash and Time ignored)
	}{
		{"text", `,"content":"hello"`, 200, "", zenvia.Message{Direction: "CLIENT", Content: "hello", Type: "text"}},
		{"null type saved as text", `,"content":"hello","type":null`, 200, "", zenvia.Message{Direction: "CLIENT", Content: "hello", Type: "text"}},
		{
			"documented image example", `,"content":"your message","type":"image","url":"https://omz-logos.s3.amazonaws.com/logo_omz.png"`, 200, "",
			zenvia.Message{Direction: "CLIENT", Content: "your message", Type: "image", URL: "https://omz-logos.s3.amazonaws.com/logo_omz.png"},
		},
		{"file", `,"content":"invoice","type":"file","url":"http://files.example/i.pdf"`, 200, "", zenvia.Message{Direction: "CLIENT", Content: "invoice", Type: "file", URL: "http://files.example/i.pdf"}},
		{"missing content", `,"type":"text"`, 422, "content: is required", zenvia.Message{}},
		{"empty content", `,"content":""`, 422, "content: is required", zenvia.Message{}},
		{"numeric content", `,"content":5`, 422, "content: must be a string", zenvia.Message{}},
		{"unknown type", `,"content":"x","type":"sticker"`, 422, "type: must be one of text, image, video, audio, file", zenvia.Message{}},
		{"upper-case type", `,"content":"x","type":"TEXT"`, 422, "type: must be one of text, image, video, audio, file", zenvia.Message{}},
		{"video without url", `,"content":"x","type":"video"`, 422, "url: is required for type video", zenvia.Message{}},
		{"audio with relative url", `,"content":"x","type":"audio","url":"a.mp3"`, 422, "url: must be an http(s) URL", zenvia.Message{}},
		{"unknown parameter", `,"content":"x","text":"x"`, 422, "text: unknown parameter", zenvia.Message{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, zenvia.Config{})
			hash := h.start(nil)
			h.clock.Advance(time.Second)
			status, out := h.call(http.MethodPost, startPath+"/"+hash+"/messages", `{"token":"`+token+`"`+tc.body+`}`)
			it, _ := h.sim.Interaction(hash)
			if tc.status != 200 {
				wantError(t, status, out, tc.status, tc.message)
				if len(it.Messages) != 0 {
					t.Fatalf("a refused message was stored: %+v", it.Messages)
				}
				return
			}
			want := map[string]any{"data": map[string]any{"interaction_hash": hash}, "message": "Message created successfully", "status": float64(200)}
			if status != 200 || !reflect.DeepEqual(out, want) {
				t.Fatalf("status %d body %v", status, out)
			}
			if len(it.Messages) != 2 {
				t.Fatalf("messages %+v: want the client message and the agent answer", it.Messages)
			}
			got := it.Messages[0]
			if _, err := uuid.Parse(got.Hash); err != nil || !got.Time.Equal(t0.Add(time.Second)) {
				t.Fatalf("message hash %q time %v", got.Hash, got.Time)
			}
			got.Hash, got.Time = "", time.Time{}
			if got != tc.want {
				t.Fatalf("client message %+v, want %+v", got, tc.want)
			}
			reply := it.Messages[1]
			if reply.Direction != "AGENT" || reply.AgentID != 1 || reply.Type != "text" || reply.Content != "Received: "+tc.want.Content {
				t.Fatalf("agent answer %+v", reply)
			}
		})
	}
}

func TestUnavailableWithoutAgents(t *testing.T) {
	h := newHarness(t, zenvia.Config{Agents: []zenvia.Agent{}})
	hash := h.start(nil)
	it, _ := h.sim.Interaction(hash)
	if it.State != zenvia.StateUnavailable || !reflect.DeepEqual(it.States, []string{"queued", "unavailable"}) {
		t.Fatalf("state %q states %v", it.State, it.States)
	}
	status, out := h.call(http.MethodPost, startPath+"/"+hash+"/messages", map[string]any{"token": token, "content": "anyone?"})
	if status != 200 {
		t.Fatalf("message: %d %v", status, out)
	}
	it, _ = h.sim.Interaction(hash)
	if len(it.Messages) != 1 || it.Messages[0].Direction != "CLIENT" {
		t.Fatalf("messages %+v: nobody should answer", it.Messages)
	}
	// With no agents, no agent_id is valid on customers either.
	res := h.upsert(map[string]any{"fields": map[string]any{"main_identifier": "A"}, "agent_id": 1})
	if len(res["errors"].([]any)) != 1 {
		t.Fatalf("agent_id 1 accepted without agents: %v", res)
	}
}

func TestConfiguredAgents(t *testing.T) {
	h := newHarness(t, zenvia.Config{Agents: []zenvia.Agent{{ID: 42, Name: "Ana"}, {ID: 43, Name: "Bia"}}})
	res := h.upsert(
		map[string]any{"fields": map[string]any{"main_identifier": "A"}, "agent_id": 43},
		map[string]any{"fields": map[string]any{"main_identifier": "B"}, "agent_id": 1},
	)
	if len(res["customers"].([]any)) != 1 || len(res["errors"].([]any)) != 1 {
		t.Fatalf("answer %v: want agent 43 known and agent 1 unknown", res)
	}
	hash := h.start(nil)
	h.call(http.MethodPost, startPath+"/"+hash+"/messages", map[string]any{"token": token, "content": "hi"})
	it, _ := h.sim.Interaction(hash)
	if it.Messages[1].AgentID != 42 {
		t.Fatalf("answer by agent %d, want the first agent 42", it.Messages[1].AgentID)
	}
}

func TestTypingClearedFinish(t *testing.T) {
	h := newHarness(t, zenvia.Config{})
	hash := h.start(nil)
	base := startPath + "/" + hash
	steps := []struct {
		path        string
		message     string
		wantTyping  bool
		wantState   string
		wantMessage bool
	}{
		{base + "/typing", "Typing notified successfully", true, zenvia.StateAccepted, false},
		{base + "/typing", "Typing notified successfully", true, zenvia.StateAccepted, false},
		{base + "/cleared", "Stop typing notified successfully", false, zenvia.StateAccepted, false},
		{base + "/typing", "Typing notified successfully", true, zenvia.StateAccepted, false},
		{base + "/finish", "Interaction finished successfully", false, zenvia.StateFinished, false},
	}
	for i, st := range steps {
		h.clock.Advance(time.Second)
		status, out := h.call(http.MethodPut, st.path, map[string]any{"token": token})
		if status != 200 || !reflect.DeepEqual(out, map[string]any{"message": st.message, "status": float64(200)}) {
			t.Fatalf("step %d %s: %d %v", i, st.path, status, out)
		}
		it, _ := h.sim.Interaction(hash)
		if it.Typing != st.wantTyping || it.State != st.wantState {
			t.Fatalf("step %d: typing %v state %q", i, it.Typing, it.State)
		}
	}
	it, _ := h.sim.Interaction(hash)
	if !it.Finished.Equal(t0.Add(5*time.Second)) || !reflect.DeepEqual(it.States, []string{"queued", "accepted", "finished"}) {
		t.Fatalf("finished at %v, states %v", it.Finished, it.States)
	}

	// Every operation on a finished interaction is refused, even a valid one.
	after := []struct{ method, path, body string }{
		{http.MethodPut, base, `{"token":"` + token + `","mood":"POSITIVE"}`},
		{http.MethodPost, base + "/messages", `{"token":"` + token + `","content":"still there?"}`},
		{http.MethodPut, base + "/typing", `{"token":"` + token + `"}`},
		{http.MethodPut, base + "/cleared", `{"token":"` + token + `"}`},
		{http.MethodPut, base + "/finish", `{"token":"` + token + `"}`},
	}
	for _, a := range after {
		t.Run("finished "+a.method+" "+a.path[len(base):], func(t *testing.T) {
			status, out := h.call(a.method, a.path, a.body)
			wantError(t, status, out, 422, "Interaction already finished")
		})
	}
	it, _ = h.sim.Interaction(hash)
	if it.Mood != "" || len(it.Messages) != 0 || it.Typing {
		t.Fatalf("a finished interaction changed: %+v", it)
	}
}

func TestTypingRefusesParameters(t *testing.T) {
	h := newHarness(t, zenvia.Config{})
	hash := h.start(nil)
	for _, action := range []string{"typing", "cleared", "finish"} {
		t.Run(action, func(t *testing.T) {
			status, out := h.call(http.MethodPut, startPath+"/"+hash+"/"+action, map[string]any{"token": token, "agent": 1})
			wantError(t, status, out, 422, "agent: unknown parameter")
		})
	}
}

func TestUnknownInteraction(t *testing.T) {
	h := newHarness(t, zenvia.Config{})
	h.start(nil)
	for _, hash := range []string{uuid.NewString(), "not-a-uuid"} {
		ops := []struct{ method, path, body string }{
			{http.MethodPut, startPath + "/" + hash, `{"token":"` + token + `","mood":"POSITIVE"}`},
			{http.MethodPost, startPath + "/" + hash + "/messages", `{"token":"` + token + `","content":"x"}`},
			{http.MethodPut, startPath + "/" + hash + "/typing", `{"token":"` + token + `"}`},
			{http.MethodPut, startPath + "/" + hash + "/cleared", `{"token":"` + token + `"}`},
			{http.MethodPut, startPath + "/" + hash + "/finish", `{"token":"` + token + `"}`},
		}
		for _, op := range ops {
			t.Run(op.method+" "+op.path, func(t *testing.T) {
				status, out := h.call(op.method, op.path, op.body)
				wantError(t, status, out, 404, "Interaction not found")
			})
		}
	}
}
