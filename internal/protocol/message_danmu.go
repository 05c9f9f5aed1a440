package protocol

import (
	"hash/crc32"
	"strconv"
	"time"
)

// Message commands (the "cmd" field of op-5 bodies).
const (
	CmdDanmu           = "DANMU_MSG"
	CmdSendGift        = "SEND_GIFT"
	CmdInteractWord    = "INTERACT_WORD"
	CmdWatchedChange   = "WATCHED_CHANGE"
	CmdOnlineRankCount = "ONLINE_RANK_COUNT"
	CmdLive            = "LIVE"
	CmdPreparing       = "PREPARING"
	CmdRoomChange      = "ROOM_CHANGE"
)

// Danmaku display modes (DANMU_MSG info[0][1]).
const (
	DanmuModeScroll = 1
	DanmuModeBottom = 4
	DanmuModeTop    = 5
)

// Danmaku defaults applied when a field is zero.
const (
	DefaultDanmuMode     = DanmuModeScroll
	DefaultDanmuFontSize = 25
	DefaultDanmuColor    = 0xFFFFFF
)

// Danmu is one bullet comment as pushed to a room. RoomID is not part of
// Bilibili's DANMU_MSG layout; it is carried for routing only.
type Danmu struct {
	ID       int64
	UID      int64
	Uname    string
	Text     string
	Color    int // RGB as an integer; 0 means white
	Mode     int // DanmuMode*; 0 means scroll
	FontSize int // 0 means 25
	SendTime time.Time
	IsAdmin  bool
	RoomID   int64
	// ReplyTo is the comment this one answers (0: none); ReplyUID and ReplyUname are its
	// sender. They fill extra's reply_mid and reply_uname, where Bilibili puts the user a
	// comment replies to, and reply_id_str, zhibo's own key (present on replies only).
	ReplyTo    int64
	ReplyUID   int64
	ReplyUname string
}

// UIDHash is the crc32 (IEEE) of the decimal uid, as Bilibili puts in
// DANMU_MSG info[0][7]: 8 lower-case hex digits, zero-padded.
func UIDHash(uid int64) string {
	return string(appendHex8(nil, decimalCRC(uid), hexDigits))
}

// decimalCRC is the crc32 (IEEE) of v written in decimal.
func decimalCRC(v int64) uint32 {
	var buf [20]byte
	return crc32.ChecksumIEEE(strconv.AppendInt(buf[:0], v, 10))
}

const upperHexDigits = "0123456789ABCDEF"

// appendHex8 appends v as 8 zero-padded hex digits from digits.
func appendHex8(b []byte, v uint32, digits string) []byte {
	for shift := 28; shift >= 0; shift -= 4 {
		b = append(b, digits[(v>>uint(shift))&0xf])
	}
	return b
}

// JSON renders d as a DANMU_MSG body with Bilibili's positional layout:
// info[0] = [0, mode, font size, color, send ms, id, 0, uid hash, 0, 0, 0,
// "", 0, "{}", "{}", {extra, user}, {activity}, 0]; info[1] = text;
// info[2] = [uid, uname, is_admin, vip, svip, rank, 1, uname colour];
// info[3] = fan medal ([] when none); info[4] = user level; info[5] =
// titles; info[6] = 0; info[7] = guard level; info[9] = {"ts","ct"}.
func (d Danmu) JSON() []byte {
	mode, size, color := d.Mode, d.FontSize, d.Color
	if mode == 0 {
		mode = DefaultDanmuMode
	}
	if size == 0 {
		size = DefaultDanmuFontSize
	}
	if color == 0 {
		color = DefaultDanmuColor
	}
	ts := d.SendTime
	if ts.IsZero() {
		ts = time.Now()
	}
	crc := decimalCRC(d.UID)
	var hashBuf [8]byte
	hash := appendHex8(hashBuf[:0], crc, hexDigits)
	admin := int64(0)
	if d.IsAdmin {
		admin = 1
	}
	w := &jsonw{b: make([]byte, 0, 1536+4*len(d.Text)+2*len(d.Uname))}
	w.raw(`{"cmd":"DANMU_MSG","info":[[0,`).int(int64(mode)).raw(",").int(int64(size)).
		raw(",").int(int64(color)).raw(",").int(ts.UnixMilli()).raw(",").int(d.ID).
		raw(`,0,"`).raw(string(hash)).raw(`"`).raw(`,0,0,0,"",0,"{}","{}",{"extra":`)
	w.b = appendString(w.b, string(danmuExtra(d, mode, size, color, crc)))
	w.raw(`,"mode":0,"show_player_type":0,"user":{"uid":`).int(d.UID).
		raw(`,"base":{"name":`).str(d.Uname).
		raw(`,"face":"","is_mystery":false,"name_color":0,"name_color_str":"","official_info":{"desc":"","role":0,"title":"","type":-1},"origin_info":{"face":"","name":`).
		str(d.Uname).
		raw(`},"risk_ctrl_info":null},"guard":null,"guard_leader":{"is_guard_leader":false},"medal":null,"title":{"old_title_css_id":"","title_css_id":""},"uhead_frame":null,"wealth":null}},`).
		raw(`{"activity_identity":"","activity_source":0,"not_show":0},0],`)
	w.str(d.Text).raw(",[").int(d.UID).raw(",").str(d.Uname).raw(",").int(admin).
		raw(`,0,0,10000,1,""],[],[0,0,9868950,">50000",0],["",""],0,0,null,{"ts":`).
		int(ts.Unix()).raw(`,"ct":"`)
	w.b = appendHex8(w.b, decimalCRC(d.ID), upperHexDigits)
	w.raw(`"`).
		raw(`},0,0,null,null,0,0,[0]],"dm_v2":""}`)
	return w.b
}

// danmuExtra is the JSON document carried as a string in info[0][15].extra;
// its user_hash is the same crc32 as info[0][7], in decimal. A reply fills
// reply_mid and reply_uname and adds reply_id_str: a key more in an object,
// which clients reading Bilibili's keys pass over.
func danmuExtra(d Danmu, mode, size, color int, crc uint32) []byte {
	w := &jsonw{b: make([]byte, 0, 640+len(d.Text)+len(d.ReplyUname))}
	w.raw(`{"send_from_me":false,"mode":0,"color":`).int(int64(color)).
		raw(`,"dm_type":0,"font_size":`).int(int64(size)).
		raw(`,"player_mode":`).int(int64(mode)).
		raw(`,"show_player_type":0,"content":`).str(d.Text).
		raw(`,"user_hash":`).strInt(int64(crc)).
		raw(`,"emoticon_unique":"","bulge_display":0,"recommend_score":0,"main_state_dm_color":"","objective_state_dm_color":"","direction":0,"pk_direction":0,"quartet_direction":0,"anniversary_crowd":0,"yeah_space_type":"","yeah_space_url":"","jump_to_url":"","space_type":"","space_url":"","animation":{},"emots":null,"is_audited":false,"id_str":`).
		strInt(d.ID).
		raw(`,"icon":null,"show_reply":true,"reply_mid":`).int(d.ReplyUID).
		raw(`,"reply_uname":`).str(d.ReplyUname).
		raw(`,"reply_uname_color":"","reply_is_mystery":false,"hit_combo":0`)
	if d.ReplyTo != 0 {
		w.raw(`,"reply_id_str":`).strInt(d.ReplyTo)
	}
	w.raw(`}`)
	return w.b
}
