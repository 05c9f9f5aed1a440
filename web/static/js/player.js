// Player plays a room's live video in a video element: HTTP-FLV through
// mpegts.js (Media Source Extensions, with live-latency chasing), else native
// HLS (Safari, iOS), else HLS through hls.js. Both libraries are vendored
// under /vendor and loaded the first time a stream is played. Neither runs a
// Web Worker: the page's Content-Security-Policy allows workers from nowhere.
//
// A stream that ends or fails is asked for again after RETRY_MS (doubling
// up to RETRY_MAX_MS while it keeps failing) as long as play() is in force, so a room set live before its encoder connects starts playing
// by itself once the video arrives.
import { h } from './dom.js';

const MPEGTS_SRC = '/vendor/mpegts.js/mpegts.js';
const HLS_SRC = '/vendor/hls.js/hls.light.min.mjs';
const RETRY_MS = 2_000;
const RETRY_MAX_MS = 10_000;

let mpegtsLoading = null;

// loadMpegts loads mpegts.js once. Its build is a UMD script, not an ES
// module, so it is added as a classic script (from 'self') and read from
// window.mpegts.
function loadMpegts() {
  if (window.mpegts) return Promise.resolve(window.mpegts);
  mpegtsLoading ??= new Promise((resolve, reject) => {
    const s = h('script', { src: MPEGTS_SRC });
    s.onload = () => {
      const m = window.mpegts;
      if (!m) return reject(new Error('mpegts.js did not load'));
      // Warnings and errors only: its info lines would fill the console on every reconnect.
      Object.assign(m.LoggingControl, { enableVerbose: false, enableDebug: false, enableInfo: false });
      resolve(m);
    };
    s.onerror = () => {
      mpegtsLoading = null;
      s.remove();
      reject(new Error('mpegts.js did not load'));
    };
    document.head.append(s);
  });
  return mpegtsLoading;
}

// Player emits:
//   'state' detail: 'idle' | 'loading' | 'playing' | 'waiting' (no video yet or lost, retrying)
export class Player extends EventTarget {
  #video;
  #urls = null;
  #impl = null; // {destroy()}
  #retry = null;
  #gen = 0;
  #state = 'idle';
  #failures = 0; // attempts in a row that ended without playing

  // video is the element to play into; it starts muted, which lets browsers autoplay it.
  constructor(video) {
    super();
    this.#video = video;
    video.muted = true;
    video.autoplay = true;
    video.playsInline = true;
    video.addEventListener('playing', () => {
      this.#failures = 0;
      this.#set('playing');
    });
  }

  get state() {
    return this.#state;
  }

  // engine names what plays now: 'mpegts', 'native-hls', 'hls.js' or ''.
  get engine() {
    return this.#impl?.name || '';
  }

  // play starts (or keeps) playing urls {flv, hls}, paths on the page's origin.
  // Called again with the same urls while waiting to retry, it retries at once
  // (the room page does so when LIVE arrives).
  play(urls) {
    if (this.#urls && urls && this.#urls.flv === urls.flv && this.#urls.hls === urls.hls) {
      if (this.#state === 'waiting') {
        clearTimeout(this.#retry);
        this.#retry = null;
        this.#start();
      }
      return;
    }
    this.stop();
    if (!urls) return;
    this.#urls = urls;
    this.#start();
  }

  // stop ends playback and any retry.
  stop() {
    this.#gen++;
    this.#urls = null;
    this.#failures = 0;
    clearTimeout(this.#retry);
    this.#retry = null;
    this.#teardown();
    this.#set('idle');
  }

  #set(state) {
    if (state === this.#state) return;
    this.#state = state;
    this.dispatchEvent(new CustomEvent('state', { detail: state }));
  }

  #teardown() {
    const impl = this.#impl;
    this.#impl = null;
    try {
      impl?.destroy();
    } catch (err) {
      console.warn('player teardown', err);
    }
    this.#video.removeAttribute('src');
    this.#video.load();
  }

  // again tears the current attempt down and tries once more after RETRY_MS.
  #again(gen, why) {
    if (gen !== this.#gen || !this.#urls) return;
    if (why) console.info('video:', why);
    this.#gen++;
    this.#teardown();
    this.#set('waiting');
    const next = this.#gen;
    clearTimeout(this.#retry);
    this.#retry = setTimeout(() => {
      if (next === this.#gen && this.#urls) this.#start();
    }, Math.min(RETRY_MAX_MS, RETRY_MS * 2 ** this.#failures++));
  }

  async #start() {
    const gen = ++this.#gen;
    const urls = this.#urls;
    this.#set('loading');
    try {
      const impl = await this.#open(urls, gen);
      if (gen !== this.#gen) {
        impl?.destroy();
        return;
      }
      if (!impl) throw new Error('this browser can play neither HTTP-FLV nor HLS');
      this.#impl = impl;
      this.#video.play().catch(() => {}); // autoplay refused: the controls still work
    } catch (err) {
      this.#again(gen, err.message);
    }
  }

  async #open(urls, gen) {
    const video = this.#video;
    const abs = (p) => new URL(p, location.href).href;
    let mpegts = null;
    try {
      mpegts = await loadMpegts();
    } catch (err) {
      console.warn(err);
    }
    if (mpegts && mpegts.isSupported() && mpegts.getFeatureList().mseLivePlayback) {
      const p = mpegts.createPlayer(
        { type: 'flv', isLive: true, url: abs(urls.flv) },
        {
          enableWorker: false,
          enableStashBuffer: false,
          lazyLoad: false,
          autoCleanupSourceBuffer: true,
          liveBufferLatencyChasing: true,
          liveBufferLatencyMaxLatency: 1.5,
          liveBufferLatencyMinRemain: 0.3,
        },
      );
      p.on(mpegts.Events.ERROR, (type, detail) => this.#again(gen, `flv ${type} ${detail}`));
      p.on(mpegts.Events.LOADING_COMPLETE, () => this.#again(gen, 'flv stream ended'));
      p.attachMediaElement(video);
      p.load();
      return { name: 'mpegts', destroy: () => p.destroy() };
    }
    if (video.canPlayType('application/vnd.apple.mpegurl')) {
      const onError = () => this.#again(gen, 'native hls error');
      video.addEventListener('error', onError);
      video.src = abs(urls.hls);
      return { name: 'native-hls', destroy: () => video.removeEventListener('error', onError) };
    }
    const { default: Hls } = await import(HLS_SRC);
    if (!Hls.isSupported()) return null;
    const hls = new Hls({ enableWorker: false, liveSyncDurationCount: 2 });
    hls.on(Hls.Events.ERROR, (_, data) => {
      if (data.fatal) this.#again(gen, `hls ${data.type} ${data.details}`);
    });
    hls.loadSource(abs(urls.hls));
    hls.attachMedia(video);
    return { name: 'hls.js', destroy: () => hls.destroy() };
  }
}
