// The CLI's wording for failures of a command that talked to the API server.
import { ErrorCodes, SluiceError } from '../errors.ts';

const networkWords: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ENOTFOUND: 'host name not found',
  EAI_AGAIN: 'host name lookup failed',
  ETIMEDOUT: 'connection timed out',
  EPIPE: 'connection closed',
};

function systemCode(error: unknown): string | undefined {
  for (let cause: unknown = error, depth = 0; cause !== undefined && cause !== null && depth < 5; depth++) {
    const code = (cause as { code?: unknown }).code;
    if (typeof code === 'string' && code in networkWords) return code;
    cause = (cause as { cause?: unknown }).cause;
  }
  return undefined;
}

/**
 * The CLI's message for an error of a command that talked to `server`: an
 * unreachable server says which server and context, and what to check; a
 * missing object says where it was looked for. Other errors pass unchanged.
 */
export function explainError(error: unknown, where: { server: string; context: string | undefined; namespace: string }): unknown {
  if (!(error instanceof SluiceError)) return error;
  const code = systemCode(error);
  if (error.code === ErrorCodes.KubeUnavailable && error.status === undefined && code !== undefined) {
    const context = where.context === undefined ? '' : ` (context "${where.context}")`;
    return new SluiceError(ErrorCodes.KubeUnavailable, `cannot reach the API server at ${where.server}${context}: ${networkWords[code] ?? code}`, {
      cause: error,
      hint: 'check that the cluster is running and that the kubeconfig points at it (kubectl cluster-info)',
    });
  }
  if (error.code === ErrorCodes.KubeNotFound && error.hint === undefined) {
    return new SluiceError(ErrorCodes.KubeNotFound, error.message, {
      cause: error, status: error.status,
      hint: `check the name and the namespace (looked in "${where.namespace}"; pass -n NAMESPACE for another)`,
    });
  }
  return error;
}
