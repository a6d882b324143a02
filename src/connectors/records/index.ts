import { registerSource } from '../../sync/registry.ts';
import type { SourceItem, SourcePage } from '../../sync/connector.ts';

/**
 * A source that replays records handed to the run in its params (`{ items: SourceItem[] }`): the
 * engine side of imports and retries, where the records are already in hand.
 */
registerSource('records', (pipeline, deps) => ({
  type: 'records',
  async *pages(): AsyncIterable<SourcePage> {
    const items = (deps.params.items as SourceItem[] | undefined) ?? [];
    for (let i = 0; i < items.length; i += 500) yield { items: items.slice(i, i + 500), cursor: String(i + 500) };
  },
}));
