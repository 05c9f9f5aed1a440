package protocol

import (
	"strconv"
	"time"
)

// Gift is one gift event as pushed to a room (SEND_GIFT).
type Gift struct {
	GiftID    int64
	GiftName  string
	Num       int64
	UID       int64
	Uname     string
	Face      string
	Price     int64  // per unit, in coins (gold: CNY*1000)
	CoinType  string // "gold" or "silver"; "" means gold
	TotalCoin int64  // 0 means Price*Num
	Action    string // "" means "投喂"
	Timestamp time.Time
	OrderID   int64 // becomes rnd and tid
}

// JSON renders g as a SEND_GIFT body: data = {action, batch_combo_id,
// coin_type, face, giftId, giftName, giftType, num, price, rnd, tid,
// timestamp, total_coin, uid, uname, ...}. rnd and tid are decimal strings,
// as Bilibili sends them.
func (g Gift) JSON() []byte {
	coin := g.CoinType
	if coin == "" {
		coin = "gold"
	}
	action := g.Action
	if action == "" {
		action = "投喂"
	}
	total := g.TotalCoin
	if total == 0 {
		total = g.Price * g.Num
	}
	ts := g.Timestamp
	if ts.IsZero() {
		ts = time.Now()
	}
	w := &jsonw{b: make([]byte, 0, 768+len(g.GiftName)+len(g.Uname)+len(g.Face))}
	w.raw(`{"cmd":"SEND_GIFT","data":{"action":`).str(action).
		raw(`,"batch_combo_id":"","blind_gift":null,"coin_type":`).str(coin).
		raw(`,"combo_total_coin":`).int(total).
		raw(`,"discount_price":`).int(g.Price).
		raw(`,"dmscore":0,"face":`).str(g.Face).
		raw(`,"giftId":`).int(g.GiftID).
		raw(`,"giftName":`).str(g.GiftName).
		raw(`,"giftType":0,"guard_level":0,"medal_info":{"anchor_roomid":0,"anchor_uname":"","guard_level":0,"icon_id":0,"is_lighted":0,"medal_color":0,"medal_color_border":0,"medal_color_end":0,"medal_color_start":0,"medal_level":0,"medal_name":"","special":"","target_id":0},"name_color":"","num":`).
		int(g.Num).
		raw(`,"price":`).int(g.Price).
		raw(`,"rnd":`).strInt(g.OrderID).
		raw(`,"send_master":null,"super_batch_gift_num":`).int(g.Num).
		raw(`,"super_gift_num":`).int(g.Num).
		raw(`,"tid":`).strInt(g.OrderID).
		raw(`,"timestamp":`).int(ts.Unix()).
		raw(`,"total_coin":`).int(total).
		raw(`,"uid":`).int(g.UID).
		raw(`,"uname":`).str(g.Uname).
		raw(`}}`)
	return w.b
}

// InteractWord kinds (INTERACT_WORD data.msg_type).
const (
	InteractEnter  = 1
	InteractFollow = 2
	InteractShare  = 3
)

// InteractWord tells a room that someone entered, followed or shared.
type InteractWord struct {
	UID       int64
	Uname     string
	MsgType   int // InteractEnter, InteractFollow, InteractShare
	RoomID    int64
	Timestamp time.Time
}

// JSON renders an INTERACT_WORD body: data = {uid, uname, msg_type, roomid,
// timestamp, ...} with an empty fan medal.
func (m InteractWord) JSON() []byte {
	ts := m.Timestamp
	if ts.IsZero() {
		ts = time.Now()
	}
	w := &jsonw{b: make([]byte, 0, 512+len(m.Uname))}
	w.raw(`{"cmd":"INTERACT_WORD","data":{"contribution":{"grade":0},"dmscore":0,"fans_medal":{"anchor_roomid":0,"guard_level":0,"icon_id":0,"is_lighted":0,"medal_color":0,"medal_color_border":0,"medal_color_end":0,"medal_color_start":0,"medal_level":0,"medal_name":"","score":0,"special":"","target_id":0},"identities":[1],"is_spread":0,"msg_type":`).
		int(int64(m.MsgType)).
		raw(`,"roomid":`).int(m.RoomID).
		raw(`,"score":`).int(ts.UnixMilli()).
		raw(`,"spread_desc":"","spread_info":"","tail_icon":0,"timestamp":`).int(ts.Unix()).
		raw(`,"trigger_time":`).int(ts.UnixNano()).
		raw(`,"uid":`).int(m.UID).
		raw(`,"uname":`).str(m.Uname).
		raw(`,"uname_color":""}}`)
	return w.b
}

// WatchedChange is the "N watched" counter of a room.
type WatchedChange struct{ Num int64 }

// JSON renders a WATCHED_CHANGE body: data = {num, text_small, text_large},
// text_small as Bilibili shows it ("9999", "2.2万", "1.3亿").
func (m WatchedChange) JSON() []byte {
	small := CountText(m.Num)
	w := &jsonw{b: make([]byte, 0, 128)}
	w.raw(`{"cmd":"WATCHED_CHANGE","data":{"num":`).int(m.Num).
		raw(`,"text_small":`).str(small).
		raw(`,"text_large":`).str(small + "人看过").
		raw(`}}`)
	return w.b
}

// CountText formats a count the way Bilibili's UI does: plain below 10,000,
// then tenths of 万 (10^4) or 亿 (10^8), truncated ("128.6万").
func CountText(n int64) string {
	switch {
	case n < 10_000:
		return strconv.FormatInt(n, 10)
	case n < 100_000_000:
		return tenths(n/1_000) + "万"
	default:
		return tenths(n/10_000_000) + "亿"
	}
}

// tenths renders t/10 with one decimal.
func tenths(t int64) string {
	return strconv.FormatInt(t/10, 10) + "." + strconv.FormatInt(t%10, 10)
}

// OnlineRankCount is the number of users on the room's online rank list.
type OnlineRankCount struct{ Count int64 }

// JSON renders an ONLINE_RANK_COUNT body: data = {count, count_text,
// online_count, online_count_text}.
func (m OnlineRankCount) JSON() []byte {
	text := CountText(m.Count)
	w := &jsonw{b: make([]byte, 0, 128)}
	w.raw(`{"cmd":"ONLINE_RANK_COUNT","data":{"count":`).int(m.Count).
		raw(`,"count_text":`).str(text).
		raw(`,"online_count":`).int(m.Count).
		raw(`,"online_count_text":`).str(text).
		raw(`}}`)
	return w.b
}

// LiveMsg is the LIVE body (the stream started): roomid is a number.
func LiveMsg(roomID int64) []byte {
	w := &jsonw{b: make([]byte, 0, 160)}
	w.raw(`{"cmd":"LIVE","live_key":"","voice_background":"","sub_session_key":"","live_platform":"pc","live_model":0,"roomid":`).
		int(roomID).raw(`}`)
	return w.b
}

// PreparingMsg is the PREPARING body (the stream stopped). Bilibili sends
// roomid as a decimal string here (unlike LIVE), and so does zhibo, so
// clients written against Bilibili parse it unchanged.
func PreparingMsg(roomID int64) []byte {
	w := &jsonw{b: make([]byte, 0, 64)}
	w.raw(`{"cmd":"PREPARING","roomid":`).strInt(roomID).raw(`}`)
	return w.b
}

// RoomChange announces a new title or area for a room.
type RoomChange struct {
	Title          string
	AreaName       string
	ParentAreaName string
}

// JSON renders a ROOM_CHANGE body: data = {title, area_id, parent_area_id,
// area_name, parent_area_name, live_key, sub_session_key}.
func (m RoomChange) JSON() []byte {
	w := &jsonw{b: make([]byte, 0, 192+len(m.Title)+len(m.AreaName)+len(m.ParentAreaName))}
	w.raw(`{"cmd":"ROOM_CHANGE","data":{"title":`).str(m.Title).
		raw(`,"area_id":0,"parent_area_id":0,"area_name":`).str(m.AreaName).
		raw(`,"parent_area_name":`).str(m.ParentAreaName).
		raw(`,"live_key":"","sub_session_key":""}}`)
	return w.b
}
