// The one catalogue of stable error codes. Callers branch on `code`, never on
// message text; library errors are wrapped into SluiceError at the boundary
// where the library is called (src/kube for client-node, and so on).

export const ErrorCodes = {
  // Kubernetes API
  KubeNotFound: 'KUBE_NOT_FOUND',
  KubeConflict: 'KUBE_CONFLICT',
  KubeAlreadyExists: 'KUBE_ALREADY_EXISTS',
  KubeInvalid: 'KUBE_INVALID',
  KubeForbidden: 'KUBE_FORBIDDEN',
  KubeUnauthorized: 'KUBE_UNAUTHORIZED',
  KubeTooManyRequests: 'KUBE_TOO_MANY_REQUESTS',
  KubeTimeout: 'KUBE_TIMEOUT',
  KubeGone: 'KUBE_GONE',
  KubeUnavailable: 'KUBE_UNAVAILABLE',
  KubeBadRequest: 'KUBE_BAD_REQUEST',
  KubeUnknownKind: 'KUBE_UNKNOWN_KIND',
  KubeServerError: 'KUBE_SERVER_ERROR',
  KubeConfigInvalid: 'KUBE_CONFIG_INVALID',
  // Our own API objects and configuration
  SpecInvalid: 'SPEC_INVALID',
  ConfigInvalid: 'CONFIG_INVALID',
  // Controller runtime
  ShuttingDown: 'SHUTTING_DOWN',
  ReconcileTimeout: 'RECONCILE_TIMEOUT',
  // Git sources
  GitUnreachable: 'GIT_UNREACHABLE',
  GitAuthFailed: 'GIT_AUTH_FAILED',
  GitRefNotFound: 'GIT_REF_NOT_FOUND',
  GitTooLarge: 'GIT_TOO_LARGE',
  GitTimeout: 'GIT_TIMEOUT',
  GitUnsafePath: 'GIT_UNSAFE_PATH',
  // Manifests
  ManifestInvalid: 'MANIFEST_INVALID',
  // Metrics
  PrometheusUnavailable: 'PROMETHEUS_UNAVAILABLE',
  PrometheusQueryError: 'PROMETHEUS_QUERY_ERROR',
  MetricNoData: 'METRIC_NO_DATA',
  // Notifications
  NotificationDispatchFailed: 'NOTIFICATION_DISPATCH_FAILED',
  Internal: 'INTERNAL',
  // Metrics (canary analysis)
  PrometheusAuthFailed: 'PROMETHEUS_AUTH_FAILED',
  MetricResultInvalid: 'METRIC_RESULT_INVALID',
  // Git sources and receivers (issue 4)
  GitRepositoryNotFound: 'GIT_REPOSITORY_NOT_FOUND',
  GitProtocolError: 'GIT_PROTOCOL_ERROR',
  SecretNotFound: 'SECRET_NOT_FOUND',
  SecretInvalid: 'SECRET_INVALID',
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

export interface SluiceErrorOptions {
  cause?: unknown;
  /** HTTP status of the failed call, when there was one. */
  status?: number;
  /** What the user can do about it; shown after the message. */
  hint?: string;
  /** Whether retrying the same call later may succeed. */
  retryable?: boolean;
  /** Seconds the server asked us to wait before retrying. */
  retryAfterSeconds?: number;
}

export class SluiceError extends Error {
  readonly code: ErrorCode;
  readonly status: number | undefined;
  readonly hint: string | undefined;
  readonly retryable: boolean;
  readonly retryAfterSeconds: number | undefined;

  constructor(code: ErrorCode, message: string, options: SluiceErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'SluiceError';
    this.code = code;
    this.status = options.status;
    this.hint = options.hint;
    this.retryable = options.retryable ?? false;
    this.retryAfterSeconds = options.retryAfterSeconds;
  }

  /** Message plus hint, for status conditions and events. */
  describe(): string {
    return this.hint ? `${this.message}; ${this.hint}` : this.message;
  }
}

export function isSluiceError(error: unknown, code?: ErrorCode): error is SluiceError {
  return error instanceof SluiceError && (code === undefined || error.code === code);
}

/** Turns anything thrown into a SluiceError, keeping SluiceErrors as they are. */
export function toSluiceError(error: unknown, code: ErrorCode = ErrorCodes.Internal): SluiceError {
  if (error instanceof SluiceError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new SluiceError(code, message, { cause: error });
}
