// The video of the room page's stage: the player under the bullet comments,
// the poster while the room is offline (or its video has not arrived yet), and
// the controls: mute, volume, comments on/off, fullscreen of the whole stage
// so that the comments stay over the picture.
import { h } from '../dom.js';
import { Player } from '../player.js';

// playbackOf returns the room's playback paths. They are derived from the
// room id, as the server derives them (/live/ID.flv, /hls/ID.m3u8), so a LIVE
// message needs no request.
export function playbackOf(id) {
  return { flv: `/live/${id}.flv`, hls: `/hls/${id}.m3u8` };
}

// roomVideo fills stageEl (which already holds posterEl) with the video and
// its controls. live is {status, playback}; setLive switches it later.
export function roomVideo(stageEl, { id, live, getPoster }) {
  const video = h('video', { class: 'stage-video', testid: 'stage-video', muted: true, playsinline: true });
  const player = new Player(video);
  const offline = h('span', { class: 'stage-label', testid: 'stage-label' });

  const mute = h('button', { type: 'button', class: 'ctl', testid: 'video-mute' });
  const volume = h('input', {
    type: 'range', class: 'ctl-volume', testid: 'video-volume', min: '0', max: '1', step: '0.05',
    value: '1', 'aria-label': 'volume',
  });
  const bullets = h('button', { type: 'button', class: 'ctl', testid: 'bullets-toggle', 'aria-pressed': 'true', text: 'Comments' });
  const full = h('button', { type: 'button', class: 'ctl', testid: 'video-fullscreen', text: 'Fullscreen' });
  const controls = h('div', { class: 'stage-controls', testid: 'stage-controls' },
    mute, volume, h('span', { class: 'ctl-gap' }), bullets, full);

  const paintMute = () => {
    const m = video.muted || video.volume === 0;
    mute.textContent = m ? 'Unmute' : 'Mute';
    mute.setAttribute('aria-pressed', String(m));
  };
  mute.addEventListener('click', () => {
    video.muted = !video.muted;
    if (!video.muted && video.volume === 0) video.volume = volume.value = 0.5;
  });
  volume.addEventListener('input', () => {
    video.volume = Number(volume.value);
    video.muted = video.volume === 0;
  });
  video.addEventListener('volumechange', paintMute);
  paintMute();

  bullets.addEventListener('click', () => {
    const off = stageEl.classList.toggle('bullets-off');
    bullets.setAttribute('aria-pressed', String(!off));
  });
  full.addEventListener('click', () => {
    if (document.fullscreenElement === stageEl) document.exitFullscreen().catch(() => {});
    else stageEl.requestFullscreen?.().catch((err) => console.warn('fullscreen', err));
  });
  const onFull = () => { full.textContent = document.fullscreenElement === stageEl ? 'Exit fullscreen' : 'Fullscreen'; };
  document.addEventListener('fullscreenchange', onFull);

  // The poster covers the video until a frame plays; data-video tells which is
  // shown. The video itself is never display:none, since browsers do not
  // autoplay a muted video that is not laid out.
  const paint = () => {
    const playing = player.state === 'playing';
    stageEl.dataset.video = playing ? 'playing' : 'poster';
    stageEl.dataset.engine = player.engine; // which player plays, for tests and bug reports
    getPoster().hidden = playing;
    const isLive = stageEl.dataset.live === 'live';
    offline.hidden = playing;
    offline.textContent = isLive ? 'Waiting for the video…' : 'Offline';
  };
  player.addEventListener('state', paint);

  stageEl.prepend(video);
  stageEl.append(offline, controls);

  function setLive(status, playback) {
    const isLive = status === 'live';
    stageEl.dataset.live = isLive ? 'live' : 'offline';
    if (isLive) player.play(playback || playbackOf(id));
    else player.stop();
    paint();
  }
  setLive(live.status, live.playback);

  return {
    setLive,
    // repaint is called when the poster element was replaced.
    repaint: paint,
    destroy() {
      player.stop();
      document.removeEventListener('fullscreenchange', onFull);
    },
  };
}
