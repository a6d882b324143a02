/**
 * The load client of bench/http-load.ts, in a process of its own: receives one LoadOptions over
 * IPC, runs autocannon, sends back the latency of every response and the counts of what failed.
 */
import autocannon, { type Request } from 'autocannon';
import type { ClientReport, LoadOptions, LoadRequest } from './http-load.ts';

function request(r: LoadRequest, o: LoadOptions, count: { notSuccess: number }): Request {
  let next = 0;
  return {
    method: r.method,
    ...(r.headers ? { headers: r.headers } : {}),
    path: r.paths[0],
    setupRequest: (req) => {
      const i = next++;
      const path = r.paths[i % r.paths.length]!;
      return r.bodies ? { ...req, path, body: r.bodies[i % r.bodies.length]! } : { ...req, path };
    },
    ...(o.countNotSuccess
      ? {
          onResponse: (status: number, text: string) => {
            if (status !== 200) return; // counted as non-2xx by autocannon
            if ((JSON.parse(text) as { status?: string }).status !== 'Success') count.notSuccess++;
          },
        }
      : {}),
  };
}

async function run(o: LoadOptions): Promise<void> {
  const count = { notSuccess: 0 };
  const samples: number[] = [];
  const instance = autocannon({
    url: o.url,
    connections: o.connections,
    requests: o.requests.map((r) => request(r, o, count)),
    timeout: o.timeoutSeconds ?? 60,
    ...(o.amount === undefined ? { duration: o.seconds ?? 10 } : { amount: o.amount }),
  });
  const started = performance.now();
  let last = started;
  instance.on('response', (_client, _status, _bytes, ms) => {
    samples.push(ms);
    last = performance.now();
  });
  const r = await instance;
  const report: ClientReport = {
    samples,
    // Up to the last answer: autocannon notices that `amount` is reached on its once-a-second tick,
    // so the time it resolves would add up to a second of nothing to every load.
    seconds: (last - started) / 1000,
    non2xx: r.non2xx,
    errors: r.errors,
    timeouts: r.timeouts,
    notSuccess: count.notSuccess,
  };
  process.send!(report, () => process.exit(0));
}

process.once('message', (message) => {
  run(message as LoadOptions).catch((err: unknown) => {
    process.stderr.write(`load client: ${String(err)}\n`);
    process.exit(1);
  });
});
