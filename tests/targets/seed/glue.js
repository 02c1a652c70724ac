// Glue for running the seed's code blocks as one launchable process: NOT seed code.
//
// server.js (the seed verbatim) and fixed.js (its copy with the seed's defects fixed) call into
// this module from lines marked `// added:`, `// changed:` or `// fault:`. It provides
//   - the command line: --host H (127.0.0.1), --port P (PORT env, else 3000; 0 = a free port),
//     --chat-port P (the "Chat Application" block's own server; 0 = a free port),
//     --jwt-secret S (sets process.env.JWT_SECRET, which the seed's middleware reads),
//     --ping-interval MS / --ping-timeout MS (socket.io's heartbeat; default socket.io's own
//     25000 / 20000; the official suites, and conform's wire tiers, use 300 / 200),
//     --fault NAME (or SEED_FAULT=NAME): switch ONE fault of FAULTS on;
//   - the official harness events (docs/events.md): on / and /custom emit `auth` with the
//     CONNECT payload, `message` -> `message-back`, `message-with-ack` acked with its args;
//   - the start line the launcher waits for, and exit 0 on SIGTERM/SIGINT.
'use strict';

// Each fault breaks ONE behaviour scenarios/apps/seed.yaml declares; `every` = it strikes on
// every Nth occurrence of its event (1 = always). The check that must catch it is listed in
// tests/targets/README.md.
const FAULTS = {
  'chat-drop': { every: 50, breaks: "'chat message' io.emit skipped (nobody gets that one)" },
  'announce-joiner': { every: 20, breaks: "'join room' -> 'user joined' also to the joiner (io.to instead of socket.to)" },
  'joined-missing': { every: 1, breaks: "'join room' sends no 'joined' to the joiner" },
  'room-leak': { every: 100, breaks: "'room message' also goes to another room" },
  'leave-ignored': { every: 1, breaks: "'leave' does not leave the room" },
  'private-dup': { every: 30, breaks: "'private message' delivered twice" },
  'chat-ns-skip-sender': { every: 25, breaks: "/chat 'message' skips its sender (socket.broadcast instead of chat.emit)" },
  'chat-reorder': { every: 40, breaks: "'chat message': one held back and sent after the next one (swapped)" },
  'payload-rename': { every: 25, breaks: "'room message' pushes 'msg' instead of 'message'" },
  'auth-bypass': { every: 1, breaks: 'a CONNECT without a token is accepted' },
  'announce-drop': { every: 1, breaks: "/admin 'broadcast' -> 'announcement' not sent" },
};

function usage(message) {
  process.stderr.write(`seed server: ${message}\n` +
    'usage: node server.js [--host 127.0.0.1] [--port 3000] [--chat-port 0] [--jwt-secret S]\n' +
    '                      [--ping-interval MS] [--ping-timeout MS] [--fault NAME]\n' +
    `faults: ${Object.keys(FAULTS).join(', ')}\n`);
  process.exit(2);
}

function parsePort(text, flag) {
  const port = Number(text);
  if (!Number.isInteger(port) || port < 0 || port > 65535) usage(`${flag} must be 0..65535, not ${JSON.stringify(text)}`);
  return port;
}

function parse(argv) {
  const opts = { host: '127.0.0.1', port: process.env.PORT !== undefined ? parsePort(process.env.PORT, 'PORT') : 3000,
    chatPort: 0, fault: process.env.SEED_FAULT || null, engine: {} };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = argv[i + 1];
    if (!['--host', '--port', '--chat-port', '--jwt-secret', '--ping-interval', '--ping-timeout', '--fault'].includes(flag)) usage(`unknown option ${JSON.stringify(flag)}`);
    if (value === undefined) usage(`${flag} needs a value`);
    i++;
    if (flag === '--host') opts.host = value;
    else if (flag === '--port') opts.port = parsePort(value, flag);
    else if (flag === '--chat-port') opts.chatPort = parsePort(value, flag);
    else if (flag === '--jwt-secret') process.env.JWT_SECRET = value;
    else if (flag === '--ping-interval' || flag === '--ping-timeout') {
      const ms = Number(value);
      if (!Number.isInteger(ms) || ms < 1) usage(`${flag} must be a positive number of milliseconds, not ${JSON.stringify(value)}`);
      opts.engine[flag === '--ping-interval' ? 'pingInterval' : 'pingTimeout'] = ms;
    }
    else opts.fault = value;
  }
  if (opts.fault !== null && require('path').basename(require.main.filename) === 'fixed.js') usage('fixed.js has no faults (run server.js)');
  if (opts.fault !== null && !(opts.fault in FAULTS)) usage(`unknown fault ${JSON.stringify(opts.fault)}`);
  return opts;
}

const options = parse(process.argv.slice(2));
const counts = {};

// fault(name): true when fault `name` is on and strikes this time (every Nth call).
function fault(name) {
  if (!(name in FAULTS)) throw new Error(`no fault ${name}`);
  if (options.fault !== name) return false;
  counts[name] = (counts[name] || 0) + 1;
  return counts[name] % FAULTS[name].every === 0;
}

// The official suites' harness app (docs/events.md): on / the three events, on /custom `auth` only.
function harness(nsp, { events = true } = {}) {
  nsp.on('connection', (socket) => {
    socket.emit('auth', socket.handshake.auth);
    if (!events) return;
    socket.on('message', (...args) => socket.emit('message-back', ...args));
    socket.on('message-with-ack', (...args) => {
      const ack = args.pop();
      if (typeof ack === 'function') ack(...args);
    });
  });
}

// The start line (what the launcher waits for: `... listening on http://HOST:PORT`).
function started(server, what) {
  const { port } = server.address();
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  console.log(`${what} http://${host}:${port}` + (options.fault ? ` (fault ${options.fault})` : ''));
}

for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0));

module.exports = { FAULTS, options, fault, harness, started };

// The main namespace of a Server (io), or the Namespace itself.
function namespaceOf(io) {
  return typeof io.of === 'function' ? io.of('/') : io;
}

// fault chat-reorder: hold(key, value, send) keeps one value back (true: the caller skips its own
// send); release(key) sends the held one after the caller's next send, so the two are swapped.
// A held value nobody overtakes goes out after 2 s (late, not lost).
const held = new Map();
function hold(name, key, value, send) {
  if (held.has(key) || !fault(name)) return false;
  const timer = setTimeout(() => release(key), 2000);
  held.set(key, { value, send, timer });
  return true;
}
function release(key) {
  const entry = held.get(key);
  if (entry === undefined) return;
  held.delete(key);
  clearTimeout(entry.timer);
  entry.send(entry.value);
}

// fault room-leak: another room of the namespace with members (not a socket's own id room).
function otherRoom(io, room) {
  const nsp = namespaceOf(io);
  for (const [name, members] of nsp.adapter.rooms) {
    if (name !== room && members.size > 0 && !nsp.sockets.has(name)) return name;
  }
  return null;
}

Object.assign(module.exports, { hold, release, otherRoom });

// fixed.js: whether `room` (a name, or an array of names as socket.join takes) names ANOTHER
// connected socket of `nsp` (every socket is in the room of its own id).
function othersRoom(io, socket, room) {
  const nsp = namespaceOf(io);
  return [].concat(room).some((name) => name !== socket.id && nsp.sockets.has(name));
}

Object.assign(module.exports, { othersRoom });
