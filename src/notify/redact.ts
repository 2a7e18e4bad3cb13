// Webhook URLs are credentials: Slack, Discord, Teams and Google Chat put the
// token in the path or query. Every error, log line, Event and status message
// the notifier builds goes through these functions first.

const urlPattern = /\b[a-z][a-z0-9+.-]*:\/\/[^\s"'<>`]+/gi;
const alreadyRedacted = /^[a-z][a-z0-9+.-]*:\/\/[^/\s]+\/\[redacted\]$/i;
const minSecretLength = 4;

/** A URL reduced to scheme and host, e.g. "https://hooks.slack.com/[redacted]". */
export function redactAddress(address: string): string {
  try {
    const url = new URL(address);
    // host excludes userinfo, which may hold a password.
    return `${url.protocol}//${url.host}/[redacted]`;
  } catch {
    return '[redacted address]';
  }
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Forms a secret may take inside a message: as is, URL-encoded, and a URL's path and query. */
function secretForms(secret: string): string[] {
  const forms = new Set<string>([secret, encodeURIComponent(secret)]);
  try {
    const url = new URL(secret);
    if (url.pathname.length > 1) forms.add(url.pathname);
    if (url.search.length > 1) forms.add(url.search);
    if (url.password) forms.add(url.password);
  } catch {
    // Not a URL; the plain forms are enough.
  }
  return [...forms].filter((form) => form.length >= minSecretLength);
}

/**
 * Removes every known secret (addresses, tokens, header values) from `text`,
 * then reduces any URL left to its scheme and host.
 */
export function redactText(text: string, secrets: readonly (string | undefined)[] = []): string {
  let result = text;
  const forms = secrets.filter((s): s is string => typeof s === 'string' && s.length > 0).flatMap(secretForms);
  // Longest first, so a whole URL is replaced before its path is.
  forms.sort((a, b) => b.length - a.length);
  for (const form of forms) {
    result = result.replace(new RegExp(escapeRegExp(form), 'g'), '[redacted]');
  }
  return result.replace(urlPattern, (match) => {
    // Sentence punctuation after a URL is not part of it.
    const core = match.replace(/[.,:;!?)]+$/, '');
    const tail = match.slice(core.length);
    return (alreadyRedacted.test(core) ? core : redactAddress(core)) + tail;
  });
}
