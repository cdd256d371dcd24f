// File reading on Node.js: fs.readFile (callback form), for one big file
// or many small ones with FS_IN_FLIGHT at a time. Content comes as a Buffer,
// or with FS_NODE_STRING=1 as a string (latin1: every byte one character),
// which is what a Lua readFile gives.
// Prints the same result line as measure.lua.
'use strict';
const fs = require('fs');
const { performance } = require('perf_hooks');

const TEST = process.env.FS_TEST || 'big';
const AS_STRING = process.env.FS_NODE_STRING === '1';
const IMPL = AS_STRING ? 'node_string' : 'node';
const read = (path, cb) => (AS_STRING ? fs.readFile(path, 'latin1', cb) : fs.readFile(path, cb));
const SMALL_N = Number(process.env.FS_SMALL_N) || 10000;
const IN_FLIGHT = Number(process.env.FS_IN_FLIGHT) || 64;
const smallPath = (i) => `${process.env.FS_SMALL_DIR}/f${String(i - 1).padStart(5, '0')}`;

let bytes = 0;
let count = 0;
const t0 = performance.now();
function report() {
  const ms = performance.now() - t0;
  console.log(`result impl=${IMPL} test=${TEST} ms=${ms.toFixed(1)} bytes=${bytes} count=${count}`);
}

if (TEST === 'big') {
  read(process.env.FS_BIG, (err, content) => {
    if (err) throw err;
    bytes += content.length;
    count++;
    report();
  });
} else {
  let started = 0;
  const startNext = () => {
    if (started === SMALL_N) return;
    started++;
    read(smallPath(started), (err, content) => {
      if (err) throw err;
      bytes += content.length;
      count++;
      if (count === SMALL_N) report();
      else startNext();
    });
  };
  for (let i = 0; i < IN_FLIGHT; i++) startNext();
}
