package chat

import (
	"testing"

	"github.com/stretchr/testify/require"
)

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
