import { registerSource } from '../../sync/registry.ts';
import { type SourceItem, type SourcePage, pagesOf } from '../../sync/connector.ts';

/**
 * A source that replays records handed to the run in its params (`{ items: SourceItem[] }`): the
 * engine side of imports and retries, where the records are already in hand.
 */
registerSource('records', (pipeline, deps) => ({
  type: 'records',
  async *pages(): AsyncIterable<SourcePage> {
    yield* pagesOf((deps.params.items as SourceItem[] | undefined) ?? []);
  },
}));
