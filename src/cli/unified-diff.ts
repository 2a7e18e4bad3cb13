// A unified diff of two texts, line by line (LCS), with three lines of context.

type Op = { type: ' ' | '-' | '+'; line: string };

function diffOps(a: readonly string[], b: readonly string[]): Op[] {
  const n = a.length;
  const m = b.length;
  // lcs[i][j]: length of the longest common subsequence of a[i..] and b[j..].
  const lcs: Uint32Array[] = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i--) {
    const row = lcs[i] as Uint32Array;
    const next = lcs[i + 1] as Uint32Array;
    for (let j = m - 1; j >= 0; j--) {
      row[j] = a[i] === b[j] ? (next[j + 1] as number) + 1 : Math.max(next[j] as number, row[j + 1] as number);
    }
  }
  const ops: Op[] = [];
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    if (a[i] === b[j]) {
      ops.push({ type: ' ', line: a[i] as string });
      i++;
      j++;
    } else if ((lcs[i + 1]?.[j] ?? 0) >= (lcs[i]?.[j + 1] ?? 0)) {
      ops.push({ type: '-', line: a[i++] as string });
    } else {
      ops.push({ type: '+', line: b[j++] as string });
    }
  }
  while (i < n) ops.push({ type: '-', line: a[i++] as string });
  while (j < m) ops.push({ type: '+', line: b[j++] as string });
  return ops;
}

function splitLines(text: string): string[] {
  if (text === '') return [];
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}

/** "" when the texts are equal; otherwise ---/+++ headers and @@ hunks. */
export function unifiedDiff(before: string, after: string, options: { fromLabel: string; toLabel: string; context?: number }): string {
  const a = splitLines(before);
  const b = splitLines(after);
  const ops = diffOps(a, b);
  if (ops.every((op) => op.type === ' ')) return '';
  const context = options.context ?? 3;
  const out = [`--- ${options.fromLabel}`, `+++ ${options.toLabel}`];
  // Positions (in ops) of changes, grouped into hunks that share context.
  const changed = ops.map((op, k) => (op.type === ' ' ? -1 : k)).filter((k) => k >= 0);
  let start = 0;
  while (start < changed.length) {
    let end = start;
    while (end + 1 < changed.length && (changed[end + 1] as number) - (changed[end] as number) <= 2 * context) end++;
    const from = Math.max(0, (changed[start] as number) - context);
    const to = Math.min(ops.length, (changed[end] as number) + context + 1);
    let aLine = 1;
    let bLine = 1;
    for (const op of ops.slice(0, from)) {
      if (op.type !== '+') aLine++;
      if (op.type !== '-') bLine++;
    }
    const hunk = ops.slice(from, to);
    const aCount = hunk.filter((op) => op.type !== '+').length;
    const bCount = hunk.filter((op) => op.type !== '-').length;
    out.push(`@@ -${aCount === 0 ? aLine - 1 : aLine},${aCount} +${bCount === 0 ? bLine - 1 : bLine},${bCount} @@`);
    for (const op of hunk) out.push(`${op.type}${op.line}`);
    start = end + 1;
  }
  return `${out.join('\n')}\n`;
}
