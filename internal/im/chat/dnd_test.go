package chat

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// utc is an instant given on the UTC clock.
func utc(s string) time.Time {
	t, err := time.Parse(time.DateTime, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestDNDQuiet(t *testing.T) {
	night := DND{On: true, From: "22:00", To: "07:00", TZ: "Asia/Shanghai"} // UTC+8, no DST
	day := DND{On: true, From: "09:30", To: "17:45", TZ: "UTC"}
	berlin := DND{On: true, From: "22:00", To: "07:00", TZ: "Europe/Berlin"}
	newYork := DND{On: true, From: "22:00", To: "07:00", TZ: "America/New_York"}
	skipped := DND{On: true, From: "02:00", To: "03:00", TZ: "Europe/Berlin"} // the hour DST skips or repeats
	kolkata := DND{On: true, From: "23:30", To: "00:30", TZ: "Asia/Kolkata"}  // UTC+5:30
	cases := []struct {
		name  string
		d     DND
		at    string // UTC
		quiet bool
	}{
		{"wraps: the evening", night, "2024-06-01 14:30:00", true},               // 22:30 in Shanghai
		{"wraps: after midnight", night, "2024-06-01 18:00:00", true},            // 02:00
		{"wraps: from is included", night, "2024-06-01 14:00:00", true},          // 22:00:00
		{"wraps: a second before from", night, "2024-06-01 13:59:59", false},     // 21:59:59
		{"wraps: the last second before to", night, "2024-06-01 22:59:59", true}, // 06:59:59
		{"wraps: to is excluded", night, "2024-06-01 23:00:00", false},           // 07:00
		{"wraps: midday", night, "2024-06-01 04:00:00", false},                   // 12:00
		{"wraps: midnight", night, "2024-06-01 16:00:00", true},                  // 00:00
		{"same day: inside", day, "2024-06-01 12:00:00", true},
		{"same day: from is included", day, "2024-06-01 09:30:00", true},
		{"same day: before", day, "2024-06-01 09:29:59", false},
		{"same day: to is excluded", day, "2024-06-01 17:45:00", false},
		{"same day: the minute before to", day, "2024-06-01 17:44:00", true},
		{"same day: night", day, "2024-06-01 23:00:00", false},
		{"half-hour offset: before", kolkata, "2024-06-01 17:59:00", false}, // 23:29
		{"half-hour offset: from", kolkata, "2024-06-01 18:00:00", true},    // 23:30
		{"half-hour offset: to", kolkata, "2024-06-01 19:00:00", false},     // 00:30
		// One UTC instant, two offsets: 05:30 UTC is 06:30 in Berlin in winter (CET, +1),
		// 07:30 in summer (CEST, +2).
		{"DST: winter morning", berlin, "2024-01-15 05:30:00", true},
		{"DST: summer morning", berlin, "2024-07-15 05:30:00", false},
		{"DST: winter evening", berlin, "2024-01-15 20:59:00", false},   // 21:59 CET
		{"DST: summer evening", berlin, "2024-07-15 20:00:00", true},    // 22:00 CEST
		{"DST: New York winter", newYork, "2024-01-15 11:30:00", true},  // 06:30 EST
		{"DST: New York summer", newYork, "2024-07-15 11:30:00", false}, // 07:30 EDT
		// 31 March 2024: Berlin's clocks go from 02:00 CET to 03:00 CEST; 02:00..03:00 never
		// shows on the wall clock, so the window is not quiet that night.
		{"spring forward: 01:59 CET", skipped, "2024-03-31 00:59:00", false},
		{"spring forward: 03:00 CEST", skipped, "2024-03-31 01:00:00", false},
		// 27 October 2024: 03:00 CEST goes back to 02:00 CET; 02:00..03:00 shows twice.
		{"fall back: first 02:30 (CEST)", skipped, "2024-10-27 00:30:00", true},
		{"fall back: second 02:30 (CET)", skipped, "2024-10-27 01:30:00", true},
		{"fall back: 03:00 CET", skipped, "2024-10-27 02:00:00", false},
		{"off", DND{From: "00:00", To: "23:59", TZ: "UTC"}, "2024-06-01 12:00:00", false},
		{"unknown zone", DND{On: true, From: "00:00", To: "23:59", TZ: "Mars/Olympus"}, "2024-06-01 12:00:00", false},
		{"no window", DND{On: true, From: "08:00", To: "08:00", TZ: "UTC"}, "2024-06-01 08:00:00", false},
	}
	for _, c := range cases {
		require.Equal(t, c.quiet, c.d.Quiet(utc(c.at)), "%s: %+v at %s UTC", c.name, c.d, c.at)
	}
	// The instant's own zone does not matter, only the window's.
	at := utc("2024-06-01 14:30:00").In(time.FixedZone("elsewhere", -7*3600))
	require.True(t, night.Quiet(at))
}

func TestDNDValidate(t *testing.T) {
	for _, ok := range []DND{
		{},
		{On: true, From: "22:00", To: "07:00", TZ: "Asia/Shanghai"},
		{On: false, From: "00:00", To: "23:59", TZ: "UTC"}, // hours kept while off
		{On: true, From: "09:05", To: "09:06", TZ: "America/Argentina/Buenos_Aires"},
	} {
		require.NoError(t, ok.validate(), "%+v", ok)
	}
	for _, bad := range []DND{
		{On: true},
		{On: true, From: "24:00", To: "07:00", TZ: "UTC"},
		{On: true, From: "22:60", To: "07:00", TZ: "UTC"},
		{On: true, From: "7:00", To: "08:00", TZ: "UTC"},
		{On: true, From: "07:00:00", To: "08:00", TZ: "UTC"},
		{On: true, From: "07-00", To: "08:00", TZ: "UTC"},
		{On: true, From: "22:00", To: "", TZ: "UTC"},
		{On: true, From: "22:00", To: "22:00", TZ: "UTC"},
		{On: true, From: "22:00", To: "07:00", TZ: ""},
		{On: true, From: "22:00", To: "07:00", TZ: "Local"},
		{On: true, From: "22:00", To: "07:00", TZ: "Mars/Olympus"},
		{On: true, From: "22:00", To: "07:00", TZ: "../../etc/passwd"},
		{On: true, From: "22:00", To: "07:00", TZ: "Europe/" + string(make([]byte, 80))},
		{On: false, From: "22:00"}, // off, but half a window
	} {
		require.ErrorIs(t, bad.validate(), ErrBadDND, "%+v", bad)
	}
}
