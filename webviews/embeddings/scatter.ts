/**
 * The vocabulary scatter: every token at its (PC1, PC2) on two stacked canvases (points and room labels below;
 * highlights, labels of highlighted points and the hover ring above), d3 axes in an SVG around them, d3-zoom for zoom
 * and pan, and d3.Delaunay in base pixel space for hit-testing. The base layer redraws on zoom only; hover redraws the
 * thin top layer, so both stay smooth at 10k points.
 */
import { axisBottom, axisLeft, Delaunay, quadtree, scaleLinear, select, zoom, zoomIdentity, type Quadtree, type ScaleLinear,
  type Selection, type ZoomBehavior, type ZoomTransform } from '../shared/d3';
import { showToken as visible } from '../shared/format';
import { onThemeChange } from '../shared/theme';
import { createTooltip, type Tooltip } from '../shared/tooltip';
import { num, percent } from './state';

export interface ScatterPoint {
  id: number;
  text: string;
  unknown: boolean;
  x: number;
  y: number;
}

/**
 * What the scatter highlights; every number is an index into the points (or -1 when the token is not among them).
 * A query of several tokens (the mean of their embeddings) is drawn at the mean of their points: the projection is
 * linear, so that is where the mean embedding projects.
 */
export type Highlight =
  | { kind: 'neighbours'; query: number[]; nearest: number[] }
  | { kind: 'analogy'; a: number; b: number; c: number; nearest: number[] };

export interface SavedTransform {
  k: number;
  x: number;
  y: number;
}

interface Colours {
  fg: string;
  muted: string;
  bg: string;
  border: string;
  point: string;
  query: string;
  analogy: string;
  result: string;
}

interface PlacedLabel {
  index: number;
  text: string;
  x: number; // text baseline start
  y: number;
  box: [number, number, number, number]; // screen x0, y0, x1, y1
  colour: string;
  bold: boolean;
}

const MARGIN = { top: 10, right: 14, bottom: 46, left: 58 };
const LABEL_FONT = '11px';
/** Room labels are tried only when at most this many points are on screen ("zoomed in enough"). */
const ROOM_LABEL_CANDIDATES = 2500;
const MAX_ROOM_LABELS = 400;
const HOVER_RADIUS = 12; // px: how near the pointer must be to a point to hover it

export class Scatter {
  readonly root: HTMLDivElement;
  private readonly base: HTMLCanvasElement;
  private readonly top: HTMLCanvasElement;
  private readonly svg: Selection<SVGSVGElement, unknown, null, undefined>;
  private readonly tooltip: Tooltip = createTooltip();
  private readonly empty: HTMLDivElement;
  private readonly zoomer: ZoomBehavior<HTMLCanvasElement, unknown>;

  private points: ScatterPoint[] = [];
  private explained: [number, number] = [NaN, NaN];
  private bx = new Float64Array(0); // base pixel coordinates (zoom identity), the space of the Delaunay and quadtree
  private by = new Float64Array(0);
  private delaunay: Delaunay<number> | null = null;
  private tree: Quadtree<number> | null = null;
  private xBase: ScaleLinear<number, number> = scaleLinear();
  private yBase: ScaleLinear<number, number> = scaleLinear();
  private width = 0; // plot area, CSS px
  private height = 0;
  private transform: ZoomTransform = zoomIdentity;
  private highlight: Highlight | null = null;
  private emphasis = -1; // a table row under the pointer or focus
  private hover = -1;
  private lastFound = 0;
  private highlightLabels: PlacedLabel[] = [];
  private colours: Colours | null = null;
  private readonly textWidths = new Map<string, number>();
  private frame = 0;
  private stamp: { canvas: HTMLCanvasElement; image: ImageData; width: number; height: number } | null = null;
  private readonly rgbCache = new Map<string, [number, number, number]>();
  private font = 'monospace';

  /** Called when a point is clicked. */
  onPick: (index: number) => void = () => {};
  /** Called (debounced by the caller) after the view moved. */
  onTransform: (t: SavedTransform) => void = () => {};
  /** Called after every full draw with what is on screen. */
  onDrawn: (stats: { points: number; visible: number; labels: number }) => void = () => {};

  constructor(parent: HTMLElement) {
    this.root = document.createElement('div');
    this.root.className = 'plot';
    parent.append(this.root);
    this.svg = select(this.root).append('svg').attr('class', 'axes').attr('aria-hidden', 'true');
    this.svg.append('g').attr('class', 'grid grid-x');
    this.svg.append('g').attr('class', 'grid grid-y');
    this.svg.append('g').attr('class', 'axis axis-x');
    this.svg.append('g').attr('class', 'axis axis-y');
    this.svg.append('text').attr('class', 'axis-title axis-title-x').attr('text-anchor', 'middle');
    this.svg.append('text').attr('class', 'axis-title axis-title-y').attr('text-anchor', 'middle');
    this.base = document.createElement('canvas');
    this.base.className = 'layer layer-base';
    this.base.setAttribute('aria-hidden', 'true');
    this.top = document.createElement('canvas');
    this.top.className = 'layer layer-top';
    this.top.tabIndex = 0;
    this.top.setAttribute('role', 'img');
    this.root.append(this.base, this.top);
    this.empty = document.createElement('div');
    this.empty.className = 'plot-empty muted';
    this.empty.textContent = 'Waiting for the model’s embeddings…';
    this.root.append(this.empty);

    this.zoomer = zoom<HTMLCanvasElement, unknown>()
      .scaleExtent([0.5, 2000])
      .on('zoom', (event: { transform: ZoomTransform }) => {
        this.transform = event.transform;
        this.hideTooltip();
        this.schedule();
        this.onTransform({ k: this.transform.k, x: this.transform.x, y: this.transform.y });
      });
    select(this.top).call(this.zoomer).on('dblclick.zoom', null);

    this.top.addEventListener('pointermove', (e) => this.pointerMove(e));
    this.top.addEventListener('pointerleave', () => this.setHover(-1));
    this.top.addEventListener('click', (e) => {
      const i = this.hit(e);
      if (i >= 0) this.onPick(i);
    });
    this.top.addEventListener('keydown', (e) => this.keydown(e));
    new ResizeObserver(() => this.resize()).observe(this.root);
    onThemeChange(() => {
      this.colours = null;
      this.rgbCache.clear();
      this.textWidths.clear();
      this.draw();
    });
    this.updateLabel();
    // Resolve the label font now (its first measureText costs ~50 ms of font lookup), not when the data arrives.
    const ctx = this.base.getContext('2d');
    if (ctx) {
      this.readColours();
      for (const weight of ['', '600 ']) {
        ctx.font = `${weight}12px ${this.font}`;
        ctx.measureText('x');
      }
      ctx.font = `${LABEL_FONT} ${this.font}`;
      ctx.measureText('x');
    }
  }

  // ---- data ---------------------------------------------------------------------------------------------------

  setData(points: ScatterPoint[], explained: [number, number], transform?: SavedTransform): void {
    this.points = points;
    this.explained = explained;
    this.highlight = null;
    this.hover = -1;
    this.emphasis = -1;
    this.lastFound = 0;
    this.empty.hidden = points.length > 0;
    this.empty.textContent = 'The model has no tokens to show.';
    this.layout(true);
    const t = transform && [transform.k, transform.x, transform.y].every(Number.isFinite) && transform.k > 0
      ? zoomIdentity.translate(transform.x, transform.y).scale(transform.k)
      : zoomIdentity;
    this.zoomer.transform(select(this.top), t); // sets this.transform through the zoom event
    this.draw(); // now, synchronously: the first paint does not wait for a frame
    // the hit-testing index, while the user has not moved yet
    if ('requestIdleCallback' in window) window.requestIdleCallback(() => this.getDelaunay());
    else setTimeout(() => this.getDelaunay(), 30);
  }

  setHighlight(h: Highlight | null): void {
    this.highlight = h;
    this.draw();
  }

  /** Emphasises one point (a table row under the pointer or keyboard focus); -1 clears. */
  setEmphasis(index: number): void {
    if (index === this.emphasis) return;
    this.emphasis = index;
    this.drawTop();
  }

  get transformNow(): SavedTransform {
    return { k: this.transform.k, x: this.transform.x, y: this.transform.y };
  }

  // ---- navigation ---------------------------------------------------------------------------------------------

  zoomBy(factor: number): void {
    this.zoomer.scaleBy(select(this.top), factor, [this.width / 2, this.height / 2]);
  }

  panBy(dx: number, dy: number): void {
    this.zoomer.translateBy(select(this.top), dx / this.transform.k, dy / this.transform.k);
  }

  reset(): void {
    this.zoomer.transform(select(this.top), zoomIdentity);
  }

  /** Zooms so that the given points fill most of the plot (for "zoom to highlighted"). */
  fit(indices: number[]): void {
    const ok = indices.filter((i) => i >= 0 && i < this.points.length);
    if (ok.length === 0 || this.width === 0) return;
    let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
    for (const i of ok) {
      x0 = Math.min(x0, this.bx[i]); x1 = Math.max(x1, this.bx[i]);
      y0 = Math.min(y0, this.by[i]); y1 = Math.max(y1, this.by[i]);
    }
    const pad = 0.7; // leave room for labels
    const k = Math.min(2000, Math.max(0.5, pad * Math.min(this.width / Math.max(x1 - x0, 1e-6), this.height / Math.max(y1 - y0, 1e-6))));
    const kk = Math.min(k, 60 * Math.max(1, this.transform.k)); // never jump absurdly deep in one go
    const t = zoomIdentity.translate(this.width / 2, this.height / 2).scale(kk).translate(-(x0 + x1) / 2, -(y0 + y1) / 2);
    this.zoomer.transform(select(this.top), t);
  }

  private keydown(e: KeyboardEvent): void {
    const step = 60;
    const actions: Record<string, () => void> = {
      ArrowLeft: () => this.panBy(step, 0),
      ArrowRight: () => this.panBy(-step, 0),
      ArrowUp: () => this.panBy(0, step),
      ArrowDown: () => this.panBy(0, -step),
      '+': () => this.zoomBy(1.5),
      '=': () => this.zoomBy(1.5),
      '-': () => this.zoomBy(1 / 1.5),
      _: () => this.zoomBy(1 / 1.5),
      '0': () => this.reset(),
      Home: () => this.reset(),
    };
    const act = actions[e.key];
    if (act && !e.ctrlKey && !e.metaKey && !e.altKey) {
      e.preventDefault();
      act();
    }
  }

  // ---- geometry -----------------------------------------------------------------------------------------------

  private resize(): void {
    this.layout(false);
    this.draw();
  }

  /** Sizes the canvases to the plot area and recomputes the base scales (equal aspect: a unit is as long on both axes). */
  private layout(force: boolean): void {
    const rect = this.root.getBoundingClientRect();
    const w = Math.max(50, Math.floor(rect.width) - MARGIN.left - MARGIN.right);
    const h = Math.max(50, Math.floor(rect.height) - MARGIN.top - MARGIN.bottom);
    const dpr = window.devicePixelRatio || 1;
    if (force || w !== this.width || h !== this.height) {
      this.width = w;
      this.height = h;
      for (const c of [this.base, this.top]) {
        c.width = Math.round(w * dpr);
        c.height = Math.round(h * dpr);
        c.style.width = `${w}px`;
        c.style.height = `${h}px`;
        c.style.left = `${MARGIN.left}px`;
        c.style.top = `${MARGIN.top}px`;
      }
      this.svg.attr('width', rect.width).attr('height', rect.height);
    }
    const n = this.points.length;
    let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
    for (const p of this.points) {
      if (p.x < x0) x0 = p.x;
      if (p.x > x1) x1 = p.x;
      if (p.y < y0) y0 = p.y;
      if (p.y > y1) y1 = p.y;
    }
    if (n === 0) [x0, x1, y0, y1] = [-1, 1, -1, 1];
    const dx = Math.max(x1 - x0, 1e-9), dy = Math.max(y1 - y0, 1e-9);
    const ppu = 0.92 * Math.min(w / dx, h / dy); // pixels per unit, 4% padding each side
    const cx = (x0 + x1) / 2, cy = (y0 + y1) / 2;
    this.xBase = scaleLinear().domain([cx - w / 2 / ppu, cx + w / 2 / ppu]).range([0, w]);
    this.yBase = scaleLinear().domain([cy - h / 2 / ppu, cy + h / 2 / ppu]).range([h, 0]);
    this.bx = new Float64Array(n);
    this.by = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      this.bx[i] = this.xBase(this.points[i].x);
      this.by[i] = this.yBase(this.points[i].y);
    }
    // The hit-testing and label-room indexes are built when first needed (a hover, a zoomed-in draw), not before
    // the first paint: at 10k points they cost more than drawing.
    this.delaunay = null;
    this.tree = null;
  }

  private getDelaunay(): Delaunay<number> | null {
    const n = this.points.length;
    if (!this.delaunay && n > 0) {
      const coords = new Float64Array(2 * n);
      for (let i = 0; i < n; i++) {
        coords[2 * i] = this.bx[i];
        coords[2 * i + 1] = this.by[i];
      }
      this.delaunay = new Delaunay(coords);
    }
    return this.delaunay;
  }

  private getTree(): Quadtree<number> {
    if (!this.tree) {
      const bx = this.bx, by = this.by;
      this.tree = quadtree<number>().x((i) => bx[i]).y((i) => by[i]).addAll(Array.from({ length: this.points.length }, (_, i) => i));
    }
    return this.tree;
  }

  private radius(): number {
    const n = Math.max(1, this.points.length);
    const r0 = Math.min(4.5, Math.max(1.6, 34 / Math.sqrt(n)));
    return r0 * Math.min(2.2, Math.pow(this.transform.k, 0.3));
  }

  // ---- hover --------------------------------------------------------------------------------------------------

  private hit(e: MouseEvent): number {
    const delaunay = this.getDelaunay();
    if (!delaunay) return -1;
    const r = this.top.getBoundingClientRect();
    const mx = e.clientX - r.left, my = e.clientY - r.top;
    const [px, py] = this.transform.invert([mx, my]);
    const i = delaunay.find(px, py, this.lastFound);
    if (i < 0) return -1;
    this.lastFound = i;
    const sx = this.transform.applyX(this.bx[i]), sy = this.transform.applyY(this.by[i]);
    return Math.hypot(sx - mx, sy - my) <= Math.max(HOVER_RADIUS, this.radius() + 4) ? i : -1;
  }

  private pointerMove(e: PointerEvent): void {
    if (e.buttons !== 0) return; // panning
    const i = this.hit(e);
    this.setHover(i);
    if (i >= 0) {
      const p = this.points[i];
      this.tooltip.show(`${visible(p.text)}   id ${p.id}${p.unknown ? ' (unknown)' : ''}\nPC1 ${num(p.x)}\nPC2 ${num(p.y)}`,
        e.clientX, e.clientY);
      this.top.style.cursor = 'pointer';
    } else {
      this.hideTooltip();
    }
  }

  private setHover(i: number): void {
    if (i === this.hover) return;
    this.hover = i;
    if (i < 0) this.hideTooltip();
    this.drawTop();
  }

  private hideTooltip(): void {
    this.tooltip.hide();
    this.top.style.cursor = '';
  }

  // ---- drawing ------------------------------------------------------------------------------------------------

  private schedule(): void {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.draw();
    });
  }

  private readColours(): Colours {
    if (this.colours) return this.colours;
    const cs = getComputedStyle(this.root);
    const v = (name: string, fallback: string): string => cs.getPropertyValue(name).trim() || fallback;
    this.font = v('--vscode-editor-font-family', 'monospace');
    this.colours = {
      fg: v('--vscode-foreground', '#333'),
      muted: v('--vscode-descriptionForeground', '#777'),
      bg: v('--vscode-editor-background', '#fff'),
      border: v('--vscode-panel-border', 'rgba(128,128,128,0.35)'),
      point: v('--vscode-charts-blue', '#3794ff'),
      query: v('--vscode-charts-orange', '#d18616'),
      analogy: v('--vscode-charts-purple', '#b180d7'),
      result: v('--vscode-charts-green', '#89d185'),
    };
    return this.colours;
  }

  private textWidth(ctx: CanvasRenderingContext2D, text: string, bold: boolean): number {
    const key = (bold ? 'b' : 'n') + text;
    let w = this.textWidths.get(key);
    if (w === undefined) {
      w = ctx.measureText(text).width;
      this.textWidths.set(key, w);
    }
    return w;
  }

  /** Draws everything: axes, the point layer, then the highlight layer. */
  draw(): void {
    if (this.frame) {
      cancelAnimationFrame(this.frame);
      this.frame = 0;
    }
    if (this.width === 0) this.layout(true);
    const c = this.readColours();
    this.drawAxes();
    this.highlightLabels = this.layoutHighlightLabels();
    const stats = this.drawBase(c);
    this.drawTop();
    this.updateLabel();
    this.onDrawn(stats);
  }

  private drawAxes(): void {
    const zx = this.transform.rescaleX(this.xBase), zy = this.transform.rescaleY(this.yBase);
    const { width: w, height: h } = this;
    const xTicks = Math.max(2, Math.floor(w / 90)), yTicks = Math.max(2, Math.floor(h / 60));
    const fmt = zx.tickFormat(xTicks), fmtY = zy.tickFormat(yTicks);
    this.svg.select<SVGGElement>('.axis-x').attr('transform', `translate(${MARGIN.left},${MARGIN.top + h})`)
      .call(axisBottom(zx).ticks(xTicks).tickFormat((d) => fmt(d).replace('-', '−')).tickSizeOuter(0));
    this.svg.select<SVGGElement>('.axis-y').attr('transform', `translate(${MARGIN.left},${MARGIN.top})`)
      .call(axisLeft(zy).ticks(yTicks).tickFormat((d) => fmtY(d).replace('-', '−')).tickSizeOuter(0));
    this.svg.select<SVGGElement>('.grid-x').attr('transform', `translate(${MARGIN.left},${MARGIN.top + h})`)
      .call(axisBottom(zx).ticks(xTicks).tickSize(-h).tickFormat(() => ''));
    this.svg.select<SVGGElement>('.grid-y').attr('transform', `translate(${MARGIN.left},${MARGIN.top})`)
      .call(axisLeft(zy).ticks(yTicks).tickSize(-w).tickFormat(() => ''));
    const [e1, e2] = this.explained.map(percent);
    this.svg.select('.axis-title-x').attr('x', MARGIN.left + w / 2).attr('y', MARGIN.top + h + 38)
      .text(e1 ? `PC1 · ${e1} of variance` : 'PC1');
    this.svg.select('.axis-title-y').attr('transform', `translate(14,${MARGIN.top + h / 2}) rotate(-90)`)
      .text(e2 ? `PC2 · ${e2} of variance` : 'PC2');
  }

  private drawBase(c: Colours): { points: number; visible: number; labels: number } {
    const ctx = this.base.getContext('2d');
    if (!ctx) return { points: 0, visible: 0, labels: 0 };
    const dpr = this.base.width / Math.max(1, this.width);
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, this.width, this.height);
    const { k, x: tx, y: ty } = this.transform;
    const n = this.points.length;
    if (n === 0) return { points: 0, visible: 0, labels: 0 };

    // the origin: PCA is centred, so (0, 0) is the mean embedding
    const ox = tx + k * this.xBase(0), oy = ty + k * this.yBase(0);
    ctx.strokeStyle = c.muted;
    ctx.globalAlpha = 0.35;
    ctx.lineWidth = 1;
    ctx.setLineDash([3, 4]);
    ctx.beginPath();
    if (ox >= 0 && ox <= this.width) { ctx.moveTo(Math.round(ox) + 0.5, 0); ctx.lineTo(Math.round(ox) + 0.5, this.height); }
    if (oy >= 0 && oy <= this.height) { ctx.moveTo(0, Math.round(oy) + 0.5); ctx.lineTo(this.width, Math.round(oy) + 0.5); }
    ctx.stroke();
    ctx.setLineDash([]);

    const r = this.radius();
    const pad = r + 1;
    const onScreen: number[] = [];
    const unknown = new Path2D();
    const discs: number[] = []; // screen x, y of every known point on screen
    for (let i = 0; i < n; i++) {
      const sx = tx + k * this.bx[i], sy = ty + k * this.by[i];
      if (sx < -pad || sy < -pad || sx > this.width + pad || sy > this.height + pad) continue;
      onScreen.push(i);
      if (this.points[i].unknown) {
        unknown.moveTo(sx - r, sy - r); unknown.lineTo(sx + r, sy + r);
        unknown.moveTo(sx + r, sy - r); unknown.lineTo(sx - r, sy + r);
      } else {
        discs.push(sx, sy);
      }
    }
    this.stampDiscs(ctx, discs, c.point, this.highlight ? 0.5 : 0.85, r, dpr);
    ctx.globalAlpha = 0.9;
    ctx.strokeStyle = c.muted;
    ctx.lineWidth = 1.2;
    ctx.stroke(unknown);
    ctx.globalAlpha = 1;

    const labels = onScreen.length <= ROOM_LABEL_CANDIDATES ? this.drawRoomLabels(ctx, c, onScreen, r) : 0;
    return { points: n, visible: onScreen.length, labels };
  }

  /**
   * Draws same-coloured discs by writing pixels: anti-aliased coverage per device pixel, alpha composited in place,
   * then one drawImage. Software canvases (and VS Code without GPU) draw 10k arcs in ~30 ms; this takes a few.
   */
  private stampDiscs(ctx: CanvasRenderingContext2D, xy: number[], colour: string, alpha: number, r: number, dpr: number): void {
    const W = this.base.width, H = this.base.height;
    if (W === 0 || H === 0 || xy.length === 0) return;
    if (!this.stamp || this.stamp.width !== W || this.stamp.height !== H) {
      const canvas = document.createElement('canvas');
      canvas.width = W;
      canvas.height = H;
      this.stamp = { canvas, image: new ImageData(W, H), width: W, height: H };
    }
    const { canvas, image } = this.stamp;
    const px = image.data;
    px.fill(0);
    const [cr, cg, cb] = this.rgb(colour);
    const R = r * dpr;
    for (let p = 0; p < xy.length; p += 2) {
      const fx = xy[p] * dpr, fy = xy[p + 1] * dpr;
      const x0 = Math.max(0, Math.floor(fx - R - 1)), x1 = Math.min(W - 1, Math.ceil(fx + R + 1));
      const y0 = Math.max(0, Math.floor(fy - R - 1)), y1 = Math.min(H - 1, Math.ceil(fy + R + 1));
      for (let y = y0; y <= y1; y++) {
        const dy = y + 0.5 - fy;
        for (let x = x0; x <= x1; x++) {
          const dx = x + 0.5 - fx;
          const cover = R + 0.5 - Math.sqrt(dx * dx + dy * dy);
          if (cover <= 0) continue;
          const a = alpha * (cover >= 1 ? 1 : cover);
          const o = (y * W + x) * 4;
          const dst = px[o + 3] / 255;
          px[o] = cr; px[o + 1] = cg; px[o + 2] = cb;
          px[o + 3] = 255 * (a + dst * (1 - a));
        }
      }
    }
    canvas.getContext('2d')?.putImageData(image, 0, 0);
    ctx.save();
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.globalAlpha = 1; // the discs carry their own alpha
    ctx.drawImage(canvas, 0, 0);
    ctx.restore();
  }

  /** A CSS colour as [r, g, b] (whatever syntax the theme uses), through a 1×1 canvas. */
  private rgb(colour: string): [number, number, number] {
    const hit = this.rgbCache.get(colour);
    if (hit) return hit;
    const c = document.createElement('canvas');
    c.width = c.height = 1;
    const g = c.getContext('2d', { willReadFrequently: true });
    let out: [number, number, number] = [55, 148, 255];
    if (g) {
      g.fillStyle = colour;
      g.fillRect(0, 0, 1, 1);
      const d = g.getImageData(0, 0, 1, 1).data;
      out = [d[0], d[1], d[2]];
    }
    this.rgbCache.set(colour, out);
    return out;
  }

  /** Labels for points that have room: the label must not overlap another label, nor cover another point. */
  private drawRoomLabels(ctx: CanvasRenderingContext2D, c: Colours, onScreen: number[], r: number): number {
    const tree = this.getTree();
    const { k, x: tx, y: ty } = this.transform;
    ctx.font = `${LABEL_FONT} ${this.font}`;
    ctx.textBaseline = 'middle';
    const cell = 48;
    const grid = new Map<number, [number, number, number, number][]>();
    const key = (gx: number, gy: number): number => gx * 100003 + gy;
    const cellsOf = (b: [number, number, number, number]): number[] => {
      const out: number[] = [];
      for (let gx = Math.floor(b[0] / cell); gx <= Math.floor(b[2] / cell); gx++) {
        for (let gy = Math.floor(b[1] / cell); gy <= Math.floor(b[3] / cell); gy++) out.push(key(gx, gy));
      }
      return out;
    };
    const overlaps = (b: [number, number, number, number]): boolean => cellsOf(b).some((g) =>
      (grid.get(g) ?? []).some((o) => b[0] < o[2] && b[2] > o[0] && b[1] < o[3] && b[3] > o[1]));
    const occupy = (b: [number, number, number, number]): void => {
      for (const g of cellsOf(b)) {
        const list = grid.get(g);
        if (list) list.push(b);
        else grid.set(g, [b]);
      }
    };
    const highlighted = new Set<number>();
    for (const l of this.highlightLabels) {
      occupy(l.box);
      highlighted.add(l.index);
    }
    for (const i of this.highlightIndices()) highlighted.add(i);

    /** Whether any point other than `self` lies inside the screen box (searched in base space). */
    const covers = (b: [number, number, number, number], self: number): boolean => {
      const x0 = (b[0] - r - tx) / k, x1 = (b[2] + r - tx) / k, y0 = (b[1] - r - ty) / k, y1 = (b[3] + r - ty) / k;
      let found = false;
      tree.visit((node, nx0, ny0, nx1, ny1) => {
        if (found || nx0 > x1 || nx1 < x0 || ny0 > y1 || ny1 < y0) return true;
        if (!('length' in node)) {
          let leaf: typeof node | undefined = node;
          while (leaf) {
            const i = leaf.data;
            if (i !== self && this.bx[i] >= x0 && this.bx[i] <= x1 && this.by[i] >= y0 && this.by[i] <= y1) {
              found = true;
              break;
            }
            leaf = leaf.next;
          }
        }
        return found;
      });
      return found;
    };

    let placed = 0;
    ctx.fillStyle = c.fg;
    ctx.strokeStyle = c.bg;
    ctx.lineWidth = 3;
    ctx.lineJoin = 'round';
    for (const i of onScreen) {
      if (placed >= MAX_ROOM_LABELS) break;
      if (highlighted.has(i)) continue;
      const text = visible(this.points[i].text);
      const sx = tx + k * this.bx[i], sy = ty + k * this.by[i];
      const w = this.textWidth(ctx, text, false);
      const bx0 = sx + r + 3;
      const box: [number, number, number, number] = [bx0, sy - 7, bx0 + w, sy + 7];
      if (box[2] > this.width || box[1] < 0 || box[3] > this.height) continue;
      if (overlaps(box) || covers(box, i)) continue;
      occupy([sx - r, sy - r, sx + r, sy + r]);
      occupy(box);
      ctx.globalAlpha = this.highlight ? 0.6 : 0.9;
      ctx.strokeText(text, bx0, sy);
      ctx.fillText(text, bx0, sy);
      placed++;
    }
    ctx.globalAlpha = 1;
    return placed;
  }

  private highlightIndices(): number[] {
    const h = this.highlight;
    if (!h) return [];
    return h.kind === 'neighbours' ? [...h.query, ...h.nearest] : [h.a, h.b, h.c, ...h.nearest];
  }

  /** Places the labels of highlighted points first (they always show), trying right, left, above and below. */
  private layoutHighlightLabels(): PlacedLabel[] {
    const h = this.highlight;
    const ctx = this.top.getContext('2d');
    if (!h || !ctx) return [];
    const c = this.readColours();
    const { k, x: tx, y: ty } = this.transform;
    const r = this.radius();
    const wanted: { index: number; text: string; colour: string; bold: boolean }[] = [];
    const ok = (i: number): boolean => i >= 0 && i < this.points.length;
    const label = (i: number): string => visible(this.points[i].text);
    if (h.kind === 'neighbours') {
      for (const q of h.query) if (ok(q)) wanted.push({ index: q, text: label(q), colour: c.query, bold: true });
      h.nearest.forEach((i, rank) => ok(i) && wanted.push({ index: i, text: `${label(i)}`, colour: c.fg, bold: rank === 0 }));
    } else {
      const terms: [number, string][] = [[h.a, 'a'], [h.b, 'b'], [h.c, 'c']];
      for (const [i, name] of terms) if (ok(i)) wanted.push({ index: i, text: `${name}: ${label(i)}`, colour: c.analogy, bold: true });
      h.nearest.forEach((i, rank) => ok(i) && wanted.push({ index: i, text: rank === 0 ? `→ ${label(i)}` : label(i), colour: rank === 0 ? c.result : c.fg, bold: rank === 0 }));
    }
    const placed: PlacedLabel[] = [];
    const hitsPlaced = (b: [number, number, number, number]): boolean =>
      placed.some((o) => b[0] < o.box[2] && b[2] > o.box[0] && b[1] < o.box[3] && b[3] > o.box[1]);
    for (const want of wanted) {
      const sx = tx + k * this.bx[want.index], sy = ty + k * this.by[want.index];
      if (sx < -40 || sy < -20 || sx > this.width + 40 || sy > this.height + 20) continue;
      ctx.font = `${want.bold ? '600 ' : ''}12px ${this.font}`;
      const w = this.textWidth(ctx, want.text, want.bold) + 8, hh = 17, gap = r + 5;
      const options: [number, number][] = [
        [sx + gap, sy - hh / 2], [sx - gap - w, sy - hh / 2], [sx - w / 2, sy - gap - hh], [sx - w / 2, sy + gap],
        [sx + gap, sy - hh - 2], [sx + gap, sy + 2], [sx - gap - w, sy - hh - 2], [sx - gap - w, sy + 2],
      ];
      let chosen: [number, number, number, number] | null = null;
      for (const [x0, y0] of options) {
        const b: [number, number, number, number] = [x0, y0, x0 + w, y0 + hh];
        if (b[0] < 0 || b[2] > this.width || b[1] < 0 || b[3] > this.height) continue;
        if (!hitsPlaced(b)) {
          chosen = b;
          break;
        }
      }
      if (!chosen) {
        if (!want.bold) continue; // crowded: the table still lists it
        chosen = [options[0][0], options[0][1], options[0][0] + w, options[0][1] + hh];
      }
      placed.push({ index: want.index, text: want.text, x: chosen[0] + 4, y: chosen[1] + hh / 2, box: chosen, colour: want.colour, bold: want.bold });
    }
    return placed;
  }

  private drawTop(): void {
    const ctx = this.top.getContext('2d');
    if (!ctx) return;
    const c = this.readColours();
    const dpr = this.top.width / Math.max(1, this.width);
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, this.width, this.height);
    const { k, x: tx, y: ty } = this.transform;
    const at = (i: number): [number, number] => [tx + k * this.bx[i], ty + k * this.by[i]];
    const ok = (i: number): boolean => i >= 0 && i < this.points.length;
    const r = this.radius();
    const h = this.highlight;
    const ring = (i: number, colour: string, radius: number, width: number, fill = false): void => {
      const [x, y] = at(i);
      ctx.beginPath();
      ctx.arc(x, y, radius, 0, 2 * Math.PI);
      if (fill) {
        ctx.fillStyle = colour;
        ctx.fill();
      }
      ctx.strokeStyle = colour;
      ctx.lineWidth = width;
      ctx.stroke();
    };
    const dot = (i: number, colour: string, radius: number): void => {
      const [x, y] = at(i);
      ctx.beginPath();
      ctx.arc(x, y, radius, 0, 2 * Math.PI);
      ctx.fillStyle = colour;
      ctx.fill();
    };
    const arrow = (from: number, to: number, colour: string): void => {
      const [x0, y0] = at(from), [x1, y1] = at(to);
      const len = Math.hypot(x1 - x0, y1 - y0);
      if (len < 2 * r + 8) return;
      const ux = (x1 - x0) / len, uy = (y1 - y0) / len;
      const sx = x0 + ux * (r + 3), sy = y0 + uy * (r + 3), ex = x1 - ux * (r + 5), ey = y1 - uy * (r + 5);
      ctx.strokeStyle = colour;
      ctx.fillStyle = colour;
      ctx.lineWidth = 1.5;
      ctx.setLineDash([5, 4]);
      ctx.beginPath();
      ctx.moveTo(sx, sy);
      ctx.lineTo(ex, ey);
      ctx.stroke();
      ctx.setLineDash([]);
      ctx.beginPath();
      ctx.moveTo(ex, ey);
      ctx.lineTo(ex - ux * 8 - uy * 4, ey - uy * 8 + ux * 4);
      ctx.lineTo(ex - ux * 8 + uy * 4, ey - uy * 8 - ux * 4);
      ctx.closePath();
      ctx.fill();
    };

    if (h?.kind === 'neighbours') {
      const query = h.query.filter(ok);
      if (query.length) {
        // One token's point, or the mean of several (where their mean embedding projects).
        const ends = query.map(at);
        const qx = ends.reduce((s, e) => s + e[0], 0) / ends.length, qy = ends.reduce((s, e) => s + e[1], 0) / ends.length;
        ctx.strokeStyle = c.query;
        ctx.lineWidth = 1;
        h.nearest.forEach((i, rank) => {
          if (!ok(i)) return;
          const [x, y] = at(i);
          ctx.globalAlpha = 0.75 - (0.45 * rank) / Math.max(1, h.nearest.length);
          ctx.beginPath();
          ctx.moveTo(qx, qy);
          ctx.lineTo(x, y);
          ctx.stroke();
        });
        ctx.globalAlpha = 1;
      }
      for (const i of h.nearest) if (ok(i)) { dot(i, c.query, r + 1); ring(i, c.bg, r + 2.5, 1); ring(i, c.query, r + 4, 1.5); }
      for (const q of query) { ring(q, c.bg, r + 5, 3); ring(q, c.query, r + 3.5, 2, true); if (query.length === 1) ring(q, c.query, r + 8, 1.5); }
      if (query.length > 1) {
        // The mean: a diamond at the centre the lines start from.
        const ends = query.map(at);
        const mx = ends.reduce((s, e) => s + e[0], 0) / ends.length, my = ends.reduce((s, e) => s + e[1], 0) / ends.length;
        ctx.fillStyle = c.query;
        ctx.beginPath();
        ctx.moveTo(mx, my - 7);
        ctx.lineTo(mx + 7, my);
        ctx.lineTo(mx, my + 7);
        ctx.lineTo(mx - 7, my);
        ctx.closePath();
        ctx.fill();
      }
    } else if (h?.kind === 'analogy') {
      const best = h.nearest[0];
      // a − b + c: the offset b → a, applied at c, should land near the result
      if (ok(h.a) && ok(h.b)) arrow(h.b, h.a, c.analogy);
      if (ok(h.c) && ok(best)) arrow(h.c, best, c.result);
      h.nearest.slice(1).forEach((i) => ok(i) && ring(i, c.result, r + 3, 1.5));
      for (const i of [h.a, h.b, h.c]) if (ok(i)) { ring(i, c.bg, r + 4.5, 3); ring(i, c.analogy, r + 3, 2, true); }
      if (ok(best)) { ring(best, c.bg, r + 5, 3); ring(best, c.result, r + 3.5, 2, true); ring(best, c.result, r + 8, 1.5); }
    }

    for (const l of this.highlightLabels) {
      ctx.font = `${l.bold ? '600 ' : ''}12px ${this.font}`;
      ctx.textBaseline = 'middle';
      const [x0, y0, x1, y1] = l.box;
      ctx.globalAlpha = 0.88;
      ctx.fillStyle = c.bg;
      ctx.beginPath();
      ctx.roundRect(x0, y0, x1 - x0, y1 - y0, 3);
      ctx.fill();
      ctx.globalAlpha = 1;
      ctx.strokeStyle = l.colour;
      ctx.lineWidth = 1;
      ctx.globalAlpha = l.bold ? 0.9 : 0.35;
      ctx.stroke();
      ctx.globalAlpha = 1;
      ctx.fillStyle = l.colour;
      ctx.fillText(l.text, l.x, l.y + 0.5);
    }

    for (const [i, colour] of [[this.emphasis, c.fg], [this.hover, c.fg]] as const) {
      if (!ok(i)) continue;
      ring(i, c.bg, r + 6, 3);
      ring(i, colour, r + 6, 1.5);
    }
  }

  /** The canvas's accessible name: what is drawn and how to move it. */
  private updateLabel(): void {
    const n = this.points.length;
    const [e1, e2] = this.explained.map(percent);
    this.top.setAttribute('aria-label', n === 0 ? 'Embedding scatter, no data yet'
      : `Scatter of ${n} token embeddings projected on the first two principal components` +
        `${e1 && e2 ? ` (${e1} and ${e2} of variance)` : ''}. Arrow keys pan, plus and minus zoom, 0 resets.`);
  }
}
