// Builds a connection to the API server from a kubeconfig or the in-cluster
// ServiceAccount, using client-node's KubeConfig for every auth mechanism.
import type { RequestOptions } from 'node:https';
import { KubeConfig } from '@kubernetes/client-node';
import { ErrorCodes, SluiceError } from '../errors.ts';
import { chooseKubeconfig } from './kubeconfig.ts';

export interface ConnectionOptions {
  /** Path to a kubeconfig; defaults to $KUBECONFIG, then ~/.kube/config, then in-cluster. */
  kubeconfig?: string | undefined;
  /** Context to use instead of the kubeconfig's current context. */
  context?: string | undefined;
  /** Force the in-cluster ServiceAccount configuration. */
  inCluster?: boolean | undefined;
}

export interface KubeConnection {
  /** Base URL of the API server, without a trailing slash. */
  server: string;
  /** Default namespace of the selected context ("default" when none). */
  namespace: string;
  /** The kubeconfig context in use; undefined in a Pod without a kubeconfig. */
  context: string | undefined;
  /** TLS and auth settings for one request; re-read each time so rotated tokens are used. */
  requestOptions(): Promise<RequestOptions>;
}

export function connect(options: ConnectionOptions = {}): KubeConnection {
  // Checked first: a wrong path or context name gets a message that says which.
  const choice = options.inCluster ? undefined : chooseKubeconfig(options);
  const kc = new KubeConfig();
  try {
    if (options.inCluster) kc.loadFromCluster();
    else if (options.kubeconfig) kc.loadFromFile(options.kubeconfig);
    else kc.loadFromDefault();
    if (options.context) kc.setCurrentContext(options.context);
  } catch (error) {
    throw new SluiceError(ErrorCodes.KubeConfigInvalid, `cannot load Kubernetes configuration: ${(error as Error).message}`, {
      cause: error,
      hint: 'pass --kubeconfig, set KUBECONFIG, or run in a Pod with a ServiceAccount',
    });
  }
  const cluster = kc.getCurrentCluster();
  if (!cluster) {
    throw new SluiceError(ErrorCodes.KubeConfigInvalid, `kubeconfig context "${kc.getCurrentContext()}" names no cluster`, {
      hint: 'check the contexts in the kubeconfig (kubectl config get-contexts)',
    });
  }
  const context = kc.getContextObject(kc.getCurrentContext());
  return {
    server: cluster.server.replace(/\/+$/, ''),
    namespace: context?.namespace ?? 'default',
    context: choice?.context,
    async requestOptions() {
      const requestOptions: RequestOptions = {};
      await kc.applyToHTTPSOptions(requestOptions);
      return requestOptions;
    },
  };
}
