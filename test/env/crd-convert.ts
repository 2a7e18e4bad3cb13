// SMI publishes TrafficSplit only as an apiextensions.k8s.io/v1beta1 CRD,
// which Kubernetes 1.22+ no longer serves. This converts such a CRD to v1
// mechanically (same schema, names and columns), so the published CRD is
// still the one under test.

type Doc = Record<string, unknown>;

const isObject = (value: unknown): value is Doc => typeof value === 'object' && value !== null && !Array.isArray(value);

export function convertCrdToV1(doc: Doc): Doc {
  if (doc.apiVersion !== 'apiextensions.k8s.io/v1beta1') return doc;
  const spec = isObject(doc.spec) ? doc.spec : {};
  const validation = isObject(spec.validation) ? spec.validation : {};
  const schema: Doc = { type: 'object', ...(isObject(validation.openAPIV3Schema) ? validation.openAPIV3Schema : {}) };
  const columns = Array.isArray(spec.additionalPrinterColumns)
    ? spec.additionalPrinterColumns.filter(isObject).map(({ JSONPath, ...column }) => ({ ...column, jsonPath: JSONPath }))
    : undefined;
  const versions = (Array.isArray(spec.versions) ? spec.versions.filter(isObject) : [{ name: spec.version, served: true, storage: true }])
    .filter((version) => version.served === true)
    .map((version) => ({
      name: version.name,
      served: true,
      storage: version.storage === true,
      schema: { openAPIV3Schema: schema },
      ...(columns ? { additionalPrinterColumns: columns } : {}),
      ...(isObject(spec.subresources) ? { subresources: spec.subresources } : {}),
    }));
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: doc.metadata,
    spec: { group: spec.group, scope: spec.scope, names: spec.names, versions },
  };
}
