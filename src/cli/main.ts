#!/usr/bin/env node
// The sluice command line, also installed as the kubectl plugin kubectl-sluice.
// User errors print what failed and what to do, never a stack trace
// (SLUICE_DEBUG=1 prints it).
import { Command, CommanderError, Option } from 'commander';
import { isSluiceError } from '../errors.ts';
import type { CanaryRequest } from './canary.ts';
import { ExitCode, warn, type GlobalOptions } from './common.ts';

// Command modules load when their command runs, so `--help` and offline commands start fast.
const canaryCommands = () => import('./canary.ts');
const syncCommands = () => import('./sync.ts');
const GET_RESOURCES = 'canaries|syncs|sources|alerts';

/** Usage errors exit 2, like `diff`'s own error status, so scripts can tell them from "changes found". */
const USAGE_EXIT = 2;

function globals(command: Command): GlobalOptions {
  return command.optsWithGlobals<GlobalOptions>();
}

function oneKind(kind: string, allowed: readonly string[], verb: string): void {
  if (!allowed.includes(kind.toLowerCase())) {
    throw new CommanderError(USAGE_EXIT, 'sluice.usage', `error: "${verb} ${kind}" is not supported; use: ${allowed.map((k) => `${verb} ${k}`).join(', ')}`);
  }
}

export function buildProgram(): Command {
  const program = new Command('sluice')
    .description('Progressive delivery for Kubernetes: GitOps syncs and canary rollouts')
    .option('--kubeconfig <file>', 'path to the kubeconfig (default $KUBECONFIG, then ~/.kube/config)')
    .option('--context <name>', 'kubeconfig context to use')
    .option('-n, --namespace <namespace>', 'namespace (default: the context\'s namespace)')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();

  program.command('get')
    .description(`list ${GET_RESOURCES} with readiness, phase, weight, revision, age and message`)
    .argument('<resource>', GET_RESOURCES)
    .argument('[name]', 'one object by name')
    .option('-A, --all-namespaces', 'list across all namespaces')
    .addOption(new Option('-o, --output <format>', 'output format').choices(['table', 'json', 'yaml', 'wide']).default('table'))
    .option('-w, --watch', 'keep printing changes until interrupted')
    .action(async (resource: string, name: string | undefined, opts: { allNamespaces?: boolean; output: string; watch?: boolean }, command: Command) => {
      await (await import('./get.ts')).runGet(resource, name, { ...globals(command), ...opts });
    });

  program.command('reconcile')
    .description('reconcile a Sync now (sets sluice.dev/requestedAt), wait for Ready and print the change set')
    .argument('<kind>', 'sync')
    .argument('<name>')
    .option('--with-source', 'fetch its GitRepository first')
    .option('--timeout <duration>', 'how long to wait', '5m')
    .action(async (kind: string, name: string, opts: { withSource?: boolean; timeout: string }, command: Command) => {
      oneKind(kind, ['sync'], 'reconcile');
      await (await syncCommands()).runReconcileSync(name, { ...globals(command), ...opts });
    });

  for (const verb of ['suspend', 'resume'] as const) {
    program.command(verb)
      .description(verb === 'suspend'
        ? 'stop reconciling a Sync, or keep new rollouts of a Canary from starting (spec.suspend)'
        : 'resume a Sync (and wait for it to reconcile), or a suspended or paused Canary (waits for the controller to acknowledge)')
      .argument('<kind>', 'sync|canary')
      .argument('<name>')
      .option('--no-wait', 'Canary: return once the resume request is recorded')
      .option('--timeout <duration>', 'how long to wait for a resumed Sync to reconcile, or a Canary to acknowledge', '5m')
      .action(async (kind: string, name: string, opts: { wait: boolean; timeout: string }, command: Command) => {
        oneKind(kind, ['sync', 'canary'], verb);
        if (kind.toLowerCase() !== 'canary') await (await syncCommands()).runSetSuspend(name, verb === 'suspend', { ...globals(command), timeout: opts.timeout });
        else if (verb === 'suspend') await (await canaryCommands()).runCanarySetSuspend(name, true, globals(command));
        else await (await canaryCommands()).runCanaryPause(name, false, { ...globals(command), ...opts });
      });
  }

  program.command('pause')
    .description('pause a Canary\'s rollout where it is (annotation sluice.dev/pause): no step, check or rollback until resumed; waits for the controller to acknowledge')
    .argument('<kind>', 'canary')
    .argument('<name>')
    .option('--no-wait', 'return once the request is recorded')
    .option('--timeout <duration>', 'how long to wait for the acknowledgement', '2m')
    .action(async (kind: string, name: string, opts: { wait: boolean; timeout: string }, command: Command) => {
      oneKind(kind, ['canary'], 'pause');
      await (await canaryCommands()).runCanaryPause(name, true, { ...globals(command), ...opts });
    });

  for (const request of ['promote', 'abort', 'retry'] as const satisfies readonly CanaryRequest[]) {
    const descriptions: Record<CanaryRequest, string> = {
      promote: 'promote a Canary now, skipping the remaining steps',
      abort: 'abort a progressing Canary and roll it back',
      retry: 'retry a failed revision without editing the Deployment',
    };
    program.command(request)
      .description(`${descriptions[request]} (annotation sluice.dev/${request}); waits for the controller to acknowledge`)
      .argument('<kind>', 'canary')
      .argument('<name>')
      .option('--no-wait', 'return once the request is recorded')
      .option('--timeout <duration>', 'how long to wait for the acknowledgement', '2m')
      .action(async (kind: string, name: string, opts: { wait: boolean; timeout: string }, command: Command) => {
        oneKind(kind, ['canary'], request);
        await (await canaryCommands()).runCanaryRequest(request, name, { ...globals(command), ...opts });
      });
  }

  program.command('status')
    .description('show a Canary\'s rollout: phase, progress, checks, metrics, gates, images, history and events')
    .argument('<kind>', 'canary')
    .argument('<name>')
    .option('-w, --watch', 'keep watching (redraws in a terminal, one line per change otherwise)')
    .addOption(new Option('-o, --output <format>', 'output format').choices(['text', 'json']).default('text'))
    .action(async (kind: string, name: string, opts: { watch?: boolean; output: string }, command: Command) => {
      oneKind(kind, ['canary'], 'status');
      await (await canaryCommands()).runCanaryStatus(name, { ...globals(command), ...opts });
    });

  program.command('wait')
    .description('wait until a Canary is promoted, failed or in a phase; exit 0 when reached, 1 otherwise')
    .argument('<kind>', 'canary')
    .argument('<name>')
    .requiredOption('--for <condition>', 'promoted | failed | phase=PHASE')
    .option('--timeout <duration>', 'give up after this long', '10m')
    .action(async (kind: string, name: string, opts: { for: string; timeout: string }, command: Command) => {
      oneKind(kind, ['canary'], 'wait');
      await (await canaryCommands()).runCanaryWait(name, { ...globals(command), ...opts });
    });

  program.command('diff')
    .description('server-side dry-run the manifests the Sync would apply (its GitRepository\'s last fetched revision) and print a unified diff; exit 0 no changes, 1 changes, 2 error')
    .argument('<kind>', 'sync')
    .argument('<name>')
    .option('--path <dir>', 'build from this local directory (the Sync\'s spec.path) instead of the fetched revision')
    .option('--timeout <duration>', 'timeout for fetching the source', '2m')
    .action(async (kind: string, name: string, opts: { path?: string; timeout: string }, command: Command) => {
      oneKind(kind, ['sync'], 'diff');
      await (await import('./diff.ts')).runDiffSync(name, { ...globals(command), ...opts });
    });

  program.command('trace')
    .description('which Sync, GitRepository, revision and commit manage an object, and whether a Canary controls it')
    .argument('<object>', 'KIND/NAME, e.g. deployment/web')
    .addOption(new Option('-o, --output <format>', 'output format').choices(['text', 'json']).default('text'))
    .action(async (target: string, opts: { output: string }, command: Command) => {
      await (await import('./trace.ts')).runTrace(target, { ...globals(command), ...opts });
    });

  program.command('events')
    .description('Events of an object and of what it depends on, in time order (all Events of the namespace without KIND/NAME)')
    .argument('[object]', 'KIND/NAME, e.g. sync/apps or deployment/web')
    .option('-A, --all-namespaces', 'all namespaces (without KIND/NAME)')
    .addOption(new Option('-o, --output <format>', 'output format').choices(['table', 'json', 'yaml']).default('table'))
    .action(async (target: string | undefined, opts: { allNamespaces?: boolean; output: string }, command: Command) => {
      await (await import('./events.ts')).runEvents(target, { ...globals(command), ...opts });
    });

  const migrate = program.command('migrate').description('convert manifests of other tools to sluice\'s');
  migrate.command('flagger')
    .description('convert Flagger Canary, MetricTemplate and AlertProvider manifests (FILE or - for stdin); notes on stderr')
    .argument('<files...>')
    .addOption(new Option('-o, --output <format>', 'output format').choices(['yaml', 'json']).default('yaml'))
    .action(async (files: string[], opts: { output: string }, command: Command) => {
      // -n here sets the namespace of the converted objects; without it they keep their own.
      const namespace = command.optsWithGlobals<GlobalOptions>().namespace;
      (await import('./migrate.ts')).runMigrateFlagger(files, { namespace, output: opts.output });
    });

  return program;
}

export async function main(argv: readonly string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.code === 'sluice.usage') warn(error.message);
      // commander already printed its own usage errors; help and version exit 0.
      return error.exitCode === 0 ? 0 : USAGE_EXIT;
    }
    if (error instanceof ExitCode) {
      if (error.message) warn(error.message);
      return error.exitCode;
    }
    if (isSluiceError(error)) {
      warn(`✗ ${error.describe()}`);
      if (process.env.SLUICE_DEBUG) warn(String(error.stack));
      return 1;
    }
    warn(`✗ ${error instanceof Error ? error.message : String(error)}`);
    if (process.env.SLUICE_DEBUG) warn(error instanceof Error ? String(error.stack) : '');
    return 1;
  }
}

if (import.meta.main) {
  process.exitCode = await main(process.argv.slice(2));
  // Informers and keep-alive sockets must not hold a finished command open.
  process.exit();
}
