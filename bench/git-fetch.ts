// Benchmark (not a test): fetching a repository of 1,000 files with sluice's
// GitFetcher (isomorphic-git, shallow, objects read into memory) next to
// `git clone --depth 1` of the same repository from the same local server
// (git http-backend). Prints medians and the ratio.
//
//   source scripts/env.sh && node bench/git-fetch.ts [--files 1000] [--runs 7]
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { promisify } from 'node:util';
import { GitFetcher } from '../src/gitops/source/fetch.ts';
import { startGitServer } from '../test/env/git-server.ts';

const execFileAsync = promisify(execFile);
const { values } = parseArgs({ options: { files: { type: 'string', default: '1000' }, runs: { type: 'string', default: '7' } } });
const fileCount = Number(values.files);
const runs = Number(values.runs);

function manifest(i: number): string {
  // About 1 KB of realistic, not trivially compressible YAML per file.
  return `apiVersion: v1
kind: ConfigMap
metadata:
  name: config-${i}
  namespace: team-${i % 20}
  labels: {app: app-${i}, tier: "${['web', 'api', 'worker'][i % 3] ?? 'web'}"}
data:
${Array.from({ length: 12 }, (_, k) => `  key-${k}: "${(i * 7919 + k * 104729).toString(36)}-${Math.random().toString(36).slice(2)}"`).join('\n')}
`;
}

function median(samples: number[]): number {
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] ?? 0 : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

async function time(fn: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await fn();
  return performance.now() - started;
}

const server = await startGitServer();
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-bench-git-'));
try {
  const repo = await server.createRepo('bench');
  const files: Record<string, string> = {};
  for (let i = 0; i < fileCount; i++) files[`apps/team-${i % 20}/config-${i}.yaml`] = manifest(i);
  await repo.commitFiles(files, `${fileCount} files`);
  await repo.push();
  const totalBytes = Object.values(files).reduce((sum, text) => sum + Buffer.byteLength(text), 0);
  const gitEnv = { ...process.env, GIT_CONFIG_NOSYSTEM: '1', HOME: work, GIT_TERMINAL_PROMPT: '0' };
  const request = { url: repo.url, maxSizeBytes: 512 * 1024 * 1024, timeoutMs: 120_000 };

  // One warm-up of each, so neither pays for first-time process or JIT costs in the figures.
  await new GitFetcher({ cacheDir: path.join(work, 'warm-iso') }).fetch(request);
  await execFileAsync('git', ['clone', '-q', '--depth', '1', repo.url, path.join(work, 'warm-cli')], { env: gitEnv });

  const iso: number[] = [];
  const cli: number[] = [];
  const cliBare: number[] = [];
  for (let run = 0; run < runs; run++) {
    iso.push(await time(() => new GitFetcher({ cacheDir: path.join(work, `iso-${run}`) }).fetch(request)));
    cli.push(await time(() => execFileAsync('git', ['clone', '-q', '--depth', '1', repo.url, path.join(work, `cli-${run}`)], { env: gitEnv })));
    cliBare.push(await time(() => execFileAsync('git', ['clone', '-q', '--depth', '1', '--bare', repo.url, path.join(work, `bare-${run}`)], { env: gitEnv })));
  }

  // What a poll costs afterwards: same revision (ref advertisement only), and one changed file.
  const fetcher = new GitFetcher({ cacheDir: path.join(work, 'steady') });
  const first = await fetcher.fetch(request);
  const noChange: number[] = [];
  for (let run = 0; run < runs; run++) {
    noChange.push(await time(() => fetcher.fetch({ ...request, current: { artifact: first.artifact, ignore: undefined } })));
  }
  const incremental: number[] = [];
  let current = first.artifact;
  for (let run = 0; run < runs; run++) {
    await repo.commitFiles({ [`apps/team-0/config-0.yaml`]: manifest(run + fileCount) }, `change ${run}`);
    await repo.push();
    incremental.push(await time(async () => {
      const outcome = await fetcher.fetch({ ...request, current: { artifact: current, ignore: undefined } });
      current = outcome.artifact;
    }));
  }

  const isoMs = median(iso);
  const cliMs = median(cli);
  // Median and fastest run: on a busy machine the fastest is the steadier estimate.
  const fmt = (samples: number[]) => `${median(samples).toFixed(0).padStart(5)} ms (fastest ${Math.min(...samples).toFixed(0)} ms)`;
  process.stdout.write([
    `repository: ${fileCount} files, ${(totalBytes / 1024).toFixed(0)} KiB, served by git http-backend on loopback; median of ${runs} runs`,
    `  sluice GitFetcher, cold cache (isomorphic-git shallow fetch + tree read into memory): ${fmt(iso)}`,
    `  git clone --depth 1 (with checkout):                                                ${fmt(cli)}`,
    `  git clone --depth 1 --bare (no checkout):                                           ${fmt(cliBare)}`,
    `  ratio sluice / git clone --depth 1: ${(isoMs / cliMs).toFixed(2)}x by median, ${(Math.min(...iso) / Math.min(...cli)).toFixed(2)}x by fastest run`,
    `  sluice poll, same revision (ref advertisement only):                               ${fmt(noChange)}`,
    `  sluice poll, one file changed (incremental pack + tree read):                      ${fmt(incremental)}`,
    `  peak RSS of this process: ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB`,
    '',
  ].join('\n'));
} finally {
  await server.close();
  fs.rmSync(work, { recursive: true, force: true });
}
