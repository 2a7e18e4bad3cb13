// A real smart-HTTP Git server for the tests: Debian's `git http-backend` run
// as a CGI program behind a small node:http server, so sluice's source
// controller talks the same protocol to it as to GitHub or Gitea. Options the
// tests need: HTTP basic auth, and stopping/starting the listener (same port,
// same repositories) to simulate an outage.
//
// Repositories are bare repos under a temp dir; each has a working clone made
// with the git CLI, so tests commit and push the way a user would.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash, timingSafeEqual } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { removeOnExit } from './process.ts';

export interface GitServerAuth {
  username: string;
  password: string;
}

export interface StartGitServerOptions {
  /** Require HTTP basic auth for every request (clone, fetch and push). */
  auth?: GitServerAuth;
}

export interface GitRepo {
  name: string;
  /** The repository's HTTP URL, e.g. http://127.0.0.1:40321/app.git (no credentials in it). */
  url: string;
  /** The branch the repository starts on and push() publishes to by default. */
  branch: string;
  /** The bare repository on disk. */
  bareDir: string;
  /** A clone made with the git CLI; plain `git push` in it works (credentials are configured). */
  workdir: string;
  /** Writes (string) or deletes (null) files relative to the workdir and commits them all; returns the sha. */
  commitFiles(files: Record<string, string | null>, message: string): Promise<string>;
  /** Pushes the workdir's current branch to the server. */
  push(): Promise<void>;
  /** Runs the git CLI in the workdir (tags, branches, force pushes, ...); returns stdout. */
  git(...args: string[]): Promise<string>;
}

export interface GitServer {
  /** Base URL, e.g. http://127.0.0.1:40321 */
  url: string;
  /** Whether the listener is up (false between stop() and start()). */
  readonly listening: boolean;
  /** http-backend's stderr and failed requests go here. */
  logFile: string;
  createRepo(name: string): Promise<GitRepo>;
  /** Closes the listener and all connections (clients see "connection refused"); repositories stay. */
  stop(): Promise<void>;
  /** Listens again on the same port after stop(). */
  start(): Promise<void>;
  /** Stops for good and deletes every repository. */
  close(): Promise<void>;
}

const HTTP_BACKEND_CANDIDATES = ['/usr/lib/git-core/git-http-backend', '/usr/libexec/git-core/git-http-backend'];
const MAX_CGI_HEADER_BYTES = 64 * 1024;
const REPO_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

function findHttpBackend(): string {
  for (const candidate of HTTP_BACKEND_CANDIDATES) {
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // Try the next location.
    }
  }
  throw new Error(`git-http-backend not found at ${HTTP_BACKEND_CANDIDATES.join(' or ')}; install Debian's git package`);
}

/** An environment for git that ignores the user's and the system's config. */
function isolatedGitEnv(home: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('GIT_')) env[key] = value;
  }
  return {
    ...env,
    HOME: home,
    XDG_CONFIG_HOME: path.join(home, '.config'),
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_TERMINAL_PROMPT: '0',
    GIT_AUTHOR_NAME: 'sluice test',
    GIT_AUTHOR_EMAIL: 'test@sluice.invalid',
    GIT_COMMITTER_NAME: 'sluice test',
    GIT_COMMITTER_EMAIL: 'test@sluice.invalid',
    LC_ALL: 'C',
  };
}

function runGit(args: readonly string[], cwd: string, env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('git', args, { cwd, env, timeout: 60_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) {
        // stderr never holds the password: it comes from the credential store file.
        reject(new Error(`git ${args.join(' ')} failed (in ${cwd}): ${stderr.trim() || err.message}`, { cause: err }));
        return;
      }
      resolve(stdout);
    });
  });
}

/** Equal-time comparison of two secrets of any length. */
function sameSecret(a: string, b: string): boolean {
  const digest = (s: string): Buffer => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(a), digest(b));
}

/** The user name if the Authorization header carries the right credentials. */
function authenticate(header: string | undefined, auth: GitServerAuth): string | null {
  if (header === undefined || !/^basic /i.test(header)) return null;
  const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return null;
  const username = decoded.slice(0, colon);
  const password = decoded.slice(colon + 1);
  // Both comparisons always run, so timing does not reveal which one failed.
  const userOk = sameSecret(username, auth.username);
  const passwordOk = sameSecret(password, auth.password);
  return userOk && passwordOk ? username : null;
}

/** Index just past the blank line that ends the CGI header block, or -1. */
function headerEnd(buffer: Buffer): { bodyStart: number; headerText: string } | null {
  const crlf = buffer.indexOf('\r\n\r\n');
  const lf = buffer.indexOf('\n\n');
  let end = -1;
  let sep = 0;
  if (crlf >= 0 && (lf < 0 || crlf < lf)) {
    end = crlf;
    sep = 4;
  } else if (lf >= 0) {
    end = lf;
    sep = 2;
  }
  if (end < 0) return null;
  return { bodyStart: end + sep, headerText: buffer.subarray(0, end).toString('latin1') };
}

interface CgiContext {
  backend: string;
  projectRoot: string;
  home: string;
  auth: GitServerAuth | undefined;
  log: (line: string) => void;
  children: Set<ChildProcess>;
}

function handleRequest(ctx: CgiContext, req: http.IncomingMessage, res: http.ServerResponse): void {
  let remoteUser: string | null = null;
  if (ctx.auth) {
    remoteUser = authenticate(req.headers.authorization, ctx.auth);
    if (remoteUser === null) {
      req.resume();
      res.writeHead(401, { 'www-authenticate': 'Basic realm="sluice test git", charset="UTF-8"', 'content-type': 'text/plain' });
      res.end('authentication required\n');
      return;
    }
  }

  const url = new URL(req.url ?? '/', 'http://localhost');
  let pathInfo: string;
  try {
    pathInfo = decodeURIComponent(url.pathname);
  } catch {
    req.resume();
    res.writeHead(400, { 'content-type': 'text/plain' });
    res.end('malformed path\n');
    return;
  }
  // The CGI meta-variables of RFC 3875 that git http-backend reads.
  const env: NodeJS.ProcessEnv = {
    ...isolatedGitEnv(ctx.home),
    GATEWAY_INTERFACE: 'CGI/1.1',
    SERVER_PROTOCOL: `HTTP/${req.httpVersion}`,
    SERVER_SOFTWARE: 'sluice-test-git-server',
    REQUEST_METHOD: req.method ?? 'GET',
    PATH_INFO: pathInfo,
    QUERY_STRING: url.search.replace(/^\?/, ''),
    CONTENT_TYPE: req.headers['content-type'] ?? '',
    REMOTE_ADDR: req.socket.remoteAddress ?? '127.0.0.1',
    GIT_PROJECT_ROOT: ctx.projectRoot,
    GIT_HTTP_EXPORT_ALL: '1',
    // Pushes are allowed with or without auth; safe.directory because the
    // repositories may belong to another uid than the one serving them.
    GIT_CONFIG_COUNT: '2',
    GIT_CONFIG_KEY_0: 'http.receivepack',
    GIT_CONFIG_VALUE_0: 'true',
    GIT_CONFIG_KEY_1: 'safe.directory',
    GIT_CONFIG_VALUE_1: '*',
  };
  if (remoteUser !== null) env.REMOTE_USER = remoteUser;
  if (req.headers['content-length'] !== undefined) env.CONTENT_LENGTH = req.headers['content-length'];
  // http-backend inflates gzip request bodies itself when told about them,
  // and passes the protocol version (v2 for the git CLI) on to upload-pack.
  const encoding = req.headers['content-encoding'];
  if (typeof encoding === 'string') env.HTTP_CONTENT_ENCODING = encoding;
  const gitProtocol = req.headers['git-protocol'];
  if (typeof gitProtocol === 'string') env.HTTP_GIT_PROTOCOL = gitProtocol;

  const child = spawn(ctx.backend, [], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  ctx.children.add(child);
  const stderr: Buffer[] = [];
  child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
  // The backend may answer (e.g. 404) without reading the body: ignore EPIPE.
  child.stdin.on('error', () => undefined);
  req.pipe(child.stdin);

  let head = Buffer.alloc(0);
  let headersDone = false;
  const fail = (status: number, message: string): void => {
    ctx.log(`${req.method ?? '?'} ${url.pathname}: ${message}`);
    if (!res.headersSent) {
      res.writeHead(status, { 'content-type': 'text/plain' });
      res.end(`${message}\n`);
    } else {
      res.destroy();
    }
  };
  const onData = (chunk: Buffer): void => {
    head = Buffer.concat([head, chunk]);
    const parsed = headerEnd(head);
    if (parsed === null) {
      if (head.length > MAX_CGI_HEADER_BYTES) {
        child.kill('SIGKILL');
        fail(502, 'git http-backend sent an oversized header block');
      }
      return;
    }
    // Stop the flow before switching from parsing to piping, so no chunk is lost.
    child.stdout.pause();
    child.stdout.off('data', onData);
    headersDone = true;
    let status = 200;
    let statusMessage: string | undefined;
    for (const line of parsed.headerText.split(/\r?\n/)) {
      const colon = line.indexOf(':');
      if (colon <= 0) continue;
      const name = line.slice(0, colon).trim();
      const value = line.slice(colon + 1).trim();
      if (name.toLowerCase() === 'status') {
        const m = /^(\d{3})\s*(.*)$/.exec(value);
        if (m) {
          status = Number(m[1]);
          statusMessage = m[2] || undefined;
        }
        continue;
      }
      const previous = res.getHeader(name);
      if (previous === undefined) res.setHeader(name, value);
      else res.setHeader(name, [...(Array.isArray(previous) ? previous : [String(previous)]), value]);
    }
    if (statusMessage !== undefined) res.writeHead(status, statusMessage);
    else res.writeHead(status);
    if (status >= 400) ctx.log(`${req.method ?? '?'} ${url.pathname}${url.search}: ${status} ${statusMessage ?? ''}`);
    res.write(head.subarray(parsed.bodyStart));
    child.stdout.pipe(res);
  };
  child.stdout.on('data', onData);
  child.on('error', (err) => fail(500, `cannot run git http-backend: ${err.message}`));
  child.on('close', (code, signal) => {
    ctx.children.delete(child);
    const errText = Buffer.concat(stderr).toString('utf8').trim();
    if (errText) ctx.log(`${req.method ?? '?'} ${url.pathname}${url.search}: ${errText}`);
    if (!headersDone) {
      fail(502, `git http-backend ended (${signal ?? `code ${String(code)}`}) without a response`);
    } else if (code !== 0 && code !== null) {
      ctx.log(`${req.method ?? '?'} ${url.pathname}: git http-backend exited with code ${code}`);
    }
  });
  // A client that goes away takes its backend process with it.
  res.on('close', () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
}

/** Starts the server on a free loopback port. */
export async function startGitServer(options: StartGitServerOptions = {}): Promise<GitServer> {
  const backend = findHttpBackend();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-git-'));
  const removeDir = removeOnExit(dir);
  const projectRoot = path.join(dir, 'repos');
  const home = path.join(dir, 'home');
  const workRoot = path.join(dir, 'work');
  const logFile = path.join(dir, 'git-server.log');
  for (const d of [projectRoot, home, workRoot]) fs.mkdirSync(d, { recursive: true });
  const gitEnv = isolatedGitEnv(home);
  const children = new Set<ChildProcess>();
  const ctx: CgiContext = {
    backend,
    projectRoot,
    home,
    auth: options.auth,
    log: (line) => {
      try {
        fs.appendFileSync(logFile, `${new Date().toISOString()} ${line}\n`);
      } catch {
        // The server was closed and its directory removed; nobody reads the log now.
      }
    },
    children,
  };

  let server: http.Server | null = null;
  let port = 0;
  const listen = async (): Promise<void> => {
    const s = http.createServer((req, res) => handleRequest(ctx, req, res));
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.listen(port, '127.0.0.1', () => {
        s.off('error', reject);
        resolve();
      });
    });
    port = (s.address() as AddressInfo).port;
    server = s;
  };
  const unlisten = async (): Promise<void> => {
    const s = server;
    if (s === null) return;
    server = null;
    await new Promise<void>((resolve) => {
      s.close(() => resolve());
      s.closeAllConnections();
    });
    // Backends still running belong to connections that were just cut.
    const exits = [...children].map(
      (child) => new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) resolve();
        else child.once('close', () => resolve());
      }),
    );
    for (const child of children) child.kill('SIGKILL');
    await Promise.race([Promise.all(exits), sleep(5_000)]);
  };

  try {
    await listen();
  } catch (err) {
    removeDir();
    throw err;
  }
  const url = `http://127.0.0.1:${port}`;

  // With auth, the clones get their credentials from a git credential store
  // file (mode 0600) instead of the URL, so they never show up in remotes,
  // command lines or error messages.
  const credentialArgs: string[] = [];
  if (options.auth) {
    const credentialFile = path.join(dir, 'credentials');
    const user = encodeURIComponent(options.auth.username);
    const password = encodeURIComponent(options.auth.password);
    fs.writeFileSync(credentialFile, `http://${user}:${password}@127.0.0.1:${port}\n`, { mode: 0o600 });
    // The empty helper first resets any helper a user's own config may add.
    credentialArgs.push('-c', 'credential.helper=', '-c', `credential.helper=store --file=${credentialFile}`);
  }

  const repos = new Set<string>();
  return {
    url,
    logFile,
    get listening() {
      return server !== null;
    },
    async createRepo(name) {
      if (!REPO_NAME.test(name) || name.endsWith('.git')) {
        throw new Error(`repository name ${JSON.stringify(name)} must be letters, digits, ".", "_" or "-" (without .git)`);
      }
      if (repos.has(name)) throw new Error(`repository ${name} already exists`);
      repos.add(name);
      const branch = 'main';
      const bareDir = path.join(projectRoot, `${name}.git`);
      const workdir = path.join(workRoot, name);
      const repoUrl = `${url}/${name}.git`;
      await runGit(['init', '-q', '--bare', `--initial-branch=${branch}`, bareDir], dir, gitEnv);
      await runGit(['clone', '-q', ...credentialArgs, repoUrl, workdir], dir, gitEnv);
      // A clone of an empty repository starts on init.defaultBranch; pin it.
      await runGit(['symbolic-ref', 'HEAD', `refs/heads/${branch}`], workdir, gitEnv);
      await runGit(['config', 'user.name', 'sluice test'], workdir, gitEnv);
      await runGit(['config', 'user.email', 'test@sluice.invalid'], workdir, gitEnv);
      const git = (...args: string[]): Promise<string> => runGit(args, workdir, gitEnv);
      return {
        name,
        url: repoUrl,
        branch,
        bareDir,
        workdir,
        git,
        async commitFiles(files, message) {
          for (const [rel, content] of Object.entries(files)) {
            const normalized = path.posix.normalize(rel);
            if (path.isAbsolute(rel) || normalized.startsWith('..') || normalized.split('/')[0] === '.git') {
              throw new Error(`commitFiles: ${JSON.stringify(rel)} is not a path inside the working tree`);
            }
            const file = path.join(workdir, normalized);
            if (content === null) {
              fs.rmSync(file, { force: true });
            } else {
              fs.mkdirSync(path.dirname(file), { recursive: true });
              fs.writeFileSync(file, content);
            }
          }
          await git('add', '-A');
          await git('commit', '-q', '--allow-empty', '-m', message);
          return (await git('rev-parse', 'HEAD')).trim();
        },
        async push() {
          // -u, so a plain `git push` in the workdir works afterwards.
          await git('push', '-q', '-u', 'origin', 'HEAD');
        },
      };
    },
    stop: unlisten,
    async start() {
      if (server === null) await listen();
    },
    async close() {
      await unlisten();
      removeDir();
    },
  };
}
