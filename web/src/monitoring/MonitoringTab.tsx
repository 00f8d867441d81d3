import { useId, useState } from 'react';
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
import { EmptyState, ErrorMessage, Loading, StaleNotice } from '../components/States.js';
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

      {stats.loading ? (
        <Loading label="Loading statistics…" />
      ) : stats.error && !stats.data ? (
        <ErrorMessage
          title="Could not load the statistics"
          error={stats.error}
          onRetry={stats.reload}
        />
      ) : stats.data ? (
        <>
          <StaleNotice error={stats.error} />
          <StatTiles stats={stats.data} />
          {stats.data.deliveries === 0 ? (
            <EmptyState title={`No deliveries in ${windowInfo.long}`}>
              <p>
                Charts appear once this endpoint receives deliveries. Send a test from the Overview
                tab.
              </p>
            </EmptyState>
          ) : stats.data.series && stats.data.series.length > 0 ? (
            <Charts series={stats.data.series} range={range} />
          ) : (
            <EmptyState title="No time series available">
              <p>The server did not return deliveries over time for this window.</p>
            </EmptyState>
          )}
        </>
      ) : null}
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

function Charts({ series, range }: { series: StatsBucket[]; range: StatsWindow }) {
  const formatTick = tickFormatter(range);
  const latency = series.map((bucket) => ({
    start: bucket.start,
    p50: bucket.p50,
    p95: bucket.p95,
  }));
  return (
    <div className="charts">
      <figure className="card chart-card">
        <figcaption className="card-title">Deliveries by outcome</figcaption>
        <div
          className="chart"
          role="img"
          aria-label="Stacked bar chart of succeeded, failed and pending deliveries over time. The table below has the same data."
        >
          <ResponsiveContainer width="100%" height={260}>
            <BarChart data={series} margin={{ top: 8, right: 8, bottom: 0, left: -12 }}>
              <CartesianGrid stroke={CHART_COLORS.grid} vertical={false} />
              <XAxis
                dataKey="start"
                tickFormatter={formatTick}
                tick={{ fontSize: 12 }}
                minTickGap={24}
              />
              <YAxis allowDecimals={false} tick={{ fontSize: 12 }} />
              <Tooltip labelFormatter={labelOf} />
              <Legend itemSorter={null} />
              <Bar
                dataKey="succeeded"
                name="Succeeded"
                stackId="outcome"
                fill={CHART_COLORS.succeeded}
                isAnimationActive={false}
              />
              <Bar
                dataKey="failed"
                name="Failed"
                stackId="outcome"
                fill={CHART_COLORS.failed}
                isAnimationActive={false}
              />
              <Bar
                dataKey="pending"
                name="Pending"
                stackId="outcome"
                fill={CHART_COLORS.pending}
                isAnimationActive={false}
              />
            </BarChart>
          </ResponsiveContainer>
        </div>
      </figure>
      <figure className="card chart-card">
        <figcaption className="card-title">Response time</figcaption>
        <div
          className="chart"
          role="img"
          aria-label="Line chart of p50 and p95 response times over time. The table below has the same data."
        >
          <ResponsiveContainer width="100%" height={260}>
            <LineChart data={latency} margin={{ top: 8, right: 8, bottom: 0, left: -4 }}>
              <CartesianGrid stroke={CHART_COLORS.grid} vertical={false} />
              <XAxis
                dataKey="start"
                tickFormatter={formatTick}
                tick={{ fontSize: 12 }}
                minTickGap={24}
              />
              <YAxis tick={{ fontSize: 12 }} unit=" ms" />
              <Tooltip
                labelFormatter={labelOf}
                formatter={(value) => formatDuration(typeof value === 'number' ? value : null)}
              />
              <Legend itemSorter={null} />
              <Line
                type="monotone"
                dataKey="p50"
                name="p50"
                stroke={CHART_COLORS.p50}
                strokeWidth={2}
                dot={{ r: 3 }}
                connectNulls
                isAnimationActive={false}
              />
              <Line
                type="monotone"
                dataKey="p95"
                name="p95"
                stroke={CHART_COLORS.p95}
                strokeWidth={2}
                dot={{ r: 3 }}
                connectNulls
                isAnimationActive={false}
              />
            </LineChart>
          </ResponsiveContainer>
        </div>
      </figure>
      <details className="chart-data">
        <summary>Show the data as a table</summary>
        <div className="table-wrap">
          <table className="table table-compact">
            <thead>
              <tr>
                <th scope="col">From</th>
                <th scope="col" className="numeric">
                  Deliveries
                </th>
                <th scope="col" className="numeric">
                  Succeeded
                </th>
                <th scope="col" className="numeric">
                  Failed
                </th>
                <th scope="col" className="numeric">
                  Pending
                </th>
                <th scope="col" className="numeric">
                  p50
                </th>
                <th scope="col" className="numeric">
                  p95
                </th>
              </tr>
            </thead>
            <tbody>
              {series
                .filter((bucket) => bucket.deliveries > 0)
                .map((bucket) => (
                  <tr key={bucket.start}>
                    <td>{labelOf(bucket.start)}</td>
                    <td className="numeric">{bucket.deliveries}</td>
                    <td className="numeric">{bucket.succeeded}</td>
                    <td className="numeric">{bucket.failed}</td>
                    <td className="numeric">{bucket.pending}</td>
                    <td className="numeric">{formatDuration(bucket.p50)}</td>
                    <td className="numeric">{formatDuration(bucket.p95)}</td>
                  </tr>
                ))}
            </tbody>
          </table>
        </div>
      </details>
    </div>
  );
}
