// "My room": where to point the encoder (OBS), and a preview of the picture
// the room receives. The RTMP port comes from the server (GET
// /api/media/rooms/{id}, which also says whether the room is publishing); the
// host is the page's own.
import { h, toast } from '../dom.js';
import { api } from '../api.js';
import { Player } from '../player.js';
import { playbackOf } from './room_video.js';

const POLL_MS = 3_000;

// copyButton copies what value() returns, or selects field when the
// clipboard is not available (plain http on another host).
function copyButton(testid, what, value, field) {
  return h('button', {
    type: 'button', class: 'btn btn-small', testid, text: 'Copy',
    onclick: async () => {
      try {
        await navigator.clipboard.writeText(value());
        toast(`${what} copied`, 'ok');
      } catch {
        if (field.type === 'password') field.type = 'text';
        field.select();
        toast('Copy it from the field (clipboard not available here)');
      }
    },
  });
}

// ingestPanel shows the server URL and the OBS settings, and plays the
// room's video muted while it is publishing. key is the stream key field of
// the live panel (its Copy button is there).
export function ingestPanel(id, { signal }) {
  const server = h('input', { testid: 'ingest-server', readonly: true, value: '', 'aria-label': 'server URL' });
  const status = h('p', { class: 'muted', testid: 'ingest-status', dataset: { publishing: 'false' }, text: 'Checking the video…' });
  // Always laid out (black while nothing plays): browsers do not autoplay a hidden video.
  const preview = h('video', { class: 'ingest-video', testid: 'ingest-preview', muted: true, playsinline: true });
  const player = new Player(preview);
  player.addEventListener('state', (ev) => { preview.dataset.state = ev.detail; });

  let timer = null;
  let first = true;
  async function poll() {
    timer = null;
    try {
      const st = await api(`/api/media/rooms/${id}`, { signal });
      if (st.rtmp_port) server.value = `rtmp://${location.hostname}:${st.rtmp_port}/live`;
      status.dataset.publishing = String(!!st.publishing);
      if (st.publishing) {
        const v = st.viewers || {};
        status.textContent = `Receiving your stream · ${(v.flv || 0) + (v.hls || 0)} watching the video, this preview included`;
        player.play(st.play || playbackOf(id));
      } else {
        status.textContent = 'No stream is arriving. Start streaming in OBS; the preview appears here.';
        player.stop();
      }
    } catch (err) {
      if (signal.aborted) return;
      if (first) server.value = '';
      status.textContent = err.status === 404
        ? 'Video ingest is not available on this server.'
        : `Could not check the video (${err.message}); trying again.`;
    }
    first = false;
    if (!signal.aborted) timer = setTimeout(poll, POLL_MS);
  }
  signal.addEventListener('abort', () => {
    clearTimeout(timer);
    player.stop();
  });
  poll();

  return h('section', { class: 'panel', testid: 'ingest-panel' },
    h('h2', { text: 'Stream from OBS' }),
    h('label', { class: 'field' }, h('span', { text: 'Server' }),
      h('div', { class: 'row' }, server, copyButton('ingest-server-copy', 'Server URL', () => server.value, server))),
    h('p', { class: 'muted', text: 'Stream key: the key in the Live panel (Copy there). The room goes live by itself when the stream arrives.' }),
    h('ul', { class: 'obs-settings', testid: 'obs-settings' },
      h('li', {}, 'Settings → Stream: Service ', h('b', { text: 'Custom' }), ', the server and key above'),
      h('li', {}, 'Output: encoder ', h('b', { text: 'x264 or a hardware H.264 encoder' }), ', audio ', h('b', { text: 'AAC' })),
      h('li', {}, 'Keyframe interval ', h('b', { text: '1 s' }), ' (viewers start on a keyframe)'),
      h('li', {}, 'Bitrate ', h('b', { text: '2500–4000 kbps' }), ' for 720p, ', h('b', { text: '4500–6000 kbps' }), ' for 1080p; audio 128–160 kbps')),
    status, preview);
}
