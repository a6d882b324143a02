import type { EntityContext } from '../../ledger/entities.ts';
import type { SourceConnector, SourceItem } from '../connector.ts';
import type { Pipeline } from '../pipelines.ts';
import { addCounts, setRunStatus } from '../runs.ts';
import { claimRun, endCancelled } from '../run-cancel.ts';
import type { TargetConnector } from '../target.ts';
import { PAGE_SIZE, chunks } from './context.ts';
import { processPage } from './page.ts';
import { type EngineDeps, afterPages, finish, pageProcessed, syncContext } from './run.ts';

/** Runs records already in hand through the engine as one run, in this process. */
export async function executeInline(
  deps: EngineDeps,
  pipeline: Pipeline,
  entity: EntityContext,
  runId: string,
  items: SourceItem[],
  source: SourceConnector,
  target: TargetConnector,
): Promise<void> {
  const ctx = syncContext(deps, pipeline, entity, source, target, runId);
  // Cancelled while it waited for the pipeline's lease: nothing to do (src/sync/run-cancel.ts).
  if (!(await claimRun(deps.db, runId))) return;
  try {
    for (const page of chunks(items, PAGE_SIZE)) {
      const out = await processPage(ctx, page);
      await pageProcessed(ctx, out.counts);
      const counted = await addCounts(deps.db, runId, out.counts);
      await deps.onPage?.(runId, out.counts);
      // Asked to stop (an import cancelled while it works): the page in hand is kept, the rest not read.
      if (counted.cancelRequested) {
        await endCancelled(deps.db, runId);
        return;
      }
    }
    await finish(ctx, runId, await afterPages(ctx, runId));
  } catch (err) {
    await setRunStatus(deps.db, runId, 'failed', err instanceof Error ? err.message : String(err));
    throw err;
  }
}
