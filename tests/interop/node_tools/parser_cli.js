#!/usr/bin/env node
// Differential-test oracle: one JSON request per stdin line, one JSON answer per stdout line,
// computed by the official socket.io-parser / engine.io-parser / socket.io-msgpack-parser.
// Binary as {"b64": "..."}.
// Never crashes on bad input: the answer carries "error".
"use strict";

const readline = require("node:readline");
const { requireTwin, toJson, fromJson, emitLine } = require("./common");

const sio = requireTwin("socket.io-parser");
const eio = requireTwin("engine.io-parser");
const msgpackParser = requireTwin("socket.io-msgpack-parser");

// socket.io-parser turns BINARY_EVENT/BINARY_ACK into EVENT/ACK and deletes `attachments` once
// the buffers are in; `wire_type` and `attachments` report what the header said.
function renderSioPacket(packet, header) {
  return {
    type: packet.type,
    wire_type: header ? header.wireType : packet.type,
    nsp: packet.nsp,
    id: packet.id === undefined ? null : packet.id,
    data: packet.data === undefined ? null : toJson(packet.data),
    attachments: header ? header.attachments : packet.attachments === undefined ? null : packet.attachments,
  };
}

function sioDecode(req) {
  const decoder = new sio.Decoder(req.maxAttachments ? { maxAttachments: req.maxAttachments } : undefined);
  const packets = [];
  let header = null;
  decoder.on("decoded", (packet) => {
    packets.push(renderSioPacket(packet, header));
    header = null;
  });
  let error = null;
  try {
    if (!Array.isArray(req.frames)) throw new Error("frames must be a list");
    for (const frame of req.frames) {
      const isText = typeof frame === "string";
      decoder.add(isText ? frame : fromJson(frame));
      if (isText && decoder.reconstructor) {
        const pack = decoder.reconstructor.reconPack;
        header = { wireType: pack.type === sio.PacketType.EVENT ? sio.PacketType.BINARY_EVENT : sio.PacketType.BINARY_ACK, attachments: pack.attachments };
      }
    }
  } catch (err) {
    error = String(err && err.message ? err.message : err);
  }
  const incomplete = Boolean(decoder.reconstructor);
  return { packets, error, incomplete };
}

function sioEncode(req) {
  const p = req.packet || {};
  const packet = { type: p.type, nsp: p.nsp === undefined ? "/" : p.nsp };
  if (p.id !== undefined && p.id !== null) packet.id = p.id;
  if (p.data !== undefined) packet.data = fromJson(p.data);
  const frames = new sio.Encoder().encode(packet);
  return { frames: frames.map((f) => (typeof f === "string" ? f : toJson(f))), error: null };
}

// socket.io-msgpack-parser: one binary frame is one packet; `undefined` fields render as null.
function msgpackDecode(req) {
  const decoder = new msgpackParser.Decoder();
  const packets = [];
  decoder.on("decoded", (packet) => packets.push({
    type: packet.type,
    nsp: packet.nsp,
    id: packet.id === undefined ? null : packet.id,
    data: packet.data === undefined ? null : toJson(packet.data),
  }));
  let error = null;
  try {
    decoder.add(fromJson(req.frame));
  } catch (err) {
    error = String(err && err.message ? err.message : err);
  }
  return { packets, error };
}

// Keys in socket.io's order: type, data, nsp, id (absent ones left out).
function msgpackEncode(req) {
  const p = req.packet || {};
  const packet = { type: p.type };
  if (p.data !== undefined && p.data !== null) packet.data = fromJson(p.data);
  packet.nsp = p.nsp === undefined ? "/" : p.nsp;
  if (p.id !== undefined && p.id !== null) packet.id = p.id;
  const frames = new msgpackParser.Encoder().encode(packet);
  return { frames: frames.map((f) => (typeof f === "string" ? f : toJson(f))), error: null };
}

const renderEioPacket = (packet) => {
  const out = { type: packet.type };
  if (packet.data !== undefined) out.data = toJson(packet.data);
  return out;
};
const readEioPacket = (p) => {
  const packet = { type: p.type };
  if (p.data !== undefined) packet.data = fromJson(p.data);
  return packet;
};

function eioDecodePayload(req) {
  if (typeof req.payload !== "string") throw new Error("payload must be a string");
  return { packets: eio.decodePayload(req.payload, "nodebuffer").map(renderEioPacket), error: null };
}

function eioEncodePayload(req) {
  if (!Array.isArray(req.packets)) throw new Error("packets must be a list");
  let payload;
  eio.encodePayload(req.packets.map(readEioPacket), (encoded) => (payload = encoded));
  return { payload, error: null };
}

function eioDecodePacket(req) {
  const input = typeof req.packet === "string" ? req.packet : fromJson(req.packet);
  if (typeof input !== "string" && !Buffer.isBuffer(input)) throw new Error("packet must be a string or {b64}");
  return { packet: renderEioPacket(eio.decodePacket(input, "nodebuffer")), error: null };
}

function eioEncodePacket(req) {
  let packet;
  const supportsBinary = req.supportsBinary !== false;
  eio.encodePacket(readEioPacket(req.packet || {}), supportsBinary, (encoded) => (packet = encoded));
  return { packet: typeof packet === "string" ? packet : toJson(packet), error: null };
}

const OPS = {
  sio_decode: sioDecode,
  sio_encode: sioEncode,
  msgpack_decode: msgpackDecode,
  msgpack_encode: msgpackEncode,
  eio_decode_payload: eioDecodePayload,
  eio_encode_payload: eioEncodePayload,
  eio_decode_packet: eioDecodePacket,
  eio_encode_packet: eioEncodePacket,
};

function answer(line) {
  let req;
  try {
    req = JSON.parse(line);
  } catch (err) {
    return { error: `bad JSON: ${err.message}` };
  }
  const op = req && OPS[req.op];
  if (!op) return { error: `unknown op: ${JSON.stringify(req && req.op)}` };
  try {
    return op(req);
  } catch (err) {
    return { error: String(err && err.message ? err.message : err) };
  }
}

const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
rl.on("line", (line) => {
  if (line.trim() === "") return;
  emitLine(answer(line));
});
