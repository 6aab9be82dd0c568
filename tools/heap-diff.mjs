#!/usr/bin/env node
// What a process's heap gained between two heap snapshots (tools/leaks.mjs LEAKS_SNAPSHOTS,
// tools/bench/daemon-rss.mjs RSS_SNAPSHOTS), by node type and constructor name: count and self
// size, largest growth first. Per-run objects that stay (a Map's entries, listeners, timers)
// show up as counts that grow with the cycles between the two snapshots.
//   node tools/heap-diff.mjs a.heapsnapshot b.heapsnapshot [size|count] [rows]
import { readFileSync } from 'node:fs';
function load(p) {
  const s = JSON.parse(readFileSync(p, 'utf8'));
  const m = s.snapshot.meta;
  const f = m.node_fields;
  const n = f.length;
  const types = m.node_types[0];
  const ti = f.indexOf('type'),
    ni = f.indexOf('name'),
    si = f.indexOf('self_size');
  const out = new Map();
  for (let i = 0; i < s.nodes.length; i += n) {
    const type = types[s.nodes[i + ti]];
    let name = s.strings[s.nodes[i + ni]];
    if (type === 'string' || type === 'concatenated string' || type === 'sliced string') name = '(string)';
    if (type === 'number') name = '(number)';
    if (name.length > 80) name = name.slice(0, 80);
    const k = `${type}\t${name}`;
    const e = out.get(k) ?? { count: 0, size: 0 };
    e.count++;
    e.size += s.nodes[i + si];
    out.set(k, e);
  }
  return out;
}
const a = load(process.argv[2]),
  b = load(process.argv[3]);
const keys = new Set([...a.keys(), ...b.keys()]);
const rows = [];
for (const k of keys) {
  const x = a.get(k) ?? { count: 0, size: 0 },
    y = b.get(k) ?? { count: 0, size: 0 };
  rows.push({ k, dc: y.count - x.count, ds: y.size - x.size, c: y.count });
}
const by = process.argv[4] === 'count' ? 'dc' : 'ds';
rows.sort((p, q) => q[by] - p[by]);
let tot = 0;
for (const r of rows) tot += r.ds;
console.log('total self size delta', tot);
for (const r of rows.slice(0, Number(process.argv[5] ?? 40)))
  console.log(String(r.dc).padStart(8), String(r.ds).padStart(10), String(r.c).padStart(8), r.k);
