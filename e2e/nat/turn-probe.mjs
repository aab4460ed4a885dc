// A raw TURN Allocate (RFC 5766) over UDP with long-term credentials, run inside a site
// namespace by nat.test.ts: prints one JSON line, {"outcome":"allocated","relayed":"ip:port"}
// or {"outcome":"error","code":401,"reason":"…"} or {"outcome":"timeout"}.
// Usage: node turn-probe.mjs <server-ip> <port> <username> <password>
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';

const [server, portText, username, password] = process.argv.slice(2);
const port = Number(portText);
const MAGIC = 0x2112a442;

function attr(type, value) {
  const pad = (4 - (value.length % 4)) % 4;
  const head = Buffer.alloc(4);
  head.writeUInt16BE(type, 0);
  head.writeUInt16BE(value.length, 2);
  return Buffer.concat([head, value, Buffer.alloc(pad)]);
}

function message(type, attrs, key) {
  const tid = randomBytes(12);
  let body = Buffer.concat(attrs);
  const header = (extra) => {
    const h = Buffer.alloc(20);
    h.writeUInt16BE(type, 0);
    h.writeUInt16BE(body.length + extra, 2);
    h.writeUInt32BE(MAGIC, 4);
    tid.copy(h, 8);
    return h;
  };
  if (key) {
    // MESSAGE-INTEGRITY covers the header with the length including the integrity attribute.
    const mac = createHmac('sha1', key)
      .update(Buffer.concat([header(24), body]))
      .digest();
    body = Buffer.concat([body, attr(0x0008, mac)]);
  }
  return Buffer.concat([header(0), body]);
}

function parse(buf) {
  const type = buf.readUInt16BE(0);
  const attrs = new Map();
  for (let o = 20; o + 4 <= buf.length;) {
    const t = buf.readUInt16BE(o);
    const l = buf.readUInt16BE(o + 2);
    attrs.set(t, buf.subarray(o + 4, o + 4 + l));
    o += 4 + l + ((4 - (l % 4)) % 4);
  }
  return { type, attrs };
}

const socket = createSocket('udp4');
const transport = attr(0x0019, Buffer.from([17, 0, 0, 0])); // REQUESTED-TRANSPORT: UDP

function ask(msg) {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(undefined), 3000);
    socket.once('message', (data) => {
      clearTimeout(timer);
      resolve(parse(data));
    });
    socket.send(msg, port, server);
  });
}

function errorOf(reply) {
  const e = reply.attrs.get(0x0009);
  return e ? { code: (e[2] & 7) * 100 + e[3], reason: e.subarray(4).toString() } : { code: 0, reason: '' };
}

const first = await ask(message(0x0003, [transport]));
if (!first) {
  console.log(JSON.stringify({ outcome: 'timeout' }));
  process.exit(0);
}
const realm = first.attrs.get(0x0014);
const nonce = first.attrs.get(0x0015);
if (first.type !== 0x0113 || !realm || !nonce) {
  console.log(JSON.stringify({ outcome: 'unexpected', type: first.type, ...errorOf(first) }));
  process.exit(0);
}
const key = createHash('md5').update(`${username}:${realm.toString()}:${password}`).digest();
const second = await ask(message(0x0003, [transport, attr(0x0006, Buffer.from(username)), attr(0x0014, realm), attr(0x0015, nonce)], key));
if (!second) console.log(JSON.stringify({ outcome: 'timeout' }));
else if (second.type === 0x0103) {
  const x = second.attrs.get(0x0016); // XOR-RELAYED-ADDRESS
  const relayed = x ? `${[0, 1, 2, 3].map((i) => x[4 + i] ^ [0x21, 0x12, 0xa4, 0x42][i]).join('.')}:${x.readUInt16BE(2) ^ 0x2112}` : '?';
  console.log(JSON.stringify({ outcome: 'allocated', relayed }));
} else console.log(JSON.stringify({ outcome: 'error', ...errorOf(second) }));
socket.close();
