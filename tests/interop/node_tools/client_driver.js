#!/usr/bin/env node
// Drive a Socket.IO server with the official socket.io-client, for tests.
//
//   node client_driver.js '<script json>'      (or the script on stdin)
//
// Script: {"url": "http://127.0.0.1:3000", "timeout": 5000, "steps": [...]}. Steps run in order;
// each may name a "client" (default "c0": one Engine.IO connection per client, its namespaces
// multiplexed on it) and an "ns" (default "/"):
//   {"op":"connect", client, ns, auth?, transports?, options?, ack_replies?, auto_emit?}
//       waits for connect or connect_error. ack_replies {event: [args]} answers server emits
//       that ask for an ack; auto_emit {event: [event2, ...args]} emits event2 on each event.
//   {"op":"emit", client, ns, event, args?, ack?: bool, timeout?}   ack: waits for the ack
//   {"op":"wait", client, ns, event, timeout?}   consumes the oldest unconsumed `event`;
//       event "disconnect" (a name no server may emit) waits for the socket's disconnect
//   {"op":"sleep", ms}
//   {"op":"disconnect", client, ns}
// Output: one JSON line per outcome, all with "t" (ms since start), "client", "ns":
//   {"type":"connect", id} | {"type":"connect_error", message, data}
//   {"type":"event", event, args} (every event received) | {"type":"ack", event, args}
//   {"type":"ack_timeout", event} | {"type":"wait", event, ok, args}
//   {"type":"disconnect", reason} | {"type":"error", message} | {"type":"done"} (last line)
// Binary values are {"b64": "..."} both ways. Exit status 0, or 2 on a bad script.
"use strict";

const { requireTwin, toJson, fromJson, emitLine } = require("./common");

const { Manager } = requireTwin("socket.io-client");

const started = process.hrtime.bigint();
const now = () => Number((process.hrtime.bigint() - started) / 1000000n);

function out(fields) {
  emitLine({ t: now(), ...fields });
}

class Endpoint {
  constructor(client, ns, socket) {
    this.client = client;
    this.ns = ns;
    this.socket = socket;
    this.inbox = []; // unconsumed {event, args}
    this.waiters = []; // {event, resolve}
  }

  deliver(event, args) {
    const index = this.waiters.findIndex((w) => w.event === event);
    if (index >= 0) this.waiters.splice(index, 1)[0].resolve(args);
    else this.inbox.push({ event, args });
  }

  take(event, timeout) {
    const index = this.inbox.findIndex((m) => m.event === event);
    if (index >= 0) return Promise.resolve(this.inbox.splice(index, 1)[0].args);
    return new Promise((resolve) => {
      const waiter = { event, resolve };
      this.waiters.push(waiter);
      setTimeout(() => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) {
          this.waiters.splice(i, 1);
          resolve(null);
        }
      }, timeout);
    });
  }
}

async function run(script) {
  const url = script.url;
  if (typeof url !== "string") throw new Error('script needs "url"');
  if (!Array.isArray(script.steps)) throw new Error('script needs "steps" (a list)');
  const defaultTimeout = script.timeout || 5000;
  const managers = new Map(); // client -> Manager
  const endpoints = new Map(); // `${client} ${ns}` -> Endpoint

  const endpointOf = (step) => {
    const key = `${step.client || "c0"} ${step.ns || "/"}`;
    const endpoint = endpoints.get(key);
    if (!endpoint) throw new Error(`no connect step for client ${step.client || "c0"} ns ${step.ns || "/"}`);
    return endpoint;
  };

  for (const step of script.steps) {
    const client = step.client || "c0";
    const ns = step.ns || "/";
    const timeout = step.timeout || defaultTimeout;
    const base = { client, ns };
    switch (step.op) {
      case "connect": {
        let manager = managers.get(client);
        if (!manager) {
          manager = new Manager(url, {
            reconnection: false,
            autoConnect: false,
            ...(step.transports ? { transports: step.transports } : {}),
            ...(step.options || {}),
          });
          managers.set(client, manager);
        }
        const socket = manager.socket(ns, { auth: step.auth ? fromJson(step.auth) : {} });
        const endpoint = new Endpoint(client, ns, socket);
        endpoints.set(`${client} ${ns}`, endpoint);
        const ackReplies = step.ack_replies || {};
        const autoEmit = step.auto_emit || {};
        socket.onAny((event, ...args) => {
          const ack = typeof args[args.length - 1] === "function" ? args.pop() : null;
          out({ ...base, type: "event", event, args: toJson(args) });
          if (ack && event in ackReplies) ack(...fromJson(ackReplies[event]));
          if (event in autoEmit) socket.emit(...fromJson(autoEmit[event]));
          endpoint.deliver(event, args);
        });
        socket.on("disconnect", (reason) => {
          out({ ...base, type: "disconnect", reason });
          endpoint.deliver("disconnect", [reason]);
        });
        await new Promise((resolve) => {
          const timer = setTimeout(() => {
            out({ ...base, type: "connect_error", message: "timeout", data: null });
            resolve();
          }, timeout);
          socket.once("connect", () => {
            clearTimeout(timer);
            out({ ...base, type: "connect", id: socket.id });
            resolve();
          });
          socket.once("connect_error", (err) => {
            clearTimeout(timer);
            out({ ...base, type: "connect_error", message: err.message, data: toJson(err.data ?? null) });
            resolve();
          });
          socket.connect();
        });
        break;
      }
      case "emit": {
        const { socket } = endpointOf(step);
        const args = fromJson(step.args || []);
        if (!step.ack) {
          socket.emit(step.event, ...args);
          break;
        }
        await new Promise((resolve) => {
          socket.timeout(timeout).emit(step.event, ...args, (err, ...response) => {
            if (err) out({ ...base, type: "ack_timeout", event: step.event });
            else out({ ...base, type: "ack", event: step.event, args: toJson(response) });
            resolve();
          });
        });
        break;
      }
      case "wait": {
        const args = await endpointOf(step).take(step.event, timeout);
        out({ ...base, type: "wait", event: step.event, ok: args !== null, args: args === null ? null : toJson(args) });
        break;
      }
      case "sleep":
        await new Promise((resolve) => setTimeout(resolve, step.ms || 0));
        break;
      case "disconnect":
        endpointOf(step).socket.disconnect();
        break;
      default:
        throw new Error(`unknown op: ${JSON.stringify(step.op)}`);
    }
  }
  for (const endpoint of endpoints.values()) endpoint.socket.disconnect();
  for (const manager of managers.values()) manager.engine && manager.engine.close();
}

function readScript() {
  if (process.argv[2] !== undefined) return Promise.resolve(process.argv[2]);
  return new Promise((resolve) => {
    const chunks = [];
    process.stdin.on("data", (c) => chunks.push(c));
    process.stdin.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
  });
}

readScript()
  .then((text) => run(JSON.parse(text)))
  .then(
    () => {
      out({ type: "done" });
      process.exit(0);
    },
    (err) => {
      out({ type: "error", message: String(err && err.message ? err.message : err) });
      process.exit(2);
    },
  );
