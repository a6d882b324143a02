export interface Bar {
  /** The bar's label under the chart and in the table. */
  label: string;
  /** Its height, in any unit: bars are scaled to the largest. A count or minor units as a bigint. */
  value: number | bigint;
  /** What the table and the bar's title show (a formatted amount, a count). */
  display: string;
}

const HEIGHT = 120;

/**
 * A bar chart drawn on the server as SVG (no script, no inline style), with the same data as a
 * table for screen readers and anyone who wants the numbers: the SVG is hidden from assistive
 * technology and the table, its caption being the chart's title, is what they read.
 */
export function BarChart(props: {
  id: string;
  title: string;
  bars: Bar[];
  labelHeader: string;
  valueLabel: string;
  labelEvery?: number;
}) {
  const { bars } = props;
  const max = bars.reduce<bigint>((m, b) => {
    const v = BigInt(b.value);
    return v > m ? v : m;
  }, 0n);
  const every = props.labelEvery ?? 1;
  const slot = 100 / Math.max(1, bars.length);
  return (
    <figure class="chart" aria-labelledby={`${props.id}-title`}>
      <figcaption id={`${props.id}-title`}>{props.title}</figcaption>
      <svg
        class="chart-svg"
        viewBox={`0 0 100 ${HEIGHT + 14}`}
        preserveAspectRatio="none"
        aria-hidden="true"
        focusable="false"
        role="presentation"
      >
        <line class="chart-axis" x1="0" y1={HEIGHT} x2="100" y2={HEIGHT} />
        {bars.map((b, i) => {
          const v = BigInt(b.value);
          const positive = v > 0n ? v : 0n;
          // Scaled in integers (per mille of the height), so a bigint amount never becomes a float.
          const h = max > 0n ? (Number((positive * 1000n) / max) * HEIGHT) / 1000 : 0;
          const x = i * slot + slot * 0.15;
          return (
            <g>
              <rect
                class={v < 0n ? 'chart-bar negative' : 'chart-bar'}
                x={x.toFixed(2)}
                y={(HEIGHT - Math.max(h, v !== 0n ? 1 : 0)).toFixed(2)}
                width={(slot * 0.7).toFixed(2)}
                height={Math.max(h, v !== 0n ? 1 : 0).toFixed(2)}
              >
                <title>{`${b.label}: ${b.display}`}</title>
              </rect>
            </g>
          );
        })}
      </svg>
      <div class={every > 1 ? 'chart-labels sparse' : 'chart-labels'} aria-hidden="true">
        {bars.map((b, i) => (
          <span>{i % every === 0 ? b.label : ''}</span>
        ))}
      </div>
      <details class="chart-data">
        <summary>Show the numbers</summary>
        <table>
          <caption class="visually-hidden">{props.title}</caption>
          <thead>
            <tr>
              <th scope="col">{props.labelHeader}</th>
              <th scope="col" class="num">
                {props.valueLabel}
              </th>
            </tr>
          </thead>
          <tbody>
            {bars.map((b) => (
              <tr>
                <th scope="row">{b.label}</th>
                <td class="num">{b.display}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </details>
    </figure>
  );
}
