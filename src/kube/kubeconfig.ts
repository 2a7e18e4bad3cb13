// Which kubeconfig and context a connection uses, checked before client-node's
// KubeConfig loads them: it only makes sure that what the user pointed at
// exists and names the context, so a typo in a path or a context name reads as
// one line that says what to fix, in the controller and the CLI alike.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { load, YAMLException } from 'js-yaml';
import { ErrorCodes, SluiceError } from '../errors.ts';

export interface KubeconfigChoice {
  /** The files in use ("in-cluster" has none). */
  files: string[];
  /** Where they came from, for messages: "--kubeconfig", "KUBECONFIG" or "~/.kube/config". */
  origin: string;
  /** The context in use; undefined in a Pod without a kubeconfig. */
  context: string | undefined;
}

interface Named {
  name?: unknown;
  context?: { cluster?: unknown } | null;
}

interface KubeconfigDocument {
  contexts?: Named[] | null;
  clusters?: Named[] | null;
  'current-context'?: unknown;
}

function invalid(message: string, hint: string): SluiceError {
  return new SluiceError(ErrorCodes.KubeConfigInvalid, message, { hint });
}

function readKubeconfig(file: string, origin: string): KubeconfigDocument {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw invalid(`kubeconfig ${file} (${origin}) does not exist`, 'pass --kubeconfig FILE or set KUBECONFIG to an existing kubeconfig');
    if (code === 'EISDIR') throw invalid(`kubeconfig ${file} (${origin}) is a directory`, 'pass the kubeconfig file itself, e.g. ~/.kube/config');
    throw invalid(`cannot read kubeconfig ${file} (${origin}): ${(error as Error).message}`, 'check the file\'s permissions');
  }
  let doc: unknown;
  try {
    doc = load(text);
  } catch (error) {
    const where = error instanceof YAMLException && error.mark ? ` at line ${error.mark.line + 1}, column ${error.mark.column + 1}` : '';
    const reason = error instanceof YAMLException ? error.reason : (error as Error).message;
    throw invalid(`kubeconfig ${file} (${origin}) is not valid YAML: ${reason}${where}`, 'fix the file, or point --kubeconfig at another one');
  }
  if (doc === undefined || doc === null) return {};
  if (typeof doc !== 'object' || Array.isArray(doc)) {
    throw invalid(`kubeconfig ${file} (${origin}) is not a kubeconfig: it holds no clusters, users or contexts`, 'point --kubeconfig at a kubeconfig file, e.g. the one `kind` or your cloud CLI wrote');
  }
  return doc;
}

function names(list: Named[] | null | undefined): string[] {
  return (list ?? []).flatMap((entry) => (typeof entry.name === 'string' ? [entry.name] : []));
}

function listed(values: readonly string[]): string {
  return values.length === 0 ? 'none' : values.map((v) => `"${v}"`).join(', ');
}

/**
 * The kubeconfig files and context a connection will use, as kubectl chooses
 * them: --kubeconfig, else every file in $KUBECONFIG (merged, the first
 * current-context wins), else ~/.kube/config, else the Pod's ServiceAccount.
 * Throws KubeConfigInvalid with a one-line message when they cannot work.
 */
export function chooseKubeconfig(options: { kubeconfig?: string | undefined; context?: string | undefined }, env: NodeJS.ProcessEnv = process.env, home = os.homedir()): KubeconfigChoice {
  let files: string[];
  let origin: string;
  if (options.kubeconfig) {
    files = [options.kubeconfig];
    origin = '--kubeconfig';
  } else if (env.KUBECONFIG) {
    files = env.KUBECONFIG.split(path.delimiter).filter((f) => f !== '');
    origin = 'KUBECONFIG';
  } else {
    const fallback = path.join(home, '.kube', 'config');
    if (!fs.existsSync(fallback)) {
      if (env.KUBERNETES_SERVICE_HOST) {
        if (options.context) throw invalid(`--context ${options.context} needs a kubeconfig, and there is none`, 'pass --kubeconfig FILE or set KUBECONFIG');
        return { files: [], origin: 'in-cluster', context: undefined };
      }
      throw invalid(`no kubeconfig: --kubeconfig is not given, KUBECONFIG is not set and ${fallback} does not exist`, 'pass --kubeconfig FILE or set KUBECONFIG');
    }
    files = [fallback];
    origin = '~/.kube/config';
  }
  const docs = files.map((file) => readKubeconfig(file, origin));
  const contexts = docs.flatMap((doc) => doc.contexts ?? []);
  const clusters = docs.flatMap((doc) => names(doc.clusters));
  const current = docs.map((doc) => doc['current-context']).find((c): c is string => typeof c === 'string' && c !== '');
  const where = files.length === 1 ? `kubeconfig ${files[0] ?? ''}` : `the kubeconfigs in KUBECONFIG (${files.join(', ')})`;
  const available = names(contexts);
  const context = options.context ?? current;
  if (context === undefined) {
    throw invalid(`${where} sets no current-context`, available.length > 0
      ? `pass --context NAME; its contexts: ${listed(available)}`
      : 'it defines no contexts either; is it a kubeconfig? (kubectl config view)');
  }
  const entry = contexts.find((c) => c.name === context);
  if (!entry) {
    const source = options.context !== undefined ? `--context "${context}"` : `current-context "${context}"`;
    throw invalid(`${source} is not defined in ${where}`, `use one of its contexts: ${listed(available)} (kubectl config get-contexts)`);
  }
  const cluster = entry.context?.cluster;
  if (typeof cluster !== 'string' || !clusters.includes(cluster)) {
    throw invalid(`context "${context}" in ${where} names ${typeof cluster === 'string' ? `cluster "${cluster}", which is not defined there` : 'no cluster'}`,
      `its clusters: ${listed(clusters)} (kubectl config view)`);
  }
  return { files, origin, context };
}
