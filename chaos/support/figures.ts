/** One measured figure of the campaign. */
export interface Figure {
  scenario: string;
  name: string;
  value: number;
  unit?: string;
  /**
   * 'zero': must be 0, else the campaign fails. 'one': must be exactly 1 (e.g. results per challenge).
   * 'target': a goal to report against, not a failure. Absent: information.
   */
  expect?: 'zero' | 'one' | 'target-zero';
  note?: string;
}

export function failed(figure: Figure): boolean {
  if (figure.expect === 'zero') return figure.value !== 0;
  if (figure.expect === 'one') return figure.value !== 1;
  return false;
}

function verdict(figure: Figure): string {
  if (figure.expect === 'zero' || figure.expect === 'one') return failed(figure) ? 'FAIL' : 'ok';
  if (figure.expect === 'target-zero') return figure.value === 0 ? 'ok' : 'missed';
  return '';
}

function expectation(figure: Figure): string {
  switch (figure.expect) {
    case 'zero':
      return 'must be 0';
    case 'one':
      return 'must be 1';
    case 'target-zero':
      return 'target 0';
    default:
      return '';
  }
}

const shown = (figure: Figure) => `${figure.value}${figure.unit ? ` ${figure.unit}` : ''}`;

/** The figures as a plain-text table, for the terminal. */
export function textTable(figures: Figure[]): string {
  const rows = figures.map((f) => [f.scenario, f.name, shown(f), expectation(f), verdict(f)]);
  const header = ['scenario', 'figure', 'value', 'expected', 'verdict'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells: string[]) => cells.map((cell, i) => cell.padEnd(widths[i])).join('  ');
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

/** The figures as a Markdown table, for docs/RELIABILITY.md. */
export function markdownTable(figures: Figure[]): string {
  const escape = (text: string) => text.replace(/\|/g, '\\|');
  return [
    '| Scenario | Figure | Value | Expected | Verdict | Note |',
    '|---|---|---:|---|---|---|',
    ...figures.map(
      (f) =>
        `| ${f.scenario} | ${escape(f.name)} | ${shown(f)} | ${expectation(f)} | ${verdict(f)} | ${escape(f.note ?? '')} |`,
    ),
  ].join('\n');
}
