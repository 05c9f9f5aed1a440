package chat

import (
	"time"
	// The zones of DND.TZ are checked with time.LoadLocation: the binary carries the zone
	// database, so a machine without /usr/share/zoneinfo (a scratch image) knows them too.
	_ "time/tzdata"
)

// DND is a user's do-not-disturb hours for their whole inbox: every day from From to To
// (wall-clock times "HH:MM" in the IANA zone TZ, From included, To excluded), a window that
// wraps midnight when From is later than To (22:00 → 07:00). The server stores the hours and
// hands them to the user's clients; it changes nothing of delivery or of the unread badge. A
// client holds back its own alerts (a desktop notification) while the hours hold — the web
// client reads them in the browser (quietAt in web/static/js/alert.js).
//
// The zero DND is off with no hours. Hours may be kept while off, so that switching them on
// again finds them.
type DND struct {
	On   bool   `json:"on"`
	From string `json:"from"`
	To   string `json:"to"`
	TZ   string `json:"tz"`
}

// maxZoneName bounds DND.TZ (the longest IANA names are about 30 bytes; the column holds 64).
const maxZoneName = 64

// validate checks d before it is stored: off with no hours, or a whole window — two different
// times HH:MM and a zone time.LoadLocation knows. It says exactly what is wrong (ErrBadDND).
func (d DND) validate() error {
	if !d.On && d.From == "" && d.To == "" && d.TZ == "" {
		return nil
	}
	from, ok := parseClock(d.From)
	if !ok {
		return ErrBadDND.Withf("dnd.from must be a time HH:MM from 00:00 to 23:59, not %q", d.From)
	}
	to, ok := parseClock(d.To)
	if !ok {
		return ErrBadDND.Withf("dnd.to must be a time HH:MM from 00:00 to 23:59, not %q", d.To)
	}
	if from == to {
		return ErrBadDND.Withf("dnd.from and dnd.to must differ (%s to %s is no window)", d.From, d.To)
	}
	if _, err := loadZone(d.TZ); err != nil {
		return ErrBadDND.Withf("dnd.tz must name an IANA time zone such as Asia/Shanghai, not %q", d.TZ)
	}
	return nil
}

// parseClock reads "HH:MM" (two digits each, 00:00..23:59) as minutes after midnight.
func parseClock(s string) (int, bool) {
	if len(s) != 5 || s[2] != ':' {
		return 0, false
	}
	for _, i := range []int{0, 1, 3, 4} {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	h := int(s[0]-'0')*10 + int(s[1]-'0')
	m := int(s[3]-'0')*10 + int(s[4]-'0')
	if h > 23 || m > 59 {
		return 0, false
	}
	return h*60 + m, true
}

// errZone is a zone name loadZone refuses before asking time.LoadLocation.
var errZone = ErrBadDND.Withf("not a zone name")

// loadZone loads an IANA zone by name. "" and "Local" are refused: LoadLocation takes them for
// UTC and for the server's own zone, neither of which the user named.
func loadZone(name string) (*time.Location, error) {
	if name == "" || name == "Local" || len(name) > maxZoneName {
		return nil, errZone
	}
	return time.LoadLocation(name)
}
