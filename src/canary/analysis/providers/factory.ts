// Picks the provider implementation for a MetricTemplate's provider.type.
// Adding a provider is one new file and one line here.
import type { MetricProviderType } from '../../../api/types.ts';
import { PrometheusProvider } from './prometheus.ts';
import type { MetricProvider, ProviderConfig, ProviderFactory } from './provider.ts';

export const providerFactories: Readonly<Record<MetricProviderType, ProviderFactory>> = {
  prometheus: (config) => new PrometheusProvider(config),
};

export function createProvider(config: ProviderConfig): MetricProvider {
  return providerFactories[config.type](config);
}
