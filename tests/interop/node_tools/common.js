// Shared helpers for the Node tools: load packages from the Node twin's node_modules (so the
// tools run from any working directory) and map binary data to/from JSON as {"b64": "..."}.
"use strict";

const path = require("node:path");
const { createRequire } = require("node:module");

const TWIN_DIR = process.env.WSBENCH_NODE_DIR || path.resolve(__dirname, "../../../reference_server/node");
const requireTwin = createRequire(path.join(TWIN_DIR, "package.json"));

const isBinary = (v) => Buffer.isBuffer(v) || v instanceof ArrayBuffer || ArrayBuffer.isView(v);

function toBuffer(v) {
  if (Buffer.isBuffer(v)) return v;
  if (v instanceof ArrayBuffer) return Buffer.from(v);
  return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
}

/** Render a value for JSON output: every binary value becomes {"b64": "..."}. */
function toJson(value) {
  if (isBinary(value)) return { b64: toBuffer(value).toString("base64") };
  if (Array.isArray(value)) return value.map(toJson);
  if (value !== null && typeof value === "object") {
    const out = {};
    for (const [k, v] of Object.entries(value)) out[k] = toJson(v);
    return out;
  }
  return value;
}

/** Read a value from JSON input: an object whose only key is a string "b64" becomes a Buffer. */
function fromJson(value) {
  if (Array.isArray(value)) return value.map(fromJson);
  if (value !== null && typeof value === "object") {
    const keys = Object.keys(value);
    if (keys.length === 1 && keys[0] === "b64" && typeof value.b64 === "string") {
      return Buffer.from(value.b64, "base64");
    }
    const out = {};
    for (const [k, v] of Object.entries(value)) out[k] = fromJson(v);
    return out;
  }
  return value;
}

/** Write one JSON line to stdout. */
function emitLine(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

module.exports = { requireTwin, toJson, fromJson, emitLine, isBinary, TWIN_DIR };
