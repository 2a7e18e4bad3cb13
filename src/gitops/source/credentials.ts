// HTTPS credentials for a GitRepository, from the Secret in spec.secretRef,
// with Flux's key names: username + password (a token as password), or
// bearerToken; ca.crt (or Flux's older caFile) for a private CA.
import { X509Certificate } from 'node:crypto';
import https from 'node:https';
import tls from 'node:tls';
import { ErrorCodes, SluiceError } from '../../errors.ts';

export interface GitCredentials {
  basic?: { username: string; password: string } | undefined;
  bearerToken?: string | undefined;
  /** Trusts the system CAs plus the Secret's ca.crt; undefined means the defaults. */
  httpsAgent?: https.Agent | undefined;
}

function invalid(describe: string, problem: string, hint: string): SluiceError {
  return new SluiceError(ErrorCodes.SecretInvalid, `${describe} ${problem}`, { hint });
}

function text(data: Map<string, Buffer>, key: string): string | undefined {
  const value = data.get(key);
  return value === undefined ? undefined : value.toString('utf8');
}

/** Parses the Secret's data; throws SecretInvalid naming the key at fault. */
export function parseGitCredentials(data: Map<string, Buffer>, describe: string): GitCredentials {
  const username = text(data, 'username');
  const password = text(data, 'password');
  const bearerToken = text(data, 'bearerToken')?.trim();
  const ca = text(data, 'ca.crt') ?? text(data, 'caFile');
  if (username === undefined && password === undefined && bearerToken === undefined && ca === undefined) {
    throw invalid(describe, 'has none of the keys username, password, bearerToken, ca.crt', 'add username and password (a token as password), or bearerToken, and/or ca.crt');
  }
  if ((username === undefined) !== (password === undefined)) {
    throw invalid(describe, `has ${username === undefined ? 'password but no username' : 'username but no password'}`,
      'set both; for a token, use any username (e.g. "git") and the token as password');
  }
  if (bearerToken !== undefined && username !== undefined) {
    throw invalid(describe, 'has both username/password and bearerToken', 'keep one way to authenticate');
  }
  if (bearerToken === '') throw invalid(describe, 'has an empty bearerToken', 'put the token in bearerToken');
  let httpsAgent: https.Agent | undefined;
  if (ca !== undefined) {
    const pems = ca.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
    if (pems.length === 0) throw invalid(describe, 'has a ca.crt without a PEM certificate', 'put the CA certificate (PEM, -----BEGIN CERTIFICATE-----) in ca.crt');
    for (const pem of pems) {
      try {
        new X509Certificate(pem);
      } catch {
        throw invalid(describe, 'has a ca.crt that is not a valid certificate', 'put the CA certificate in PEM form in ca.crt');
      }
    }
    // Added to the system CAs, as Flux does, so public hosts keep working.
    httpsAgent = new https.Agent({ keepAlive: true, ca: [...tls.rootCertificates, ...pems] });
  }
  return {
    basic: username !== undefined && password !== undefined ? { username, password } : undefined,
    bearerToken,
    httpsAgent,
  };
}

/** Authorization header for a fetch or push, sent up front instead of after a 401: one round trip less per poll. */
export function gitAuthHeaders(credentials: GitCredentials | undefined): Record<string, string> {
  if (credentials?.basic) {
    const { username, password } = credentials.basic;
    return { authorization: `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}` };
  }
  if (credentials?.bearerToken) return { authorization: `Bearer ${credentials.bearerToken}` };
  return {};
}
