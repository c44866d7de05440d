import * as d3 from 'd3';
import {
  type HostToWebview,
  type HostToWebviewParams,
  type WebviewToHost,
  isHostToWebview,
  toHost,
} from '../protocol';
import { vscodeApi } from '../vscodeApi';

type LossPoint = HostToWebviewParams['lossPoint'];

interface State {
  points: LossPoint[];
}

const vscode = vscodeApi<State, WebviewToHost>();
const points: LossPoint[] = vscode.getState()?.points ?? [];

const margin = { top: 16, right: 16, bottom: 32, left: 48 };

/** A VS Code theme colour (CSS variable), so the chart follows the theme. */
const themeColor = (name: string, fallback: string): string => `var(--vscode-${name}, ${fallback})`;

const root = d3.select(document.body).append('div').attr('class', 'loss-chart');
const status = root
  .append('div')
  .attr('class', 'status')
  .style('color', themeColor('descriptionForeground', 'gray'))
  .style('font-family', 'var(--vscode-font-family, sans-serif)')
  .text('Waiting for training…');
const legend = root.append('div').attr('class', 'legend-row').style('margin', '4px 0');
const svg = root.append('svg').style('display', 'block');
const plot = svg.append('g');
const xAxisG = plot.append('g').attr('class', 'x-axis');
const yAxisG = plot.append('g').attr('class', 'y-axis');

interface Series {
  key: 'loss' | 'valLoss';
  color: string;
  values: { step: number; value: number }[];
}

function series(): Series[] {
  const train: Series = { key: 'loss', color: themeColor('charts-blue', 'steelblue'), values: [] };
  const val: Series = { key: 'valLoss', color: themeColor('charts-orange', 'orange'), values: [] };
  for (const p of points) {
    train.values.push({ step: p.step, value: p.loss });
    if (p.valLoss !== undefined) val.values.push({ step: p.step, value: p.valLoss });
  }
  return [train, val].filter((s) => s.values.length > 0);
}

function render(): void {
  // Fill what is left of the panel below the status line and legend, so nothing scrolls.
  const top = (svg.node()?.getBoundingClientRect().top ?? 48) + window.scrollY;
  const width = Math.max(200, document.documentElement.clientWidth - 16);
  const height = Math.max(150, window.innerHeight - top - 8);
  svg.attr('width', width).attr('height', height);
  plot.attr('transform', `translate(${margin.left},${margin.top})`);
  const w = width - margin.left - margin.right;
  const h = height - margin.top - margin.bottom;

  const all = series();
  const values = all.flatMap((s) => s.values);
  const x = d3
    .scaleLinear()
    .domain(d3.extent(values, (d) => d.step).map((v) => v ?? 0))
    .range([0, w]);
  const y = d3
    .scaleLinear()
    .domain([0, d3.max(values, (d) => d.value) ?? 1])
    .nice()
    .range([h, 0]);

  const fg = themeColor('foreground', 'currentColor');
  xAxisG.attr('transform', `translate(0,${h})`).call(d3.axisBottom(x).ticks(6));
  yAxisG.call(d3.axisLeft(y).ticks(5));
  plot.selectAll<SVGGElement, unknown>('.x-axis, .y-axis').attr('color', fg);

  const line = d3
    .line<{ step: number; value: number }>()
    .x((d) => x(d.step))
    .y((d) => y(d.value));

  // Keyed join: one path per series, identified by its key.
  plot
    .selectAll<SVGPathElement, Series>('path.series')
    .data(all, (d) => d.key)
    .join('path')
    .attr('class', 'series')
    .attr('fill', 'none')
    .attr('stroke-width', 1.5)
    .attr('stroke', (d) => d.color)
    .attr('d', (d) => line(d.values));

  // Keyed join for the legend.
  legend
    .selectAll<HTMLSpanElement, Series>('span.legend')
    .data(all, (d) => d.key)
    .join('span')
    .attr('class', 'legend')
    .style('margin-right', '1em')
    .style('color', (d) => d.color)
    .style('font-family', 'var(--vscode-font-family, sans-serif)')
    .text((d) => (d.key === 'loss' ? '— train loss' : '— validation loss'));
}

function handle(msg: HostToWebview): void {
  switch (msg.type) {
    case 'lossPoint': {
      points.push(msg.params);
      vscode.setState({ points });
      const { step, loss, valLoss } = msg.params;
      status.text(
        `step ${step}: loss ${loss.toFixed(4)}` + (valLoss === undefined ? '' : `, val ${valLoss.toFixed(4)}`),
      );
      render();
      break;
    }
    case 'trainDone': {
      const last = points.at(-1);
      status.text(last ? `Training done at step ${last.step}: loss ${last.loss.toFixed(4)}` : 'Training done.');
      break;
    }
    case 'error':
      status.style('color', themeColor('errorForeground', 'red')).text(`Error: ${msg.params.message}`);
      break;
  }
}

window.addEventListener('message', (event: MessageEvent<unknown>) => {
  if (isHostToWebview(event.data)) handle(event.data);
});
window.addEventListener('resize', render);

render();
vscode.postMessage(toHost('ready', {}));
