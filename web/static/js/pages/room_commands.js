// Turns long-connection messages ({cmd, ...}) into updates of the room page,
// reading the field positions Bilibili's clients use.
import { parseJSON } from '../json.js';

// commandHandler returns a function that handles one message. Unknown
// commands are ignored, as clients must tolerate new ones.
export function commandHandler({ onComment, chat, setOnline, setWatched, setLive, onGift, onRoomChange }) {
  return (msg) => {
    if (!msg || typeof msg.cmd !== 'string') return;
    // Bilibili appends options to some commands, e.g. "DANMU_MSG:4:0:2:2:2:0".
    const cmd = msg.cmd.split(':')[0];
    const data = msg.data || {};
    switch (cmd) {
      case 'DANMU_MSG': {
        const info = Array.isArray(msg.info) ? msg.info : [];
        const meta = Array.isArray(info[0]) ? info[0] : [];
        const user = Array.isArray(info[2]) ? info[2] : [];
        if (typeof info[1] !== 'string') return;
        const extra = danmuExtra(meta[15]);
        onComment({
          id: str(extra.id_str, '') || (meta[5] ?? ''),
          text: info[1],
          uid: user[0] ?? 0,
          uname: typeof user[1] === 'string' ? user[1] : '',
          mode: Number(meta[1]) || 1,
          color: Number.isFinite(Number(meta[3])) ? Number(meta[3]) : 0xffffff,
          // A reply names whom it answers where Bilibili does (reply_mid,
          // reply_uname), and zhibo the comment (reply_id_str).
          reply_to: str(extra.reply_id_str, '') || undefined,
          reply_uid: Number(extra.reply_mid) ? extra.reply_mid : undefined,
          reply_uname: str(extra.reply_uname, '') || undefined,
        });
        break;
      }
      case 'SEND_GIFT': {
        const num = Number(data.num) || 1;
        chat.addSystem(`${str(data.uname, 'someone')} sent ${str(data.giftName, 'a gift')} × ${num}`, 'gift');
        onGift(data);
        break;
      }
      case 'INTERACT_WORD':
        if (Number(data.msg_type ?? 1) === 1) chat.addSystem(`${str(data.uname, 'someone')} entered the room`, 'enter');
        break;
      case 'WATCHED_CHANGE':
        if (data.num != null) setWatched(Number(data.num));
        break;
      case 'ONLINE_RANK_COUNT':
        // zhibo's count is the room's online count, as Bilibili's online_count.
        if ((data.online_count ?? data.count) != null) setOnline(Number(data.online_count ?? data.count));
        break;
      case 'LIVE':
        setLive('live');
        chat.addSystem('The stream started', 'live');
        break;
      case 'PREPARING':
        setLive('preparing');
        chat.addSystem('The stream ended', 'live');
        break;
      case 'ROOM_CHANGE':
        onRoomChange(data);
        break;
      default:
        break;
    }
  };
}

// danmuExtra reads the JSON document DANMU_MSG carries as a string in
// info[0][15].extra ({} when there is none or it is not JSON).
function danmuExtra(m) {
  if (!m || typeof m.extra !== 'string') return {};
  try {
    const v = parseJSON(m.extra);
    return v && typeof v === 'object' ? v : {};
  } catch {
    return {};
  }
}

function str(v, fallback) {
  return typeof v === 'string' && v !== '' ? v : fallback;
}
