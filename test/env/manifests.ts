// Manifests the integration tests push to Git or apply, written once.

/** What the Deployment may carry besides its image, all left out when absent. */
export interface DeploymentExtras {
  /** The container's ports. */
  ports?: { containerPort: number; name?: string }[];
  /** The container's environment from this ConfigMap (envFrom). */
  configMap?: string;
  /** The pod's nodeSelector. */
  nodeSelector?: Record<string, string>;
}

/** A one-container Deployment labelled app=<name>, as YAML. */
export function deploymentYaml(name: string, image: string, replicas = 1, extras: DeploymentExtras = {}): string {
  // JSON is YAML: the extras are written as flow collections.
  const ports = extras.ports ? `          ports: ${JSON.stringify(extras.ports)}\n` : '';
  const envFrom = extras.configMap ? `          envFrom: ${JSON.stringify([{ configMapRef: { name: extras.configMap } }])}\n` : '';
  const nodeSelector = extras.nodeSelector ? `      nodeSelector: ${JSON.stringify(extras.nodeSelector)}\n` : '';
  return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}
spec:
  replicas: ${replicas}
  selector:
    matchLabels: {app: ${name}}
  template:
    metadata:
      labels: {app: ${name}}
    spec:
      containers:
        - name: app
          image: ${image}
${ports}${envFrom}${nodeSelector}`;
}
