// The Git server of the test environment, checked with the two clients sluice
// cares about: the git CLI (how users and the tests push) and isomorphic-git
// (how sluice's source controller fetches).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import git from 'isomorphic-git';
import http from 'isomorphic-git/http/node';
import { startGitServer, type GitRepo, type GitServer } from './env/git-server.ts';

const auth = { username: 'sluice', password: 'p4ss:w0rd/with%odd@chars' };

function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** The error's own `code`, or that of its cause chain (network errors nest). */
function errorCodes(err: unknown): string[] {
  const codes: string[] = [];
  let current: unknown = err;
  for (let depth = 0; depth < 5 && typeof current === 'object' && current !== null; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') codes.push(code);
    current = (current as { cause?: unknown }).cause;
  }
  return codes;
}

describe('git smart-HTTP server (git http-backend)', () => {
  let server: GitServer;
  let repo: GitRepo;
  const dirs: string[] = [];

  before(async () => {
    server = await startGitServer({ auth });
    repo = await server.createRepo('fleet');
  });

  after(async () => {
    await server.close();
    for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
  });

  let firstSha = '';
  let secondSha = '';

  test('pushes with the git CLI and fetches the same commits with isomorphic-git', async () => {
    firstSha = await repo.commitFiles(
      { 'apps/podinfo/deployment.yaml': 'kind: Deployment\nmetadata:\n  name: podinfo\n', 'README.md': 'fleet\n' },
      'add podinfo',
    );
    await repo.push();
    assert.match(firstSha, /^[0-9a-f]{40}$/);

    const dir = tempDir('sluice-isogit-');
    dirs.push(dir);
    await git.clone({
      fs,
      http,
      dir,
      url: repo.url,
      ref: 'main',
      singleBranch: true,
      onAuth: () => ({ username: auth.username, password: auth.password }),
    });
    assert.equal(await git.resolveRef({ fs, dir, ref: 'HEAD' }), firstSha);
    assert.equal(
      fs.readFileSync(path.join(dir, 'apps/podinfo/deployment.yaml'), 'utf8'),
      'kind: Deployment\nmetadata:\n  name: podinfo\n',
    );

    // A second commit that changes one file and deletes another.
    secondSha = await repo.commitFiles(
      { 'apps/podinfo/deployment.yaml': 'kind: Deployment\nmetadata:\n  name: podinfo\n  labels: {v: "2"}\n', 'README.md': null },
      'podinfo v2',
    );
    await repo.push();
    assert.notEqual(secondSha, firstSha);

    const fetched = await git.fetch({
      fs,
      http,
      dir,
      ref: 'main',
      singleBranch: true,
      onAuth: () => ({ username: auth.username, password: auth.password }),
    });
    assert.equal(fetched.fetchHead, secondSha);
    assert.equal(await git.resolveRef({ fs, dir, ref: 'refs/remotes/origin/main' }), secondSha);
    const commit = await git.readCommit({ fs, dir, oid: secondSha });
    assert.deepEqual(commit.commit.parent, [firstSha]);
    const blob = await git.readBlob({ fs, dir, oid: secondSha, filepath: 'apps/podinfo/deployment.yaml' });
    assert.equal(Buffer.from(blob.blob).toString('utf8'), 'kind: Deployment\nmetadata:\n  name: podinfo\n  labels: {v: "2"}\n');
    await assert.rejects(
      git.readBlob({ fs, dir, oid: secondSha, filepath: 'README.md' }),
      (err: unknown) => errorCodes(err).includes('NotFoundError'),
    );

    // The bare repository on the server agrees with the CLI.
    assert.equal((await repo.git('ls-remote', 'origin', 'refs/heads/main')).split('\t')[0], secondSha);
  });

  test('rejects a wrong password and a missing one with HTTP 401', async () => {
    const dir = tempDir('sluice-isogit-badauth-');
    dirs.push(dir);
    const wrong = await git
      .clone({ fs, http, dir, url: repo.url, onAuth: () => ({ username: auth.username, password: 'wrong' }) })
      .then(() => null, (err: unknown) => err);
    assert.ok(wrong instanceof Error, 'clone with a wrong password must fail');
    assert.equal((wrong as Error & { code?: string }).code, 'HttpError');
    assert.equal((wrong as Error & { data?: { statusCode?: number } }).data?.statusCode, 401);

    const res = await fetch(`${repo.url}/info/refs?service=git-upload-pack`);
    assert.equal(res.status, 401);
    assert.match(res.headers.get('www-authenticate') ?? '', /^Basic realm=/);
    await res.body?.cancel();
  });

  test('is unreachable while stopped, and serves the same repositories after start', async () => {
    const dir = tempDir('sluice-isogit-outage-');
    dirs.push(dir);
    await server.stop();
    assert.equal(server.listening, false);
    const down = await git
      .clone({ fs, http, dir, url: repo.url, onAuth: () => auth })
      .then(() => null, (err: unknown) => err);
    assert.ok(down instanceof Error, 'clone from a stopped server must fail');
    assert.ok(errorCodes(down).includes('ECONNREFUSED'), `want ECONNREFUSED, got ${errorCodes(down).join(', ')}: ${down.message}`);
    await assert.rejects(repo.push(), /Could not connect|Connection refused|Failed to connect/i);

    await server.start();
    assert.equal(server.listening, true);
    fs.rmSync(dir, { recursive: true, force: true });
    fs.mkdirSync(dir);
    await git.clone({ fs, http, dir, url: repo.url, ref: 'main', singleBranch: true, onAuth: () => auth });
    assert.equal(await git.resolveRef({ fs, dir, ref: 'HEAD' }), secondSha);

    // Pushing works again too.
    const third = await repo.commitFiles({ 'apps/podinfo/deployment.yaml': 'kind: Deployment\n' }, 'v3');
    await repo.push();
    const refs = await git.listServerRefs({ http, url: repo.url, prefix: 'refs/heads/', onAuth: () => auth });
    assert.deepEqual(refs.map((r) => [r.ref, r.oid]), [['refs/heads/main', third]]);
  });
});
