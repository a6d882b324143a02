import { AGING_BUCKETS, type AgingBucket } from '../../domain/aging.ts';

/**
 * The aging buckets as the dashboard names them: the six of src/domain/aging.ts, which are the
 * ledger's (docs/ledger.md) and AccountsIQ's (current, 1–30, 31–60, 61–90, 91–120, over 120 days).
 * Every page shows all six: the overview, a customer, aged debtors, and the statement PDF.
 */
export const AGING_HEADERS: Record<AgingBucket, string> = {
  current: 'Current',
  days1to30: '1–30',
  days31to60: '31–60',
  days61to90: '61–90',
  days91to120: '91–120',
  over120: 'Over 120',
};

/** The same buckets in words, for a chart's labels and its table of numbers. */
export const AGING_LABELS: Record<AgingBucket, string> = {
  current: 'Current',
  days1to30: '1–30 days',
  days31to60: '31–60 days',
  days61to90: '61–90 days',
  days91to120: '91–120 days',
  over120: 'Over 120 days',
};

export interface AgingBar {
  bucket: AgingBucket;
  /** Minor units, signed: positive owed by the customer, negative owed to them (credits). */
  value: bigint;
  /** The amount as the table and the bar's title show it. */
  display: string;
}

const TOP = 2;
const HEIGHT = 116;

/** `part` of `whole` units of height, scaled in integers (per mille), so an amount never becomes a float. */
function scaled(part: bigint, whole: bigint, height: number): number {
  return whole > 0n ? (Number((part * 1000n) / whole) * height) / 1000 : 0;
}

/**
 * The aging of a balance as a bar chart drawn on the server, bars above the zero line for what is
 * owed and below it for credits, each to scale (a credit is a bar of its size, not a hairline), with
 * the numbers in a table ("Show the numbers") that screen readers read instead of the picture.
 */
export function AgingChart(props: { id: string; title: string; valueLabel: string; bars: AgingBar[] }) {
  const { bars } = props;
  let up = 0n;
  let down = 0n;
  for (const b of bars) {
    if (b.value > up) up = b.value;
    if (-b.value > down) down = -b.value;
  }
  // The zero line splits the height in proportion to the largest amount on each side.
  const zero = TOP + scaled(up, up + down, HEIGHT);
  const slot = 100 / Math.max(1, bars.length);
  const hasCredit = down > 0n;
  return (
    <figure class="chart aging-chart" aria-labelledby={`${props.id}-title`}>
      <figcaption id={`${props.id}-title`}>{props.title}</figcaption>
      <svg
        class="chart-svg"
        viewBox={`0 0 100 ${TOP * 2 + HEIGHT}`}
        preserveAspectRatio="none"
        aria-hidden="true"
        focusable="false"
        role="presentation"
      >
        {bars.map((b, i) => {
          const negative = b.value < 0n;
          const size = negative ? -b.value : b.value;
          // A bar never shrinks below a visible sliver when its amount is not zero.
          const h = b.value === 0n ? 0 : Math.max(scaled(size, up + down, HEIGHT), 2);
          return (
            <rect
              class={negative ? 'chart-bar negative' : 'chart-bar'}
              x={(i * slot + slot * 0.15).toFixed(2)}
              y={(negative ? zero : zero - h).toFixed(2)}
              width={(slot * 0.7).toFixed(2)}
              height={h.toFixed(2)}
            >
              <title>{`${AGING_LABELS[b.bucket]}: ${b.display}`}</title>
            </rect>
          );
        })}
        <line class="chart-axis" x1="0" y1={zero.toFixed(2)} x2="100" y2={zero.toFixed(2)} />
      </svg>
      <div class="chart-labels" aria-hidden="true">
        {bars.map((b) => (
          <span class={b.value < 0n ? 'credit' : undefined}>
            {AGING_LABELS[b.bucket]}
            {b.value < 0n ? <small> credit</small> : null}
          </span>
        ))}
      </div>
      {hasCredit ? (
        <p class="chart-note muted">Bars below the line are credits: receipts and credit notes not yet allocated.</p>
      ) : null}
      <details class="chart-data">
        <summary>Show the numbers</summary>
        <table>
          <caption class="visually-hidden">{props.title}</caption>
          <thead>
            <tr>
              <th scope="col">Age</th>
              <th scope="col" class="num">
                {props.valueLabel}
              </th>
            </tr>
          </thead>
          <tbody>
            {bars.map((b) => (
              <tr>
                <th scope="row">{AGING_LABELS[b.bucket]}</th>
                <td class="num">{b.display}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </details>
    </figure>
  );
}

/** The six bars of an aging, in bucket order, each formatted by `display`. */
export function agingBars(aging: Record<AgingBucket, bigint>, display: (minor: bigint) => string): AgingBar[] {
  return AGING_BUCKETS.map((bucket) => ({ bucket, value: aging[bucket], display: display(aging[bucket]) }));
}
