package chat_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/platform/sqlstore"
	"github.com/zhibo-live/zhibo/internal/platform/sqlstore/sqltest"
)

// Do-not-disturb hours travel in the settings body: stored and answered as given, refused
// with 400 and their own code when they are no window — and a refused PUT changes nothing,
// allow included. A PUT without "dnd" replaces the settings whole: the hours are off and gone.
func TestSettingsDND(t *testing.T) {
	sqltest.ForEach(t, func(t *testing.T, db *sqlstore.DB) {
		h := newHarness(t, db, nil)
		get := func() string {
			t.Helper()
			code, data, _ := h.call(bob, "GET", "/api/im/settings", "")
			require.Equal(t, 200, code, "%s", data)
			return string(data)
		}
		require.JSONEq(t, `{"allow":0,"dnd":{"on":false,"from":"","to":"","tz":""}}`, get(), "the defaults")

		stored := `{"allow":1,"dnd":{"on":true,"from":"22:00","to":"07:00","tz":"Asia/Shanghai"}}`
		code, data, _ := h.call(bob, "PUT", "/api/im/settings", stored)
		require.Equal(t, 200, code, "%s", data)
		require.JSONEq(t, stored, string(data), "the answer is what was stored")
		require.JSONEq(t, stored, get())

		for _, c := range []struct {
			name, dnd string
			code      int // the envelope's
			says      string
		}{
			{"hour 24", `{"on":true,"from":"24:00","to":"07:00","tz":"UTC"}`, -70016, "dnd.from must be a time HH:MM"},
			{"minute 60", `{"on":true,"from":"21:00","to":"07:60","tz":"UTC"}`, -70016, "dnd.to must be a time HH:MM"},
			{"one digit", `{"on":true,"from":"7:00","to":"08:00","tz":"UTC"}`, -70016, "dnd.from must be a time HH:MM"},
			{"seconds", `{"on":true,"from":"07:00:00","to":"08:00","tz":"UTC"}`, -70016, "dnd.from must be a time HH:MM"},
			{"no to", `{"on":true,"from":"22:00","tz":"UTC"}`, -70016, "dnd.to must be a time HH:MM"},
			{"from equals to", `{"on":true,"from":"08:00","to":"08:00","tz":"UTC"}`, -70016, "dnd.from and dnd.to must differ"},
			{"unknown zone", `{"on":true,"from":"22:00","to":"07:00","tz":"Mars/Olympus"}`, -70016, "dnd.tz must name an IANA time zone"},
			{"no zone", `{"on":true,"from":"22:00","to":"07:00"}`, -70016, "dnd.tz must name an IANA time zone"},
			{"the server's zone", `{"on":true,"from":"22:00","to":"07:00","tz":"Local"}`, -70016, "dnd.tz must name an IANA time zone"},
			{"a path", `{"on":true,"from":"22:00","to":"07:00","tz":"../../etc/passwd"}`, -70016, "dnd.tz must name an IANA time zone"},
			{"a long zone", `{"on":true,"from":"22:00","to":"07:00","tz":"Europe/` + strings.Repeat("x", 100) + `"}`, -70016, "dnd.tz must name an IANA time zone"},
			{"off, half a window", `{"on":false,"from":"22:00"}`, -70016, "dnd.to must be a time HH:MM"},
			{"an unknown field", `{"on":true,"from":"22:00","to":"07:00","tz":"UTC","days":[1]}`, -400, "days"},
			{"a field in another case", `{"On":true,"from":"22:00","to":"07:00","tz":"UTC"}`, -400, ""},
			{"not an object", `"22:00-07:00"`, -400, ""},
			{"a number for a time", `{"on":true,"from":2200,"to":"07:00","tz":"UTC"}`, -400, ""},
		} {
			code, raw, _ := h.call(bob, "PUT", "/api/im/settings", `{"allow":2,"dnd":`+c.dnd+`}`)
			require.Equal(t, 400, code, "%s: %s", c.name, raw)
			var env struct {
				Code    int
				Message string
			}
			require.NoError(t, json.Unmarshal(raw, &env))
			require.Equal(t, c.code, env.Code, "%s: %s", c.name, raw)
			require.Contains(t, env.Message, c.says, c.name)
			require.JSONEq(t, stored, get(), "%s: nothing changed, allow included", c.name)
		}

		// Off with the hours kept, so switching on again finds them.
		kept := `{"allow":1,"dnd":{"on":false,"from":"22:00","to":"07:00","tz":"Asia/Shanghai"}}`
		code, data, _ = h.call(bob, "PUT", "/api/im/settings", kept)
		require.Equal(t, 200, code, "%s", data)
		require.JSONEq(t, kept, get())

		// Without "dnd", the settings are replaced whole.
		code, data, _ = h.call(bob, "PUT", "/api/im/settings", `{"allow":2}`)
		require.Equal(t, 200, code, "%s", data)
		require.JSONEq(t, `{"allow":2,"dnd":{"on":false,"from":"","to":"","tz":""}}`, get())
		code, _, _ = h.call(alice, "POST", "/api/im/messages", `{"to":202,"text":"hi"}`)
		require.Equal(t, 403, code, "allow still applies to sends")
	})
}
