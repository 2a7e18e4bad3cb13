// Local stand-ins for the chat services: HTTP receivers on 127.0.0.1 that
// record every request, answer as the real service does (Slack "ok", Teams
// 202, Discord 204, ...), can be scripted (500 twice then 200, 429 with
// Retry-After, hang), and check each payload against that service's
// documented schema. The schemas below are hand-written from the public docs:
//  - Slack: https://api.slack.com/messaging/webhooks, Block Kit reference
//    (header text ≤150, section text ≤3000, ≤10 fields of ≤2000, ≤50 blocks,
//    ≤10 context elements), attachment fields (color, fallback, blocks).
//  - Teams Workflows webhook: message activity with one Adaptive Card
//    attachment (contentType application/vnd.microsoft.card.adaptive);
//    TextBlock/FactSet elements, semantic colours.
//  - Discord Execute Webhook: content ≤2000, username 1–80, ≤10 embeds;
//    embed title ≤256, description ≤4096, ≤25 fields (name ≤256, value ≤1024),
//    footer ≤2048, 6000 characters per message; content or embeds required.
//  - Rocket.Chat incoming webhook: text, alias, emoji, avatar, channel,
//    attachments {title, title_link, text, color, fields {short,title,value}, ts}.
//  - Google Chat webhook: text and/or cardsV2 [{cardId, card {header, sections
//    [{header, widgets [textParagraph | decoratedText]}]}}], thread.threadKey,
//    ≤100 widgets per card.
//  - generic / generic-hmac: sluice's JSON event (Flux's event shape);
//    generic-hmac adds X-Signature: sha256=<hex HMAC-SHA256 of the body>.

import { createHmac } from 'node:crypto';
import http, { type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { AlertProviderType } from '../../src/api/types.ts';

// ---------------------------------------------------------------------------
// A small structural schema language (no dependencies).

type Schema =
  | { type: 'string'; minLength?: number; maxLength?: number; enum?: readonly string[]; pattern?: RegExp }
  | { type: 'integer' | 'number'; minimum?: number; maximum?: number }
  | { type: 'boolean' }
  | { type: 'null' }
  | { type: 'array'; items: Schema; minItems?: number; maxItems?: number }
  | { type: 'object'; properties: Record<string, Schema>; required?: readonly string[]; additionalProperties?: Schema | false }
  | { anyOf: readonly Schema[] };

function describeType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

function check(schema: Schema, value: unknown, path: string, errors: string[]): void {
  if ('anyOf' in schema) {
    const attempts = schema.anyOf.map((option) => {
      const sub: string[] = [];
      check(option, value, path, sub);
      return sub;
    });
    if (!attempts.some((sub) => sub.length === 0)) {
      const best = attempts.reduce((a, b) => (b.length < a.length ? b : a));
      errors.push(`${path}: matches no allowed shape (closest: ${best.join('; ')})`);
    }
    return;
  }
  switch (schema.type) {
    case 'string':
      if (typeof value !== 'string') return void errors.push(`${path}: expected string, got ${describeType(value)}`);
      if (schema.minLength !== undefined && value.length < schema.minLength) errors.push(`${path}: shorter than ${schema.minLength}`);
      if (schema.maxLength !== undefined && value.length > schema.maxLength) errors.push(`${path}: longer than ${schema.maxLength} (${value.length})`);
      if (schema.enum && !schema.enum.includes(value)) errors.push(`${path}: "${value}" not one of ${schema.enum.join(', ')}`);
      if (schema.pattern && !schema.pattern.test(value)) errors.push(`${path}: "${value}" does not match ${String(schema.pattern)}`);
      return;
    case 'integer':
    case 'number':
      if (typeof value !== 'number' || (schema.type === 'integer' && !Number.isInteger(value))) {
        return void errors.push(`${path}: expected ${schema.type}, got ${describeType(value)}`);
      }
      if (schema.minimum !== undefined && value < schema.minimum) errors.push(`${path}: below ${schema.minimum}`);
      if (schema.maximum !== undefined && value > schema.maximum) errors.push(`${path}: above ${schema.maximum}`);
      return;
    case 'boolean':
      if (typeof value !== 'boolean') errors.push(`${path}: expected boolean, got ${describeType(value)}`);
      return;
    case 'null':
      if (value !== null) errors.push(`${path}: expected null, got ${describeType(value)}`);
      return;
    case 'array':
      if (!Array.isArray(value)) return void errors.push(`${path}: expected array, got ${describeType(value)}`);
      if (schema.minItems !== undefined && value.length < schema.minItems) errors.push(`${path}: fewer than ${schema.minItems} items`);
      if (schema.maxItems !== undefined && value.length > schema.maxItems) errors.push(`${path}: more than ${schema.maxItems} items (${value.length})`);
      value.forEach((item, i) => check(schema.items, item, `${path}[${i}]`, errors));
      return;
    case 'object': {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) return void errors.push(`${path}: expected object, got ${describeType(value)}`);
      const record = value as Record<string, unknown>;
      for (const key of schema.required ?? []) if (record[key] === undefined) errors.push(`${path}.${key}: required`);
      for (const [key, item] of Object.entries(record)) {
        const property = schema.properties[key];
        if (property) check(property, item, `${path}.${key}`, errors);
        else if (schema.additionalProperties === false) errors.push(`${path}.${key}: not a documented field`);
        else if (schema.additionalProperties) check(schema.additionalProperties, item, `${path}.${key}`, errors);
      }
      return;
    }
  }
}

const str = (options: Omit<Extract<Schema, { type: 'string' }>, 'type'> = {}): Schema => ({ type: 'string', ...options });
const obj = (properties: Record<string, Schema>, required: readonly string[] = [], additionalProperties: Schema | false = false): Schema =>
  ({ type: 'object', properties, required, additionalProperties });
const arr = (items: Schema, options: { minItems?: number; maxItems?: number } = {}): Schema => ({ type: 'array', items, ...options });
const bool: Schema = { type: 'boolean' };
const isoTime = str({ pattern: /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/ });
const hexColor = str({ pattern: /^#[0-9a-fA-F]{6}$/ });

// Slack Block Kit, the blocks sluice may use.
const slackText = (maxLength: number, types: readonly string[] = ['plain_text', 'mrkdwn']): Schema =>
  obj({ type: str({ enum: types }), text: str({ minLength: 1, maxLength }), emoji: bool, verbatim: bool }, ['type', 'text']);
const slackBlock: Schema = {
  anyOf: [
    obj({ type: str({ enum: ['header'] }), text: slackText(150, ['plain_text']), block_id: str({ maxLength: 255 }) }, ['type', 'text']),
    obj({
      type: str({ enum: ['section'] }), text: slackText(3000), fields: arr(slackText(2000), { minItems: 1, maxItems: 10 }), block_id: str({ maxLength: 255 }),
    }, ['type']),
    obj({ type: str({ enum: ['context'] }), elements: arr(slackText(3000), { minItems: 1, maxItems: 10 }), block_id: str({ maxLength: 255 }) }, ['type', 'elements']),
    obj({ type: str({ enum: ['divider'] }), block_id: str({ maxLength: 255 }) }, ['type']),
  ],
};
const slackSchema: Schema = obj({
  text: str({ maxLength: 40_000 }),
  channel: str(),
  username: str(),
  icon_emoji: str(),
  icon_url: str(),
  mrkdwn: bool,
  blocks: arr(slackBlock, { maxItems: 50 }),
  attachments: arr(obj({
    color: { anyOf: [hexColor, str({ enum: ['good', 'warning', 'danger'] })] },
    fallback: str(),
    pretext: str(),
    title: str(),
    title_link: str(),
    text: str(),
    footer: str(),
    ts: { type: 'integer' },
    mrkdwn_in: arr(str()),
    fields: arr(obj({ title: str(), value: str(), short: bool }, ['title', 'value'])),
    blocks: arr(slackBlock, { maxItems: 50 }),
  }), { maxItems: 100 }),
});

const teamsElement: Schema = {
  anyOf: [
    obj({
      type: str({ enum: ['TextBlock'] }), text: str({ minLength: 1 }), wrap: bool, isSubtle: bool, separator: bool,
      weight: str({ enum: ['Default', 'Lighter', 'Bolder'] }), size: str({ enum: ['Default', 'Small', 'Medium', 'Large', 'ExtraLarge'] }),
      color: str({ enum: ['Default', 'Dark', 'Light', 'Accent', 'Good', 'Warning', 'Attention'] }),
      spacing: str({ enum: ['None', 'Small', 'Default', 'Medium', 'Large', 'ExtraLarge', 'Padding'] }),
    }, ['type', 'text']),
    obj({ type: str({ enum: ['FactSet'] }), facts: arr(obj({ title: str(), value: str() }, ['title', 'value']), { minItems: 1 }) }, ['type', 'facts']),
  ],
};
const teamsSchema: Schema = obj({
  type: str({ enum: ['message'] }),
  attachments: arr(obj({
    contentType: str({ enum: ['application/vnd.microsoft.card.adaptive'] }),
    contentUrl: { anyOf: [{ type: 'null' }, str()] },
    content: obj({
      $schema: str(),
      type: str({ enum: ['AdaptiveCard'] }),
      version: str({ pattern: /^1\.\d$/ }),
      body: arr(teamsElement, { minItems: 1 }),
      msteams: obj({ width: str({ enum: ['Full'] }) }),
    }, ['type', 'version', 'body']),
  }, ['contentType', 'content']), { minItems: 1 }),
}, ['type', 'attachments']);

const discordEmbed: Schema = obj({
  title: str({ maxLength: 256 }),
  type: str({ enum: ['rich'] }),
  description: str({ maxLength: 4096 }),
  url: str(),
  timestamp: isoTime,
  color: { type: 'integer', minimum: 0, maximum: 0xffffff },
  footer: obj({ text: str({ minLength: 1, maxLength: 2048 }), icon_url: str() }, ['text']),
  author: obj({ name: str({ minLength: 1, maxLength: 256 }), url: str(), icon_url: str() }, ['name']),
  fields: arr(obj({ name: str({ minLength: 1, maxLength: 256 }), value: str({ minLength: 1, maxLength: 1024 }), inline: bool }, ['name', 'value']), { maxItems: 25 }),
});
const discordSchema: Schema = obj({
  content: str({ maxLength: 2000 }),
  username: str({ minLength: 1, maxLength: 80 }),
  avatar_url: str(),
  tts: bool,
  embeds: arr(discordEmbed, { maxItems: 10 }),
  allowed_mentions: obj({ parse: arr(str({ enum: ['roles', 'users', 'everyone'] })), roles: arr(str()), users: arr(str()) }),
  thread_name: str({ maxLength: 100 }),
});

const rocketSchema: Schema = obj({
  text: str(),
  alias: str(),
  emoji: str(),
  avatar: str(),
  channel: str(),
  attachments: arr(obj({
    title: str(), title_link: str(), text: str(), color: str(), collapsed: bool, ts: str(), author_name: str(), author_icon: str(),
    image_url: str(), thumb_url: str(),
    fields: arr(obj({ short: bool, title: str({ minLength: 1 }), value: str({ minLength: 1 }) }, ['title', 'value'])),
  })),
});

const chatWidget: Schema = {
  anyOf: [
    obj({ textParagraph: obj({ text: str({ minLength: 1 }) }, ['text']) }, ['textParagraph']),
    obj({ decoratedText: obj({ topLabel: str(), text: str({ minLength: 1 }), bottomLabel: str(), wrapText: bool }, ['text']) }, ['decoratedText']),
    obj({ divider: obj({}) }, ['divider']),
  ],
};
const googleChatSchema: Schema = obj({
  text: str({ maxLength: 4096 }),
  cardsV2: arr(obj({
    cardId: str({ minLength: 1 }),
    card: obj({
      header: obj({ title: str({ minLength: 1 }), subtitle: str(), imageUrl: str(), imageType: str({ enum: ['SQUARE', 'CIRCLE'] }) }, ['title']),
      sections: arr(obj({ header: str(), collapsible: bool, uncollapsibleWidgetsCount: { type: 'integer' }, widgets: arr(chatWidget, { minItems: 1 }) }, ['widgets']), { minItems: 1 }),
    }, ['sections']),
  }, ['cardId', 'card'])),
  thread: obj({ threadKey: str({ minLength: 1 }), name: str() }),
});

const genericSchema: Schema = obj({
  involvedObject: obj({ apiVersion: str({ minLength: 1 }), kind: str({ minLength: 1 }), namespace: str({ minLength: 1 }), name: str({ minLength: 1 }), uid: str() },
    ['apiVersion', 'kind', 'namespace', 'name']),
  severity: str({ enum: ['info', 'warning', 'error'] }),
  reason: str({ pattern: /^[A-Z][A-Za-z0-9]*$/ }),
  message: str(),
  timestamp: isoTime,
  metadata: obj({}, [], str()),
  reportingController: str({ minLength: 1 }),
}, ['involvedObject', 'severity', 'reason', 'message', 'timestamp', 'reportingController']);

/** Rules a structural schema cannot say. */
function crossFieldErrors(type: AlertProviderType, body: Record<string, unknown>): string[] {
  const errors: string[] = [];
  switch (type) {
    case 'slack':
      if (body.text === undefined && body.blocks === undefined && body.attachments === undefined) errors.push('$: one of text, blocks, attachments is required');
      break;
    case 'discord': {
      const embeds = Array.isArray(body.embeds) ? (body.embeds as { title?: string; description?: string; footer?: { text?: string }; author?: { name?: string }; fields?: { name: string; value: string }[] }[]) : [];
      if (body.content === undefined && embeds.length === 0) errors.push('$: content or embeds is required');
      let total = 0;
      for (const embed of embeds) {
        total += (embed.title?.length ?? 0) + (embed.description?.length ?? 0) + (embed.footer?.text?.length ?? 0) + (embed.author?.name?.length ?? 0);
        for (const field of embed.fields ?? []) total += field.name.length + field.value.length;
      }
      if (total > 6000) errors.push(`$.embeds: ${total} characters, more than 6000`);
      break;
    }
    case 'rocket':
      if (body.text === undefined && body.attachments === undefined) errors.push('$: text or attachments is required');
      break;
    case 'googlechat': {
      if (body.text === undefined && body.cardsV2 === undefined) errors.push('$: text or cardsV2 is required');
      const cards = (body.cardsV2 as { card: { sections: { widgets: unknown[] }[] } }[] | undefined) ?? [];
      for (const [i, card] of cards.entries()) {
        const widgets = card.card.sections.reduce((n, s) => n + s.widgets.length, 0);
        if (widgets > 100) errors.push(`$.cardsV2[${i}]: ${widgets} widgets, more than 100`);
      }
      break;
    }
    default:
      break;
  }
  return errors;
}

export const payloadSchemas: Readonly<Record<AlertProviderType, Schema>> = {
  'slack': slackSchema,
  'msteams': teamsSchema,
  'discord': discordSchema,
  'rocket': rocketSchema,
  'googlechat': googleChatSchema,
  'generic': genericSchema,
  'generic-hmac': genericSchema,
};

/** Problems of `body` against the documented payload of `type`; empty when valid. */
export function validatePayload(type: AlertProviderType, body: unknown): string[] {
  const errors: string[] = [];
  check(payloadSchemas[type], body, '$', errors);
  if (errors.length === 0) errors.push(...crossFieldErrors(type, body as Record<string, unknown>));
  return errors;
}

/** The headline a reader sees first, per service format. */
export function headlineOf(type: AlertProviderType, body: unknown): string {
  const b = body as Record<string, never>;
  const at = (value: unknown, ...path: (string | number)[]): unknown =>
    path.reduce<unknown>((v, key) => (v && typeof v === 'object' ? (v as Record<string | number, unknown>)[key] : undefined), value);
  const pick: Record<AlertProviderType, unknown> = {
    'slack': at(b, 'attachments', 0, 'blocks', 0, 'text', 'text'),
    'msteams': at(b, 'attachments', 0, 'content', 'body', 0, 'text'),
    'discord': at(b, 'embeds', 0, 'title'),
    'rocket': at(b, 'attachments', 0, 'title'),
    'googlechat': at(b, 'cardsV2', 0, 'card', 'header', 'title'),
    'generic': at(b, 'metadata', 'title'),
    'generic-hmac': at(b, 'metadata', 'title'),
  };
  const headline = pick[type];
  return typeof headline === 'string' ? headline : '';
}

// ---------------------------------------------------------------------------
// Receivers

export interface RecordedRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  body: string;
  json: unknown;
  receivedAt: number;
  /** The status this receiver answered with (0 while hanging). */
  status: number;
  schemaErrors: string[];
}

export interface ScriptedReply {
  status: number;
  headers?: Record<string, string>;
  body?: string;
}

export interface ChatReceiverOptions {
  type: AlertProviderType;
  /** generic-hmac: the shared secret signatures are checked with. */
  hmacKey?: string;
}

/** How each service answers a good request. */
const successReplies: Readonly<Record<AlertProviderType, ScriptedReply>> = {
  'slack': { status: 200, body: 'ok', headers: { 'content-type': 'text/plain' } },
  'msteams': { status: 202, body: '' },
  'discord': { status: 204 },
  'rocket': { status: 200, body: '{"success":true}', headers: { 'content-type': 'application/json' } },
  'googlechat': { status: 200, body: '{"name":"spaces/AAA/messages/BBB"}', headers: { 'content-type': 'application/json' } },
  'generic': { status: 200, body: '' },
  'generic-hmac': { status: 200, body: '' },
};

export class ChatReceiver {
  readonly type: AlertProviderType;
  readonly requests: RecordedRequest[] = [];
  readonly #server: http.Server;
  readonly #sockets = new Set<Socket>();
  readonly #script: ScriptedReply[] = [];
  readonly #hmacKey: string | undefined;
  readonly #waiters = new Set<() => void>();
  #hanging = false;

  private constructor(options: ChatReceiverOptions) {
    this.type = options.type;
    this.#hmacKey = options.hmacKey;
    this.#server = http.createServer((req, res) => this.#handle(req, res));
    this.#server.on('connection', (socket) => {
      this.#sockets.add(socket);
      socket.on('close', () => this.#sockets.delete(socket));
    });
  }

  static async start(options: ChatReceiverOptions): Promise<ChatReceiver> {
    const receiver = new ChatReceiver(options);
    await new Promise<void>((resolve) => receiver.#server.listen(0, '127.0.0.1', resolve));
    return receiver;
  }

  get port(): number {
    return (this.#server.address() as AddressInfo).port;
  }

  /** A webhook URL with the token in the path, as Slack/Discord/Teams issue them. */
  address(token: string): string {
    return `http://127.0.0.1:${this.port}/hooks/${token}`;
  }

  /** Queues replies for the next requests; afterwards the service's success reply. */
  reply(...replies: ScriptedReply[]): void {
    this.#script.push(...replies);
  }

  /** While on, requests are read and recorded but never answered. */
  hang(on: boolean): void {
    this.#hanging = on;
  }

  delivered(): RecordedRequest[] {
    return this.requests.filter((r) => r.status >= 200 && r.status < 300);
  }

  headlines(): string[] {
    return this.delivered().map((r) => headlineOf(this.type, r.json));
  }

  schemaErrors(): string[] {
    return this.requests.flatMap((r) => r.schemaErrors.map((e) => `${r.path}: ${e}`));
  }

  /** Resolves once `count` requests were answered 2xx. */
  async waitForDelivered(count: number, timeoutMs = 15_000): Promise<RecordedRequest[]> {
    await this.#waitFor(() => this.delivered().length >= count, timeoutMs, `${count} delivered request(s) at the ${this.type} receiver (have ${this.delivered().length})`);
    return this.delivered();
  }

  async waitForRequests(count: number, timeoutMs = 15_000): Promise<RecordedRequest[]> {
    await this.#waitFor(() => this.requests.length >= count, timeoutMs, `${count} request(s) at the ${this.type} receiver (have ${this.requests.length})`);
    return this.requests;
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  async #waitFor(done: () => boolean, timeoutMs: number, what: string): Promise<void> {
    if (done()) return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters.delete(check);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      const check = () => {
        if (!done()) return;
        clearTimeout(timer);
        this.#waiters.delete(check);
        resolve();
      };
      this.#waiters.add(check);
    });
  }

  #handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const body = raw.toString('utf8');
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      const schemaErrors: string[] = [];
      let json: unknown;
      try {
        json = JSON.parse(body);
      } catch {
        schemaErrors.push('body is not JSON');
      }
      if (!String(req.headers['content-type'] ?? '').startsWith('application/json')) schemaErrors.push(`content-type is ${req.headers['content-type']}`);
      if (req.method !== 'POST') schemaErrors.push(`method is ${req.method}`);
      if (json !== undefined) schemaErrors.push(...validatePayload(this.type, json));
      if (this.type === 'generic-hmac') {
        const expected = `sha256=${createHmac('sha256', this.#hmacKey ?? '').update(raw).digest('hex')}`;
        if (req.headers['x-signature'] !== expected) schemaErrors.push('X-Signature does not verify with the shared key');
      }
      const record: RecordedRequest = {
        method: req.method ?? '', path: url.pathname, query: url.searchParams, headers: req.headers, body, json,
        receivedAt: performance.now(), status: 0, schemaErrors,
      };
      this.requests.push(record);
      if (this.#hanging) {
        this.#notify();
        return;
      }
      const reply = this.#script.shift() ?? successReplies[this.type];
      record.status = reply.status;
      res.writeHead(reply.status, reply.headers);
      res.end(reply.body ?? '');
      this.#notify();
    });
  }

  #notify(): void {
    for (const waiter of [...this.#waiters]) waiter();
  }
}

/** A URL on 127.0.0.1 where nothing listens: a receiver that is down (connection refused). */
export async function closedAddress(token: string): Promise<string> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}/hooks/${token}`;
}

/** A forward HTTP proxy for plain-http targets; records the host of each proxied request. */
export class ForwardProxy {
  readonly hosts: string[] = [];
  readonly #server: http.Server;

  private constructor() {
    this.#server = http.createServer((req, res) => {
      let target: URL;
      try {
        target = new URL(req.url ?? '');
      } catch {
        res.writeHead(400).end('absolute URL required');
        return;
      }
      this.hosts.push(target.host);
      const upstream = http.request(target, { method: req.method, headers: { ...req.headers, host: target.host } }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      });
      upstream.on('error', () => res.writeHead(502).end());
      req.pipe(upstream);
    });
  }

  static async start(): Promise<ForwardProxy> {
    const proxy = new ForwardProxy();
    await new Promise<void>((resolve) => proxy.#server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
