import { type ReactElement, type ReactNode, useId, useState } from 'react';
import {
  Bar,
  BarChart,
  CartesianGrid,
  Legend,
  Line,
  LineChart,
  ResponsiveContainer,
  Tooltip,
  XAxis,
  YAxis,
} from 'recharts';
import type { StatsBucket, StatsWindow, Webhook, WebhookStats } from '../api/types.js';
import { useSession } from '../app/context.js';
import { formatDuration, formatPercent } from '../app/format.js';
import { useResource } from '../app/useResource.js';
import { EmptyState, Loaded } from '../components/States.js';
import { RelativeTime } from '../components/Time.js';
import { CHART_COLORS } from './colors.js';

const WINDOWS: { value: StatsWindow; label: string; long: string }[] = [
  { value: '1h', label: '1 h', long: 'the last hour' },
  { value: '24h', label: '24 h', long: 'the last 24 hours' },
  { value: '7d', label: '7 d', long: 'the last 7 days' },
];

const POLL_MS = 30_000;

function tickFormatter(range: StatsWindow) {
  const format = new Intl.DateTimeFormat(
    undefined,
    range === '7d' ? { month: 'short', day: 'numeric' } : { hour: '2-digit', minute: '2-digit' },
  );
  return (value: string) => {
    const date = new Date(value);
    return Number.isNaN(date.getTime()) ? value : format.format(date);
  };
}

const fullTime = new Intl.DateTimeFormat(undefined, {
  month: 'short',
  day: 'numeric',
  hour: '2-digit',
  minute: '2-digit',
});

function labelOf(value: unknown): string {
  const date = new Date(String(value));
  return Number.isNaN(date.getTime()) ? String(value) : fullTime.format(date);
}

export function MonitoringTab({ webhook }: { webhook: Webhook }) {
  const { api } = useSession();
  const [range, setRange] = useState<StatsWindow>('24h');
  const groupName = useId();
  const stats = useResource(
    `stats:${webhook.id}:${range}`,
    (signal) =>
      api.get<WebhookStats>(
        `/v1/webhooks/${encodeURIComponent(webhook.id)}/stats?window=${range}`,
        signal,
      ),
    { pollMs: POLL_MS },
  );
  const windowInfo = WINDOWS.find((option) => option.value === range) ?? WINDOWS[1]!;

  return (
    <section aria-labelledby="monitoring-title">
      <div className="section-header">
        <h2 id="monitoring-title" className="section-title">
          Monitoring
        </h2>
        <fieldset className="segmented">
          <legend className="visually-hidden">Time window</legend>
          {WINDOWS.map((option) => (
            <label key={option.value} className="segmented-option">
              <input
                type="radio"
                name={groupName}
                value={option.value}
                checked={range === option.value}
                onChange={() => setRange(option.value)}
              />
              <span>{option.label}</span>
            </label>
          ))}
        </fieldset>
      </div>

      <Loaded resource={stats} loading="Loading statistics…" failed="Could not load the statistics">
        {(data) => (
          <>
            <StatTiles stats={data} />
            {data.deliveries === 0 ? (
              <EmptyState title={`No deliveries in ${windowInfo.long}`}>
                <p>
                  Charts appear once this endpoint receives deliveries. Send a test from the
                  Overview tab.
                </p>
              </EmptyState>
            ) : data.series && data.series.length > 0 ? (
              <Charts series={data.series} range={range} />
            ) : (
              <EmptyState title="No time series available">
                <p>The server did not return deliveries over time for this window.</p>
              </EmptyState>
            )}
          </>
        )}
      </Loaded>
    </section>
  );
}

function StatTiles({ stats }: { stats: WebhookStats }) {
  const tiles: { label: string; value: string; tone?: string }[] = [
    { label: 'Deliveries', value: String(stats.deliveries) },
    { label: 'Success rate', value: stats.deliveries ? formatPercent(stats.success_rate) : '—' },
    { label: 'Succeeded', value: String(stats.succeeded), tone: 'success' },
    { label: 'Failed', value: String(stats.failed), tone: stats.failed ? 'danger' : undefined },
    { label: 'Pending', value: String(stats.pending), tone: stats.pending ? 'warning' : undefined },
    { label: 'p50 response', value: formatDuration(stats.response_time_ms.p50) },
    { label: 'p95 response', value: formatDuration(stats.response_time_ms.p95) },
    { label: 'p99 response', value: formatDuration(stats.response_time_ms.p99) },
  ];
  return (
    <>
      <dl className="tiles">
        {tiles.map((tile) => (
          <div key={tile.label} className={`tile${tile.tone ? ` tile-${tile.tone}` : ''}`}>
            <dt>{tile.label}</dt>
            <dd>{tile.value}</dd>
          </div>
        ))}
      </dl>
      {stats.last_delivery_at !== undefined && (
        <p className="muted small">
          Last delivery:{' '}
          <RelativeTime iso={stats.last_delivery_at} fallback="none in this window" />
        </p>
      )}
    </>
  );
}

// The outcome bars, stacked in this order; the legend keeps it.
const OUTCOMES = [
  { key: 'succeeded', name: 'Succeeded' },
  { key: 'failed', name: 'Failed' },
  { key: 'pending', name: 'Pending' },
] as const;

const PERCENTILES = ['p50', 'p95'] as const;

const TICK = { fontSize: 12 };

/** The charts' figures as a table, a row a time bucket after its "From" column. */
const TABLE_COLUMNS: { head: string; cell: (bucket: StatsBucket) => ReactNode }[] = [
  { head: 'Deliveries', cell: (bucket) => bucket.deliveries },
  { head: 'Succeeded', cell: (bucket) => bucket.succeeded },
  { head: 'Failed', cell: (bucket) => bucket.failed },
  { head: 'Pending', cell: (bucket) => bucket.pending },
  { head: 'p50', cell: (bucket) => formatDuration(bucket.p50) },
  { head: 'p95', cell: (bucket) => formatDuration(bucket.p95) },
];

/** A chart card: its caption, and the chart as one image named by `label`. */
function ChartFigure({
  title,
  label,
  children,
}: {
  title: string;
  label: string;
  children: ReactElement;
}) {
  return (
    <figure className="card chart-card">
      <figcaption className="card-title">{title}</figcaption>
      <div className="chart" role="img" aria-label={label}>
        <ResponsiveContainer width="100%" height={260}>
          {children}
        </ResponsiveContainer>
      </div>
    </figure>
  );
}

function Charts({ series, range }: { series: StatsBucket[]; range: StatsWindow }) {
  // Both charts share the time axis, grid, tooltip title and legend order.
  const timeAxis = {
    dataKey: 'start',
    tickFormatter: tickFormatter(range),
    tick: TICK,
    minTickGap: 24,
  };
  const latency = series.map((bucket) => ({
    start: bucket.start,
    p50: bucket.p50,
    p95: bucket.p95,
  }));
  return (
    <div className="charts">
      <ChartFigure
        title="Deliveries by outcome"
        label="Stacked bar chart of succeeded, failed and pending deliveries over time. The table below has the same data."
      >
        <BarChart data={series} margin={{ top: 8, right: 8, bottom: 0, left: -12 }}>
          <CartesianGrid stroke={CHART_COLORS.grid} vertical={false} />
          <XAxis {...timeAxis} />
          <YAxis allowDecimals={false} tick={TICK} />
          <Tooltip labelFormatter={labelOf} />
          <Legend itemSorter={null} />
          {OUTCOMES.map(({ key, name }) => (
            <Bar
              key={key}
              dataKey={key}
              name={name}
              stackId="outcome"
              fill={CHART_COLORS[key]}
              isAnimationActive={false}
            />
          ))}
        </BarChart>
      </ChartFigure>
      <ChartFigure
        title="Response time"
        label="Line chart of p50 and p95 response times over time. The table below has the same data."
      >
        <LineChart data={latency} margin={{ top: 8, right: 8, bottom: 0, left: -4 }}>
          <CartesianGrid stroke={CHART_COLORS.grid} vertical={false} />
          <XAxis {...timeAxis} />
          <YAxis tick={TICK} unit=" ms" />
          <Tooltip
            labelFormatter={labelOf}
            formatter={(value) => formatDuration(typeof value === 'number' ? value : null)}
          />
          <Legend itemSorter={null} />
          {PERCENTILES.map((key) => (
            <Line
              key={key}
              type="monotone"
              dataKey={key}
              name={key}
              stroke={CHART_COLORS[key]}
              strokeWidth={2}
              dot={{ r: 3 }}
              connectNulls
              isAnimationActive={false}
            />
          ))}
        </LineChart>
      </ChartFigure>
      <details className="chart-data">
        <summary>Show the data as a table</summary>
        <div className="table-wrap">
          <table className="table table-compact">
            <thead>
              <tr>
                <th scope="col">From</th>
                {TABLE_COLUMNS.map((column) => (
                  <th key={column.head} scope="col" className="numeric">
                    {column.head}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {series
                .filter((bucket) => bucket.deliveries > 0)
                .map((bucket) => (
                  <tr key={bucket.start}>
                    <td>{labelOf(bucket.start)}</td>
                    {TABLE_COLUMNS.map((column) => (
                      <td key={column.head} className="numeric">
                        {column.cell(bucket)}
                      </td>
                    ))}
                  </tr>
                ))}
            </tbody>
          </table>
        </div>
      </details>
    </div>
  );
}
