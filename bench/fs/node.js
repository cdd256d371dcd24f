// File reading on Node.js: fs.readFile (callback form), for one big file
// or many small ones with FS_IN_FLIGHT at a time.
// Prints the same result line as measure.lua.
'use strict';
const fs = require('fs');
const { performance } = require('perf_hooks');

const TEST = process.env.FS_TEST || 'big';
const SMALL_N = Number(process.env.FS_SMALL_N) || 10000;
const IN_FLIGHT = Number(process.env.FS_IN_FLIGHT) || 64;
const smallPath = (i) => `${process.env.FS_SMALL_DIR}/f${String(i - 1).padStart(5, '0')}`;

let bytes = 0;
let count = 0;
const t0 = performance.now();
function report() {
  const ms = performance.now() - t0;
  console.log(`result impl=node test=${TEST} ms=${ms.toFixed(1)} bytes=${bytes} count=${count}`);
}

if (TEST === 'big') {
  fs.readFile(process.env.FS_BIG, (err, content) => {
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
    fs.readFile(smallPath(started), (err, content) => {
      if (err) throw err;
      bytes += content.length;
      count++;
      if (count === SMALL_N) report();
      else startNext();
    });
  };
  for (let i = 0; i < IN_FLIGHT; i++) startNext();
}
