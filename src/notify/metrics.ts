// Counters of the notifier, kept as plain numbers so a /metrics module can
// render them in Prometheus text format without knowing the notifier.

export interface MetricSample {
  name: string;
  help: string;
  type: 'counter' | 'gauge';
  labels: Readonly<Record<string, string>>;
  value: number;
}

interface Cell {
  labels: Record<string, string>;
  value: number;
}

interface MetricDef {
  help: string;
  type: 'counter' | 'gauge';
  labelNames: readonly string[];
}

const definitions = {
  sluice_notify_events_total: { help: 'Events emitted by reconcilers, by severity.', type: 'counter', labelNames: ['severity'] },
  sluice_notify_kube_events_failed_total: { help: 'Events that could not be recorded as Kubernetes Events (API errors or backlog full).', type: 'counter', labelNames: [] },
  sluice_notify_messages_suppressed_total: { help: 'Chat messages not sent by the spam rules, by why (duplicate, repeat, coalesced, below-severity).', type: 'counter', labelNames: ['why'] },
  sluice_notify_messages_queued_total: { help: 'Chat messages queued for delivery, by provider type.', type: 'counter', labelNames: ['provider_type'] },
  sluice_notify_deliveries_total: { help: 'Chat messages that left the queue, by provider type and outcome (sent, failed, dropped).', type: 'counter', labelNames: ['provider_type', 'outcome'] },
  sluice_notify_delivery_retries_total: { help: 'Delivery attempts that were retried, by provider type.', type: 'counter', labelNames: ['provider_type'] },
  sluice_notify_queue_depth: { help: 'Chat messages waiting for delivery.', type: 'gauge', labelNames: [] },
} as const satisfies Record<string, MetricDef>;

export type NotifyMetricName = keyof typeof definitions;

function labelKey(labels: Readonly<Record<string, string>>): string {
  return JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : 1)));
}

export class NotifyMetrics {
  readonly #values = new Map<NotifyMetricName, Map<string, Cell>>();

  inc(name: NotifyMetricName, labels: Record<string, string> = {}, by = 1): void {
    this.#cell(name, labels).value += by;
  }

  set(name: NotifyMetricName, value: number, labels: Record<string, string> = {}): void {
    this.#cell(name, labels).value = value;
  }

  /** One value; with labels omitted, the sum over all label values. */
  value(name: NotifyMetricName, labels?: Record<string, string>): number {
    const cells = this.#values.get(name);
    if (!cells) return 0;
    if (labels) return cells.get(labelKey(labels))?.value ?? 0;
    let sum = 0;
    for (const cell of cells.values()) sum += cell.value;
    return sum;
  }

  snapshot(): MetricSample[] {
    const samples: MetricSample[] = [];
    for (const [name, cells] of this.#values) {
      const def: MetricDef = definitions[name];
      for (const cell of cells.values()) samples.push({ name, help: def.help, type: def.type, labels: { ...cell.labels }, value: cell.value });
    }
    return samples;
  }

  #cell(name: NotifyMetricName, labels: Record<string, string>): Cell {
    let cells = this.#values.get(name);
    if (!cells) this.#values.set(name, cells = new Map<string, Cell>());
    const key = labelKey(labels);
    let cell = cells.get(key);
    if (!cell) cells.set(key, cell = { labels: { ...labels }, value: 0 });
    return cell;
  }
}
