import type { EntityContext } from '../../ledger/entities.ts';
import type { SourceConnector, SourceItem } from '../connector.ts';
import type { Pipeline } from '../pipelines.ts';
import { addCounts, getRun, setRunStatus } from '../runs.ts';
import { processPage } from './page.ts';
import { type EngineDeps, syncContext } from './run.ts';
import { flushWriteBack } from './writeback.ts';

/** Runs records already in hand through the engine as one run, in this process. */
export async function executeInline(
  deps: EngineDeps,
  pipeline: Pipeline,
  entity: EntityContext,
  runId: string,
  items: SourceItem[],
  source: SourceConnector,
): Promise<void> {
  const ctx = syncContext(deps, pipeline, entity, source, runId);
  await setRunStatus(deps.db, runId, 'running');
  try {
    for (let i = 0; i < items.length; i += 500) {
      const out = await processPage(ctx, items.slice(i, i + 500));
      await addCounts(deps.db, runId, out.counts);
    }
    const written = await flushWriteBack(ctx);
    if (written) await addCounts(deps.db, runId, { writtenBack: written });
    const after = await getRun(deps.db, runId);
    await setRunStatus(deps.db, runId, after && after.counts.parked > 0 ? 'partial' : 'succeeded');
  } catch (err) {
    await setRunStatus(deps.db, runId, 'failed', err instanceof Error ? err.message : String(err));
    throw err;
  }
}
