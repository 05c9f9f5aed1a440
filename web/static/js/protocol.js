// The long-connection packet codec (Bilibili Live's message-stream
// protocol): a 16-byte big-endian header, then the body.

export const HEADER_LEN = 16;
// Byte offsets of the header fields, each derived from the previous one.
export const OFF_PACKET_LEN = 0;
export const OFF_HEADER_LEN = OFF_PACKET_LEN + 4;
export const OFF_VER = OFF_HEADER_LEN + 2;
export const OFF_OP = OFF_VER + 2;
export const OFF_SEQ = OFF_OP + 4;

// Ver is the protocol version field: how the body is encoded.
export const Ver = Object.freeze({ JSON: 0, PLAIN: 1, ZLIB: 2, BROTLI: 3 });

// Op is the operation field.
export const Op = Object.freeze({
  HEARTBEAT: 2,
  HEARTBEAT_REPLY: 3,
  MESSAGE: 5,
  AUTH: 7,
  AUTH_REPLY: 8,
});

// MAX_INFLATED bounds how much one compressed batch may expand to.
const MAX_INFLATED = 8 << 20;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

// encodePacket builds one packet; body is a string or bytes.
export function encodePacket(op, body = '', { ver = Ver.PLAIN, seq = 1 } = {}) {
  const b = typeof body === 'string' ? encoder.encode(body) : body;
  const buf = new Uint8Array(HEADER_LEN + b.length);
  const dv = new DataView(buf.buffer);
  dv.setUint32(OFF_PACKET_LEN, buf.length);
  dv.setUint16(OFF_HEADER_LEN, HEADER_LEN);
  dv.setUint16(OFF_VER, ver);
  dv.setUint32(OFF_OP, op);
  dv.setUint32(OFF_SEQ, seq);
  buf.set(b, HEADER_LEN);
  return buf;
}

// decodePackets splits bytes holding one or more whole packets. It throws on
// a truncated or malformed header rather than guessing.
export function decodePackets(bytes) {
  const out = [];
  let off = 0;
  while (off < bytes.length) {
    if (bytes.length - off < HEADER_LEN) throw new Error('protocol: truncated header');
    const dv = new DataView(bytes.buffer, bytes.byteOffset + off, HEADER_LEN);
    const len = dv.getUint32(OFF_PACKET_LEN);
    const hlen = dv.getUint16(OFF_HEADER_LEN);
    if (hlen < HEADER_LEN || len < hlen || off + len > bytes.length) {
      throw new Error(`protocol: bad packet length ${len}/${hlen}`);
    }
    out.push({
      ver: dv.getUint16(OFF_VER),
      op: dv.getUint32(OFF_OP),
      seq: dv.getUint32(OFF_SEQ),
      body: bytes.subarray(off + hlen, off + len),
    });
    off += len;
  }
  return out;
}

// inflate decompresses with the browser's DecompressionStream; 'deflate' is
// the zlib format (RFC 1950) that version-2 bodies use.
export async function inflate(bytes, format = 'deflate') {
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream(format));
  const reader = stream.getReader();
  const chunks = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.length;
    if (total > MAX_INFLATED) {
      await reader.cancel();
      throw new Error('protocol: compressed batch too large');
    }
    chunks.push(value);
  }
  const out = new Uint8Array(total);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}

// unpack decodes a frame and replaces each compressed message packet by the
// packets inside it. Brotli (version 3) is used only where the browser can
// decompress it; zhibo's UI asks for version 2.
export async function unpack(bytes) {
  const out = [];
  for (const p of decodePackets(bytes)) {
    if (p.op === Op.MESSAGE && (p.ver === Ver.ZLIB || p.ver === Ver.BROTLI)) {
      const inner = await inflate(p.body, p.ver === Ver.ZLIB ? 'deflate' : 'brotli');
      // Inner packets are never compressed again; anything else is dropped.
      for (const q of decodePackets(inner)) {
        if (q.ver !== Ver.ZLIB && q.ver !== Ver.BROTLI) out.push(q);
      }
    } else {
      out.push(p);
    }
  }
  return out;
}

// bodyText decodes a packet body as UTF-8.
export function bodyText(p) {
  return decoder.decode(p.body);
}

// bodyUint32 reads the 4-byte big-endian count of a heartbeat reply.
export function bodyUint32(p) {
  if (p.body.length < 4) return 0;
  return new DataView(p.body.buffer, p.body.byteOffset, 4).getUint32(0);
}
