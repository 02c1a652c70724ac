#!/usr/bin/env node
// Receive-efficiency baseline: N official socket.io-client connections (websocket only) count
// deliveries of one event. Used by bench/ to compare wsbench's client with Node's.
//
//   node bench_receiver.js --url http://127.0.0.1:3000 --clients 200 --duration 10
//        [--event event] [--ns /] [--auth '{"token":"..."}'] [--batch 50]
//
// stdout, one JSON line each:
//   {"ready": true, "connected": N, "connect_errors": E, "connect_ms": ...}  once all settled
//   {"t": s, "deliveries": D, "cpu_user_ms": U, "cpu_sys_ms": S, "rss": bytes, "connected": N}
//       every second; t, D, U and S are cumulative since the ready line
//   {"done": true, ...same fields}  after --duration seconds, then the process exits 0.
// App-level `ping` events are answered with `pong` so the server's app heartbeat keeps them.
"use strict";

const { parseArgs } = require("node:util");
const { requireTwin, emitLine } = require("./common");

const { io } = requireTwin("socket.io-client");

const { values } = parseArgs({
  options: {
    url: { type: "string" },
    clients: { type: "string", default: "100" },
    duration: { type: "string", default: "10" },
    event: { type: "string", default: "event" },
    ns: { type: "string", default: "/" },
    auth: { type: "string" },
    batch: { type: "string", default: "50" },
  },
});
if (!values.url) {
  process.stderr.write("bench_receiver.js: --url is required\n");
  process.exit(2);
}
const clients = Number(values.clients);
const durationMs = Number(values.duration) * 1000;
const batch = Math.max(1, Number(values.batch));
const auth = values.auth ? JSON.parse(values.auth) : {};
const target = values.url.replace(/\/$/, "") + (values.ns === "/" ? "" : values.ns);

let deliveries = 0;
let connected = 0;
let connectErrors = 0;
const sockets = [];

function open() {
  return new Promise((resolve) => {
    const socket = io(target, { forceNew: true, transports: ["websocket"], reconnection: false, auth });
    sockets.push(socket);
    socket.on(values.event, () => {
      deliveries += 1;
    });
    socket.on("ping", () => socket.emit("pong"));
    socket.on("disconnect", () => {
      connected -= 1;
    });
    socket.once("connect", () => {
      connected += 1;
      resolve();
    });
    socket.once("connect_error", () => {
      connectErrors += 1;
      resolve();
    });
  });
}

function sample(t0, cpu0) {
  const cpu = process.cpuUsage(cpu0);
  return {
    t: Number(process.hrtime.bigint() - t0) / 1e9,
    deliveries,
    cpu_user_ms: cpu.user / 1000,
    cpu_sys_ms: cpu.system / 1000,
    rss: process.memoryUsage.rss(),
    connected,
  };
}

async function main() {
  const connectStart = process.hrtime.bigint();
  for (let i = 0; i < clients; i += batch) {
    const wave = [];
    for (let j = i; j < Math.min(clients, i + batch); j++) wave.push(open());
    await Promise.all(wave);
  }
  emitLine({
    ready: true,
    connected,
    connect_errors: connectErrors,
    connect_ms: Number(process.hrtime.bigint() - connectStart) / 1e6,
  });
  deliveries = 0;
  const t0 = process.hrtime.bigint();
  const cpu0 = process.cpuUsage();
  const ticker = setInterval(() => emitLine(sample(t0, cpu0)), 1000);
  setTimeout(() => {
    clearInterval(ticker);
    emitLine({ done: true, ...sample(t0, cpu0) });
    for (const socket of sockets) socket.disconnect();
    process.exit(0);
  }, durationMs);
}

main().catch((err) => {
  process.stderr.write(`bench_receiver.js: ${err && err.stack}\n`);
  process.exit(1);
});
