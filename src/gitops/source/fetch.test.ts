// GitFetcher against the real Git server of the test environment (git
// http-backend): refs, caching, ignore rules, limits, failures, TLS and
// tokens. No Kubernetes needed.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { ErrorCodes, SluiceError, type ErrorCode } from '../../errors.ts';
import { startGitServer, type GitRepo, type GitServer } from '../../../test/env/git-server.ts';
import { startTcpProxy } from '../../../test/env/tcp-proxy.ts';
import { parseGitCredentials } from './credentials.ts';
import { GitFetcher, URL_RULE_MESSAGE, type FetchRequest } from './fetch.ts';

const execFileAsync = promisify(execFile);
const auth = { username: 'sluice', password: 's3cret-p4ss' };
const credentials = { basic: auth };
const MiB = 1024 * 1024;

function text(bytes: Uint8Array | undefined): string | undefined {
  return bytes === undefined ? undefined : Buffer.from(bytes).toString('utf8');
}

function failsWith(code: ErrorCode, pattern?: RegExp): (error: unknown) => boolean {
  return (error) => {
    assert.ok(error instanceof SluiceError, `want SluiceError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    if (pattern) assert.match(`${error.message}; ${error.hint ?? ''}`, pattern);
    assert.ok(!error.message.includes(auth.password), 'the password must not appear in errors');
    return true;
  };
}

describe('GitFetcher with a real git http-backend', () => {
  let server: GitServer;
  let repo: GitRepo;
  let cacheDir: string;
  let fetcher: GitFetcher;
  const base = (): FetchRequest => ({ url: repo.url, credentials, maxSizeBytes: 10 * MiB, timeoutMs: 20_000 });

  before(async () => {
    server = await startGitServer({ auth });
    repo = await server.createRepo('fleet');
    cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-fetch-test-'));
    fetcher = new GitFetcher({ cacheDir });
  });
  after(async () => {
    await server.close();
    fs.rmSync(cacheDir, { recursive: true, force: true });
  });

  let first = '';
  test('fetches the default branch; the revision names branch and commit; default exclusions apply', async () => {
    first = await repo.commitFiles({
      'apps/app.yaml': 'kind: ConfigMap\n', 'README.md': 'hi\n', '.gitignore': 'x\n', 'logo.png': 'png',
      '.github/workflows/ci.yaml': 'on: push\n', 'empty.txt': '',
    }, 'first');
    await repo.push();
    const outcome = await fetcher.fetch(base());
    assert.equal(outcome.artifact.revision, `main@sha1:${first}`);
    assert.deepEqual([...outcome.artifact.files.keys()].sort(), ['README.md', 'apps/app.yaml', 'empty.txt']);
    assert.equal(text(outcome.artifact.files.get('apps/app.yaml')), 'kind: ConfigMap\n');
    assert.equal(outcome.artifact.size, 'kind: ConfigMap\n'.length + 'hi\n'.length);
    assert.match(outcome.artifact.digest, /^sha256:[0-9a-f]{64}$/);
    assert.ok(outcome.changed && outcome.downloaded);
  });

  test('the same revision does no further work; a new commit downloads only what is new', async () => {
    const firstOutcome = await fetcher.fetch(base());
    const again = await fetcher.fetch({ ...base(), current: { artifact: firstOutcome.artifact, ignore: undefined } });
    assert.equal(again.changed, false);
    assert.equal(again.downloaded, false);
    assert.equal(again.artifact, firstOutcome.artifact);
    // Without `current`, the objects come from the cache: no pack download.
    const cached = await fetcher.fetch(base());
    assert.equal(cached.downloaded, false);
    assert.equal(cached.artifact.digest, firstOutcome.artifact.digest);

    const second = await repo.commitFiles({ 'apps/app.yaml': 'kind: ConfigMap\nv: 2\n' }, 'second');
    await repo.push();
    const next = await fetcher.fetch({ ...base(), current: { artifact: firstOutcome.artifact, ignore: undefined } });
    assert.equal(next.artifact.revision, `main@sha1:${second}`);
    assert.ok(next.changed && next.downloaded);
    assert.notEqual(next.artifact.digest, firstOutcome.artifact.digest);
    // A changed spec.ignore rebuilds the artifact for the same revision.
    const reignored = await fetcher.fetch({ ...base(), ignore: 'README.md\n', current: { artifact: next.artifact, ignore: undefined } });
    assert.equal(reignored.changed, true);
    assert.equal(reignored.artifact.files.has('README.md'), false);
  });

  test('tags (lightweight and annotated) and semver ranges', async () => {
    await repo.git('tag', 'v1.0.0');
    const annotated = await repo.commitFiles({ 'apps/app.yaml': 'v: 1.1\n' }, 'v1.1');
    await repo.git('tag', '-a', 'v1.1.0', '-m', 'release 1.1.0');
    await repo.commitFiles({ 'apps/app.yaml': 'v: 2.0-rc\n' }, 'v2 rc');
    await repo.git('tag', 'v2.0.0-rc.1');
    await repo.push();
    await repo.git('push', '-q', 'origin', '--tags');

    const tag = await fetcher.fetch({ ...base(), ref: { tag: 'v1.1.0' } });
    assert.equal(tag.artifact.revision, `v1.1.0@sha1:${annotated}`);
    assert.equal(text(tag.artifact.files.get('apps/app.yaml')), 'v: 1.1\n');
    const semver = await fetcher.fetch({ ...base(), ref: { semver: '^1.0.0' } });
    assert.equal(semver.artifact.revision, `v1.1.0@sha1:${annotated}`);
    const pre = await fetcher.fetch({ ...base(), ref: { semver: '>=1.0.0-0' } });
    assert.match(pre.artifact.revision, /^v2\.0\.0-rc\.1@sha1:/);
    await assert.rejects(fetcher.fetch({ ...base(), ref: { semver: '>=3.0.0' } }), failsWith(ErrorCodes.GitRefNotFound, /no tag matches semver range ">=3\.0\.0"/));
    await assert.rejects(fetcher.fetch({ ...base(), ref: { tag: 'v9.9.9' } }), failsWith(ErrorCodes.GitRefNotFound, /tag "v9\.9\.9" does not exist/));
    await assert.rejects(fetcher.fetch({ ...base(), ref: { branch: 'nope' } }), failsWith(ErrorCodes.GitRefNotFound, /branch "nope"/));
  });

  test('a pinned commit deep in the history, with and without its branch', async () => {
    const pinned = await fetcher.fetch({ ...base(), ref: { commit: first } });
    assert.equal(pinned.artifact.revision, `sha1:${first}`);
    assert.equal(text(pinned.artifact.files.get('apps/app.yaml')), 'kind: ConfigMap\n');
    const onMain = await fetcher.fetch({ ...base(), ref: { branch: 'main', commit: first } });
    assert.equal(onMain.artifact.revision, `main@sha1:${first}`);

    // A commit that exists only on another branch is not on main.
    await repo.git('checkout', '-q', '-b', 'side');
    const side = await repo.commitFiles({ 'side.yaml': 'side\n' }, 'side');
    await repo.git('push', '-q', 'origin', 'side~0:refs/heads/side');
    await repo.git('checkout', '-q', 'main');
    await repo.commitFiles({ 'main-only.yaml': 'x\n' }, 'main moves on');
    await repo.push();
    await assert.rejects(fetcher.fetch({ ...base(), ref: { branch: 'main', commit: side } }), failsWith(ErrorCodes.GitRefNotFound, /not (on branch "main"|in the history)/));
    const sideOk = await fetcher.fetch({ ...base(), ref: { branch: 'side', commit: side } });
    assert.equal(sideOk.artifact.revision, `side@sha1:${side}`);
  });

  test('.sourceignore files and spec.ignore', async () => {
    const repo2 = await server.createRepo('ignores');
    await repo2.commitFiles({
      '.sourceignore': '*.md\n/local/\n',
      'apps/.sourceignore': '!KEEP.md\nsecret.yaml\n',
      'apps/KEEP.md': 'keep', 'apps/drop.md': 'drop', 'apps/secret.yaml': 's', 'apps/app.yaml': 'a',
      'local/x.yaml': 'x', 'deep/local/y.yaml': 'y', 'logo.png': 'png',
    }, 'ignores');
    await repo2.push();
    const outcome = await fetcher.fetch({ ...base(), url: repo2.url });
    assert.deepEqual([...outcome.artifact.files.keys()].sort(), ['.sourceignore', 'apps/.sourceignore', 'apps/KEEP.md', 'apps/app.yaml', 'deep/local/y.yaml']);
    // spec.ignore replaces the default exclusions (logo.png comes back) and overrides .sourceignore.
    const custom = await fetcher.fetch({ ...base(), url: repo2.url, ignore: '!apps/secret.yaml\n.sourceignore\n' });
    assert.deepEqual([...custom.artifact.files.keys()].sort(), ['apps/KEEP.md', 'apps/app.yaml', 'apps/secret.yaml', 'deep/local/y.yaml', 'logo.png']);
  });

  test('symlinks are refused unless ignored', async () => {
    const repo3 = await server.createRepo('links');
    await repo3.commitFiles({ 'apps/app.yaml': 'a' }, 'base');
    fs.symlinkSync('../../../etc/passwd', path.join(repo3.workdir, 'apps', 'passwd'));
    await repo3.git('add', '-A');
    await repo3.git('commit', '-q', '-m', 'link');
    await repo3.push();
    await assert.rejects(fetcher.fetch({ ...base(), url: repo3.url }), failsWith(ErrorCodes.GitUnsafePath, /"apps\/passwd".*symbolic link/));
    const ignored = await fetcher.fetch({ ...base(), url: repo3.url, ignore: 'passwd\n' });
    assert.deepEqual([...ignored.artifact.files.keys()], ['apps/app.yaml']);
  });

  test('size limits: the download and the unpacked files', async () => {
    const big = await server.createRepo('big');
    // Random bytes do not compress: the download itself crosses the limit.
    fs.writeFileSync(path.join(big.workdir, 'random.dat'), randomBytes(600_000));
    await big.git('add', '-A');
    await big.git('commit', '-q', '-m', 'random');
    await big.push();
    await assert.rejects(fetcher.fetch({ ...base(), url: big.url, maxSizeBytes: 200_000 }), failsWith(ErrorCodes.GitTooLarge, /download exceeded the size limit of 200000 bytes/));

    // Zeros compress to almost nothing: the tree read catches it.
    const zeros = await server.createRepo('zeros');
    await zeros.commitFiles({ 'zeros.yaml': '0'.repeat(2 * MiB) }, 'zeros');
    await zeros.push();
    await assert.rejects(fetcher.fetch({ ...base(), url: zeros.url, maxSizeBytes: MiB }), failsWith(ErrorCodes.GitTooLarge, /exceed the size limit of 1048576 bytes \(reached at zeros\.yaml\)/));
    const fits = await fetcher.fetch({ ...base(), url: zeros.url, maxSizeBytes: 3 * MiB });
    assert.equal(fits.artifact.size, 2 * MiB);
  });

  test('auth failure, unknown repository, unreachable server, bad URLs', async () => {
    await assert.rejects(fetcher.fetch({ ...base(), credentials: { basic: { username: 'sluice', password: 'wrong' } }, secretName: 'git-auth' }),
      failsWith(ErrorCodes.GitAuthFailed, /authentication to .* failed \(HTTP 401.*Secret git-auth/));
    await assert.rejects(fetcher.fetch({ ...base(), credentials: undefined }), failsWith(ErrorCodes.GitAuthFailed, /set spec\.secretRef/));
    await assert.rejects(fetcher.fetch({ ...base(), url: `${server.url}/missing.git` }), failsWith(ErrorCodes.GitRepositoryNotFound, /not found \(HTTP 404/));
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    await assert.rejects(fetcher.fetch({ ...base(), url: `http://127.0.0.1:${port}/x.git` }), failsWith(ErrorCodes.GitUnreachable, /connection refused \(ECONNREFUSED\)/));
    await assert.rejects(fetcher.fetch({ ...base(), url: 'git@github.com:org/repo.git' }), failsWith(ErrorCodes.SpecInvalid, new RegExp(URL_RULE_MESSAGE.replace(/[.()]/g, '\\$&'))));
    await assert.rejects(fetcher.fetch({ ...base(), url: 'ssh://git@github.com/org/repo.git' }), failsWith(ErrorCodes.SpecInvalid, /SSH URLs/));
    await assert.rejects(fetcher.fetch({ ...base(), url: `http://u:tok@127.0.0.1:${port}/x.git` }),
      (error: unknown) => error instanceof SluiceError && error.code === ErrorCodes.SpecInvalid && !error.message.includes('tok') && /credentials in it/.test(error.message));
  });

  test('a server that stops answering fails with GitTimeout at the deadline', async () => {
    const proxy = await startTcpProxy('127.0.0.1', Number(new URL(server.url).port));
    try {
      proxy.silence();
      const started = Date.now();
      await assert.rejects(fetcher.fetch({ ...base(), url: `http://127.0.0.1:${proxy.port}/fleet.git`, timeoutMs: 1_500 }),
        failsWith(ErrorCodes.GitTimeout, /took longer than the timeout of 1\.5s/));
      const elapsed = Date.now() - started;
      assert.ok(elapsed >= 1_400 && elapsed < 5_000, `gave up after ${elapsed} ms`);
    } finally {
      await proxy.close();
    }
  });

  test('a damaged cache directory is rebuilt', async () => {
    const outcome = await fetcher.fetch(base());
    const gitdir = fetcher.gitdirFor(repo.url, 'shallow');
    const packDir = path.join(gitdir, 'objects', 'pack');
    for (const file of fs.readdirSync(packDir)) fs.rmSync(path.join(packDir, file));
    const rebuilt = await fetcher.fetch(base());
    assert.equal(rebuilt.artifact.digest, outcome.artifact.digest);
    assert.equal(rebuilt.downloaded, true);
  });

  test('HTTPS with a private CA (ca.crt) and a bearer token', async (t) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-tls-'));
    t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
    const file = (name: string): string => path.join(dir, name);
    const openssl = (...args: string[]) => execFileAsync('openssl', args);
    await openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', file('ca.key'), '-out', file('ca.crt'), '-days', '1', '-subj', '/CN=sluice test CA');
    await openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', file('server.key'), '-out', file('server.csr'), '-subj', '/CN=127.0.0.1');
    fs.writeFileSync(file('ext.cnf'), 'subjectAltName=IP:127.0.0.1\n');
    await openssl('x509', '-req', '-in', file('server.csr'), '-CA', file('ca.crt'), '-CAkey', file('ca.key'), '-CAcreateserial', '-out', file('server.crt'), '-days', '1', '-extfile', file('ext.cnf'));

    // A TLS front for the git server that wants a bearer token and passes basic auth on.
    const upstream = new URL(server.url);
    const token = 'bearer-t0ken';
    const front = https.createServer({ key: fs.readFileSync(file('server.key')), cert: fs.readFileSync(file('server.crt')) }, (req, res) => {
      if (req.headers.authorization !== `Bearer ${token}`) {
        req.resume();
        res.writeHead(401, { 'www-authenticate': 'Bearer' }).end();
        return;
      }
      const headers = { ...req.headers, host: upstream.host, authorization: `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}` };
      const proxied = http.request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      });
      req.pipe(proxied);
    });
    await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
    t.after(() => new Promise<void>((resolve) => {
      front.closeAllConnections();
      front.close(() => resolve());
    }));
    const url = `https://127.0.0.1:${(front.address() as AddressInfo).port}/fleet.git`;

    await assert.rejects(fetcher.fetch({ ...base(), url, credentials: { bearerToken: token } }), failsWith(ErrorCodes.GitUnreachable, /TLS connection to .* failed.*ca\.crt/));
    const secretData = new Map([['bearerToken', Buffer.from(token)], ['ca.crt', fs.readFileSync(file('ca.crt'))]]);
    const outcome = await fetcher.fetch({ ...base(), url, credentials: parseGitCredentials(secretData, 'Secret test/tls') });
    assert.match(outcome.artifact.revision, /^main@sha1:[0-9a-f]{40}$/);
    const wrongToken = new Map([['bearerToken', Buffer.from('nope')], ['ca.crt', fs.readFileSync(file('ca.crt'))]]);
    await assert.rejects(fetcher.fetch({ ...base(), url, credentials: parseGitCredentials(wrongToken, 'Secret test/tls') }), failsWith(ErrorCodes.GitAuthFailed));
  });
});
