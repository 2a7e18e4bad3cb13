// Maps everything the Kubernetes boundary can throw (client-node's
// ApiException, API Status bodies, socket errors) onto the error catalogue.
import { ApiException } from '@kubernetes/client-node';
import { ErrorCodes, SluiceError, type ErrorCode } from '../errors.ts';

/** The fields of a metav1.Status body that matter for mapping. */
export interface KubeStatusBody {
  kind?: string;
  status?: string;
  message?: string;
  reason?: string;
  code?: number;
  details?: { causes?: { field?: string; message?: string; reason?: string }[]; retryAfterSeconds?: number };
}

const codeByReason: Record<string, ErrorCode> = {
  NotFound: ErrorCodes.KubeNotFound,
  AlreadyExists: ErrorCodes.KubeAlreadyExists,
  Conflict: ErrorCodes.KubeConflict,
  Invalid: ErrorCodes.KubeInvalid,
  Forbidden: ErrorCodes.KubeForbidden,
  Unauthorized: ErrorCodes.KubeUnauthorized,
  TooManyRequests: ErrorCodes.KubeTooManyRequests,
  Timeout: ErrorCodes.KubeTimeout,
  Expired: ErrorCodes.KubeGone,
  Gone: ErrorCodes.KubeGone,
  ServiceUnavailable: ErrorCodes.KubeUnavailable,
  BadRequest: ErrorCodes.KubeBadRequest,
};

const codeByStatus: Record<number, ErrorCode> = {
  400: ErrorCodes.KubeBadRequest,
  401: ErrorCodes.KubeUnauthorized,
  403: ErrorCodes.KubeForbidden,
  404: ErrorCodes.KubeNotFound,
  409: ErrorCodes.KubeConflict,
  410: ErrorCodes.KubeGone,
  422: ErrorCodes.KubeInvalid,
  429: ErrorCodes.KubeTooManyRequests,
  500: ErrorCodes.KubeServerError,
  503: ErrorCodes.KubeUnavailable,
  504: ErrorCodes.KubeTimeout,
};

const hints: Partial<Record<ErrorCode, string>> = {
  [ErrorCodes.KubeForbidden]: "grant sluice's ServiceAccount this verb on this resource (see the chart's RBAC)",
  [ErrorCodes.KubeUnauthorized]: 'check the kubeconfig credentials or the ServiceAccount token',
  [ErrorCodes.KubeUnavailable]: 'the API server is not reachable; sluice retries with backoff',
  [ErrorCodes.KubeInvalid]: 'fix the object named above; the API server rejected it',
};

const retryable = new Set<ErrorCode>([
  ErrorCodes.KubeConflict, ErrorCodes.KubeTooManyRequests, ErrorCodes.KubeTimeout,
  ErrorCodes.KubeUnavailable, ErrorCodes.KubeServerError, ErrorCodes.KubeGone,
]);

function isStatusBody(value: unknown): value is KubeStatusBody {
  return typeof value === 'object' && value !== null && (value as { kind?: unknown }).kind === 'Status';
}

function parseBody(body: unknown): unknown {
  if (typeof body !== 'string') return body;
  try {
    return JSON.parse(body) as unknown;
  } catch {
    return body;
  }
}

/** Builds the SluiceError for a non-2xx answer of the API server. */
export function errorFromResponse(
  httpStatus: number,
  rawBody: unknown,
  context: { what: string; retryAfterHeader?: string | undefined },
): SluiceError {
  const body = parseBody(rawBody);
  const status = isStatusBody(body) ? body : undefined;
  const byReason = status?.reason ? codeByReason[status.reason] : undefined;
  const code: ErrorCode = byReason ?? codeByStatus[httpStatus]
    ?? (httpStatus >= 500 ? ErrorCodes.KubeServerError : ErrorCodes.KubeBadRequest);
  const detail = status?.message ?? (typeof body === 'string' && body.length > 0 ? body.slice(0, 500) : `HTTP ${httpStatus}`);
  const retryAfter = status?.details?.retryAfterSeconds
    ?? (context.retryAfterHeader ? Number.parseInt(context.retryAfterHeader, 10) : undefined);
  return new SluiceError(code, `${context.what}: ${detail}`, {
    status: httpStatus,
    hint: hints[code],
    retryable: retryable.has(code),
    retryAfterSeconds: Number.isFinite(retryAfter) ? retryAfter : undefined,
  });
}

const networkCodes = new Set(['ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN', 'UND_ERR_SOCKET']);

/** Wraps anything thrown while talking to the API server. */
export function mapKubeError(error: unknown, what = 'Kubernetes API request'): SluiceError {
  if (error instanceof SluiceError) return error;
  if (error instanceof ApiException) {
    const apiError = error as ApiException<unknown>;
    return errorFromResponse(apiError.code, apiError.body, { what, retryAfterHeader: apiError.headers['retry-after'] });
  }
  const sysCode = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  if (typeof sysCode === 'string' && networkCodes.has(sysCode)) {
    return new SluiceError(ErrorCodes.KubeUnavailable, `${what}: ${sysCode} ${(error as Error).message}`, {
      cause: error, hint: hints[ErrorCodes.KubeUnavailable], retryable: true,
    });
  }
  if (error instanceof Error && error.name === 'AbortError') {
    return new SluiceError(ErrorCodes.KubeTimeout, `${what}: request aborted or timed out`, { cause: error, retryable: true });
  }
  const message = error instanceof Error ? error.message : String(error);
  return new SluiceError(ErrorCodes.Internal, `${what}: ${message}`, { cause: error });
}
