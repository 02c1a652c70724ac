#!/usr/bin/env node
// wsbench Node twin: the event contract of docs/events.md on the official socket.io 4.8 Server,
// plus a pure Engine.IO echo endpoint at /engine.io/. Faults are not implemented here.
"use strict";

const http = require("node:http");
const { parseArgs } = require("node:util");
const engineio = require("engine.io");
const { Server } = require("socket.io");
const jwt = require("jsonwebtoken");

const USAGE = `usage: node server.js [options]
  --host H                     interface to bind (127.0.0.1)
  --port N                     TCP port, 0 = free port (3000)
  --ping-interval MS           Engine.IO pingInterval (25000)
  --ping-timeout MS            Engine.IO pingTimeout (20000)
  --max-payload BYTES          Engine.IO maxPayload (1000000)
  --connect-timeout MS         time to connect a namespace (45000)
  --jwt-secret S               HS256 secret; auth is off when absent
  --cors-origin O              Access-Control-Allow-Origin (*)
  --recovery                   enable connection state recovery
  --app-heartbeat-interval MS  app-level ping rounds, 0 disables (30000)
  --max-rooms N                rooms per socket (100)
  --notification-bytes-per-user BYTES  stored notification bytes per user, oldest evicted (4194304)
  --notification-bytes-total BYTES     stored notification bytes of all users, oldest evicted (67108864)
  --header-timeout MS          request head deadline (server.headersTimeout), 0 = none (10000)
  --body-timeout MS            body deadline: server.requestTimeout = header + body, 0 = none (30000)
  --idle-timeout MS            keep-alive idle deadline (server.keepAliveTimeout), 0 = none (60000)
  --parser NAME                Socket.IO parser: default or msgpack (socket.io-msgpack-parser) (default)
  --adapter redis://HOST:PORT  join a cluster through Redis (@socket.io/redis-adapter); none = one node`;

const ROOM_MAX_CHARS = 128;
const DOC_ID_MAX_CHARS = 120;
const RESERVED_PREFIXES = ["doc:", "user:", "#"];
// The exact shape of every socket id either server issues: socket.io's base64id.generateId()
// (15 bytes in base64, "/" -> "_", "+" -> "-"; a recovered session keeps its id) and the Python
// server's new_id() (secrets.token_urlsafe(15)). Reserved cluster-wide for joins.
const SOCKET_ID_SHAPE = /^[A-Za-z0-9_-]{20}$/;
const NOTIFICATIONS_PER_USER = 1000;
const MAX_JSON_DEPTH = 100; // as wsbench.protocol.socketio.MAX_JSON_DEPTH
const CONTRACT_NAMESPACES = ["/", "/chat", "/admin", "/custom"];
const CLUSTER_PING = "cluster ping";

function parseOptions(argv) {
  const intOption = { type: "string" };
  const { values } = parseArgs({
    args: argv,
    options: {
      host: { type: "string", default: "127.0.0.1" },
      port: { ...intOption, default: "3000" },
      "ping-interval": { ...intOption, default: "25000" },
      "ping-timeout": { ...intOption, default: "20000" },
      "max-payload": { ...intOption, default: "1000000" },
      "connect-timeout": { ...intOption, default: "45000" },
      "jwt-secret": { type: "string" },
      "cors-origin": { type: "string", default: "*" },
      recovery: { type: "boolean", default: false },
      "app-heartbeat-interval": { ...intOption, default: "30000" },
      "max-rooms": { ...intOption, default: "100" },
      "notification-bytes-per-user": { ...intOption, default: String(4 * 1024 * 1024) },
      "notification-bytes-total": { ...intOption, default: String(64 * 1024 * 1024) },
      "header-timeout": { ...intOption, default: "10000" },
      "body-timeout": { ...intOption, default: "30000" },
      "idle-timeout": { ...intOption, default: "60000" },
      parser: { type: "string", default: "default" },
      adapter: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE + "\n");
    process.exit(0);
  }
  const integer = (name) => {
    const text = values[name];
    if (!/^\d+$/.test(text)) throw new Error(`--${name} must be a non-negative integer, got "${text}"`);
    return Number(text);
  };
  if (values.adapter !== undefined && values.recovery) {
    throw new Error("--recovery is node-local: not with --adapter (the Redis adapter carries no offsets)");
  }
  return {
    host: values.host,
    port: integer("port"),
    pingInterval: integer("ping-interval"),
    pingTimeout: integer("ping-timeout"),
    maxPayload: integer("max-payload"),
    connectTimeout: integer("connect-timeout"),
    jwtSecret: values["jwt-secret"],
    corsOrigin: values["cors-origin"],
    recovery: values.recovery,
    appHeartbeatInterval: integer("app-heartbeat-interval"),
    maxRooms: integer("max-rooms"),
    notificationBytesPerUser: integer("notification-bytes-per-user"),
    notificationBytesTotal: integer("notification-bytes-total"),
    headerTimeout: integer("header-timeout"),
    bodyTimeout: integer("body-timeout"),
    idleTimeout: integer("idle-timeout"),
    parser: parserOption(values.parser),
    adapter: adapterOption(values.adapter),
  };
}

// --adapter: a Redis URL (as the Python server's --adapter); null = the in-memory adapter
function adapterOption(url) {
  if (url === undefined) return null;
  let parsed;
  try {
    parsed = new URL(url);
  } catch {
    parsed = null;
  }
  if (!parsed || parsed.protocol !== "redis:" || !parsed.hostname) {
    throw new Error(`--adapter must be redis://HOST:PORT, got "${url}"`);
  }
  return url;
}

// --parser: the official parsers, as the options of new Server() take them.
function parserOption(name) {
  if (name === "default") return null;
  if (name === "msgpack") return require("socket.io-msgpack-parser");
  throw new Error(`--parser must be default or msgpack, got "${name}"`);
}

/**
 * JSON.parse, refusing what the Python server refuses (docs/events.md "Security and limits"):
 * numbers that are not finite (1e400 parses as Infinity) and nesting deeper than MAX_JSON_DEPTH.
 */
function parseStrictJson(text) {
  const value = JSON.parse(text, (key, v) => {
    if (typeof v === "number" && !Number.isFinite(v)) throw new Error("a number is not finite");
    return v;
  });
  const stack = [[value, 0]];
  while (stack.length > 0) {
    const [item, depth] = stack.pop();
    if (item === null || typeof item !== "object") continue;
    if (depth >= MAX_JSON_DEPTH) throw new Error(`nested deeper than ${MAX_JSON_DEPTH} levels`);
    for (const child of Object.values(item)) stack.push([child, depth + 1]);
  }
  return value;
}

// ---------------------------------------------------------------------------------------------
// Payload validation and the handler wrapper (refusals: ack {ok:false,error} + `error` event)

class Refusal extends Error {}
class TooLarge extends Error {}

const isObject = (v) =>
  v !== null && typeof v === "object" && !Array.isArray(v) && !Buffer.isBuffer(v) && !ArrayBuffer.isView(v);
const isRoomName = (v) => typeof v === "string" && v.length > 0 && v.length <= ROOM_MAX_CHARS;
const isInt = (v, lo, hi) => Number.isInteger(v) && v >= lo && v <= hi;

function require_(condition, message) {
  if (!condition) throw new Refusal(message);
}

function requireObject(value, keys) {
  require_(isObject(value), `payload must be an object with keys ${keys.join(", ")}`);
  for (const key of keys) require_(key in value, `payload lacks key "${key}"`);
  return value;
}

function requireRoom(value, what = "room") {
  require_(isRoomName(value), `${what} must be a non-empty string of at most ${ROOM_MAX_CHARS} characters`);
  return value;
}

/**
 * Register `fn(...args)` for `event`. Its return value is the ack (default {ok:true}); a Promise
 * is awaited. A Refusal or any other error is turned into a refusal, never a crash.
 */
function handle(socket, event, fn) {
  socket.on(event, (...args) => {
    const ack = typeof args[args.length - 1] === "function" ? args.pop() : null;
    const refuse = (err) => {
      const message = err instanceof Refusal ? err.message : "internal error";
      if (!(err instanceof Refusal)) process.stderr.write(`handler "${event}" failed: ${err && err.stack}\n`);
      if (ack) ack({ ok: false, error: message });
      socket.emit("error", { event, message });
    };
    const answer = (result) => {
      if (ack) ack(result === undefined ? { ok: true } : result);
    };
    let result;
    try {
      result = fn(...args);
    } catch (err) {
      return refuse(err);
    }
    if (result && typeof result.then === "function") result.then(answer, refuse);
    else answer(result);
  });
}

// ---------------------------------------------------------------------------------------------
// The application

function normalizeUserId(value) {
  if (typeof value === "string" && value.length > 0) return value;
  if (Number.isInteger(value)) return String(value);
  return null;
}

function createApp(options) {
  // The notifications handler must be registered before socket.io and engine.io attach: they
  // wrap the request listeners present at attach time and pass them every other path.
  const deadlines = [options.headerTimeout, options.bodyTimeout, options.idleTimeout].filter((t) => t > 0);
  const httpServer = http.createServer(
    // how often Node checks the head/request deadlines (30 s by default: far too coarse for small ones)
    { connectionsCheckingInterval: Math.max(20, Math.min(1000, ...deadlines.map((t) => t / 4))) },
    (req, res) => onHttpRequest(req, res),
  );
  // docs/events.md "Server options": Node applies headersTimeout from the connection's start
  // (so it also closes a connection that never sends a byte) and requestTimeout to the whole
  // request (head + body); keepAliveTimeout is the idle time between requests.
  httpServer.headersTimeout = options.headerTimeout;
  httpServer.requestTimeout =
    options.headerTimeout > 0 && options.bodyTimeout > 0 ? options.headerTimeout + options.bodyTimeout : 0;
  httpServer.keepAliveTimeout = options.idleTimeout;
  const io = new Server(httpServer, {
    path: "/socket.io/",
    pingInterval: options.pingInterval,
    pingTimeout: options.pingTimeout,
    maxHttpBufferSize: options.maxPayload,
    connectTimeout: options.connectTimeout,
    cors: { origin: options.corsOrigin, methods: ["GET", "POST"] },
    ...(options.parser ? { parser: options.parser } : {}),
    ...(options.recovery
      ? { connectionStateRecovery: { maxDisconnectionDuration: 120000, skipMiddlewares: true } }
      : {}),
  });
  const echo = engineio.attach(httpServer, {
    path: "/engine.io/",
    pingInterval: options.pingInterval,
    pingTimeout: options.pingTimeout,
    maxHttpBufferSize: options.maxPayload,
    cors: { origin: options.corsOrigin, methods: ["GET", "POST"] },
  });
  echo.on("connection", (eioSocket) => {
    eioSocket.on("message", (data) => eioSocket.send(data));
  });

  const main = io.of("/");
  // every other node answers `cluster emit` with its id and the data (docs/events.md)
  main.on(CLUSTER_PING, (data, ack) => {
    if (typeof ack === "function") ack({ node: main.adapter.uid || "local", data });
  });
  const chat = io.of("/chat");
  const admin = io.of("/admin");
  const custom = io.of("/custom");

  // --- authentication (seed "Authentication") ---
  if (options.jwtSecret) {
    const authenticate = (socket, next) => {
      const token = socket.handshake.auth && socket.handshake.auth.token;
      if (typeof token !== "string" || token.length === 0) return next(new Error("Authentication error"));
      try {
        socket.data.claims = jwt.verify(token, options.jwtSecret, { algorithms: ["HS256"] });
      } catch {
        return next(new Error("Invalid token"));
      }
      next();
    };
    for (const nsp of [main, chat, admin, custom]) nsp.use(authenticate);
    admin.use((socket, next) => {
      if (socket.data.claims && socket.data.claims.admin === true) return next();
      next(new Error("Not authorized"));
    });
  }
  const userIdOf = (socket) =>
    options.jwtSecret
      ? normalizeUserId(socket.data.claims && socket.data.claims.userId)
      : normalizeUserId(socket.handshake.auth && socket.handshake.auth.userId);

  // --- rooms: security rules ---
  // Any room shaped like a socket id but this socket's own (docs/events.md "Security and limits"):
  // the id of a socket on another node of a cluster is not in this node's tables (nor, with
  // --recovery, the id of a disconnected socket that may still come back), and a socket id is
  // random, so no legitimate room name needs this shape. Local, no adapter round trip.
  const isOtherSocketId = (socket, room) => room !== socket.id && SOCKET_ID_SHAPE.test(room);
  // socket ids are per namespace: `private message` to another namespace's socket reaches nobody
  const isForeignSocketId = (room) => {
    if (main.sockets.has(room)) return false;
    for (const nsp of io._nsps.values()) if (nsp !== main && nsp.sockets.has(room)) return true;
    return false;
  };
  const countedRooms = (socket) => {
    let n = 0;
    for (const room of socket.rooms) if (room !== socket.id && room !== socket.data.userRoom) n += 1;
    return n;
  };
  const requireJoinable = (socket, room) => {
    requireRoom(room);
    require_(!RESERVED_PREFIXES.some((p) => room.startsWith(p)), `room "${room}" uses a reserved prefix`);
    require_(!isOtherSocketId(socket, room), "cannot join another socket's private room");
    require_(socket.rooms.has(room) || countedRooms(socket) < options.maxRooms, `at most ${options.maxRooms} rooms`);
    return room;
  };
  const requireLeavable = (socket, room) => {
    requireRoom(room);
    require_(!RESERVED_PREFIXES.some((p) => room.startsWith(p)), `room "${room}" uses a reserved prefix`);
    require_(room !== socket.id, "cannot leave the socket's own room");
    return room;
  };

  // --- state ---
  const documents = new Map(); // docId -> {version, content}
  const notifications = new Map(); // userId string -> [[notification, bytes]], oldest first
  const notificationOrder = new Map(); // every stored id -> userId, oldest first (total bound)
  const userBytes = new Map();
  let notificationBytes = 0;
  let nextNotificationId = 1;
  const chatUsers = new Map(); // /chat socket id -> username
  let nextChatMessageId = 1;

  const documentOf = (docId) => {
    let doc = documents.get(docId);
    if (!doc) documents.set(docId, (doc = { version: 0, content: {} }));
    return doc;
  };
  const requireDocId = (docId) => {
    require_(
      typeof docId === "string" && docId.length > 0 && docId.length <= DOC_ID_MAX_CHARS,
      `docId must be a non-empty string of at most ${DOC_ID_MAX_CHARS} characters`,
    );
    return docId;
  };
  const notificationsSince = (userId, since) =>
    (notifications.get(userId) || []).map(([n]) => n).filter((n) => n.id > since);
  const evictOldestOf = (userId) => {
    const stored = notifications.get(userId);
    const [note, size] = stored.shift();
    notificationOrder.delete(note.id);
    notificationBytes -= size;
    userBytes.set(userId, userBytes.get(userId) - size);
    if (stored.length === 0) {
      notifications.delete(userId);
      userBytes.delete(userId);
    }
  };

  function notify(body) {
    const userId = normalizeUserId(body.userId);
    require_(userId !== null, "userId must be a non-empty string or an integer");
    require_("type" in body && "message" in body, 'body needs keys "type" and "message"');
    const notification = {
      ...body,
      id: nextNotificationId++,
      userId: body.userId,
      timestamp: new Date().toISOString(),
    };
    const ordered = { id: notification.id, userId: body.userId, type: body.type, message: body.message };
    Object.assign(ordered, notification);
    // memory is bounded: per user (count and bytes) and in total; the oldest go first
    const size = Buffer.byteLength(JSON.stringify(ordered));
    const limit = Math.min(options.notificationBytesPerUser, options.notificationBytesTotal);
    if (size > limit) {
      nextNotificationId -= 1;
      throw new TooLarge(`notification of ${size} bytes exceeds the stored-notification limit (${limit} bytes)`);
    }
    const stored = notifications.get(userId) || [];
    stored.push([ordered, size]);
    notifications.set(userId, stored);
    notificationOrder.set(ordered.id, userId);
    userBytes.set(userId, (userBytes.get(userId) || 0) + size);
    notificationBytes += size;
    while (stored.length > NOTIFICATIONS_PER_USER || userBytes.get(userId) > options.notificationBytesPerUser) {
      evictOldestOf(userId);
    }
    while (notificationBytes > options.notificationBytesTotal) {
      evictOldestOf(notificationOrder.values().next().value);
    }
    const room = `user:${userId}`;
    const delivered = main.adapter.rooms.get(room)?.size ?? 0;
    main.to(room).emit("notification", ordered);
    return { id: ordered.id, delivered };
  }

  // --- namespace / ---
  main.on("connection", (socket) => {
    socket.emit("auth", socket.handshake.auth || {});
    const userId = userIdOf(socket);
    if (userId !== null) {
      socket.data.userRoom = `user:${userId}`;
      socket.join(socket.data.userRoom);
    }
    socket.data.alive = true;

    // harness
    socket.on("message", (...args) => {
      if (typeof args[args.length - 1] === "function") args.pop();
      socket.emit("message-back", ...args);
    });
    for (const event of ["message-with-ack", "echo"]) {
      socket.on(event, (...args) => {
        const ack = typeof args[args.length - 1] === "function" ? args.pop() : null;
        if (ack) ack(...args);
      });
    }

    // seed "Socket.IO Server"
    handle(socket, "chat message", (msg) => {
      main.emit("chat message", msg);
    });
    handle(socket, "join room", (room) => {
      requireJoinable(socket, room);
      socket.join(room);
      socket.emit("joined", room);
      socket.to(room).emit("user joined", socket.id);
      return { ok: true, room };
    });
    handle(socket, "leave room", (room) => {
      requireLeavable(socket, room);
      socket.leave(room);
      socket.to(room).emit("user left", socket.id);
      return { ok: true, room };
    });
    handle(socket, "private message", (payload) => {
      const { to, message } = requireObject(payload, ["to", "message"]);
      requireRoom(to, "to");
      require_(!isForeignSocketId(to), '"to" is the id of a socket in another namespace (ids are per namespace)');
      socket.to(to).emit("private message", { from: socket.id, message });
    });

    // seed "Rooms and Namespaces"
    handle(socket, "join", (room) => {
      requireJoinable(socket, room);
      socket.join(room);
      main.to(room).emit("user joined", socket.id);
      return { ok: true, room };
    });
    handle(socket, "room message", (payload) => {
      const { room, message } = requireObject(payload, ["room", "message"]);
      requireRoom(room);
      main.to(room).emit("message", { room, from: socket.id, message });
    });
    handle(socket, "leave", (room) => {
      requireLeavable(socket, room);
      socket.leave(room);
      main.to(room).emit("user left", socket.id);
      return { ok: true, room };
    });

    // seed "Broadcasting": one trigger per variant
    handle(socket, "broadcast all", (payload) => {
      main.emit("event", requireObject(payload, ["data"]).data);
    });
    handle(socket, "broadcast others", (payload) => {
      socket.broadcast.emit("event", requireObject(payload, ["data"]).data);
    });
    handle(socket, "broadcast room", (payload) => {
      const { room, data } = requireObject(payload, ["room", "data"]);
      main.to(requireRoom(room)).emit("event", data);
    });
    handle(socket, "broadcast rooms", (payload) => {
      const { rooms, data } = requireObject(payload, ["rooms", "data"]);
      require_(Array.isArray(rooms) && rooms.length >= 1 && rooms.length <= 100, "rooms must be a list of 1 to 100 rooms");
      rooms.forEach((room) => requireRoom(room));
      let operator = main.to(rooms[0]);
      for (const room of rooms.slice(1)) operator = operator.to(room);
      operator.emit("event", data);
    });
    handle(socket, "broadcast room others", (payload) => {
      const { room, data } = requireObject(payload, ["room", "data"]);
      socket.to(requireRoom(room)).emit("event", data);
    });
    handle(socket, "broadcast socket", (payload) => {
      const { to, data } = requireObject(payload, ["to", "data"]);
      main.to(requireRoom(to, "to")).emit("event", data);
    });
    handle(socket, "broadcast volatile", (payload) => {
      const { data, room, count = 1 } = requireObject(payload, ["data"]);
      require_(isInt(count, 1, 10000), "count must be an integer from 1 to 10000");
      const target = room === undefined ? socket.volatile : main.volatile.to(requireRoom(room));
      for (let i = 0; i < count; i++) target.emit("event", data);
    });
    // cluster triggers (docs/events.md "Cluster triggers"): the adapter's cluster operations
    handle(socket, "cluster sockets", async (payload) => {
      const query = payload === undefined || payload === null ? {} : payload;
      require_(isObject(query), "payload must be an object {room?}");
      const operator = query.room === undefined ? main : main.in(requireRoom(query.room));
      const found = await operator.fetchSockets();
      const sockets = found
        .map((s) => ({ id: s.id, rooms: [...s.rooms].sort() }))
        .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
      return { ok: true, sockets };
    });
    for (const [event, join] of [["cluster join", true], ["cluster leave", false]]) {
      handle(socket, event, (payload) => {
        const p = requireObject(payload, ["room"]);
        const room = requireRoom(p.room);
        require_(!RESERVED_PREFIXES.some((prefix) => room.startsWith(prefix)), `room "${room}" uses a reserved prefix`);
        // socketsJoin/socketsLeave of a socket's id room: a hijack, or a socket unreachable
        require_(!SOCKET_ID_SHAPE.test(room), `room "${room}" has the shape of a socket id (a private room)`);
        const operator = p.target === undefined ? main : main.in(requireRoom(p.target, "target"));
        if (join) operator.socketsJoin(room);
        else operator.socketsLeave(room);
      });
    }
    handle(socket, "cluster emit", async (payload) => {
      const { data } = requireObject(payload, ["data"]);
      let responses;
      try {
        responses = await main.serverSideEmitWithAck(CLUSTER_PING, data);
      } catch (err) {
        return { ok: false, error: String((err && err.message) || err) };
      }
      const key = (a) => (isObject(a) ? String(a.node) : "");
      responses.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
      return { ok: true, responses };
    });
    handle(socket, "request ack", (payload) => {
      const { data, timeout = 5000 } = requireObject(payload, ["data"]);
      require_(isInt(timeout, 1, 60000), "timeout must be an integer from 1 to 60000 ms");
      return new Promise((resolve) => {
        socket.timeout(timeout).emit("ack request", data, (err, ...response) => {
          if (err) resolve({ ok: false, error: "timeout" });
          else resolve({ ok: true, response: response.length > 0 ? response[0] : null });
        });
      });
    });
    handle(socket, "broadcast with ack", (payload) => {
      const { data, timeout = 5000 } = requireObject(payload, ["data"]);
      require_(isInt(timeout, 1, 60000), "timeout must be an integer from 1 to 60000 ms");
      const room = "room" in payload ? requireRoom(payload.room) : undefined;
      // this server's recipients, counted as the emit goes out (socket.io does not tell)
      const recipients = room === undefined ? main.sockets.size : (main.adapter.rooms.get(room)?.size ?? 0);
      const target = room === undefined ? main : main.to(room);
      return new Promise((resolve) => {
        target.timeout(timeout).emit("ack request", data, (err, responses) => {
          const answers = Array.isArray(responses) ? responses.map((r) => (r === undefined ? null : r)) : [];
          resolve({
            ok: true,
            recipients,
            responses: answers,
            timedOut: Boolean(err),
            missing: Math.max(0, recipients - answers.length),
          });
        });
      });
    });

    // seed "Live Updates"
    handle(socket, "subscribe document", (docId) => {
      requireDocId(docId);
      const room = `doc:${docId}`;
      require_(socket.rooms.has(room) || countedRooms(socket) < options.maxRooms, `at most ${options.maxRooms} rooms`);
      socket.join(room);
      const doc = documentOf(docId);
      socket.emit("document state", { docId, version: doc.version, content: doc.content });
      return { ok: true, room };
    });
    handle(socket, "update document", (payload) => {
      const { docId, changes } = requireObject(payload, ["docId", "changes"]);
      requireDocId(docId);
      require_(isObject(changes), "changes must be an object");
      const doc = documentOf(docId);
      doc.version += 1;
      Object.assign(doc.content, changes);
      main.to(`doc:${docId}`).emit("document updated", { docId, changes, version: doc.version });
      return { ok: true, version: doc.version };
    });
    handle(socket, "unsubscribe document", (docId) => {
      requireDocId(docId);
      const room = `doc:${docId}`;
      socket.leave(room);
      return { ok: true, room };
    });

    // seed "Real-time Notifications"
    handle(socket, "fetch notifications", (payload) => {
      const query = payload === undefined || payload === null ? {} : payload;
      require_(isObject(query), "payload must be an object {since?}");
      const since = query.since === undefined ? 0 : query.since;
      require_(Number.isInteger(since), "since must be an integer");
      return userId === null ? [] : notificationsSince(userId, since);
    });

    // seed "Heartbeat/Ping-Pong"
    socket.on("pong", () => {
      socket.data.alive = true;
    });
  });

  let heartbeat = null;
  if (options.appHeartbeatInterval > 0) {
    heartbeat = setInterval(() => {
      for (const socket of main.sockets.values()) {
        if (!socket.data.alive) {
          socket.disconnect();
          continue;
        }
        socket.data.alive = false;
        socket.emit("ping");
      }
    }, options.appHeartbeatInterval);
  }

  // --- namespace /chat (seed "Chat Application") ---
  chat.on("connection", (socket) => {
    const usernameOf = () => (chatUsers.has(socket.id) ? chatUsers.get(socket.id) : null);
    handle(socket, "join", (username) => {
      require_(
        typeof username === "string" && username.length > 0 && username.length <= 128,
        "username must be a non-empty string of at most 128 characters",
      );
      chatUsers.set(socket.id, username);
      chat.emit("user joined", { id: socket.id, username, userCount: chatUsers.size });
      socket.emit("users", Array.from(chatUsers, ([id, name]) => ({ id, username: name })));
      return { ok: true, userCount: chatUsers.size };
    });
    handle(socket, "message", (text) => {
      const id = nextChatMessageId++;
      chat.emit("message", { id, username: usernameOf(), text, timestamp: new Date().toISOString() });
      return { ok: true, id };
    });
    for (const event of ["typing", "stop typing"]) {
      handle(socket, event, () => {
        socket.broadcast.emit(event, { username: usernameOf() });
      });
    }
    socket.on("disconnect", () => {
      if (!chatUsers.has(socket.id)) return;
      const username = chatUsers.get(socket.id);
      chatUsers.delete(socket.id);
      chat.emit("user left", { username, userCount: chatUsers.size });
    });
  });

  // --- namespace /admin ---
  admin.on("connection", (socket) => {
    handle(socket, "broadcast", (msg) => {
      for (const name of CONTRACT_NAMESPACES) io.of(name).emit("announcement", msg);
    });
  });

  // --- namespace /custom (harness) ---
  custom.on("connection", (socket) => {
    socket.emit("auth", socket.handshake.auth || {});
  });

  // --- HTTP: notifications (socket.io and engine.io intercept their own paths first) ---
  function onHttpRequest(req, res) {
    const url = new URL(req.url, "http://localhost");
    const send = (status, body) => {
      const text = JSON.stringify(body);
      res.writeHead(status, {
        "Content-Type": "application/json",
        "Content-Length": Buffer.byteLength(text),
        "Access-Control-Allow-Origin": options.corsOrigin,
      });
      res.end(text);
    };
    if (url.pathname !== "/notifications") return send(404, { error: "not found" });
    if (req.method === "OPTIONS") {
      res.writeHead(204, {
        "Access-Control-Allow-Origin": options.corsOrigin,
        "Access-Control-Allow-Methods": "GET, POST",
        "Access-Control-Allow-Headers": "Content-Type, Authorization",
      });
      return res.end();
    }
    // with --jwt-secret: Authorization: Bearer <HS256 JWT>; open otherwise (a loopback test convenience)
    let claims = null;
    if (options.jwtSecret) {
      const [scheme, token] = (req.headers.authorization || "").split(" ", 2);
      if (!scheme || scheme.toLowerCase() !== "bearer" || !token) return send(401, { error: "Authentication error" });
      try {
        claims = jwt.verify(token, options.jwtSecret, { algorithms: ["HS256"] });
      } catch {
        return send(401, { error: "Invalid token" });
      }
      if (claims === null || typeof claims !== "object") claims = {};
    }
    if (req.method === "GET") {
      const userId = url.searchParams.get("userId");
      const sinceText = url.searchParams.get("since") ?? "0";
      if (!userId) return send(400, { error: "userId is required" });
      if (claims && claims.admin !== true && normalizeUserId(claims.userId) !== userId) {
        return send(403, { error: "Not authorized: a user reads only their own" });
      }
      if (!/^-?\d+$/.test(sinceText)) return send(400, { error: "since must be an integer" });
      return send(200, notificationsSince(userId, Number(sinceText)));
    }
    if (req.method !== "POST") return send(405, { error: "method not allowed" });
    if (claims && claims.admin !== true) return send(403, { error: "Not authorized: posting needs the admin claim" });
    const chunks = [];
    let size = 0;
    let tooLarge = false;
    req.on("data", (chunk) => {
      size += chunk.length;
      if (size > options.maxPayload) tooLarge = true;
      else chunks.push(chunk);
    });
    req.on("end", () => {
      if (tooLarge) return send(413, { error: `body larger than ${options.maxPayload} bytes` });
      let body;
      try {
        body = parseStrictJson(Buffer.concat(chunks).toString("utf8"));
      } catch (err) {
        return send(400, { error: `body is not JSON: ${err.message}`.slice(0, 120) });
      }
      if (!isObject(body)) return send(400, { error: "body must be a JSON object" });
      try {
        return send(201, notify(body));
      } catch (err) {
        if (err instanceof Refusal) return send(400, { error: err.message });
        if (err instanceof TooLarge) return send(413, { error: err.message });
        process.stderr.write(`POST /notifications failed: ${err && err.stack}\n`);
        return send(500, { error: "internal error" });
      }
    });
  }

  const close = (callback) => {
    if (heartbeat) clearInterval(heartbeat);
    echo.close();
    io.close(() => callback());
    httpServer.closeAllConnections?.();
  };
  return { httpServer, close, io };
}

/** --adapter: the official Redis adapter on two `redis` clients (publish, subscribe). */
async function joinCluster(io, url) {
  const { createClient } = require("redis");
  const { createAdapter } = require("@socket.io/redis-adapter");
  let connected = false; // the first connect fails fast; later outages are retried (bounded backoff)
  const reconnectStrategy = (retries, err) => (connected ? Math.min(50 * 2 ** retries, 1000) : err);
  const pub = createClient({ url, socket: { reconnectStrategy } });
  const sub = pub.duplicate();
  let down = false;
  for (const client of [pub, sub]) {
    client.on("error", (err) => {
      if (!down) process.stderr.write(`redis adapter ${url} unreachable: ${err.message}\n`);
      down = true;
    });
    client.on("ready", () => {
      down = false;
    });
  }
  await Promise.all([pub.connect(), sub.connect()]);
  connected = true;
  io.adapter(createAdapter(pub, sub));
  return [pub, sub];
}

function main() {
  let options;
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${err.message}\n${USAGE}\n`);
    process.exit(2);
  }
  const app = createApp(options);
  app.httpServer.on("error", (err) => {
    process.stderr.write(`cannot listen on ${options.host}:${options.port}: ${err.message}\n`);
    process.exit(1);
  });
  const listen = () =>
    app.httpServer.listen(options.port, options.host, () => {
      const { port } = app.httpServer.address();
      process.stdout.write(`wsbench node twin listening on http://${options.host}:${port}\n`);
    });
  if (options.adapter) {
    joinCluster(app.io, options.adapter).then(listen, (err) => {
      process.stderr.write(`cannot reach the Redis adapter at ${options.adapter}: ${err.message}\n`);
      process.exit(1);
    });
  } else listen();
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    setTimeout(() => process.exit(0), 2000).unref();
    app.close(() => process.exit(0));
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

if (require.main === module) main();

module.exports = { createApp, parseOptions };
