import { describe, expect, it } from 'vitest';
import { coord, dataTable, escapeHtml, wrapLabel } from './svg.ts';
import { assertWellFormed } from './well-formed.test-helper.ts';

describe('escapeHtml', () => {
  it('escapes every character that could open markup or end an attribute', () => {
    expect(escapeHtml(`<script>alert("x")</script> & 'y' \`z\` a=b`)).toBe(
      '&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#x27;y&#x27; &#x60;z&#x60; a&#x3D;b',
    );
  });
  it('turns null and numbers into text', () => {
    expect(escapeHtml(null)).toBe('');
    expect(escapeHtml(3.5)).toBe('3.5');
  });
  it('leaves handlebars-like text inert (nothing evaluates it)', () => {
    expect(escapeHtml('{{7*7}}')).toBe('{{7*7}}');
  });
});

describe('coord', () => {
  it('rounds to two decimals without -0', () => {
    expect(coord(1.23456)).toBe('1.23');
    expect(coord(-0.001)).toBe('0');
  });
});

describe('wrapLabel', () => {
  it('keeps short labels on one line', () => {
    expect(wrapLabel('Communication', 30)).toEqual(['Communication']);
  });
  it('wraps on spaces and ends an overlong label with an ellipsis', () => {
    expect(wrapLabel('Goal setting and accountability', 20)).toEqual(['Goal setting and', 'accountability']);
    const lines = wrapLabel('one two three four five six seven eight nine ten', 10, 2);
    expect(lines).toHaveLength(2);
    expect(lines[1]!.endsWith('…')).toBe(true);
  });
});

describe('dataTable', () => {
  it('escapes captions, headers and cells and marks the first cell as the row header', () => {
    const html = dataTable({
      caption: 'A <b>caption</b>',
      columns: ['Name', 'Value'],
      rows: [[{ text: '<img src=x onerror=alert(1)>' }, { text: '4.00', numeric: true }]],
    });
    assertWellFormed(html);
    expect(html).not.toContain('<img');
    expect(html).toContain('<th scope="row">&lt;img');
    expect(html).toContain('<td class="num">4.00</td>');
  });
});
