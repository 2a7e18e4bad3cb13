import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { GitHttpResponse } from 'isomorphic-git';
import { ErrorCodes, SluiceError } from '../../errors.ts';
import { createGitHttpClient, redirectAllowed } from './transport.ts';

let server: http.Server;
let base = '';
const seen: { method: string; url: string; auth: string | undefined; body: string }[] = [];

before(async () => {
  server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (chunk: string) => { body += chunk; });
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', auth: req.headers.authorization, body });
      const url = req.url ?? '';
      if (url.startsWith('/old.git/info/refs')) res.writeHead(301, { location: `/new.git${url.slice('/old.git'.length)}` }).end();
      else if (url.startsWith('/away.git/')) res.writeHead(302, { location: 'http://elsewhere.invalid/repo.git/info/refs' }).end();
      else if (url.startsWith('/loop.git/')) res.writeHead(302, { location: url }).end();
      else if (url === '/big') res.end(Buffer.alloc(64 * 1024, 1));
      else if (url === '/slow') res.write('partial');
      else res.end(`${req.method} ${url}`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => new Promise<void>((resolve) => {
  server.closeAllConnections();
  server.close(() => resolve());
}));

async function bodyText(res: GitHttpResponse): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of res.body ?? []) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks).toString('utf8');
}

test('follows a same-origin redirect of info/refs and sends later requests to the new base', async () => {
  const client = createGitHttpClient({ signal: new AbortController().signal, maxResponseBytes: 1e6, headers: { authorization: 'Bearer t' } });
  const refs = await client.request({ url: `${base}/old.git/info/refs?service=git-upload-pack` });
  assert.equal(refs.statusCode, 200);
  assert.equal(refs.url, `${base}/new.git/info/refs?service=git-upload-pack`);
  assert.equal(await bodyText(refs), 'GET /new.git/info/refs?service=git-upload-pack');
  const pack = await client.request({ url: `${base}/old.git/git-upload-pack`, method: 'POST', body: [Buffer.from('want')] as unknown as AsyncIterableIterator<Uint8Array> });
  assert.equal(await bodyText(pack), 'POST /new.git/git-upload-pack');
  const post = seen.find((s) => s.method === 'POST');
  assert.equal(post?.body, 'want');
  assert.equal(post?.auth, 'Bearer t');
});

test('refuses redirects to other hosts and redirect loops', async () => {
  const client = createGitHttpClient({ signal: new AbortController().signal, maxResponseBytes: 1e6 });
  await assert.rejects(client.request({ url: `${base}/away.git/info/refs?service=git-upload-pack` }),
    (error: unknown) => error instanceof SluiceError && error.code === ErrorCodes.GitProtocolError && /elsewhere\.invalid/.test(error.message));
  await assert.rejects(client.request({ url: `${base}/loop.git/info/refs` }), (error: unknown) => error instanceof SluiceError && error.code === ErrorCodes.GitProtocolError);
  assert.ok(redirectAllowed(new URL('http://h/a'), new URL('https://h/a')));
  assert.ok(!redirectAllowed(new URL('https://h/a'), new URL('http://h/a')));
  assert.ok(!redirectAllowed(new URL('https://h/a'), new URL('https://g/a')));
});

test('stops reading at the byte limit with GitTooLarge', async () => {
  const client = createGitHttpClient({ signal: new AbortController().signal, maxResponseBytes: 10_000 });
  const res = await client.request({ url: `${base}/big` });
  await assert.rejects(bodyText(res), (error: unknown) => error instanceof SluiceError && error.code === ErrorCodes.GitTooLarge);
  assert.ok(client.bytesReceived > 10_000);
});

test('an abort surfaces its reason, during the request and while reading the body', async () => {
  const controller = new AbortController();
  const client = createGitHttpClient({ signal: controller.signal, maxResponseBytes: 1e6 });
  const res = await client.request({ url: `${base}/slow` });
  const reading = bodyText(res);
  const reason = new SluiceError(ErrorCodes.GitTimeout, 'deadline');
  controller.abort(reason);
  await assert.rejects(reading, (error: unknown) => error === reason);
  await assert.rejects(client.request({ url: `${base}/x` }), (error: unknown) => error === reason);
});
