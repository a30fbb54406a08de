import { describe, expect, it } from 'vitest';
import { changeAxis, ciChart } from './ci-chart.ts';
import { tickLabelWidth } from './dot-plot.ts';
import { binValues, histogram } from './histogram.ts';
import { profileChart, type ProfileChartRow } from './profile-chart.ts';
import { assertWellFormed } from './well-formed.test-helper.ts';

const rows: ProfileChartRow[] = [
  { title: 'Communication', allOthers: { value: 3.5 }, self: { value: 4 }, manager: { value: 3 } },
  {
    title: 'Trust <script>alert(1)</script> & "more"',
    allOthers: { value: 2.25 },
    self: { value: 5 },
    manager: { suppressed: 'no response' },
  },
  {
    title: 'Delegation',
    allOthers: { suppressed: 'fewer than 4 responses' },
    self: { value: 3 },
    manager: { value: 2 },
  },
];

const bodyRows = (table: string) => (table.split('<tbody>')[1]?.match(/<tr>/g) ?? []).length;

describe('profileChart', () => {
  const chart = profileChart({ id: 'p1', rows, scale: { min: 1, max: 5 } });

  it('is well-formed SVG in both layouts, labelled by its title and description', () => {
    assertWellFormed(chart.svg);
    assertWellFormed(chart.table);
    assertWellFormed(chart.legend);
    expect(chart.svg.match(/<svg /g)).toHaveLength(2);
    expect(chart.svg).toContain('role="img" aria-labelledby="p1-wide-title p1-wide-desc"');
    expect(chart.svg).toContain('<title id="p1-narrow-title">Competency profile</title>');
    expect(chart.svg).toContain('viewBox="0 0 880 ');
  });

  it('escapes labels', () => {
    expect(chart.svg).not.toContain('<script>');
    expect(chart.table).not.toContain('<script>');
    expect(chart.svg).toContain('Trust &lt;script&gt;');
  });

  it('has one data-table row per competency, with words where a score is suppressed', () => {
    expect(bodyRows(chart.table)).toBe(rows.length);
    expect(chart.table).toContain('fewer than 4 responses');
    expect(chart.table).toContain('no response');
  });

  it('draws no marker for a suppressed score and never uses inline styles', () => {
    // Two layouts × (3 + 2 + 2) markers: circles for all others, diamonds (paths) for self, squares (rects).
    expect(chart.svg.match(/<circle /g)).toHaveLength(4);
    expect(chart.svg).not.toContain('style=');
  });
});

describe('ciChart', () => {
  it('draws intervals, a zero line and a table row per competency, suppressed ones in words', () => {
    const chart = ciChart({
      id: 'c',
      rows: [
        { title: 'A', mean: 0.2, ci: [0.05, 0.35] },
        { title: 'B', suppressed: 'fewer than 4 leaders' },
      ],
    });
    assertWellFormed(chart.svg);
    assertWellFormed(chart.table);
    expect(bodyRows(chart.table)).toBe(2);
    expect(chart.table).toContain('+0.20');
    expect(chart.table).toContain('fewer than 4 leaders');
    expect(chart.svg).toContain('stroke-dasharray');
  });

  it('picks an axis at quarter points that holds zero and every interval', () => {
    expect(changeAxis([0.05, 0.35])).toEqual({ min: -0.25, max: 0.5, ticks: [-0.25, 0, 0.25, 0.5] });
    expect(changeAxis([-1.1, 1.2]).ticks).toContain(0);
  });

  it('keeps the end tick labels of both layouts inside the chart (they were cut on phones)', () => {
    const chart = ciChart({ id: 'c', rows: [{ title: 'A', mean: 0.2, ci: [-0.05, 0.35] }] });
    for (const svg of chart.svg.split('</svg>').filter(Boolean)) {
      const width = Number(/viewBox="0 0 (\d+) /.exec(svg)?.[1]);
      const ticks = [
        ...svg.matchAll(/<text x="([\d.-]+)" y="[\d.]+" text-anchor="middle"[^>]*>([^<]+)<\/text>/g),
      ];
      expect(ticks.map((m) => m[2])).toEqual(['−0.25', '0.00', '+0.25', '+0.50']);
      for (const [, x, label] of ticks) {
        const half = tickLabelWidth(label!, 15) / 2;
        expect(Number(x) - half, `${label} at the left`).toBeGreaterThanOrEqual(0);
        expect(Number(x) + half, `${label} at the right`).toBeLessThanOrEqual(width);
      }
    }
  });
});

describe('histogram', () => {
  it('bins values with edges on multiples of the width', () => {
    expect(binValues([0.05, 0.12, 0.19, -0.05, 0.2], 0.1)).toEqual([
      { from: -0.1, to: 0, count: 1 },
      { from: 0, to: 0.1, count: 1 },
      { from: 0.1, to: 0.2, count: 2 },
      { from: 0.2, to: 0.3, count: 1 },
    ]);
    expect(binValues([], 0.1)).toEqual([]);
  });

  it('is well-formed with one table row per bin', () => {
    const bins = binValues([0.1, 0.2, 0.25, -0.3], 0.1);
    const chart = histogram({
      id: 'h',
      title: 'T <x>',
      description: 'D',
      bins,
      countLabel: 'n',
      valueLabel: 'change',
    });
    assertWellFormed(chart.svg);
    assertWellFormed(chart.table);
    expect(bodyRows(chart.table)).toBe(bins.length);
    expect(chart.svg).toContain('<title id="h-title">T &lt;x&gt;</title>');
  });
});
