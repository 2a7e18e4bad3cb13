// The Prometheus provider's boundary: prometheus-query's plain error objects
// become stable codes, and the HTTP details (auth, headers, timeouts, TLS,
// error bodies that are not Prometheus JSON) behave as documented. A small
// local HTTP server plays the far end; the real Prometheus is exercised by
// test/analysis-*.test.ts.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ErrorCodes, SluiceError, type ErrorCode } from '../../../errors.ts';
import { mapPrometheusError, parseQueryData, parseSampleValue, PrometheusProvider } from './prometheus.ts';
import type { ProviderConfig } from './provider.ts';

function isCode(code: ErrorCode, pattern?: RegExp) {
  return (error: unknown): boolean => {
    assert.ok(error instanceof SluiceError, `expected a SluiceError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    if (pattern) assert.match(error.message, pattern);
    return true;
  };
}

describe('mapPrometheusError (prometheus-query rejection objects)', () => {
  const at = { address: 'http://user:pw@prom:9090/?x=1', timeoutMs: 2000 };

  it('network errors are PrometheusUnavailable, retryable, without credentials in the message', () => {
    const error = mapPrometheusError({ status: 'error', errorType: 'network_error', error: 'connect ECONNREFUSED 10.0.0.1:9090', code: 'ECONNREFUSED' }, at);
    assert.equal(error.code, ErrorCodes.PrometheusUnavailable);
    assert.equal(error.retryable, true);
    assert.equal(error.message, 'cannot reach Prometheus at http://prom:9090: ECONNREFUSED connect ECONNREFUSED 10.0.0.1:9090');
  });

  it('timeouts are PrometheusUnavailable with the limit', () => {
    const error = mapPrometheusError({ status: 'error', errorType: 'timeout_error', error: 'timeout of 2000ms exceeded', code: 'ECONNABORTED' }, at);
    assert.equal(error.code, ErrorCodes.PrometheusUnavailable);
    assert.equal(error.message, 'no answer from Prometheus at http://prom:9090 within 2000 ms');
  });

  it('TLS verification failures say how to fix them and are not retryable', () => {
    const error = mapPrometheusError({ status: 'error', errorType: 'network_error', error: 'self-signed certificate', code: 'DEPTH_ZERO_SELF_SIGNED_CERT' }, at);
    assert.equal(error.code, ErrorCodes.PrometheusUnavailable);
    assert.equal(error.retryable, false);
    assert.match(error.hint ?? '', /insecureSkipVerify/);
  });

  it('HTTP errors map by status', () => {
    const http = (httpStatus: number, errorType = 'bad_data', message = 'parse error') => mapPrometheusError(
      { status: 'error', errorType: 'http_error', httpStatus, error: message, prometheus: { status: 'error', errorType, error: message } }, at);
    const bad = http(400);
    assert.deepEqual([bad.code, bad.status, bad.message], [ErrorCodes.PrometheusQueryError, 400, 'Prometheus at http://prom:9090 answered HTTP 400 (bad_data): parse error']);
    assert.equal(http(422, 'execution', 'many-to-many matching').code, ErrorCodes.PrometheusQueryError);
    assert.equal(http(401, 'http', 'Unauthorized').code, ErrorCodes.PrometheusAuthFailed);
    assert.equal(http(403, 'http', 'Forbidden').code, ErrorCodes.PrometheusAuthFailed);
    assert.equal(http(404, 'http', 'Not Found').code, ErrorCodes.PrometheusUnavailable);
    const timeout = http(503, 'timeout', 'query timed out in expression evaluation');
    assert.deepEqual([timeout.code, timeout.retryable], [ErrorCodes.PrometheusUnavailable, true]);
    assert.equal(http(502, 'http', 'Bad Gateway').code, ErrorCodes.PrometheusUnavailable);
  });

  it('a non-Prometheus answer and unknown shapes are mapped, not rethrown raw', () => {
    assert.equal(mapPrometheusError({ status: 'error', errorType: 'client_error', error: 'unexpected client error', data: '<html>' }, at).code, ErrorCodes.PrometheusUnavailable);
    assert.equal(mapPrometheusError(new TypeError('boom'), at).code, ErrorCodes.PrometheusQueryError);
    assert.equal(mapPrometheusError('Endpoint is required', at).code, ErrorCodes.PrometheusQueryError);
  });
});

describe('parsing answers', () => {
  it('keeps NaN and ±Inf, which Prometheus sends as strings', () => {
    assert.equal(parseSampleValue('+Inf'), Infinity);
    assert.equal(parseSampleValue('-Inf'), -Infinity);
    assert.ok(Number.isNaN(parseSampleValue('NaN')));
    assert.equal(parseSampleValue('1e3'), 1000);
    assert.throws(() => parseSampleValue('abc'), isCode(ErrorCodes.MetricResultInvalid));
    assert.throws(() => parseSampleValue(''), isCode(ErrorCodes.MetricResultInvalid));
  });

  it('parses each result type', () => {
    assert.deepEqual(parseQueryData({ resultType: 'vector', result: [{ metric: { a: 'b' }, value: [1, '+Inf'] }] }), {
      resultType: 'vector', series: [{ labels: { a: 'b' }, value: Infinity }],
    });
    assert.deepEqual(parseQueryData({ resultType: 'scalar', result: [1, '2.5'] }), { resultType: 'scalar', value: 2.5 });
    assert.deepEqual(parseQueryData({ resultType: 'matrix', result: [{ metric: {}, values: [[1, '1'], [2, '2']] }] }), {
      resultType: 'matrix', series: [{ labels: {}, samples: 2 }],
    });
    assert.deepEqual(parseQueryData({ resultType: 'string', result: [1, 'hi'] }), { resultType: 'string', value: 'hi' });
    // A native histogram sample has no [time, value] pair.
    assert.throws(
      () => parseQueryData({ resultType: 'vector', result: [{ metric: {}, histogram: [1, { count: '3' }] }] }),
      isCode(ErrorCodes.MetricResultInvalid, /not a \[time, value\] pair/),
    );
  });
});

// ---------------------------------------------------------------------------

interface Seen {
  url: string;
  headers: http.IncomingHttpHeaders;
}

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

const vector = (value: string) => JSON.stringify({ status: 'success', data: { resultType: 'vector', result: [{ metric: {}, value: [1700000000, value] }] } });

async function listen(server: http.Server | https.Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

function close(server: http.Server | https.Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

describe('PrometheusProvider over HTTP', () => {
  const seen: Seen[] = [];
  let handler: Handler = (_req, res) => res.end(vector('1'));
  let server: http.Server;
  let base: string;
  const config = (extra: Partial<ProviderConfig> = {}): ProviderConfig => ({ type: 'prometheus', address: base, timeoutMs: 2000, ...extra });

  before(async () => {
    server = http.createServer((req, res) => {
      seen.push({ url: req.url ?? '', headers: req.headers });
      handler(req, res);
    });
    base = `http://127.0.0.1:${await listen(server)}`;
  });
  after(() => close(server));

  it('sends the query with a server-side timeout, custom headers and a bearer token', async () => {
    seen.length = 0;
    handler = (_req, res) => res.end(vector('99.5'));
    const provider = new PrometheusProvider(config({
      headers: { 'X-Scope-OrgID': 'tenant-a', authorization: 'Basic overridden' },
      credentials: { type: 'bearer', token: 'tok' },
    }));
    assert.deepEqual(await provider.query('sum(up)'), { resultType: 'vector', series: [{ labels: {}, value: 99.5 }] });
    const url = new URL(seen[0]?.url ?? '', base);
    assert.equal(url.pathname, '/api/v1/query');
    assert.equal(url.searchParams.get('query'), 'sum(up)');
    assert.equal(url.searchParams.get('timeout'), '2000ms');
    assert.equal(seen[0]?.headers['x-scope-orgid'], 'tenant-a');
    assert.equal(seen[0]?.headers.authorization, 'Bearer tok');
  });

  it('sends basic auth, even with an empty password', async () => {
    seen.length = 0;
    await new PrometheusProvider(config({ credentials: { type: 'basic', username: 'u', password: '' } })).query('up');
    assert.equal(seen[0]?.headers.authorization, `Basic ${Buffer.from('u:').toString('base64')}`);
  });

  it('keeps +Inf from the raw answer instead of prometheus-query\'s NaN', async () => {
    handler = (_req, res) => res.end(vector('+Inf'));
    assert.deepEqual(await new PrometheusProvider(config()).query('x'), { resultType: 'vector', series: [{ labels: {}, value: Infinity }] });
  });

  it('a plain-text 401 (Prometheus web config) is PrometheusAuthFailed with the status', async () => {
    handler = (_req, res) => res.writeHead(401, { 'content-type': 'text/plain' }).end('Unauthorized\n');
    await assert.rejects(new PrometheusProvider(config()).query('up'), (error: unknown) => {
      isCode(ErrorCodes.PrometheusAuthFailed, /answered HTTP 401: Unauthorized$/)(error);
      assert.equal((error as SluiceError).status, 401);
      return true;
    });
  });

  it('a proxy\'s HTML 502 is PrometheusUnavailable', async () => {
    handler = (_req, res) => res.writeHead(502, { 'content-type': 'text/html' }).end('<html>bad gateway</html>');
    await assert.rejects(new PrometheusProvider(config()).query('up'), isCode(ErrorCodes.PrometheusUnavailable, /HTTP 502/));
  });

  it('Prometheus\'s own 400 is PrometheusQueryError with its message', async () => {
    handler = (_req, res) => res.writeHead(400, { 'content-type': 'application/json' })
      .end(JSON.stringify({ status: 'error', errorType: 'bad_data', error: '1:5: parse error: unexpected end of input' }));
    await assert.rejects(new PrometheusProvider(config()).query('sum('), isCode(ErrorCodes.PrometheusQueryError, /HTTP 400 \(bad_data\): 1:5: parse error: unexpected end of input/));
  });

  it('a 200 that is not the Prometheus API is PrometheusUnavailable', async () => {
    handler = (_req, res) => res.end('<html>Grafana</html>');
    await assert.rejects(new PrometheusProvider(config()).query('up'), isCode(ErrorCodes.PrometheusUnavailable, /not a Prometheus API response/));
  });

  it('a server that never answers times out within the limit', async () => {
    handler = () => { /* never answers */ };
    const started = Date.now();
    await assert.rejects(new PrometheusProvider(config({ timeoutMs: 300 })).query('up'), isCode(ErrorCodes.PrometheusUnavailable, /within 300 ms/));
    assert.ok(Date.now() - started < 2000, `took ${Date.now() - started} ms`);
  });

  it('an aborted signal stops the query', async () => {
    handler = () => { /* never answers */ };
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    await assert.rejects(new PrometheusProvider(config({ timeoutMs: 5000 })).query('up', { signal: controller.signal }), isCode(ErrorCodes.PrometheusUnavailable, /aborted/));
  });

  it('a closed port is PrometheusUnavailable (ECONNREFUSED)', async () => {
    const unused = http.createServer();
    const port = await listen(unused);
    await close(unused);
    await assert.rejects(new PrometheusProvider(config({ address: `http://127.0.0.1:${port}` })).query('up'), isCode(ErrorCodes.PrometheusUnavailable, /ECONNREFUSED/));
  });

  it('checkAvailability runs vector(1) and checks the answer', async () => {
    seen.length = 0;
    handler = (_req, res) => res.end(vector('1'));
    await new PrometheusProvider(config()).checkAvailability();
    assert.equal(new URL(seen[0]?.url ?? '', base).searchParams.get('query'), 'vector(1)');
    handler = (_req, res) => res.end(JSON.stringify({ status: 'success', data: { resultType: 'vector', result: [] } }));
    await assert.rejects(new PrometheusProvider(config()).checkAvailability(), isCode(ErrorCodes.PrometheusUnavailable, /answered vector\(1\)/));
  });

  it('rejects an address that is not http(s)', () => {
    assert.throws(() => new PrometheusProvider(config({ address: 'prom:9090' })), isCode(ErrorCodes.SpecInvalid));
  });
});

describe('PrometheusProvider over HTTPS with a self-signed certificate', () => {
  let server: https.Server;
  let address: string;
  let dir: string;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-tls-'));
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
      '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem'),
    ], { stdio: 'ignore' });
    server = https.createServer({ key: fs.readFileSync(path.join(dir, 'key.pem')), cert: fs.readFileSync(path.join(dir, 'cert.pem')) }, (_req, res) => res.end(vector('42')));
    address = `https://127.0.0.1:${await listen(server)}`;
  });
  after(async () => {
    await close(server);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('fails verification by default, with the insecureSkipVerify hint', async () => {
    await assert.rejects(new PrometheusProvider({ type: 'prometheus', address, timeoutMs: 2000 }).query('x'), (error: unknown) => {
      isCode(ErrorCodes.PrometheusUnavailable)(error);
      assert.match((error as SluiceError).hint ?? '', /insecureSkipVerify/);
      return true;
    });
  });

  it('answers with insecureSkipVerify', async () => {
    const answer = await new PrometheusProvider({ type: 'prometheus', address, timeoutMs: 2000, insecureSkipVerify: true }).query('x');
    assert.deepEqual(answer, { resultType: 'vector', series: [{ labels: {}, value: 42 }] });
  });
});
