package protocol

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func decodeJSON(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m), "%s", b)
	return m
}

func TestDanmuLayout(t *testing.T) {
	at := time.UnixMilli(1723979200649)
	d := Danmu{ID: 42, UID: 6088969, Uname: "tim\"1997", Text: "白花300块<b>\n", Color: 9920249,
		Mode: DanmuModeTop, FontSize: 30, SendTime: at, IsAdmin: true, RoomID: 9}
	m := decodeJSON(t, d.JSON())
	require.Equal(t, "DANMU_MSG", m["cmd"])
	require.Equal(t, "", m["dm_v2"])
	info := m["info"].([]any)
	require.Len(t, info, 17)

	meta := info[0].([]any)
	require.EqualValues(t, 0, meta[0])
	require.EqualValues(t, DanmuModeTop, meta[1])
	require.EqualValues(t, 30, meta[2])
	require.EqualValues(t, 9920249, meta[3])
	require.EqualValues(t, 1723979200649, meta[4])
	require.EqualValues(t, 42, meta[5])
	require.EqualValues(t, 0, meta[6])
	require.Equal(t, UIDHash(6088969), meta[7])
	require.Len(t, meta[7], 8)
	require.EqualValues(t, 0, meta[8])

	extraObj := meta[15].(map[string]any)
	var extra map[string]any
	require.NoError(t, json.Unmarshal([]byte(extraObj["extra"].(string)), &extra))
	require.Equal(t, d.Text, extra["content"])
	require.Equal(t, "42", extra["id_str"])
	require.EqualValues(t, 9920249, extra["color"])
	user := extraObj["user"].(map[string]any)
	require.EqualValues(t, 6088969, user["uid"])
	require.Equal(t, d.Uname, user["base"].(map[string]any)["name"])

	require.Equal(t, d.Text, info[1])
	sender := info[2].([]any)
	require.EqualValues(t, 6088969, sender[0])
	require.Equal(t, d.Uname, sender[1])
	require.EqualValues(t, 1, sender[2], "is_admin")
	require.Len(t, sender, 8)
	require.Equal(t, []any{}, info[3], "no fan medal")
	require.Len(t, info[4], 5)
	require.Equal(t, []any{"", ""}, info[5])
	require.EqualValues(t, 0, info[6])
	require.EqualValues(t, 0, info[7], "guard level")
	require.Nil(t, info[8])
	ts := info[9].(map[string]any)
	require.EqualValues(t, 1723979200, ts["ts"])
	require.Len(t, ts["ct"], 8)
}

// A reply names the user and the comment it answers in extra, where Bilibili has
// reply_mid and reply_uname; a comment that is no reply has them empty and no
// reply_id_str.
func TestDanmuReply(t *testing.T) {
	extra := func(d Danmu) map[string]any {
		info := decodeJSON(t, d.JSON())["info"].([]any)
		var extra map[string]any
		require.NoError(t, json.Unmarshal([]byte(info[0].([]any)[15].(map[string]any)["extra"].(string)), &extra))
		return extra
	}
	e := extra(Danmu{ID: 43, UID: 2, Text: "me too", ReplyTo: 7301234567890123456, ReplyUID: 6088969, ReplyUname: "tim\"1997"})
	require.EqualValues(t, 6088969, e["reply_mid"])
	require.Equal(t, "tim\"1997", e["reply_uname"])
	require.Equal(t, "7301234567890123456", e["reply_id_str"])
	require.Equal(t, true, e["show_reply"])
	e = extra(Danmu{ID: 44, UID: 2, Text: "hi"})
	require.EqualValues(t, 0, e["reply_mid"])
	require.Equal(t, "", e["reply_uname"])
	require.NotContains(t, e, "reply_id_str")
}

func TestDanmuDefaults(t *testing.T) {
	info := decodeJSON(t, Danmu{UID: 1, Text: "x"}.JSON())["info"].([]any)
	meta := info[0].([]any)
	require.EqualValues(t, DefaultDanmuMode, meta[1])
	require.EqualValues(t, DefaultDanmuFontSize, meta[2])
	require.EqualValues(t, DefaultDanmuColor, meta[3])
	require.NotZero(t, meta[4])
	require.EqualValues(t, 0, info[2].([]any)[2])
}

// The public reference's DANMU_MSG example: uid 6088969 has info[0][7]
// "0bc8acd0" and extra.user_hash "197700816" (the same crc32 in decimal).
func TestUIDHashMatchesReference(t *testing.T) {
	require.Equal(t, "0bc8acd0", UIDHash(6088969))
	info := decodeJSON(t, Danmu{UID: 6088969}.JSON())["info"].([]any)
	var extra map[string]any
	require.NoError(t, json.Unmarshal([]byte(info[0].([]any)[15].(map[string]any)["extra"].(string)), &extra))
	require.Equal(t, "197700816", extra["user_hash"])
}

func TestGiftLayout(t *testing.T) {
	g := Gift{GiftID: 31036, GiftName: "小花花", Num: 3, UID: 22649028, Uname: "蜗蜗", Face: "http://f/a.jpg",
		Price: 100, Timestamp: time.Unix(1654420800, 0), OrderID: 1654420800121800005}
	data := decodeJSON(t, g.JSON())
	require.Equal(t, "SEND_GIFT", data["cmd"])
	d := data["data"].(map[string]any)
	require.EqualValues(t, 31036, d["giftId"])
	require.Equal(t, "小花花", d["giftName"])
	require.EqualValues(t, 3, d["num"])
	require.EqualValues(t, 22649028, d["uid"])
	require.Equal(t, "蜗蜗", d["uname"])
	require.Equal(t, "http://f/a.jpg", d["face"])
	require.EqualValues(t, 100, d["price"])
	require.Equal(t, "gold", d["coin_type"])
	require.EqualValues(t, 300, d["total_coin"])
	require.Equal(t, "投喂", d["action"])
	require.EqualValues(t, 1654420800, d["timestamp"])
	require.Equal(t, "1654420800121800005", d["rnd"])
	require.Equal(t, "1654420800121800005", d["tid"])
	require.Contains(t, d, "medal_info")

	d = decodeJSON(t, Gift{CoinType: "silver", TotalCoin: 7, Action: "赠送"}.JSON())["data"].(map[string]any)
	require.Equal(t, "silver", d["coin_type"])
	require.EqualValues(t, 7, d["total_coin"])
	require.Equal(t, "赠送", d["action"])
}

func TestInteractWordLayout(t *testing.T) {
	m := decodeJSON(t, InteractWord{UID: 5, Uname: "u", MsgType: InteractFollow, RoomID: 9,
		Timestamp: time.Unix(1644563948, 0)}.JSON())
	require.Equal(t, "INTERACT_WORD", m["cmd"])
	d := m["data"].(map[string]any)
	require.EqualValues(t, 5, d["uid"])
	require.Equal(t, "u", d["uname"])
	require.EqualValues(t, 2, d["msg_type"])
	require.EqualValues(t, 9, d["roomid"])
	require.EqualValues(t, 1644563948, d["timestamp"])
	require.Contains(t, d, "fans_medal")
}

func TestCountMessages(t *testing.T) {
	d := decodeJSON(t, WatchedChange{Num: 1286571}.JSON())["data"].(map[string]any)
	require.EqualValues(t, 1286571, d["num"])
	require.Equal(t, "128.6万", d["text_small"])
	require.Equal(t, "128.6万人看过", d["text_large"])

	m := decodeJSON(t, OnlineRankCount{Count: 1233}.JSON())
	require.Equal(t, "ONLINE_RANK_COUNT", m["cmd"])
	require.EqualValues(t, 1233, m["data"].(map[string]any)["count"])

	for n, want := range map[int64]string{0: "0", 9999: "9999", 10000: "1.0万", 22097: "2.2万",
		99_999_999: "9999.9万", 100_000_000: "1.0亿", 130_000_000: "1.3亿"} {
		require.Equal(t, want, CountText(n), "%d", n)
	}
}

func TestLiveAndRoomMessages(t *testing.T) {
	m := decodeJSON(t, LiveMsg(123))
	require.Equal(t, "LIVE", m["cmd"])
	require.EqualValues(t, 123, m["roomid"])

	m = decodeJSON(t, PreparingMsg(123))
	require.Equal(t, "PREPARING", m["cmd"])
	require.Equal(t, "123", m["roomid"], "Bilibili sends PREPARING roomid as a string")

	m = decodeJSON(t, RoomChange{Title: "新标题", AreaName: "单机游戏", ParentAreaName: "游戏"}.JSON())
	require.Equal(t, "ROOM_CHANGE", m["cmd"])
	d := m["data"].(map[string]any)
	require.Equal(t, "新标题", d["title"])
	require.Equal(t, "单机游戏", d["area_name"])
	require.Equal(t, "游戏", d["parent_area_name"])
}

func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "plain", "q\"b\\s/", "\x00\x01\x1f\t\r\n\b\f", "<&>", "\u2028\u2029",
		"中文😀", "bad\xffutf8\xc3", "\xed\xa0\x80"} {
		var got string
		b := appendString(nil, s)
		require.NoError(t, json.Unmarshal(b, &got), "%q → %s", s, b)
		want, _ := json.Marshal(s)
		require.Equal(t, string(want), string(b), "%q", s)
	}
}
