// A small hand-written SVG writer for the benchmark chart: one panel per fleet size, one group of
// horizontal bars per scenario, one bar per tool and mode, on a logarithmic time axis (the
// figures span 0.01 s to tens of seconds). No dependency: the chart is ~100 lines of SVG text,
// and a charting library would be the largest thing in bench/.

const SERIES = [
  ['flotilla', 'warm', '#1b7f3b'],
  ['flotilla', 'cold', '#6cc48a'],
  ['browser', 'warm', '#1f5fa8'],
  ['browser', 'cold', '#7aa7dc'],
  ['ssh', 'warm', '#5a4a9a'],
  ['ssh', 'cold', '#a99ad8'],
  ['pssh', 'warm', '#a05a00'],
  ['pssh', 'cold', '#e0a050'],
  ['ansible', 'warm', '#8a1c1c'],
  ['ansible', 'cold', '#d77a7a'],
];
const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** Returns an SVG document for rows of { scenario, n, tool, mode, median }. */
export function chartSvg(rows, { title = 'Flotilla benchmark', subtitle = '' } = {}) {
  // Bulk transfers are throughput figures with their own table; the chart is about latency.
  const measured = rows.filter((r) => typeof r.median === 'number' && r.median > 0 && !r.scenario.startsWith('bulk'));
  const sizes = [...new Set(measured.map((r) => r.n))].sort((a, b) => a - b);
  const scenarios = [...new Set(measured.map((r) => r.scenario))];
  const present = SERIES.filter(([tool, mode]) => measured.some((r) => r.tool === tool && r.mode === mode));
  const lo = 0.01;
  const hi = 10 ** Math.ceil(Math.log10(Math.max(1, ...measured.map((r) => r.median))));
  const left = 90;
  const plotW = 560;
  const barH = 9;
  const x = (s) => left + (Math.log10(Math.max(lo, s) / lo) / Math.log10(hi / lo)) * plotW;
  const out = [];
  let y = 66;
  for (const n of sizes) {
    out.push(`<text x="10" y="${y}" font-weight="bold">N = ${n} hosts</text>`);
    y += 10;
    const top = y;
    for (const scenario of scenarios) {
      const group = present.map(([tool, mode, colour]) => ({
        tool,
        mode,
        colour,
        row: measured.find((r) => r.n === n && r.scenario === scenario && r.tool === tool && r.mode === mode),
      }));
      if (!group.some((g) => g.row)) continue;
      const h = group.length * barH + 8;
      out.push(`<text x="${left - 6}" y="${y + h / 2 + 4}" text-anchor="end">${esc(scenario)}</text>`);
      group.forEach((g, i) => {
        const by = y + 4 + i * barH;
        if (!g.row) return;
        const w = Math.max(1, x(g.row.median) - left);
        out.push(
          `<rect x="${left}" y="${by}" width="${w.toFixed(1)}" height="${barH - 1}" fill="${g.colour}"><title>${esc(`${g.tool} ${g.mode} ${scenario} N=${n}: ${g.row.median.toFixed(3)} s`)}</title></rect>`,
        );
        const failed = g.row.successes < g.row.attempts ? ` (${g.row.successes}/${g.row.attempts} ok)` : '';
        out.push(
          `<text x="${(left + w + 3).toFixed(1)}" y="${by + barH - 2}" font-size="8"${failed ? ' fill="#b00"' : ''}>${g.row.median < 1 ? g.row.median.toFixed(3) : g.row.median.toFixed(2)}${failed}</text>`,
        );
      });
      y += h;
    }
    for (let t = lo; t <= hi + 1e-9; t *= 10) {
      out.push(`<line x1="${x(t).toFixed(1)}" y1="${top}" x2="${x(t).toFixed(1)}" y2="${y}" stroke="#ccc" stroke-width="0.5"/>`);
      out.push(`<text x="${x(t).toFixed(1)}" y="${y + 11}" font-size="8" text-anchor="middle">${t >= 1 ? t.toFixed(0) : t.toFixed(2)} s</text>`);
    }
    y += 30;
  }
  const legendY = y;
  present.forEach(([tool, mode, colour], i) => {
    const lx = 10 + (i % 4) * 170;
    const ly = legendY + Math.floor(i / 4) * 14;
    out.push(`<rect x="${lx}" y="${ly - 8}" width="10" height="8" fill="${colour}"/><text x="${lx + 14}" y="${ly}">${esc(`${tool} ${mode}`)}</text>`);
  });
  const height = legendY + Math.ceil(present.length / 4) * 14 + 10;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${left + plotW + 60}" height="${height}" font-family="sans-serif" font-size="10">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="10" y="18" font-size="14" font-weight="bold">${esc(title)}</text>`,
    `<text x="10" y="34" font-size="9" fill="#444">${esc(subtitle)}</text>`,
    `<text x="10" y="46" font-size="9" fill="#444">median wall time, seconds, logarithmic scale (shorter is faster)</text>`,
    ...out,
    '</svg>',
    '',
  ].join('\n');
}
